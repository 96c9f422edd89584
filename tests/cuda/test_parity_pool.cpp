// GPU parity of the pooling family (ops/pool.cpp <-> cuda/pool.cu) and of batch norm
// (ops/norm.cpp <-> cuda/norm.cu): forward and relevance of every op under every rule its
// CPU node supports, on the windows tests/ops/test_pool.cpp checks (overlapping windows,
// padding, dilation, ceil_mode, count_include_pad, odd sizes, batch 2) plus larger planes.
// Tolerance 1e-5 relative: the GPU kernels add in the CPU's order, so only fused
// multiply-adds on either side can differ.

#include <doctest/doctest.h>

#include <cmath>
#include <optional>
#include <string>
#include <vector>

#include "cuda/parity.hpp"
#include "relprop/ops/norm.hpp"
#include "relprop/ops/pool.hpp"

using namespace relprop;
namespace o = relprop::oracle;

namespace {

// The rules every pooling node takes; max pooling also takes pass (winner-take-all).
std::vector<Rule> pool_rules(bool is_max) {
  std::vector<Rule> r = {NormRule{},
                         NormRule{0.1, Stabilizer::Clip},
                         EpsilonRule{0.25},
                         EpsilonRule{0.3, Stabilizer::Scaled},
                         ZeroRule{},
                         BacktraceRule{},
                         GradientRule{},
                         UniformRule{}};
  if (is_max) r.push_back(PassRule{});
  return r;
}

// Values on a few levels (0, 1, ..., k - 1, shifted by `lo`): max windows tie often, so the
// tied paths (shared winner-take-all, first arg-max) run.
Tensor levels(const Shape& s, std::uint32_t seed, int k, float lo = 0.0f) {
  std::vector<float> v = o::random_tensor(s, seed, 0.0, static_cast<double>(k)).to_vector();
  for (float& x : v) x = std::floor(x) + lo;
  return Tensor::from_vector(std::span<const float>(v), s);
}

enum class Op { Max2d, Avg2d, Adaptive, Max1d, Avg1d };

struct PoolRow {
  std::string name;
  Op op;
  Shape x;  // (N, C, H, W), (N, C, L) for the 1-d pools
  Pool2dParams p2{};
  Pool1dParams p1{};
  std::array<std::int64_t, 2> out{1, 1};  // adaptive
  bool tied = false;                      // inputs on a few levels
};

Tensor apply(const PoolRow& r, const Tensor& x) {
  switch (r.op) {
    case Op::Max2d: return max_pool2d(x, r.p2);
    case Op::Avg2d: return avg_pool2d(x, r.p2);
    case Op::Adaptive: return adaptive_avg_pool2d(x, r.out);
    case Op::Max1d: return max_pool1d(x, r.p1);
    case Op::Avg1d: return avg_pool1d(x, r.p1);
  }
  return {};
}

bool is_max(Op op) { return op == Op::Max2d || op == Op::Max1d; }

std::vector<PoolRow> pool_rows() {
  std::vector<PoolRow> rows;
  auto max2 = [&](std::string n, Shape s, Pool2dParams p, bool tied = false) {
    rows.push_back({std::move(n), Op::Max2d, std::move(s), p, {}, {1, 1}, tied});
  };
  auto avg2 = [&](std::string n, Shape s, Pool2dParams p) {
    rows.push_back({std::move(n), Op::Avg2d, std::move(s), p, {}, {1, 1}, false});
  };
  auto adaptive = [&](std::string n, Shape s, std::array<std::int64_t, 2> out) {
    rows.push_back({std::move(n), Op::Adaptive, std::move(s), {}, {}, out, false});
  };
  auto pool1 = [&](std::string n, Op op, Shape s, Pool1dParams p, bool tied = false) {
    rows.push_back({std::move(n), op, std::move(s), {}, p, {1, 1}, tied});
  };
  // Max pooling: the rows of ops/test_pool.cpp, then ties and a larger plane.
  max2("max 2x2/2", {2, 2, 7, 5}, {{2, 2}, {2, 2}});
  max2("max 3x3/2 pad 1 (overlapping)", {2, 2, 7, 5}, {{3, 3}, {2, 2}, {1, 1}});
  max2("max 2x3/(1,2) pad (0,1) dilation (2,1)", {2, 2, 7, 5}, {{2, 3}, {1, 2}, {0, 1}, {2, 1}});
  max2("max 2x2/2 ceil_mode", {2, 2, 7, 5}, {{2, 2}, {2, 2}, {0, 0}, {1, 1}, true});
  max2("max 3x3/1 dilation 2 ceil_mode pad 1", {2, 3, 9, 8}, {{3, 3}, {1, 1}, {1, 1}, {2, 2}, true});
  max2("max 2x2/2 ties", {2, 3, 8, 6}, {{2, 2}, {2, 2}}, true);
  max2("max 3x3/1 ties (overlapping)", {2, 3, 7, 9}, {{3, 3}, {1, 1}, {1, 1}}, true);
  max2("max 3x3/2 pad 1 large", {2, 16, 33, 31}, {{3, 3}, {2, 2}, {1, 1}});
  // Average pooling: the rows of ops/test_pool.cpp, then a larger plane.
  avg2("avg 2x2/2", {2, 3, 7, 6}, {{2, 2}, {2, 2}});
  avg2("avg 3x3/2 pad 1 ceil count_include_pad", {2, 3, 7, 6}, {{3, 3}, {2, 2}, {1, 1}, {1, 1}, true, true});
  avg2("avg 3x2/(1,2) pad 1 no count_include_pad", {2, 3, 7, 6}, {{3, 2}, {1, 2}, {1, 1}, {1, 1}, false, false});
  avg2("avg 3x3/1 pad 1 ceil no count_include_pad", {2, 2, 5, 7}, {{3, 3}, {1, 1}, {1, 1}, {1, 1}, true, false});
  avg2("avg 5x5/3 pad 2 large", {2, 8, 29, 35}, {{5, 5}, {3, 3}, {2, 2}});
  adaptive("adaptive 7x6 -> 3x4", {2, 3, 7, 6}, {3, 4});
  adaptive("adaptive global", {2, 3, 7, 6}, {1, 1});
  adaptive("adaptive 13x17 -> 5x7 (overlapping)", {2, 8, 13, 17}, {5, 7});
  adaptive("adaptive 5x5 -> 7x9 (more outputs than inputs)", {2, 2, 5, 5}, {7, 9});
  // The 1-d pools: the rows of ops/test_pool.cpp.
  pool1("max1d 3/2 pad 1", Op::Max1d, {2, 3, 11}, {3, 2, 1, 1, false, true});
  pool1("max1d 2 dilation 2 ceil", Op::Max1d, {2, 3, 11}, {2, 0, 0, 2, true, true});
  pool1("max1d 3/1 ties", Op::Max1d, {2, 3, 11}, {3, 1, 1, 1, false, true}, true);
  pool1("avg1d 3/2 pad 1 no count_include_pad", Op::Avg1d, {2, 3, 11}, {3, 2, 1, 1, false, false});
  pool1("avg1d 4/3 ceil", Op::Avg1d, {2, 3, 11}, {4, 3, 0, 1, true, true});
  return rows;
}

parity::Case pool_case(const PoolRow& r, std::uint32_t seed) {
  // Signed inputs for the proportional / norm rules' sign handling; ties on two levels
  // either side of zero.
  const Tensor x = r.tied ? levels(r.x, seed, 4, -1.0f) : o::random_tensor(r.x, seed, -1.0, 1.0);
  return parity::Case{r.name, {x}, [r](const std::vector<Tensor>& in, Device) { return apply(r, in[0]); }};
}

struct NormRow {
  std::string name;
  Shape x;
  bool affine;  // weight and bias given
};

parity::Case norm_case(const NormRow& r, std::uint32_t seed) {
  const std::int64_t C = r.x[1];
  const Tensor mean = o::random_tensor({C}, seed + 1), var = o::random_tensor({C}, seed + 2, 0.5, 2.0);
  const Tensor w = r.affine ? o::random_tensor({C}, seed + 3, 0.5, 1.5) : Tensor();
  const Tensor b = r.affine ? o::random_tensor({C}, seed + 4) : Tensor();
  auto on = [](const Tensor& t, Device d) { return t.defined() ? t.to(d) : Tensor(); };
  return parity::Case{r.name, {o::random_tensor(r.x, seed)},
                      [=](const std::vector<Tensor>& in, Device d) {
                        return batch_norm(in[0], on(mean, d), on(var, d), on(w, d), on(b, d), 1e-3);
                      }};
}

}  // namespace

TEST_SUITE("cuda.parity.pool") {
  TEST_CASE("max / avg / adaptive pooling, 1-d and 2-d: forward and every rule") {
    std::uint32_t seed = 100;
    for (const PoolRow& r : pool_rows()) {
      CAPTURE(r.name);
      parity::check_all(pool_case(r, seed++), pool_rules(is_max(r.op)));
    }
  }

  TEST_CASE("pooling in contrastive mode: both maps moved by the backtrace rule") {
    std::uint32_t seed = 200;
    for (const PoolRow& r : pool_rows()) {
      CAPTURE(r.name);
      parity::check(pool_case(r, seed++), BacktraceRule{BacktraceRule::Mode::Contrastive}, 1e-5, true);
    }
  }

  TEST_CASE("pooling on the GPU: unsupported rules fail as on the CPU") {
    if (!parity::have_gpu()) return;
    const Tensor x = o::random_tensor({2, 3, 6, 6}, 1).to(Device::CUDA);
    auto relevance = [&](bool max, const Rule& rule) {
      Tape tape;
      Tensor y;
      {
        Recording rec(tape);
        const Tensor in = tape.input(x, "x");
        y = max ? max_pool2d(in, {{2, 2}, {2, 2}}) : avg_pool2d(in, {{2, 2}, {2, 2}});
      }
      Composite c("t");
      c.set_fallback(rule);
      return propagate(tape, y, y, c).input("x");
    };
    CHECK_THROWS_AS(relevance(false, PassRule{}), UnsupportedError);
    CHECK_THROWS_AS(relevance(true, ZPlusRule{}), UnsupportedError);
    CHECK(relevance(true, PassRule{}).device() == Device::CUDA);
  }
}

TEST_SUITE("cuda.parity.norm") {
  TEST_CASE("batch_norm 1-d / 2-d, with and without affine: forward, pass, backtrace, gradient") {
    const NormRow rows[] = {{"batch_norm2d affine", {2, 3, 5, 7}, true},
                            {"batch_norm2d plain", {2, 4, 3, 3}, false},
                            {"batch_norm1d (N, C)", {2, 5}, true},
                            {"batch_norm1d (N, C, L)", {2, 4, 9}, true},
                            {"batch_norm2d large", {2, 32, 17, 19}, true}};
    std::uint32_t seed = 300;
    for (const NormRow& r : rows) {
      CAPTURE(r.name);
      parity::check_all(norm_case(r, seed), {PassRule{}, BacktraceRule{}, GradientRule{}});
      parity::check(norm_case(r, seed), BacktraceRule{BacktraceRule::Mode::Contrastive}, 1e-5, true);
      seed += 10;
    }
  }

  TEST_CASE("batch_norm on the GPU: LRP rules unsupported, parameters on another device rejected") {
    if (!parity::have_gpu()) return;
    const Tensor x = o::random_tensor({2, 3, 4, 4}, 1).to(Device::CUDA);
    const Tensor mean = o::random_tensor({3}, 2), var = o::random_tensor({3}, 3, 0.5, 2.0);
    CHECK_THROWS_AS(batch_norm(x, mean, var, {}, {}), ValueError);  // parameters on the CPU
    Tape tape;
    Tensor y;
    {
      Recording rec(tape);
      y = batch_norm(tape.input(x, "x"), mean.to(Device::CUDA), var.to(Device::CUDA), {}, {});
    }
    CHECK(y.device() == Device::CUDA);
    Composite c("t");
    c.set_fallback(EpsilonRule{});
    CHECK_THROWS_AS(propagate(tape, y, y, c), UnsupportedError);
  }
}
