// A small CNN through the graph format, end to end: conv -> relu -> max pool -> conv ->
// relu -> adaptive average pool -> flatten -> linear.

#include <doctest/doctest.h>

#include "relprop/nn/graph.hpp"
#include "relprop/ops/shape.hpp"
#include "relprop/relevance/engine.hpp"
#include "relprop/relevance/seed.hpp"
#include "reference/oracle.hpp"

using namespace relprop;
namespace o = relprop::oracle;

namespace {

const char* kCnn = R"({"format": "relprop-graph", "version": 1,
 "inputs": [{"name": "image", "shape": [-1, 3, 12, 12]}],
 "nodes": [
   {"name": "features.0", "op": "conv2d", "inputs": ["image"], "params": {"weight": "features.0.weight", "bias": "features.0.bias"},
    "attrs": {"padding": 1}},
   {"name": "features.1", "op": "relu", "inputs": ["features.0"]},
   {"name": "features.2", "op": "max_pool2d", "inputs": ["features.1"], "attrs": {"kernel_size": 2}},
   {"name": "features.3", "op": "conv2d", "inputs": ["features.2"], "params": {"weight": "features.3.weight", "bias": "features.3.bias"},
    "attrs": {"stride": 2, "padding": 1}},
   {"name": "features.4", "op": "relu", "inputs": ["features.3"]},
   {"name": "avgpool", "op": "adaptive_avg_pool2d", "inputs": ["features.4"], "attrs": {"output_size": [2, 2]}},
   {"name": "flatten", "op": "flatten", "inputs": ["avgpool"]},
   {"name": "classifier", "op": "linear", "inputs": ["flatten"], "params": {"weight": "classifier.weight", "bias": "classifier.bias"}}],
 "outputs": ["classifier"]})";

std::map<std::string, Tensor> weights(bool bias) {
  std::map<std::string, Tensor> w = {{"features.0.weight", o::random_tensor({8, 3, 3, 3}, 1)},
                                     {"features.3.weight", o::random_tensor({6, 8, 3, 3}, 3)},
                                     {"classifier.weight", o::random_tensor({5, 24}, 5)}};
  const double s = bias ? 1.0 : 0.0;
  w["features.0.bias"] = o::random_tensor({8}, 2, -0.1 * s, 0.1 * s);
  w["features.3.bias"] = o::random_tensor({6}, 4, -0.1 * s, 0.1 * s);
  w["classifier.bias"] = o::random_tensor({5}, 6, -0.1 * s, 0.1 * s);
  return w;
}

struct Run {
  Tensor y;
  RelevanceMap R;
};

Run explain(const Graph& g, const Tensor& x, const Composite& c, SeedForm form, std::optional<std::int64_t> target = {},
            double multiplier = 1.0) {
  Tape tape;
  Tensor y;
  {
    Recording rec(tape);
    y = g.forward({{"image", x}})[0];
  }
  const auto seed = classification_seed(y, target, form, multiplier);
  PropagateOptions opts;
  opts.keep_all = true;
  return {y, propagate(tape, y, seed.seed, c, opts)};
}

}  // namespace

TEST_SUITE("nn.cnn") {
  TEST_CASE("LRP-0 with a value seed equals gradient x input through conv / max pool / average pool") {
    Graph g = Graph::parse(kCnn);
    g.bind(weights(true));
    const Tensor x = o::random_tensor({2, 3, 12, 12}, 9);
    Composite zero = Composite::by_name("zero");
    zero.for_class(OpClass::Pooling, NormRule{0.0});
    zero.for_op("max_pool2d", PassRule{});
    const Run lrp = explain(g, x, zero, SeedForm::Value);
    const Run grad = explain(g, x, Composite::by_name("gradient"), SeedForm::OneHot);
    CHECK(lrp.y.shape() == Shape{2, 5});
    Tensor gxi = Tensor::empty(x.shape());
    const Tensor gr = grad.R.input("image");
    for (std::int64_t i = 0; i < x.numel(); ++i) gxi.set_flat(i, gr.get_flat(i) * x.get_flat(i));
    CHECK(o::rel_err(lrp.R.input("image"), gxi) < 1e-4);
  }

  TEST_CASE("without biases every composite's positive rules conserve relevance node by node") {
    Graph g = Graph::parse(kCnn);
    g.bind(weights(false));
    const Tensor x = o::random_tensor({1, 3, 12, 12}, 10, 0.0, 1.0);
    for (std::string name : {"zero", "epsilon", "epsilon-plus", "epsilon-plus-flat", "epsilon-alpha2-beta1", "backtrace"}) {
      CAPTURE(name);
      const Composite c = Composite::by_name(name);
      const Run r = explain(g, x, c, c.seed_form, 0, c.multiplier);
      const double total = r.y.get({0, 0}) * (c.seed_form == SeedForm::Value ? 1.0 : 0.0) +
                           (c.seed_form == SeedForm::OneHot ? c.multiplier : 0.0);
      CHECK(sum_all(r.R.node("classifier")) == doctest::Approx(total).epsilon(1e-6));
      for (const auto& rep : r.R.report()) {
        CAPTURE(rep.name);
        CHECK(rep.absorbed() == doctest::Approx(0.0).epsilon(1e-3 * std::fabs(total) + 1e-5));
      }
      CHECK(sum_all(r.R.input("image")) == doctest::Approx(total).epsilon(1e-3));
    }
  }

  TEST_CASE("relevance of every node keeps the node's shape; flatten moves it back") {
    Graph g = Graph::parse(kCnn);
    g.bind(weights(true));
    const Tensor x = o::random_tensor({1, 3, 12, 12}, 11);
    const Run r = explain(g, x, Composite::by_name("epsilon-gamma-box"), SeedForm::Value);
    CHECK(r.R.node("features.2").shape() == Shape{1, 8, 6, 6});
    CHECK(r.R.node("avgpool").shape() == Shape{1, 6, 2, 2});
    CHECK(r.R.node("flatten").shape() == Shape{1, 24});
    CHECK(o::rel_err(r.R.node("flatten").reshape({1, 6, 2, 2}), r.R.node("avgpool")) == 0.0);
    CHECK_THROWS_AS(flatten(x, 4), ShapeError);
    CHECK_THROWS_AS(reshape(x, {5, -1}), ShapeError);
  }
}
