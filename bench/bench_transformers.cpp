// Transformer explanations at sequence length 128, batch 1: the forward pass alone, and
// forward + relevance under attnlrp, cp-lrp and gradient. Models: the real
// all-MiniLM-L6-v2 (tools/fetch_minilm.sh; skipped when absent) and BERT-base with random
// weights (its config and a random model.safetensors are written to a temporary folder).
// GFLOP/s count the forward's multiply-adds x 2 (linear layers + the two attention
// products) per second of the whole call, beside the machine's ~250 GFLOP/s.

#include <benchmark/benchmark.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>

#include "relprop.hpp"

using namespace relprop;
namespace fs = std::filesystem;

namespace {

constexpr std::int64_t kSeq = 128;

struct Sizes {
  std::int64_t hidden, layers, heads, intermediate, vocab;
};

// Forward FLOPs of a BERT encoder at sequence T (linear layers and attention products).
double bert_flops(const Sizes& s, std::int64_t T) {
  const double D = s.hidden, I = s.intermediate;
  const double per_layer = 2.0 * T * (4 * D * D + 2 * D * I) + 2.0 * 2.0 * T * T * D;
  return per_layer * s.layers;
}

// A BERT folder with random weights (Hugging Face names), written once per process.
fs::path random_bert(const std::string& name, const Sizes& s) {
  const fs::path dir = fs::temp_directory_path() / ("relprop_bench_" + name);
  if (fs::exists(dir / "model.safetensors")) return dir;
  fs::create_directories(dir);
  std::ofstream(dir / "config.json") << "{\"model_type\": \"bert\", \"architectures\": [\"BertModel\"], "
                                     << "\"hidden_size\": " << s.hidden << ", \"num_hidden_layers\": " << s.layers
                                     << ", \"num_attention_heads\": " << s.heads
                                     << ", \"intermediate_size\": " << s.intermediate << ", \"vocab_size\": " << s.vocab
                                     << ", \"max_position_embeddings\": 512, \"type_vocab_size\": 2, "
                                     << "\"layer_norm_eps\": 1e-12, \"hidden_act\": \"gelu\"}";
  std::mt19937 gen(1);
  std::normal_distribution<float> d(0.f, 0.02f);
  std::vector<std::pair<std::string, Tensor>> w;
  auto add = [&](const std::string& key, Shape shape, bool ones = false) {
    Tensor t = Tensor::empty(std::move(shape));
    float* p = t.data<float>();
    for (std::int64_t i = 0; i < t.numel(); ++i) p[i] = ones ? 1.0f : d(gen);
    w.emplace_back(key, t);
  };
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
  save_safetensors(dir / "model.safetensors", w);
  return dir;
}

std::map<std::string, Tensor> random_ids(std::int64_t vocab) {
  std::mt19937 gen(7);
  std::uniform_int_distribution<std::int64_t> d(1000, std::min<std::int64_t>(vocab, 29000) - 1);
  std::vector<std::int64_t> ids(kSeq);
  for (auto& v : ids) v = d(gen);
  ids.front() = 101;
  ids.back() = 102;
  return complete_text_inputs({{"input_ids", Tensor::from_vector(std::span<const std::int64_t>(ids), {1, kSeq})}});
}

// mode: "" = forward only, else the composite.
void run(benchmark::State& state, const fs::path& dir, const Sizes& s, const std::string& mode) {
  if (!fs::exists(dir / "model.safetensors")) {
    state.SkipWithError(("no model in " + dir.string()).c_str());
    return;
  }
  const TransformerModel m = load_transformer(dir);
  const auto inputs = random_ids(s.vocab);
  const Composite c = mode.empty() ? Composite("none") : Composite::by_name(mode);
  for (auto _ : state) {
    if (mode.empty()) {
      benchmark::DoNotOptimize(m.graph.forward(inputs)[0].raw_data());
      continue;
    }
    Tape tape;
    Tensor y;
    {
      Recording rec(tape);
      y = m.graph.forward(inputs)[0];
    }
    const RelevanceMap R = propagate(tape, y, y, c);  // value seed on every output
    benchmark::DoNotOptimize(R.input("input_ids").raw_data());
  }
  state.counters["GFLOP/s"] = benchmark::Counter(bert_flops(s, kSeq), benchmark::Counter::kIsIterationInvariantRate,
                                                 benchmark::Counter::kIs1000);
}

const Sizes kMiniLM{384, 6, 12, 1536, 30522};
const Sizes kBertBase{768, 12, 12, 3072, 30522};

fs::path minilm_dir() { return fs::path(RELPROP_SOURCE_DIR) / "tests" / "data" / "models" / "all-MiniLM-L6-v2"; }

struct Registrar {
  Registrar() {
    for (const std::string mode : {"", "attnlrp", "cp-lrp", "gradient"}) {
      const std::string tag = mode.empty() ? "forward" : mode;
      benchmark::RegisterBenchmark(("minilm_l6/seq128/" + tag).c_str(),
                                   [mode](benchmark::State& st) { run(st, minilm_dir(), kMiniLM, mode); })
          ->Unit(benchmark::kMillisecond)
          ->MinTime(1.0);
      benchmark::RegisterBenchmark(("bert_base/seq128/" + tag).c_str(), [mode](benchmark::State& st) {
        run(st, random_bert("bert_base", kBertBase), kBertBase, mode);
      })->Unit(benchmark::kMillisecond)->MinTime(1.0);
    }
  }
} registrar;

}  // namespace
