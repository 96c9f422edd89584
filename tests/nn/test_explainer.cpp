// GraphExplainer's settings on the CPU (tests/cuda/test_device.cpp has the plain case and
// the GPU's capture and replay): each seed task, the contrastive pair, kept nodes, the
// report, the retained tape, and per-sample rescaling, each equal to forward + seed +
// propagate written out by hand.

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <functional>

#include "reference/fixtures.hpp"
#include "reference/oracle.hpp"
#include "relprop/nn/explainer.hpp"
#include "relprop/nn/models.hpp"

using namespace relprop;

namespace {

using test::small_mlp;

// The same explanation by hand: forward on a tape, `seed`, propagate.
struct ByHand {
  Tensor y;
  RelevanceMap R;
};
ByHand by_hand(const Graph& g, const Tensor& x, const std::function<Tensor(const Tensor&)>& seed, const Composite& c,
               const PropagateOptions& o = {}) {
  Tape tape;
  ByHand h;
  {
    Recording rec(tape);
    h.y = g.forward({{"x", x}})[0];
  }
  h.R = propagate(tape, h.y, seed(h.y), c, o);
  return h;
}

}  // namespace

TEST_SUITE("nn.explainer") {
  TEST_CASE("every seed task equals make_seed + propagate") {
    const Graph g = small_mlp();
    const Tensor x = oracle::random_tensor({4, 6}, 11);
    std::vector<SeedSpec> specs(7);
    specs[0].task = SeedTask::Classification;
    specs[0].target = 2;
    specs[1].task = SeedTask::Regression;
    specs[1].outputs = {0, 1};
    specs[2].task = SeedTask::Segmentation;
    specs[2].threshold = 0.0;
    specs[3].task = SeedTask::NextToken;
    specs[4].task = SeedTask::CosineSimilarity;
    specs[4].reference = Tensor::from_vector({1.f, -2.f, 0.5f}, {3});
    specs[5].task = SeedTask::EmbeddingLength;
    specs[6].task = SeedTask::Targets;
    specs[6].outputs = {2, 0};
    for (SeedSpec spec : specs) {
      CAPTURE(static_cast<int>(spec.task));
      spec.form = SeedForm::OneHot;
      spec.multiplier = 3.0;
      ExplainSettings s;
      s.composite = Composite::by_name("epsilon-plus");
      s.seed = spec;
      GraphExplainer ex(g, s);
      const Explanation e = ex.explain({{"x", x}});
      const Seed want = make_seed(e.output, spec);
      const ByHand h = by_hand(g, x, [&](const Tensor& y) { return make_seed(y, spec).seed; }, s.composite);
      CHECK(max_abs_diff(e.output, h.y) == 0.0);
      CHECK(max_abs_diff(e.seed, want.seed) == 0.0);
      CHECK(e.targets == want.targets);
      CHECK(max_abs_diff(e.relevance.input("x"), h.R.input("x")) == 0.0);
      CHECK(e.relevance.report().size() == h.R.report().size());
      CHECK(e.relevance.report().back().relevance_out == 0.0);  // no report unless asked for
    }
    // A seed's errors come through: a class outside the three outputs.
    ExplainSettings bad;
    bad.seed.task = SeedTask::Targets;
    bad.seed.outputs = {3};
    GraphExplainer ex(g, bad);
    CHECK_THROWS_AS(ex.explain({{"x", x}}), IndexError);
    bad.seed = SeedSpec();
    bad.output = 1;
    GraphExplainer ex2(g, bad);
    CHECK_THROWS_AS(ex2.explain({{"x", x}}), IndexError);  // the graph has one output
  }

  TEST_CASE("contrastive composites propagate both maps; kept nodes and the report") {
    const Graph g = small_mlp();
    const Tensor x = oracle::random_tensor({2, 6}, 12);
    ExplainSettings s;
    s.composite = Composite::by_name("backtrace-contrastive");
    s.seed.form = SeedForm::OneHot;
    s.seed.multiplier = 100.0;
    s.propagation.keep = {"layers.1"};
    s.propagation.report = true;
    GraphExplainer ex(g, s);
    const Explanation e = ex.explain({{"x", x}});
    Tape tape;
    Tensor y;
    {
      Recording rec(tape);
      y = g.forward({{"x", x}})[0];
    }
    const Seed pos = classification_seed(y, std::nullopt, SeedForm::OneHot, 100.0);
    const Tensor neg = contrastive_negative_seed(y, pos.seed, SeedForm::OneHot, 100.0);
    PropagateOptions o;
    o.keep = {"layers.1"};
    const RelevanceMap R = propagate_contrastive(tape, y, pos.seed, neg, s.composite, o);
    for (const char* name : {"x.positive", "x.negative"}) {
      CAPTURE(name);
      CHECK(max_abs_diff(e.relevance.input(name), R.input(name)) == 0.0);
    }
    CHECK(max_abs_diff(e.relevance.node("layers.1.positive"), R.node("layers.1.positive")) == 0.0);
    CHECK(max_abs_diff(e.relevance.node("layers.1.negative"), R.node("layers.1.negative")) == 0.0);
    CHECK(max_abs_diff(e.seed, pos.seed) == 0.0);
    REQUIRE(e.relevance.report().size() == R.report().size());
    for (std::size_t k = 0; k < R.report().size(); ++k)
      CHECK(e.relevance.report()[k].relevance_out == R.report()[k].relevance_out);
    CHECK(e.relevance.report().front().relevance_out != 0.0);
    CHECK(e.tape == nullptr);
  }

  TEST_CASE("retain keeps the tape for another seed; sample rescales each sample on its own") {
    const Graph g = small_mlp();
    const Tensor x = oracle::random_tensor({3, 6}, 13);
    ExplainSettings s;
    s.propagation.retain = true;
    s.scaler = 2.0;
    s.max_unit = 0.5;
    GraphExplainer ex(g, s);
    const Explanation e = ex.explain({{"x", x}});
    REQUIRE(e.tape != nullptr);
    // The retained tape propagates again: class 0 for every row, as a fresh explanation.
    const RelevanceMap again =
        propagate(*e.tape, e.output, classification_seed(e.output, 0, SeedForm::Value, 1.0).seed, s.composite);
    const ByHand h = by_hand(g, x, [](const Tensor& y) { return classification_seed(y, 0, SeedForm::Value, 1.0).seed; },
                             s.composite);
    CHECK(max_abs_diff(again.input("x"), h.R.input("x")) == 0.0);
    // sample(b, 3): row b's map, rescaled to sum to 2, then to a largest magnitude of 0.5.
    for (std::int64_t b = 0; b < 3; ++b) {
      CAPTURE(b);
      RelevanceMap want = e.relevance.sample(b, 3);
      want.rescale(2.0, 0.5);
      const RelevanceMap got = e.sample(b, 3);
      CHECK(got.input("x").shape() == Shape{1, 6});
      CHECK(max_abs_diff(got.input("x"), want.input("x")) == 0.0);
      double largest = 0;
      for (double v : got.input("x").to_vector_f64()) largest = std::max(largest, std::abs(v));
      CHECK(largest == doctest::Approx(0.5));
    }
    // Unscaled relevance stays as propagated.
    const ByHand plain = by_hand(g, x, [](const Tensor& y) { return classification_seed(y, std::nullopt, SeedForm::Value, 1.0).seed; },
                                 s.composite);
    CHECK(max_abs_diff(e.relevance.input("x"), plain.R.input("x")) == 0.0);
  }
}
