// GPU parity of the activation family (ops/activation.cpp <-> cuda/activation.cu):
// forward and relevance of every activation under every rule its CPU node supports
// (pass, backtrace, gradient; softmax also epsilon / zero = AttnLRP), on the inputs of
// tests/ops/test_activation.cpp plus odd shapes, batch > 1, the kinks (0, 6), far tails
// (+-100) and, for softmax / log_softmax, every dimension, long rows, wide inner
// dimensions (the one-thread-per-row kernel) and -1e9 / -inf masks. Also: the GPU nodes
// throw the CPU's errors for unsupported rules.
// Tolerance 1e-5 relative: the GPU's erff / tanhf / expf are a few ulp from Eigen's packet
// versions and libm; the softmax sums run in double on both sides (another order).

#include <doctest/doctest.h>

#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "cuda/parity.hpp"
#include "relprop/ops/activation.hpp"
#include "relprop/ops/elementwise.hpp"

using namespace relprop;
namespace o = relprop::oracle;

namespace {

using Fn = std::function<Tensor(const Tensor&)>;

struct Act {
  std::string name;
  Fn f;
};

// Every element-wise activation with the options it takes.
std::vector<Act> elementwise_acts() {
  return {{"relu", [](const Tensor& x) { return relu(x); }},
          {"leaky_relu(0.2)", [](const Tensor& x) { return leaky_relu(x, 0.2); }},
          {"leaky_relu(default)", [](const Tensor& x) { return leaky_relu(x); }},
          {"relu6", [](const Tensor& x) { return relu6(x); }},
          {"hardswish", [](const Tensor& x) { return hardswish(x); }},
          {"elu(0.7)", [](const Tensor& x) { return elu(x, 0.7); }},
          {"elu(default)", [](const Tensor& x) { return elu(x); }},
          {"gelu", [](const Tensor& x) { return gelu(x); }},
          {"gelu-tanh", [](const Tensor& x) { return gelu(x, "tanh"); }},
          {"silu", [](const Tensor& x) { return silu(x); }},
          {"sigmoid", [](const Tensor& x) { return sigmoid(x); }},
          {"tanh", [](const Tensor& x) { return relprop::tanh(x); }}};
}

// The rules the element-wise activation node supports (everything else: UnsupportedError).
std::vector<Rule> elementwise_rules() {
  return {PassRule{}, BacktraceRule{}, parse_rule("backtrace:gate"), GradientRule{}};
}

// Random values in [lo, hi] with the kinks and tails planted at the front: 0 (ReLU'(0)),
// 6 (ReLU6's upper kink), +-100 (sigmoid / SiLU / GELU tails), -0.5, 1e-7, +-3
// (hardswish's kinks).
Tensor with_specials(const Shape& s, std::uint32_t seed, double lo = -4.0, double hi = 8.0) {
  std::vector<float> v = o::random_tensor(s, seed, lo, hi).to_vector();
  const float specials[] = {0.0f, 6.0f, -100.0f, 100.0f, -0.5f, 1e-7f, -20.0f, 20.0f, -3.0f, 3.0f};
  for (std::size_t i = 0; i < v.size() && i < std::size(specials); ++i) v[i] = specials[i];
  return Tensor::from_vector(std::span<const float>(v), s);
}

struct ActShape {
  Shape shape;
  bool specials;
};

// Shapes: the CPU tests' (2, 4) and (3, 5), a scalar, odd sizes, batch > 1, a long vector.
std::vector<ActShape> act_shapes() {
  return {{{2, 4}, false}, {{3, 5}, true}, {{}, false}, {{1}, false}, {{7, 33, 5}, true},
          {{2, 3, 4, 5}, false}, {{100003}, true}};
}

parity::Case act_case(const Act& a, const ActShape& s, std::uint32_t seed) {
  const Tensor x = s.specials ? with_specials(s.shape, seed) : o::random_tensor(s.shape, seed, -3.0, 3.0);
  return {a.name + " x" + shape_str(s.shape), {x}, [f = a.f](const std::vector<Tensor>& in, Device) { return f(in[0]); }};
}

// Softmax rows: the input (with masks) and the dimension.
struct SoftmaxRow {
  std::string name;
  Tensor x;
  int dim;
  bool finite = true;  // false: -inf entries (AttnLRP's x (R - s sum R) is then inf / NaN)
};

// x with every `period`-th element set to `mask` (attention masks), from element `first`.
Tensor masked(const Shape& s, std::uint32_t seed, float mask, std::int64_t period, std::int64_t first = 0) {
  std::vector<float> v = o::random_tensor(s, seed, -3.0, 3.0).to_vector();
  for (std::size_t i = static_cast<std::size_t>(first); i < v.size(); i += static_cast<std::size_t>(period))
    v[i] = mask;
  return Tensor::from_vector(std::span<const float>(v), s);
}

std::vector<SoftmaxRow> softmax_rows() {
  std::vector<SoftmaxRow> rows;
  auto add = [&](std::string name, Tensor x, int dim, bool finite = true) {
    rows.push_back({std::move(name) + " dim " + std::to_string(dim) + " x" + x.str_shape(), std::move(x), dim, finite});
  };
  // The CPU tests' (3, 5) along 1 and -1, plus 0.
  for (int d : {0, 1, -1}) add("random", o::random_tensor({3, 5}, 11, -3.0, 3.0), d);
  // (outer, D, inner) with all three > 1 and odd.
  for (int d : {0, 1, 2, -1, -2, -3}) add("random", o::random_tensor({3, 7, 5}, 12, -3.0, 3.0), d);
  add("1-d", o::random_tensor({9}, 13, -3.0, 3.0), 0);
  add("one element", o::random_tensor({1}, 14), 0);
  add("single-element rows", o::random_tensor({4, 1, 3}, 15), 1);
  // Large inputs (no overflow: the max is subtracted), rows of equal values.
  add("large", o::random_tensor({2, 6}, 16, 990.0, 1000.0), 1);
  add("ties", Tensor::full({3, 4}, 1000.0), -1);
  // Long rows: more elements than a block's threads (strided loops, block reductions).
  add("long rows", o::random_tensor({3, 1000}, 17, -5.0, 5.0), -1);
  add("long rows", o::random_tensor({2, 2051, 3}, 18, -5.0, 5.0), 1);
  // Wide inner dimensions: one thread per row (batch 2, channels along dim 1).
  add("wide inner", o::random_tensor({2, 10, 64, 40}, 19, -3.0, 3.0), 1);
  add("wide inner", o::random_tensor({50, 64, 70}, 20, -3.0, 3.0), 0);
  // Attention-like scores (batch, heads, queries, keys) along the keys.
  add("scores", o::random_tensor({2, 3, 17, 17}, 21, -4.0, 4.0), -1);
  // Additive masks: -1e9 (far below exp's range: probability exactly 0), whole rows masked.
  add("-1e9 mask", masked({4, 9}, 22, -1e9f, 4), -1);
  add("-1e9 mask", masked({4, 9, 6}, 23, -1e9f, 5, 1), 1);
  add("-1e9 mask", masked({3, 300}, 24, -1e9f, 2), -1);
  add("fully masked rows", Tensor::full({2, 5}, -1e9), 1);
  add("-inf mask", masked({4, 9}, 25, -INFINITY, 3, 1), -1, false);
  return rows;
}

// What the softmax nodes support.
std::vector<Rule> softmax_rules() {
  return {PassRule{}, BacktraceRule{}, GradientRule{}, EpsilonRule{}, EpsilonRule{0.25}, ZeroRule{}};
}
std::vector<Rule> log_softmax_rules() { return {PassRule{}, BacktraceRule{}, GradientRule{}}; }

// Propagates `rule` through one activation on the GPU (x tracked).
void propagate_gpu(const Fn& f, const Tensor& x, const Rule& rule) {
  Tape tape;
  Tensor y;
  {
    Recording rec(tape);
    y = f(tape.input(x.to(Device::CUDA), "x"));
  }
  Composite c("gpu");
  c.set_fallback(rule);
  (void)propagate(tape, y, o::random_tensor(y.shape(), 3).to(Device::CUDA), c);
}

}  // namespace

TEST_SUITE("cuda.parity.activation") {
  TEST_CASE("element-wise activations: forward and every supported rule") {
    std::uint32_t seed = 100;
    for (const Act& a : elementwise_acts())
      for (const ActShape& s : act_shapes()) {
        const parity::Case c = act_case(a, s, seed++);
        for (const Rule& r : elementwise_rules()) parity::check(c, r);
        // Contrastive mode: each map moves on its own.
        parity::check(c, parse_rule("backtrace-contrastive"), 1e-5, true);
      }
  }

  TEST_CASE("element-wise activations: float64 inputs are converted on the GPU") {
    const Tensor x = o::random_tensor({5, 6}, 30, -3.0, 3.0).to(DType::F64);
    for (const Act& a : elementwise_acts()) {
      const parity::Case c{a.name + " (float64)", {x}, [f = a.f](const std::vector<Tensor>& in, Device) { return f(in[0]); }};
      parity::check(c, GradientRule{});
    }
  }

  TEST_CASE("softmax / log_softmax along every dimension: forward and every supported rule") {
    for (const SoftmaxRow& row : softmax_rows()) {
      const int dim = row.dim;
      const parity::Case sm{"softmax " + row.name, {row.x},
                            [dim](const std::vector<Tensor>& in, Device) { return softmax(in[0], dim); }};
      const parity::Case lsm{"log_softmax " + row.name, {row.x},
                             [dim](const std::vector<Tensor>& in, Device) { return log_softmax(in[0], dim); }};
      for (const Rule& r : softmax_rules()) {
        // AttnLRP multiplies by x: -inf inputs give inf / NaN on both sides.
        const bool attn = std::holds_alternative<EpsilonRule>(r) || std::holds_alternative<ZeroRule>(r);
        if (row.finite || !attn) parity::check(sm, r);
      }
      // log s is -inf at -inf inputs on both sides (inf - inf compares as NaN).
      if (row.finite)
        for (const Rule& r : log_softmax_rules()) parity::check(lsm, r);
      parity::check(sm, parse_rule("backtrace-contrastive"), 1e-5, true);
    }
  }

  TEST_CASE("masked attention scores: add of a -1e9 mask, then softmax (GPU nodes in a chain)") {
    // The mask is a constant the build moves to the device; every node takes the rule.
    const Tensor x = o::random_tensor({2, 4, 8}, 40, -2.0, 2.0);
    const Tensor mask = Tensor::from_vector({0.f, 0.f, -1e9f, 0.f, 0.f, -1e9f, 0.f, -1e9f}, {1, 1, 8});
    const parity::Case c{"softmax(x + mask)", {x}, [mask](const std::vector<Tensor>& in, Device d) {
                           return softmax(add(in[0], mask.to(d)), -1);
                         }};
    for (const Rule& r : std::vector<Rule>{GradientRule{}, EpsilonRule{}, ZeroRule{}, BacktraceRule{}})
      parity::check(c, r);
  }

  TEST_CASE("GPU activation nodes throw the CPU's errors") {
    if (!parity::have_gpu()) return;
    const Tensor x = o::random_tensor({2, 3}, 50);
    CHECK_THROWS_AS(propagate_gpu([](const Tensor& t) { return relu(t); }, x, EpsilonRule{}), UnsupportedError);
    CHECK_THROWS_AS(propagate_gpu([](const Tensor& t) { return gelu(t); }, x, ZPlusRule{}), UnsupportedError);
    CHECK_THROWS_AS(propagate_gpu([](const Tensor& t) { return log_softmax(t, 1); }, x, EpsilonRule{}),
                    UnsupportedError);
    CHECK_THROWS_AS(propagate_gpu([](const Tensor& t) { return softmax(t, 1); }, x, NormRule{}), UnsupportedError);
    const Tensor xg = x.to(Device::CUDA);
    CHECK_THROWS_AS(softmax(xg, 2), IndexError);
    CHECK_THROWS_AS(gelu(xg, "fast"), ValueError);
    CHECK_THROWS_AS(softmax(Tensor::scalar(1.0).to(Device::CUDA), 0), ShapeError);
    CHECK_THROWS_AS(relu(Tensor::zeros({2}, DType::I64, Device::CUDA)), DtypeError);
  }
}
