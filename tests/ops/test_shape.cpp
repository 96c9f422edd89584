// Shape ops move relevance exactly as they move values.

#include <doctest/doctest.h>

#include <functional>

#include "relprop/ops/shape.hpp"
#include "relprop/nn/graph.hpp"
#include "relprop/relevance/engine.hpp"
#include "reference/oracle.hpp"

using namespace relprop;
namespace o = relprop::oracle;

namespace {

Tensor iota(Shape s) {
  Tensor t = Tensor::empty(std::move(s));
  for (std::int64_t i = 0; i < t.numel(); ++i) t.set_flat(i, static_cast<double>(i));
  return t;
}

// Relevance R = y itself (the output values): after moving back, each input element gets
// its own value once per place it was copied to.
RelevanceMap back(const std::function<Tensor(const std::vector<Tensor>&)>& f, const std::vector<Tensor>& xs) {
  Tape tape;
  Tensor y;
  {
    Recording rec(tape);
    std::vector<Tensor> in;
    for (std::size_t i = 0; i < xs.size(); ++i) in.push_back(tape.input(xs[i], "x" + std::to_string(i)));
    y = f(in);
  }
  return propagate(tape, y, y, Composite::by_name("epsilon"));
}

}  // namespace

TEST_SUITE("ops.shape") {
  TEST_CASE("permute and transpose move relevance back to where each value came from") {
    const Tensor x = iota({2, 3, 4});
    const Tensor p = permute(x, {2, 0, 1});
    CHECK(p.shape() == Shape{4, 2, 3});
    CHECK(p.get({3, 1, 2}) == x.get({1, 2, 3}));
    CHECK(max_abs_diff(back([](auto& v) { return permute(v[0], {2, 0, 1}); }, {x}).input("x0"), x) == 0.0);
    CHECK(max_abs_diff(back([](auto& v) { return transpose(v[0], 0, -1); }, {x}).input("x0"), x) == 0.0);
    CHECK_THROWS_AS(permute(x, {0, 0, 1}), ShapeError);
    CHECK_THROWS_AS(transpose(x, 0, 3), IndexError);
  }

  TEST_CASE("slice: the sliced elements get their relevance / the others none") {
    const Tensor x = iota({2, 6});
    const Tensor s = slice(x, 1, 1, 6, 2);
    CHECK(s.to_vector() == std::vector<float>{1, 3, 5, 7, 9, 11});
    const Tensor r = back([](auto& v) { return slice(v[0], 1, 1, 6, 2); }, {x}).input("x0");
    CHECK(r.to_vector() == std::vector<float>{0, 1, 0, 3, 0, 5, 0, 7, 0, 9, 0, 11});
    CHECK(slice(x, -1, -2, 100).shape() == Shape{2, 2});
  }

  TEST_CASE("cat: each input gets its own part") {
    const Tensor a = iota({2, 2}), b = o::random_tensor({2, 3}, 1);
    const Tensor c = cat({a, b}, 1);
    CHECK(c.shape() == Shape{2, 5});
    CHECK(c.get({1, 3}) == b.get({1, 1}));
    const RelevanceMap m = back([](auto& v) { return cat(v, 1); }, {a, b});
    CHECK(max_abs_diff(m.input("x0"), a) == 0.0);
    CHECK(max_abs_diff(m.input("x1"), b) == 0.0);
    CHECK_THROWS_AS(cat({a, iota({3, 2})}, 1), ShapeError);
  }

  TEST_CASE("pad: the padding's relevance is dropped and shows as absorbed") {
    const Tensor x = iota({1, 2, 2}) ;
    const Tensor y = pad(x, {1, 0, 0, 2}, -1.0);
    CHECK(y.shape() == Shape{1, 4, 3});
    CHECK(y.to_vector() == std::vector<float>{-1, 0, 1, -1, 2, 3, -1, -1, -1, -1, -1, -1});
    const RelevanceMap m = back([](auto& v) { return pad(v[0], {1, 0, 0, 2}, -1.0); }, {x});
    CHECK(max_abs_diff(m.input("x0"), x) == 0.0);
    REQUIRE(m.report().size() == 1);
    CHECK(m.report()[0].absorbed() == doctest::Approx(-8.0));  // eight padded -1s
    CHECK_THROWS_AS(pad(x, {1}), ValueError);
  }

  TEST_CASE("upsample_nearest2d: copies as PyTorch picks them / relevance of the copies summed") {
    const Tensor x = iota({1, 1, 2, 3});
    const Tensor y = upsample_nearest2d(x, 4, 5);
    // rows 0,0,1,1; columns floor(o * 3 / 5) = 0,0,1,1,2
    CHECK(y.to_vector() == std::vector<float>{0, 0, 1, 1, 2, 0, 0, 1, 1, 2, 3, 3, 4, 4, 5, 3, 3, 4, 4, 5});
    const Tensor r = back([](auto& v) { return upsample_nearest2d(v[0], 4, 5); }, {x}).input("x0");
    CHECK(r.to_vector() == std::vector<float>{0, 4, 4, 12, 16, 10});
  }

  TEST_CASE("graph attributes as PyTorch names them") {
    const std::string text = R"({"format": "relprop-graph", "version": 1,
      "inputs": [{"name": "x", "shape": [1, 2, 2, 3]}],
      "nodes": [
        {"name": "up", "op": "upsample_nearest2d", "inputs": ["x"], "attrs": {"scale_factor": 2.0}},
        {"name": "p", "op": "pad", "inputs": ["up"], "attrs": {"pad": [1, 1], "mode": "constant", "value": 0.5}},
        {"name": "t", "op": "permute", "inputs": ["p"], "attrs": {"dims": [0, 1, 3, 2]}},
        {"name": "s", "op": "slice", "inputs": ["t"], "attrs": {"dim": 2, "start": 1, "end": -1}},
        {"name": "c", "op": "cat", "inputs": ["s", "s"], "attrs": {"dim": 1}}],
      "outputs": ["c"]})";
    Graph g = Graph::parse(text);
    g.bind(std::map<std::string, Tensor>{});
    const Tensor y = g.forward({{"x", iota({1, 2, 2, 3})}})[0];
    CHECK(y.shape() == Shape{1, 4, 6, 4});
  }
}
