// Transformer explanations at sequence length 128 (ViT: 224 x 224, 197 tokens), batch 1:
// the forward pass alone, and forward + relevance under attnlrp, cp-lrp, backtrace and gradient.
// Models: the real all-MiniLM-L6-v2 (tools/fetch_minilm.sh; skipped when absent), and
// BERT-base, GPT-2 small and ViT-B/16 with random weights (config and model.safetensors
// written once to a temporary folder). GPT-2 is seeded at its arg-max next token.
// GFLOP/s count the forward's multiply-adds x 2 (linear layers + the two attention
// products) per second of the whole call, beside the machine's ~250 GFLOP/s.

#include <benchmark/benchmark.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>

#include "random_models.hpp"
#include "relprop/relprop.hpp"

using namespace relprop;
using namespace relprop::bench;
namespace fs = std::filesystem;

namespace {

constexpr std::int64_t kSeq = 128;

// Random GPT-2 small (GPT2LMHeadModel layout, tied head) and ViT-B/16 folders.
fs::path random_gpt2_small() {
  const fs::path dir = fs::temp_directory_path() / "relprop_bench_gpt2_small";
  if (fs::exists(dir / "model.safetensors")) return dir;
  fs::create_directories(dir);
  std::ofstream(dir / "config.json") << "{\"model_type\": \"gpt2\", \"n_embd\": 768, \"n_layer\": 12, \"n_head\": 12, "
                                     << "\"vocab_size\": 50257, \"n_positions\": 1024, \"layer_norm_epsilon\": 1e-5, "
                                     << "\"activation_function\": \"gelu_new\"}";
  RandomWeights rw(2);
  auto add = [&](const std::string& key, Shape shape, bool ones = false) { rw.add(key, std::move(shape), ones); };
  const std::int64_t D = 768;
  add("transformer.wte.weight", {50257, D});
  add("transformer.wpe.weight", {1024, D});
  for (int l = 0; l < 12; ++l) {
    const std::string L = "transformer.h." + std::to_string(l) + ".";
    for (const char* n : {"ln_1", "ln_2"}) {
      add(L + n + ".weight", {D}, true);
      add(L + n + ".bias", {D});
    }
    add(L + "attn.c_attn.weight", {D, 3 * D});
    add(L + "attn.c_attn.bias", {3 * D});
    add(L + "attn.c_proj.weight", {D, D});
    add(L + "attn.c_proj.bias", {D});
    add(L + "mlp.c_fc.weight", {D, 4 * D});
    add(L + "mlp.c_fc.bias", {4 * D});
    add(L + "mlp.c_proj.weight", {4 * D, D});
    add(L + "mlp.c_proj.bias", {D});
  }
  add("transformer.ln_f.weight", {D}, true);
  add("transformer.ln_f.bias", {D});
  save_safetensors(dir / "model.safetensors", rw.tensors);
  return dir;
}

fs::path random_vit_b16() {
  const fs::path dir = fs::temp_directory_path() / "relprop_bench_vit_b16";
  if (fs::exists(dir / "model.safetensors")) return dir;
  fs::create_directories(dir);
  std::ofstream(dir / "config.json") << "{\"model_type\": \"vit\", \"hidden_size\": 768, \"num_hidden_layers\": 12, "
                                     << "\"num_attention_heads\": 12, \"intermediate_size\": 3072, \"image_size\": 224, "
                                     << "\"patch_size\": 16, \"num_channels\": 3, \"layer_norm_eps\": 1e-12}";
  RandomWeights rw(3);
  auto add = [&](const std::string& key, Shape shape, bool ones = false) { rw.add(key, std::move(shape), ones); };
  const std::int64_t D = 768;
  add("vit.embeddings.cls_token", {1, 1, D});
  add("vit.embeddings.position_embeddings", {1, 197, D});
  add("vit.embeddings.patch_embeddings.projection.weight", {D, 3, 16, 16});
  add("vit.embeddings.patch_embeddings.projection.bias", {D});
  for (int l = 0; l < 12; ++l) {
    const std::string L = "vit.encoder.layer." + std::to_string(l) + ".";
    for (const char* n : {"attention.attention.query", "attention.attention.key", "attention.attention.value",
                          "attention.output.dense"}) {
      add(L + n + ".weight", {D, D});
      add(L + n + ".bias", {D});
    }
    add(L + "intermediate.dense.weight", {3072, D});
    add(L + "intermediate.dense.bias", {3072});
    add(L + "output.dense.weight", {D, 3072});
    add(L + "output.dense.bias", {D});
    for (const char* n : {"layernorm_before", "layernorm_after"}) {
      add(L + n + ".weight", {D}, true);
      add(L + n + ".bias", {D});
    }
  }
  add("vit.layernorm.weight", {D}, true);
  add("vit.layernorm.bias", {D});
  add("classifier.weight", {1000, D});
  add("classifier.bias", {1000});
  save_safetensors(dir / "model.safetensors", rw.tensors);
  return dir;
}

std::map<std::string, Tensor> random_ids(std::int64_t vocab) {
  std::mt19937 gen(7);
  std::uniform_int_distribution<std::int64_t> d(1000, std::min<std::int64_t>(vocab, 29000) - 1);
  std::vector<std::int64_t> ids(kSeq);
  for (auto& v : ids) v = d(gen);
  ids.front() = 101;
  ids.back() = 102;
  return {{"input_ids", Tensor::from_vector(std::span<const std::int64_t>(ids), {1, kSeq})}};
}

// mode: "" = forward only, else the composite.
void run(benchmark::State& state, const fs::path& dir, const Sizes& s, const std::string& mode) {
  if (!fs::exists(dir / "model.safetensors")) {
    state.SkipWithError(("no model in " + dir.string()).c_str());
    return;
  }
  const TransformerModel m = load_transformer(dir);
  std::map<std::string, Tensor> inputs;
  if (m.config.model_type == "vit") {
    Tensor x = Tensor::empty({1, 3, 224, 224});
    std::mt19937 gen(5);
    std::normal_distribution<float> d(0.f, 1.f);
    for (std::int64_t i = 0; i < x.numel(); ++i) x.data<float>()[i] = d(gen);
    inputs["pixel_values"] = x;
  } else {
    inputs = complete_text_inputs(random_ids(s.vocab), &m.graph);
  }
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
    // Value seed: the arg-max next token (GPT-2) or class (logits), else every output
    // (embeddings).
    const Tensor seed = m.head == "next_token_logits" ? next_token_seed(y, std::nullopt, SeedForm::Value, 1.0).seed
                        : m.head == "logits"           ? classification_seed(y, std::nullopt, SeedForm::Value, 1.0).seed
                                                       : regression_seed(y, {}, SeedForm::Value, 1.0);
    const RelevanceMap R = propagate(tape, y, seed, c);
    benchmark::DoNotOptimize(R.inputs().begin()->second.raw_data());
  }
  const bool vit = m.config.model_type == "vit";
  // ViT: 197 tokens, plus the patch convolution (196 x 768 x 768 multiply-adds).
  const double flops = vit ? bert_flops(s, 197) + 2.0 * 196 * 768 * 768 : bert_flops(s, kSeq);
  state.counters["GFLOP/s"] = benchmark::Counter(flops, benchmark::Counter::kIsIterationInvariantRate,
                                                 benchmark::Counter::kIs1000);
}

const Sizes kMiniLM{384, 6, 12, 1536, 30522};
const Sizes kBertBase{768, 12, 12, 3072, 30522};
const Sizes kGpt2Small{768, 12, 12, 3072, 50257};
const Sizes kVitB16{768, 12, 12, 3072, 0};  // 197 tokens (196 patches + the class token)

fs::path minilm_dir() { return fs::path(RELPROP_SOURCE_DIR) / "tests" / "data" / "models" / "all-MiniLM-L6-v2"; }

struct Registrar {
  Registrar() {
    for (const std::string mode : {"", "attnlrp", "cp-lrp", "backtrace", "gradient"}) {
      const std::string tag = mode.empty() ? "forward" : mode;
      benchmark::RegisterBenchmark(("minilm_l6/seq128/" + tag).c_str(),
                                   [mode](benchmark::State& st) { run(st, minilm_dir(), kMiniLM, mode); })
          ->Unit(benchmark::kMillisecond)
          ->MinTime(1.0);
      benchmark::RegisterBenchmark(("bert_base/seq128/" + tag).c_str(), [mode](benchmark::State& st) {
        run(st, random_bert("bert_base", kBertBase), kBertBase, mode);
      })->Unit(benchmark::kMillisecond)->MinTime(1.0);
      benchmark::RegisterBenchmark(("gpt2_small/seq128/" + tag).c_str(), [mode](benchmark::State& st) {
        run(st, random_gpt2_small(), kGpt2Small, mode);
      })->Unit(benchmark::kMillisecond)->MinTime(1.0);
      benchmark::RegisterBenchmark(("vit_b16/224/" + tag).c_str(), [mode](benchmark::State& st) {
        run(st, random_vit_b16(), kVitB16, mode);
      })->Unit(benchmark::kMillisecond)->MinTime(1.0);
    }
  }
} registrar;

}  // namespace
