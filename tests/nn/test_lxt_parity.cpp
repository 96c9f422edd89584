// Golden parity with LXT 2.1 (efficient mode) on small random Hugging Face models —
// BERT (sequence classification, with a padded case), GPT-2 and a LLaMA-style decoder
// (GQA, RoPE, SwiGLU) — written by tools/make_lxt_fixtures.py into tests/data/lxt/. LXT's
// efficient mode is Gradient x Input with modified gradients, which is relprop's attnlrp /
// cp-lrp with epsilon 0 (the tool's header lists the correspondence rule by rule), so the
// composites run with CompositeOptions{epsilon = 0} and the token relevance must equal
// LXT's float64 result to 1e-4 relative.

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "relprop/nn/transformers.hpp"
#include "relprop/relevance/composite.hpp"
#include "relprop/relevance/engine.hpp"
#include "relprop/relevance/seed.hpp"
#include "relprop/relevance/tape.hpp"

using namespace relprop;
namespace fs = std::filesystem;

namespace {

Tensor i64_row(const std::vector<std::int64_t>& v) {
  return Tensor::from_vector(std::span<const std::int64_t>(v), {1, static_cast<std::int64_t>(v.size())});
}

// max |a - b| / max |b|.
double max_rel(const std::vector<double>& a, const std::vector<double>& b) {
  REQUIRE(a.size() == b.size());
  double diff = 0, scale = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    diff = std::max(diff, std::abs(a[i] - b[i]));
    scale = std::max(scale, std::abs(b[i]));
  }
  REQUIRE(scale > 0);
  return diff / scale;
}

}  // namespace

TEST_SUITE("nn.lxt_parity") {
  TEST_CASE("AttnLRP and CP-LRP token relevance equal LXT's on BERT, GPT-2 and LLaMA (epsilon 0)") {
    const fs::path root = fs::path(RELPROP_SOURCE_DIR) / "tests" / "data" / "lxt";
    std::ifstream in(root / "golden.json");
    REQUIRE(in.good());
    const auto golden = nlohmann::json::parse(in);
    CompositeOptions options;
    options.epsilon = 0.0;
    int compared = 0;
    for (const auto& [name, model] : golden["models"].items()) {
      CAPTURE(name);
      const TransformerModel m = load_transformer(root / name);
      for (const auto& c : model["cases"]) {
        const auto ids = c["input_ids"].get<std::vector<std::int64_t>>();
        CAPTURE(ids.size());
        std::map<std::string, Tensor> given{{"input_ids", i64_row(ids)}};
        if (c.contains("attention_mask"))
          given["attention_mask"] = i64_row(c["attention_mask"].get<std::vector<std::int64_t>>());
        if (c.contains("token_type_ids"))
          given["token_type_ids"] = i64_row(c["token_type_ids"].get<std::vector<std::int64_t>>());
        const auto inputs = complete_text_inputs(given, &m.graph);
        const auto target = c["target"].get<std::int64_t>();
        for (const char* variant : {"attnlrp", "cp-lrp"}) {
          CAPTURE(std::string(variant));
          Tape tape;
          Tensor y;
          {
            Recording rec(tape);
            y = m.graph.forward(inputs)[0];
          }
          const double logit_err = max_rel(y.to_vector_f64(), c["logits"].get<std::vector<double>>());
          CHECK(logit_err < 1e-5);
          // LXT seeds by logit.backward(logit): the gradient at the logit is its value, so
          // its Gradient x Input relevance there is logit² (LRP seeded with logit, times logit).
          const double logit = c["logits"][static_cast<std::size_t>(target)].get<double>();
          const auto seed = m.head == "next_token_logits" ? next_token_seed(y, target, SeedForm::Value, logit)
                                                          : classification_seed(y, target, SeedForm::Value, logit);
          const RelevanceMap R = propagate(tape, y, seed.seed, Composite::by_name(variant, options));
          const auto want = c[variant].get<std::vector<double>>();
          const auto got = R.input("input_ids").to_vector_f64();
          const double err = max_rel(got, want);
          MESSAGE(name << " " << std::string(variant) << " T=" << ids.size() << ": logits " << logit_err
                       << ", token relevance max |relprop - LXT| / max |LXT| = " << err);
          CHECK(err <= 1e-4);
          // The other variant's LXT map is far off: the comparison tells the rules apart.
          const char* other = std::string(variant) == "attnlrp" ? "cp-lrp" : "attnlrp";
          CHECK(max_rel(got, c[other].get<std::vector<double>>()) > 1e-2);
          ++compared;
        }
      }
    }
    CHECK(compared == 14);
  }
}
