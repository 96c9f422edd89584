// Batch norm (inference) and its folding into the preceding linear / convolution.

#include <doctest/doctest.h>

#include "relprop/nn/graph.hpp"
#include "relprop/ops/conv.hpp"
#include "relprop/ops/norm.hpp"
#include "relprop/relevance/engine.hpp"
#include "reference/oracle.hpp"

using namespace relprop;
namespace o = relprop::oracle;

namespace {

std::map<std::string, Tensor> bn_params(const std::string& p, std::int64_t C, std::uint32_t seed) {
  return {{p + ".running_mean", o::random_tensor({C}, seed)},
          {p + ".running_var", o::random_tensor({C}, seed + 1, 0.5, 2.0)},
          {p + ".weight", o::random_tensor({C}, seed + 2, 0.5, 1.5)},
          {p + ".bias", o::random_tensor({C}, seed + 3)}};
}

const char* kConvBn = R"({"format": "relprop-graph", "version": 1,
 "inputs": [{"name": "x", "shape": [-1, 2, 6, 6]}],
 "nodes": [
   {"name": "conv", "op": "conv2d", "inputs": ["x"], "params": {"weight": "conv.weight"}, "attrs": {"padding": 1}},
   {"name": "bn", "op": "batch_norm2d", "inputs": ["conv"], "attrs": {"eps": 0.001},
    "params": {"weight": "bn.weight", "bias": "bn.bias", "running_mean": "bn.running_mean", "running_var": "bn.running_var"}},
   {"name": "act", "op": "relu", "inputs": ["bn"]},
   {"name": "flat", "op": "flatten", "inputs": ["act"]},
   {"name": "fc", "op": "linear", "inputs": ["flat"], "params": {"weight": "fc.weight", "bias": "fc.bias"}},
   {"name": "bn1", "op": "batch_norm1d", "inputs": ["fc"],
    "params": {"running_mean": "bn1.running_mean", "running_var": "bn1.running_var"}},
   {"name": "drop", "op": "dropout", "inputs": ["bn1"], "attrs": {"p": 0.5}}],
 "outputs": ["drop"]})";

std::map<std::string, Tensor> weights() {
  auto w = bn_params("bn", 3, 10);
  const auto w1 = bn_params("bn1", 4, 20);
  w["bn1.running_mean"] = w1.at("bn1.running_mean");
  w["bn1.running_var"] = w1.at("bn1.running_var");
  w["conv.weight"] = o::random_tensor({3, 2, 3, 3}, 1);
  w["fc.weight"] = o::random_tensor({4, 108}, 2);
  w["fc.bias"] = o::random_tensor({4}, 3);
  return w;
}

}  // namespace

TEST_SUITE("nn.batchnorm") {
  TEST_CASE("batch_norm forward is (x - mean) / sqrt(var + eps) * weight + bias per channel") {
    const auto p = bn_params("b", 3, 1);
    const Tensor x = o::random_tensor({2, 3, 2, 2}, 5);
    const Tensor y = batch_norm(x, p.at("b.running_mean"), p.at("b.running_var"), p.at("b.weight"), p.at("b.bias"), 1e-3);
    for (std::int64_t i = 0; i < x.numel(); ++i) {
      const std::int64_t c = (i / 4) % 3;
      const double e = (x.get_flat(i) - p.at("b.running_mean").get({c})) /
                           std::sqrt(p.at("b.running_var").get({c}) + 1e-3) * p.at("b.weight").get({c}) +
                       p.at("b.bias").get({c});
      CHECK(y.get_flat(i) == doctest::Approx(e).epsilon(1e-5));
    }
    CHECK_THROWS_AS(batch_norm(x, p.at("b.running_mean"), Tensor::zeros({4}), {}, {}), ShapeError);
    CHECK_THROWS_AS(batch_norm(x, p.at("b.running_mean"), p.at("b.running_var"), {}, {}, 0.0), ValueError);
  }

  TEST_CASE("folding by adjacency leaves the output unchanged and the loaded weights untouched") {
    const auto w = weights();
    const Tensor conv_before = w.at("conv.weight").clone();
    Graph folded = Graph::parse(kConvBn), plain = Graph::parse(kConvBn);
    plain.set_fold_batch_norm(false);
    folded.bind(w);
    plain.bind(w);
    CHECK(folded.folded() == std::vector<std::string>{"bn", "bn1"});
    CHECK(plain.folded().empty());
    const Tensor x = o::random_tensor({3, 2, 6, 6}, 7);
    CHECK(o::rel_err(folded.forward({{"x", x}})[0], plain.forward({{"x", x}})[0]) < 1e-5);
    CHECK(max_abs_diff(w.at("conv.weight"), conv_before) == 0.0);
  }

  TEST_CASE("after folding the LRP rules see the folded layer; the batch-norm node passes relevance") {
    const auto w = weights();
    Graph g = Graph::parse(kConvBn);
    g.bind(w);
    const Tensor x = o::random_tensor({1, 2, 6, 6}, 8);
    Tape tape;
    Tensor y;
    {
      Recording rec(tape);
      y = g.forward({{"x", x}})[0];
    }
    PropagateOptions keep;
    keep.keep_all = true;
    const RelevanceMap R = propagate(tape, y, y, Composite::by_name("epsilon"), keep);
    CHECK(o::rel_err(R.node("bn"), R.node("conv")) == 0.0);
    // By hand: the conv with W * scale and bias shift under epsilon.
    Tensor scale, shift;
    batch_norm_affine(w.at("bn.running_mean"), w.at("bn.running_var"), w.at("bn.weight"), w.at("bn.bias"), 1e-3, scale,
                      shift);
    Tensor wf = w.at("conv.weight").clone();
    for (std::int64_t i = 0; i < wf.numel(); ++i) wf.set_flat(i, wf.get_flat(i) * scale.get_flat(i / 18));
    Tape t2;
    Tensor y2;
    {
      Recording rec(t2);
      y2 = conv2d(t2.input(x, "x"), wf, shift, {{1, 1}, {1, 1}, {1, 1}, 1});
    }
    const Tensor expect = propagate(t2, y2, R.node("conv"), Composite::by_name("epsilon")).input("x");
    CHECK(o::rel_err(R.input("x"), expect) < 1e-5);
  }

  TEST_CASE("a batch norm after a fork or a graph input is not folded, and passes relevance") {
    const std::string text = R"({"format": "relprop-graph", "version": 1,
      "inputs": [{"name": "x", "shape": [2, 3]}],
      "nodes": [
        {"name": "bn0", "op": "batch_norm1d", "inputs": ["x"], "params": {"running_mean": "m", "running_var": "v"}},
        {"name": "fc", "op": "linear", "inputs": ["bn0"], "params": {"weight": "w"}},
        {"name": "bn1", "op": "batch_norm1d", "inputs": ["fc"], "params": {"running_mean": "m", "running_var": "v"}},
        {"name": "sum", "op": "add", "inputs": ["bn1", "fc"]}],
      "outputs": ["sum"]})";
    Graph g = Graph::parse(text);
    g.bind(std::map<std::string, Tensor>{{"m", o::random_tensor({3}, 1)},
                                         {"v", o::random_tensor({3}, 2, 0.5, 1.0)},
                                         {"w", o::random_tensor({3, 3}, 3)}});
    CHECK(g.folded().empty());
    Tape tape;
    Tensor y;
    {
      Recording rec(tape);
      y = g.forward({{"x", o::random_tensor({2, 3}, 4)}})[0];
    }
    PropagateOptions keep;
    keep.keep_all = true;
    const RelevanceMap R = propagate(tape, y, y, Composite::by_name("epsilon"), keep);
    CHECK(o::rel_err(R.input("x"), R.node("bn0")) == 0.0);
    CHECK_THROWS_AS(propagate(tape, y, y, Composite::by_name("zero")), ValueError);  // consumed
  }
}
