// GPU parity of the element-wise binary ops (ops/elementwise.cpp <-> cuda/elementwise.cu):
// add / sub / mul forward and relevance under every rule their CPU node supports, with
// the same shapes and with NumPy broadcasting on either side ((2, 3, 4) + (4,),
// (2, 1, 4) * (2, 3, 1), (1,), 0-d, the CPU test's (4, 1, 3) + (2, 1)), constant operands,
// backtrace contrastive mode; and the GPU nodes' errors.
// Tolerance 1e-5 relative. Per element the GPU computes the CPU's float expressions in the
// same order; the relevance of a broadcast operand is summed in double on the GPU and in
// float on the CPU, so rows whose stabilised rules can blow up (a + b crossing 0) are only
// run with broadcasting under the bounded rules (backtrace, gradient, gates).

#include <doctest/doctest.h>

#include <cmath>
#include <string>
#include <vector>

#include "cuda/parity.hpp"
#include "relprop/ops/elementwise.hpp"

using namespace relprop;
namespace o = relprop::oracle;

namespace {

enum class Bin { Add, Sub, Mul };

const char* name_of(Bin k) { return k == Bin::Add ? "add" : k == Bin::Sub ? "sub" : "mul"; }

Tensor apply(Bin k, const Tensor& a, const Tensor& b) {
  switch (k) {
    case Bin::Add: return add(a, b);
    case Bin::Sub: return sub(a, b);
    case Bin::Mul: return mul(a, b);
  }
  return {};
}

// Operand values: pos (a in [1, 2], b in [-0.5, 0.5]: a +- b >= 0.5), neg (a in [-2, -1]:
// a +- b <= -0.5), mixed (both in [-1, 1]), levels (integers -1, 0, 1: exact zeros in
// a, b and a +- b).
enum class Values { Pos, Neg, Mixed, Levels };

Tensor levels(const Shape& s, std::uint32_t seed) {
  std::vector<float> v = o::random_tensor(s, seed, -1.5, 1.5).to_vector();
  for (float& x : v) x = std::round(x);
  return Tensor::from_vector(std::span<const float>(v), s);
}

std::pair<Tensor, Tensor> operands(const Shape& as, const Shape& bs, Values v, std::uint32_t seed) {
  switch (v) {
    case Values::Pos: return {o::random_tensor(as, seed, 1.0, 2.0), o::random_tensor(bs, seed + 1, -0.5, 0.5)};
    case Values::Neg: return {o::random_tensor(as, seed, -2.0, -1.0), o::random_tensor(bs, seed + 1, -0.5, 0.5)};
    case Values::Mixed: return {o::random_tensor(as, seed), o::random_tensor(bs, seed + 1)};
    case Values::Levels: return {levels(as, seed), levels(bs, seed + 1)};
  }
  return {};
}

struct BinRow {
  std::string name;
  Shape a, b;
  Values values;
};

std::vector<BinRow> bin_rows() {
  return {
      {"same shape", {2, 3, 4}, {2, 3, 4}, Values::Pos},
      {"same shape", {2, 3, 4}, {2, 3, 4}, Values::Neg},
      {"same shape", {2, 65, 129}, {2, 65, 129}, Values::Mixed},
      {"same shape", {5, 7}, {5, 7}, Values::Levels},
      {"trailing vector", {2, 3, 4}, {4}, Values::Pos},
      {"trailing vector", {2, 3, 4}, {4}, Values::Mixed},
      {"leading vector", {4}, {2, 3, 4}, Values::Neg},
      {"both broadcast", {2, 1, 4}, {2, 3, 1}, Values::Pos},
      {"both broadcast", {2, 1, 4}, {2, 3, 1}, Values::Mixed},
      {"scalar-like", {2, 3, 4}, {1}, Values::Pos},
      {"scalar-like", {1}, {2, 3, 4}, Values::Neg},
      {"0-d", {3, 5}, {}, Values::Pos},
      {"CPU test's", {4, 1, 3}, {2, 1}, Values::Pos},
      {"CPU test's", {4, 1, 3}, {2, 1}, Values::Levels},
      {"odd, batch 3", {3, 17, 33}, {17, 1}, Values::Pos},
      {"odd, batch 3", {3, 17, 33}, {17, 1}, Values::Mixed},
      {"rank 4", {5, 1, 7, 1}, {1, 6, 1, 9}, Values::Neg},
      {"size-1 dims", {1, 8, 1}, {8, 1}, Values::Pos},
  };
}

bool broadcasts(const BinRow& r) { return r.a != r.b; }

// Rules of add / sub; the stabilised ones only where their sums stay bounded.
std::vector<Rule> sum_rules(const BinRow& row) {
  std::vector<Rule> r = {BacktraceRule{}, parse_rule("backtrace:equal"), GradientRule{}};
  if (row.values != Values::Mixed || !broadcasts(row)) {
    for (const Rule& s : std::vector<Rule>{NormRule{}, NormRule{0.1, Stabilizer::Clip}, NormRule{0.05, Stabilizer::Scaled},
                                           EpsilonRule{0.25}, EpsilonRule{0.3, Stabilizer::Scaled}, ZeroRule{}})
      r.push_back(s);
  }
  return r;
}

// Rules of mul (two computed factors: uniform split; constant:I; gradient).
std::vector<Rule> mul_rules() {
  return {NormRule{},      EpsilonRule{},   ZeroRule{},     PassRule{}, BacktraceRule{}, parse_rule("backtrace:equal"),
          ConstantRule{0}, ConstantRule{1}, GradientRule{}};
}

parity::Case bin_case(Bin k, const BinRow& row, std::uint32_t seed) {
  auto [a, b] = operands(row.a, row.b, row.values, seed);
  return {std::string(name_of(k)) + " " + row.name + " " + shape_str(row.a) + ", " + shape_str(row.b), {a, b},
          [k](const std::vector<Tensor>& in, Device) { return apply(k, in[0], in[1]); }};
}

// One tracked operand, the other a constant the build moves to the device: `which` is the
// constant's position (0: a, 1: b).
parity::Case const_case(Bin k, const BinRow& row, int which, std::uint32_t seed) {
  auto [a, b] = operands(row.a, row.b, row.values, seed);
  const Tensor tracked = which == 0 ? b : a, constant = which == 0 ? a : b;
  return {std::string(name_of(k)) + " " + row.name + " with constant operand " + std::to_string(which),
          {tracked},
          [k, which, constant](const std::vector<Tensor>& in, Device d) {
            const Tensor c = constant.to(d);
            return which == 0 ? apply(k, c, in[0]) : apply(k, in[0], c);
          }};
}

// Propagates `rule` through op(a, b) on the GPU (both tracked).
void propagate_gpu(Bin k, const Tensor& a, const Tensor& b, const Rule& rule) {
  Tape tape;
  Tensor y;
  {
    Recording rec(tape);
    y = apply(k, tape.input(a.to(Device::CUDA), "a"), tape.input(b.to(Device::CUDA), "b"));
  }
  Composite c("gpu");
  c.set_fallback(rule);
  (void)propagate(tape, y, o::random_tensor(y.shape(), 3).to(Device::CUDA), c);
}

}  // namespace

TEST_SUITE("cuda.parity.elementwise") {
  TEST_CASE("add / sub: forward and every supported rule, with and without broadcasting") {
    std::uint32_t seed = 200;
    for (Bin k : {Bin::Add, Bin::Sub})
      for (const BinRow& row : bin_rows()) {
        const parity::Case c = bin_case(k, row, seed);
        seed += 2;
        for (const Rule& r : sum_rules(row)) parity::check(c, r);
      }
  }

  TEST_CASE("add / sub: backtrace contrastive (the summands split as at a linear node)") {
    std::uint32_t seed = 300;
    for (Bin k : {Bin::Add, Bin::Sub})
      for (const BinRow& row : bin_rows()) {
        const parity::Case c = bin_case(k, row, seed);
        seed += 2;
        parity::check(c, parse_rule("backtrace-contrastive"), 1e-5, true);
      }
  }

  TEST_CASE("mul: forward and every supported rule, contrastive (each map on its own)") {
    std::uint32_t seed = 400;
    for (const BinRow& row : bin_rows()) {
      const parity::Case c = bin_case(Bin::Mul, row, seed);
      seed += 2;
      for (const Rule& r : mul_rules()) parity::check(c, r);
      parity::check(c, parse_rule("backtrace-contrastive"), 1e-5, true);
    }
  }

  TEST_CASE("constant operands: a constant takes nothing, constant:I on the computed factor absorbs") {
    std::uint32_t seed = 500;
    const std::vector<BinRow> rows = {{"same shape", {3, 4}, {3, 4}, Values::Pos},
                                      {"trailing vector", {2, 3, 4}, {4}, Values::Pos},
                                      {"both broadcast", {2, 1, 4}, {2, 3, 1}, Values::Neg}};
    for (const BinRow& row : rows)
      for (int which : {0, 1}) {
        for (Bin k : {Bin::Add, Bin::Sub}) {
          const parity::Case c = const_case(k, row, which, seed++);
          for (const Rule& r : sum_rules(row)) parity::check(c, r);
          parity::check(c, parse_rule("backtrace-contrastive"), 1e-5, true);
        }
        const parity::Case c = const_case(Bin::Mul, row, which, seed++);
        for (const Rule& r : mul_rules()) parity::check(c, r);
      }
  }

  TEST_CASE("float64 operands are converted on the GPU") {
    const Tensor a = o::random_tensor({3, 4}, 600, 1.0, 2.0).to(DType::F64);
    const Tensor b = o::random_tensor({4}, 601, -0.5, 0.5);
    for (Bin k : {Bin::Add, Bin::Sub, Bin::Mul}) {
      const parity::Case c{std::string(name_of(k)) + " float64 a", {a, b},
                           [k](const std::vector<Tensor>& in, Device) { return apply(k, in[0], in[1]); }};
      parity::check(c, GradientRule{});
      parity::check(c, NormRule{});
    }
  }

  TEST_CASE("GPU binary nodes throw the CPU's errors") {
    if (!parity::have_gpu()) return;
    const Tensor a = o::random_tensor({2, 3}, 700), b = o::random_tensor({3}, 701);
    CHECK_THROWS_AS(propagate_gpu(Bin::Add, a, b, PassRule{}), UnsupportedError);
    CHECK_THROWS_AS(propagate_gpu(Bin::Sub, a, b, ConstantRule{0}), UnsupportedError);
    CHECK_THROWS_AS(propagate_gpu(Bin::Mul, a, b, ZPlusRule{}), UnsupportedError);
    CHECK_THROWS_AS(propagate_gpu(Bin::Add, a, b, AlphaBetaRule{}), UnsupportedError);
    const Tensor ag = a.to(Device::CUDA);
    CHECK_THROWS_AS(add(ag, Tensor::zeros({2}, DType::F32, Device::CUDA)), ShapeError);
    CHECK_THROWS_AS(mul(ag, b), ValueError);  // operands on two devices
    CHECK_THROWS_AS(sub(a, b.to(Device::CUDA)), ValueError);
    CHECK_THROWS_AS(add(ag, Tensor::zeros({3}, DType::I32, Device::CUDA)), DtypeError);
  }
}
