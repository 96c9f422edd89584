#pragma once
// Models with random weights for the benchmarks (bench_transformers.cpp, bench_cuda.cpp):
// BERT-shaped Hugging Face folders written once per machine to a temporary folder, and
// torchvision CNN weights from the key list tests/data/torchvision/keys.json.

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "relprop/relprop.hpp"

namespace relprop::bench {

namespace fs = std::filesystem;

struct Sizes {
  std::int64_t hidden, layers, heads, intermediate, vocab;
};

// Forward FLOPs of a BERT encoder at sequence T (linear layers and attention products).
inline double bert_flops(const Sizes& s, std::int64_t T) {
  const double D = s.hidden, I = s.intermediate;
  const double per_layer = 2.0 * T * (4 * D * D + 2 * D * I) + 2.0 * 2.0 * T * T * D;
  return per_layer * s.layers;
}

// Random weights written to a safetensors file, N(0, 0.02) (layer-norm scales 1).
struct RandomWeights {
  std::mt19937 gen;
  std::normal_distribution<float> d{0.f, 0.02f};
  std::vector<std::pair<std::string, Tensor>> tensors;
  explicit RandomWeights(unsigned seed) : gen(seed) {}
  void add(const std::string& key, Shape shape, bool ones = false) {
    Tensor t = Tensor::empty(std::move(shape));
    float* p = t.data<float>();
    for (std::int64_t i = 0; i < t.numel(); ++i) p[i] = ones ? 1.0f : d(gen);
    tensors.emplace_back(key, t);
  }
};

// A BERT folder with random weights (Hugging Face names), written once per process.
inline fs::path random_bert(const std::string& name, const Sizes& s) {
  const fs::path dir = fs::temp_directory_path() / ("relprop_bench_" + name);
  if (fs::exists(dir / "model.safetensors")) return dir;
  fs::create_directories(dir);
  std::ofstream(dir / "config.json") << "{\"model_type\": \"bert\", \"architectures\": [\"BertModel\"], "
                                     << "\"hidden_size\": " << s.hidden << ", \"num_hidden_layers\": " << s.layers
                                     << ", \"num_attention_heads\": " << s.heads
                                     << ", \"intermediate_size\": " << s.intermediate << ", \"vocab_size\": " << s.vocab
                                     << ", \"max_position_embeddings\": 512, \"type_vocab_size\": 2, "
                                     << "\"layer_norm_eps\": 1e-12, \"hidden_act\": \"gelu\"}";
  RandomWeights rw(1);
  auto add = [&](const std::string& key, Shape shape, bool ones = false) { rw.add(key, std::move(shape), ones); };
  const std::int64_t D = s.hidden;
  add("embeddings.word_embeddings.weight", {s.vocab, D});
  add("embeddings.position_embeddings.weight", {512, D});
  add("embeddings.token_type_embeddings.weight", {2, D});
  add("embeddings.LayerNorm.weight", {D}, true);
  add("embeddings.LayerNorm.bias", {D});
  for (std::int64_t l = 0; l < s.layers; ++l) {
    const std::string L = "encoder.layer." + std::to_string(l) + ".";
    for (const char* m : {"attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense"}) {
      add(L + m + ".weight", {D, D});
      add(L + m + ".bias", {D});
    }
    add(L + "intermediate.dense.weight", {s.intermediate, D});
    add(L + "intermediate.dense.bias", {s.intermediate});
    add(L + "output.dense.weight", {D, s.intermediate});
    add(L + "output.dense.bias", {D});
    for (const char* m : {"attention.output.LayerNorm", "output.LayerNorm"}) {
      add(L + m + ".weight", {D}, true);
      add(L + m + ".bias", {D});
    }
  }
  add("pooler.dense.weight", {D, D});
  add("pooler.dense.bias", {D});
  save_safetensors(dir / "model.safetensors", rw.tensors);
  return dir;
}

// Random weights for torchvision model `name` (resnet18, resnet50, vgg11, vgg11_bn, vgg16,
// vgg16_bn) with the shapes of tests/data/torchvision/keys.json under `source_dir`:
// N(0, sqrt(2 / fan_in)) weights (He), small biases, running variances in [0.5, 1.5].
inline std::map<std::string, Tensor> random_torchvision(const std::string& name, const fs::path& source_dir) {
  std::ifstream f(source_dir / "tests" / "data" / "torchvision" / "keys.json");
  if (!f) throw NotFoundError("no tests/data/torchvision/keys.json under " + source_dir.string());
  const nlohmann::json keys = nlohmann::json::parse(f);
  if (!keys.contains(name)) throw NotFoundError("keys.json has no model '" + name + "'");
  std::mt19937 gen(11);
  std::map<std::string, Tensor> w;
  for (auto it = keys[name].begin(); it != keys[name].end(); ++it) {
    const std::string& k = it.key();
    if (k.find("num_batches_tracked") != std::string::npos) continue;
    const Shape s = it.value().get<Shape>();
    Tensor t = Tensor::empty(s);
    float* p = t.data<float>();
    const bool var = k.find("running_var") != std::string::npos;
    const bool bn_weight = k.find("bn") != std::string::npos && k.size() > 7 && k.substr(k.size() - 7) == ".weight" && s.size() == 1;
    std::int64_t fan_in = 1;
    for (std::size_t d = 1; d < s.size(); ++d) fan_in *= s[d];
    std::normal_distribution<float> he(0.f, static_cast<float>(std::sqrt(2.0 / static_cast<double>(fan_in))));
    std::uniform_real_distribution<float> u(var ? 0.5f : (bn_weight ? 0.5f : -0.05f), var || bn_weight ? 1.5f : 0.05f);
    for (std::int64_t i = 0; i < t.numel(); ++i) p[i] = s.size() > 1 ? he(gen) : u(gen);
    w[k] = t;
  }
  return w;
}

}  // namespace relprop::bench
