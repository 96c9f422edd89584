// BERT-family models from Hugging Face folders (nn/transformers.hpp): the real
// all-MiniLM-L6-v2 (tools/fetch_minilm.sh; skipped when absent) reproduces
// sentence-transformers' embeddings (tests/data/minilm/golden.json, from
// tools/make_minilm_golden.py) to 1e-4, and explains under attnlrp, cp-lrp, backtrace
// and gradient with the conservation figures reported; malformed folders give typed errors.

#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "relprop/io/safetensors.hpp"
#include "relprop/nn/transformers.hpp"
#include "relprop/relevance/composite.hpp"
#include "relprop/relevance/engine.hpp"
#include "relprop/relevance/seed.hpp"
#include "relprop/relevance/tape.hpp"
#include "relprop/tensor/error.hpp"

using namespace relprop;
namespace fs = std::filesystem;

namespace {
const fs::path kMiniLM = fs::path(RELPROP_SOURCE_DIR) / "tests" / "data" / "models" / "all-MiniLM-L6-v2";
const fs::path kGolden = fs::path(RELPROP_SOURCE_DIR) / "tests" / "data" / "minilm" / "golden.json";

Tensor ids_tensor(const std::vector<std::int64_t>& ids) {
  return Tensor::from_vector(std::span<const std::int64_t>(ids), {1, static_cast<std::int64_t>(ids.size())});
}
}  // namespace

TEST_SUITE("nn.transformers") {
  TEST_CASE("all-MiniLM-L6-v2 reproduces sentence-transformers' embeddings") {
    if (!fs::exists(kMiniLM / "model.safetensors")) {
      MESSAGE("skipped: " << kMiniLM.string() << " is absent (tools/fetch_minilm.sh puts it there)");
      return;
    }
    const TransformerModel m = load_transformer(kMiniLM);
    CHECK(m.head == "sentence_embedding");
    CHECK(m.config.layers == 6);
    std::ifstream in(kGolden);
    const auto golden = nlohmann::json::parse(in);
    for (const auto& s : golden["sentences"]) {
      const std::string text = s["text"];
      CAPTURE(text);
      const auto ids = s["input_ids"].get<std::vector<std::int64_t>>();
      const auto want = s["embedding"].get<std::vector<double>>();
      const Tensor e = m.graph.forward(complete_text_inputs({{"input_ids", ids_tensor(ids)}}))[0];
      REQUIRE(e.shape() == Shape{1, 384});
      auto v = e.to_vector_f64();
      double norm = 0;
      for (double x : v) norm += x * x;
      norm = std::sqrt(norm);
      double diff = 0;
      for (std::size_t i = 0; i < v.size(); ++i) diff = std::max(diff, std::abs(v[i] / norm - want[i]));
      MESSAGE(text << ": max |relprop - sentence-transformers| = " << diff);
      CHECK(diff <= 1e-4);
    }
  }

  TEST_CASE("all-MiniLM-L6-v2 explains under every transformer composite") {
    if (!fs::exists(kMiniLM / "model.safetensors")) {
      MESSAGE("skipped: " << kMiniLM.string() << " is absent");
      return;
    }
    const TransformerModel m = load_transformer(kMiniLM);
    std::ifstream in(kGolden);
    const auto golden = nlohmann::json::parse(in);
    const auto ids = golden["sentences"][0]["input_ids"].get<std::vector<std::int64_t>>();
    for (const char* name : {"attnlrp", "cp-lrp", "backtrace", "gradient"}) {
      CAPTURE(name);
      Tape tape;
      Tensor e;
      {
        Recording rec(tape);
        e = m.graph.forward(complete_text_inputs({{"input_ids", ids_tensor(ids)}}))[0];
      }
      // Seed: the embedding's length, e ⊙ e / |e| (sums to |e|).
      const Tensor s = embedding_length_seed(e, 1.0);
      const double norm = sum_all(s);
      const RelevanceMap R = propagate(tape, e, s, Composite::by_name(name));
      const Tensor& r = R.input("input_ids");
      REQUIRE(r.shape() == Shape{1, static_cast<std::int64_t>(ids.size())});
      double total = 0;
      bool finite = true;
      for (double x : r.to_vector_f64()) {
        total += x;
        finite = finite && std::isfinite(x);
      }
      CHECK(finite);
      MESSAGE(std::string(name) << ": seed " << norm << ", token relevance sum " << total << " ("
                   << 100.0 * total / norm << "% of the seed)");
    }
  }

  TEST_CASE("GPT-2 and LLaMA (tiny, random): next-token logits equal transformers', every composite explains") {
   for (const char* fixture : {"gpt2_tiny", "llama_tiny"}) {
    CAPTURE(std::string(fixture));
    const fs::path dir = fs::path(RELPROP_SOURCE_DIR) / "tests" / "data" / fixture;
    const TransformerModel m = load_transformer(dir);
    CHECK(m.head == "next_token_logits");
    CHECK(m.config.layers == 2);
    std::ifstream in(dir / "golden.json");
    const auto golden = nlohmann::json::parse(in);
    for (const auto& c : golden["cases"]) {
      const auto ids = c["input_ids"].get<std::vector<std::int64_t>>();
      const auto want = c["next_token_logits"].get<std::vector<double>>();
      const auto inputs = complete_text_inputs({{"input_ids", ids_tensor(ids)}}, &m.graph);
      CHECK(inputs.count("token_type_ids") == 0);
      const Tensor y = m.graph.forward(inputs)[0];
      REQUIRE(y.shape() == Shape{1, static_cast<std::int64_t>(want.size())});
      const auto v = y.to_vector_f64();
      double diff = 0, scale = 0;
      for (std::size_t i = 0; i < v.size(); ++i) {
        diff = std::max(diff, std::abs(v[i] - want[i]));
        scale = std::max(scale, std::abs(want[i]));
      }
      MESSAGE(std::string(fixture) << ": max |relprop - transformers| / max = " << diff / scale);
      CHECK(diff <= 1e-5 * scale);
      for (const char* name : {"attnlrp", "cp-lrp", "backtrace", "gradient"}) {
        CAPTURE(std::string(name));
        Tape tape;
        Tensor out;
        {
          Recording rec(tape);
          out = m.graph.forward(inputs)[0];
        }
        const Composite comp = Composite::by_name(name);
        const auto seed = next_token_seed(out, std::nullopt, comp.seed_form, comp.multiplier);
        const RelevanceMap R = propagate(tape, out, seed.seed, comp);
        const Tensor& r = R.input("input_ids");
        REQUIRE(r.shape() == Shape{1, static_cast<std::int64_t>(ids.size())});
        bool finite = true;
        for (double x : r.to_vector_f64()) finite = finite && std::isfinite(x);
        CHECK(finite);
      }
    }
   }
  }

  TEST_CASE("ViT (tiny, random): logits equal transformers', every composite explains onto the pixels") {
    const fs::path dir = fs::path(RELPROP_SOURCE_DIR) / "tests" / "data" / "vit_tiny";
    const TransformerModel m = load_transformer(dir);
    CHECK(m.head == "logits");
    CHECK(m.config.labels == std::vector<std::string>{"cat", "dog", "bird"});
    CHECK(m.image_mean == std::vector<double>{0.5, 0.5, 0.5});
    const Tensor x = SafetensorsFile::open(dir / "input.safetensors").get("pixel_values");
    std::ifstream in(dir / "golden.json");
    const auto want = nlohmann::json::parse(in)["logits"].get<std::vector<std::vector<double>>>();
    const Tensor y = m.graph.forward({{"pixel_values", x}})[0];
    REQUIRE(y.shape() == Shape{2, 3});
    double diff = 0, scale = 0;
    for (int r = 0; r < 2; ++r)
      for (int c = 0; c < 3; ++c) {
        diff = std::max(diff, std::abs(y.get({r, c}) - want[r][c]));
        scale = std::max(scale, std::abs(want[r][c]));
      }
    MESSAGE("vit_tiny: max |relprop - transformers| / max = " << diff / scale);
    CHECK(diff <= 1e-5 * scale);
    for (const char* name : {"attnlrp", "cp-lrp", "backtrace", "gradient"}) {
      CAPTURE(std::string(name));
      Tape tape;
      Tensor out;
      {
        Recording rec(tape);
        out = m.graph.forward({{"pixel_values", x}})[0];
      }
      const Composite comp = Composite::by_name(name);
      const auto seed = classification_seed(out, std::nullopt, comp.seed_form, comp.multiplier);
      const RelevanceMap R = propagate(tape, out, seed.seed, comp);
      CHECK(R.input("pixel_values").shape() == x.shape());
      bool finite = true;
      for (double v : R.input("pixel_values").to_vector_f64()) finite = finite && std::isfinite(v);
      CHECK(finite);
    }
  }

  TEST_CASE("old BERT checkpoints name layer norms gamma / beta: they load and agree with weight / bias") {
    const fs::path base = fs::temp_directory_path() / "relprop_test_bert_names";
    const std::string config =
        "{\"model_type\": \"bert\", \"hidden_size\": 8, \"num_hidden_layers\": 1, \"num_attention_heads\": 2, "
        "\"intermediate_size\": 16, \"vocab_size\": 20, \"max_position_embeddings\": 16, \"type_vocab_size\": 2}";
    std::vector<std::pair<std::string, Tensor>> w;
    std::uint32_t seed = 1;
    auto add = [&](const std::string& key, Shape shape) {
      Tensor t = Tensor::empty(shape);
      for (std::int64_t i = 0; i < t.numel(); ++i) t.set_flat(i, std::sin(0.7 * (++seed)));
      w.emplace_back(key, t);
    };
    add("embeddings.word_embeddings.weight", {20, 8});
    add("embeddings.position_embeddings.weight", {16, 8});
    add("embeddings.token_type_embeddings.weight", {2, 8});
    add("embeddings.LayerNorm.weight", {8});
    add("embeddings.LayerNorm.bias", {8});
    const std::string L = "encoder.layer.0.";
    for (const char* m : {"attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense"}) {
      add(L + m + ".weight", {8, 8});
      add(L + m + ".bias", {8});
    }
    add(L + "intermediate.dense.weight", {16, 8});
    add(L + "intermediate.dense.bias", {16});
    add(L + "output.dense.weight", {8, 16});
    add(L + "output.dense.bias", {8});
    for (const char* m : {"attention.output.LayerNorm", "output.LayerNorm"}) {
      add(L + m + ".weight", {8});
      add(L + m + ".bias", {8});
    }
    add("pooler.dense.weight", {8, 8});
    add("pooler.dense.bias", {8});
    std::vector<Tensor> outs;
    for (bool old_names : {false, true}) {
      const fs::path dir = base / (old_names ? "gamma_beta" : "weight_bias");
      fs::create_directories(dir);
      std::ofstream(dir / "config.json") << config;
      auto renamed = w;
      if (old_names)
        for (auto& [k, t] : renamed) {
          if (k.find("LayerNorm.weight") != std::string::npos) k.replace(k.size() - 6, 6, "gamma");
          else if (k.find("LayerNorm.bias") != std::string::npos) k.replace(k.size() - 4, 4, "beta");
        }
      save_safetensors(dir / "model.safetensors", renamed);
      const TransformerModel m = load_transformer(dir);
      CHECK(m.head == "pooler_output");
      const std::vector<std::int64_t> ids{1, 5, 7, 2};
      outs.push_back(m.graph.forward(complete_text_inputs({{"input_ids", ids_tensor(ids)}}, &m.graph))[0]);
    }
    CHECK(outs[0].to_vector_f64() == outs[1].to_vector_f64());
  }

  TEST_CASE("malformed model folders: typed errors naming the file") {
    const fs::path dir = fs::temp_directory_path() / "relprop_test_transformers";
    fs::remove_all(dir);
    fs::create_directories(dir);
    CHECK_THROWS_AS(load_transformer(dir), NotFoundError);  // no config.json
    std::ofstream(dir / "config.json") << "{\"model_type\": \"gpt_neox\"}";
    CHECK_THROWS_WITH_AS(load_transformer(dir), doctest::Contains("gpt_neox"), UnsupportedError);
    std::ofstream(dir / "config.json") << "{\"model_type\": \"bert\", \"hidden_size\": 10}";
    CHECK_THROWS_WITH_AS(load_transformer(dir), doctest::Contains("num_attention_heads"), FormatError);
    std::ofstream(dir / "config.json") << "not json";
    CHECK_THROWS_AS(load_transformer(dir), FormatError);
    CHECK_THROWS_AS(complete_text_inputs({}), NotFoundError);

    // A task head the builders do not make is refused by name; so is a checkpoint with
    // weights the built model would not read.
    const fs::path bert = fs::path(RELPROP_SOURCE_DIR) / "tests" / "data" / "lxt" / "bert";
    auto config = nlohmann::json::parse(std::ifstream(bert / "config.json"));
    fs::copy_file(bert / "model.safetensors", dir / "model.safetensors", fs::copy_options::overwrite_existing);
    config["architectures"] = {"BertForTokenClassification"};
    std::ofstream(dir / "config.json") << config.dump();
    CHECK_THROWS_WITH_AS(load_transformer(dir), doctest::Contains("BertForTokenClassification"), UnsupportedError);
    config["architectures"] = {"BertForSequenceClassification"};
    std::ofstream(dir / "config.json") << config.dump();
    CHECK_NOTHROW(load_transformer(dir));
    {
      const SafetensorsFile src = SafetensorsFile::open(bert / "model.safetensors");
      std::vector<std::pair<std::string, Tensor>> tensors;
      for (const auto& name : src.names()) tensors.emplace_back(name, src.get(name));
      tensors.emplace_back("bert.encoder.layer.0.attention.self.relative_bias", Tensor::full({4}, 1.0));
      tensors.emplace_back("cls.predictions.bias", Tensor::full({4}, 1.0));  // an MLM head: fine
      save_safetensors(dir / "model.safetensors", tensors);
    }
    CHECK_THROWS_WITH_AS(load_transformer(dir), doctest::Contains("relative_bias"), FormatError);
  }
}
