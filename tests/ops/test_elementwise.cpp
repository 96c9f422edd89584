// add (with broadcasting) and relu: forward and relevance against slow loops in double.

#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "relprop/ops/activation.hpp"
#include "relprop/ops/common.hpp"
#include "relprop/ops/elementwise.hpp"
#include "relprop/relevance/engine.hpp"
#include "reference/oracle.hpp"

using namespace relprop;
namespace o = relprop::oracle;

namespace {

struct AddResult {
  Tensor y, ra, rb;
};

AddResult add_relevance(const Tensor& a, const Tensor& b, const Tensor& R, const Rule& rule) {
  Tape tape;
  AddResult r;
  {
    Recording rec(tape);
    r.y = add(tape.input(a, "a"), tape.input(b, "b"), "add");
  }
  Composite c("test");
  c.set_fallback(rule);
  const RelevanceMap m = propagate(tape, r.y, R, c);
  r.ra = m.input("a");
  r.rb = m.input("b");
  return r;
}

}  // namespace

TEST_SUITE("ops.elementwise") {
  TEST_CASE("add broadcasts (4, 1, 3) + (2, 1) -> (4, 2, 3); norm and backtrace sum back to each shape") {
    const Tensor a = o::random_tensor({4, 1, 3}, 1, 0.5, 2.0);
    const Tensor b = o::random_tensor({2, 1}, 2, -1.0, 1.0);
    const Tensor R = o::random_tensor({4, 2, 3}, 3);
    // Oracle: every output element (i, j, k) reads a(i, 0, k) and b(j, 0).
    std::vector<double> y(24), na(12, 0), nb(2, 0), ba(12, 0), bb(2, 0);
    for (int i = 0; i < 4; ++i)
      for (int j = 0; j < 2; ++j)
        for (int k = 0; k < 3; ++k) {
          const double av = a.get({i, 0, k}), bv = b.get({j, 0}), r = R.get({i, j, k});
          y[(i * 2 + j) * 3 + k] = av + bv;
          const double den = av + bv + 1e-6 * (av + bv >= 0 ? 1 : -1);
          na[i * 3 + k] += av * r / den;
          nb[j] += bv * r / den;
          ba[i * 3 + k] += r * std::fabs(av) / (std::fabs(av) + std::fabs(bv));
          bb[j] += r * std::fabs(bv) / (std::fabs(av) + std::fabs(bv));
        }
    const AddResult n = add_relevance(a, b, R, NormRule{});
    CHECK(o::rel_err(n.y, Tensor::from_vector(std::span<const double>(y), {4, 2, 3})) < 1e-6);
    CHECK(o::rel_err(n.ra, Tensor::from_vector(std::span<const double>(na), {4, 1, 3})) < 1e-4);
    CHECK(o::rel_err(n.rb, Tensor::from_vector(std::span<const double>(nb), {2, 1})) < 1e-4);
    const AddResult t = add_relevance(a, b, R, BacktraceRule{});
    CHECK(o::rel_err(t.ra, Tensor::from_vector(std::span<const double>(ba), {4, 1, 3})) < 1e-5);
    CHECK(o::rel_err(t.rb, Tensor::from_vector(std::span<const double>(bb), {2, 1})) < 1e-5);
    // Backtrace conserves exactly: no bias, no stabiliser.
    CHECK(sum_all(t.ra) + sum_all(t.rb) == doctest::Approx(sum_all(R)).epsilon(1e-5));
  }

  TEST_CASE("add: equal split / zero operands / gradient / unsupported rules") {
    const Tensor a = Tensor::from_vector({1.f, 0.f, -2.f}, {3});
    const Tensor b = Tensor::from_vector({3.f, 0.f, 2.f}, {3});
    const Tensor R = Tensor::from_vector({4.f, 6.f, 8.f}, {3});
    BacktraceRule equal;
    equal.equal_split = true;
    const AddResult e = add_relevance(a, b, R, equal);
    CHECK(e.ra.to_vector() == std::vector<float>{2.f, 3.f, 4.f});
    const AddResult p = add_relevance(a, b, R, BacktraceRule{});
    CHECK(p.ra.to_vector() == std::vector<float>{1.f, 3.f, 4.f});  // |a| / (|a| + |b|); 0/0 splits equally
    CHECK(p.rb.to_vector() == std::vector<float>{3.f, 3.f, 4.f});
    const AddResult n = add_relevance(a, b, R, NormRule{0.0});
    CHECK(n.ra.to_vector() == std::vector<float>{1.f, 0.f, 0.f});  // a + b = 0 at index 1 and 2: guarded
    const AddResult g = add_relevance(a, b, R, GradientRule{});
    CHECK(g.ra.to_vector() == R.to_vector());
    CHECK_THROWS_AS(add_relevance(a, b, R, PassRule{}), UnsupportedError);
    CHECK_THROWS_AS(add(a, Tensor::zeros({2})), ShapeError);
  }

  TEST_CASE("sub is add of a and -b / mul splits gates equally and gives constants nothing") {
    const Tensor a = Tensor::from_vector({3.f, 1.f}, {2});
    const Tensor b = Tensor::from_vector({1.f, -1.f}, {2});
    const Tensor R = Tensor::from_vector({4.f, 6.f}, {2});
    auto run = [&](auto op, const Rule& rule, bool b_tracked) {
      Tape tape;
      Tensor y;
      {
        Recording rec(tape);
        y = op(tape.input(a, "a"), b_tracked ? tape.input(b, "b") : b);
      }
      Composite c("t");
      c.set_fallback(rule);
      const RelevanceMap m = propagate(tape, y, R, c);
      return std::make_pair(m.input("a"), b_tracked ? m.input("b") : Tensor());
    };
    const auto subf = [](const Tensor& x, const Tensor& y) { return sub(x, y); };
    const auto mulf = [](const Tensor& x, const Tensor& y) { return mul(x, y); };
    CHECK(sub(a, b).to_vector() == std::vector<float>{2.f, 2.f});
    // a - b = [2, 2]: R_a = a R / 2 = [6, 3], R_b = -b R / 2 = [-2, 3].
    auto [ra, rb] = run(subf, NormRule{0.0}, true);
    CHECK(ra.to_vector() == std::vector<float>{6.f, 3.f});
    CHECK(rb.to_vector() == std::vector<float>{-2.f, 3.f});
    std::tie(ra, rb) = run(subf, GradientRule{}, true);
    CHECK(rb.to_vector() == std::vector<float>{-4.f, -6.f});
    CHECK(mul(a, b).to_vector() == std::vector<float>{3.f, -1.f});
    std::tie(ra, rb) = run(mulf, EpsilonRule{}, true);
    CHECK(ra.to_vector() == std::vector<float>{2.f, 3.f});
    CHECK(rb.to_vector() == std::vector<float>{2.f, 3.f});
    std::tie(ra, rb) = run(mulf, BacktraceRule{}, false);  // b is a constant
    CHECK(ra.to_vector() == R.to_vector());
    // constant:I (CP-LRP gates): factor I is held constant, the other takes all of R.
    std::tie(ra, rb) = run(mulf, ConstantRule{0}, true);
    CHECK(ra.to_vector() == std::vector<float>{0.f, 0.f});
    CHECK(rb.to_vector() == R.to_vector());
    std::tie(ra, rb) = run(mulf, ConstantRule{1}, true);
    CHECK(ra.to_vector() == R.to_vector());
    CHECK(rb.to_vector() == std::vector<float>{0.f, 0.f});
    std::tie(ra, rb) = run(mulf, ConstantRule{1}, false);  // b is a weight anyway
    CHECK(ra.to_vector() == R.to_vector());
    std::tie(ra, rb) = run(mulf, ConstantRule{0}, false);  // the held factor is the only computed one
    CHECK(ra.to_vector() == std::vector<float>{0.f, 0.f});
    // The same with the computed factor second: a constant first factor, the held second
    // one, and nothing may pass (it once went to the held factor).
    const auto mul_swapped = [](const Tensor& x, const Tensor& y) { return mul(y, x); };
    std::tie(ra, rb) = run(mul_swapped, ConstantRule{1}, false);  // mul(b, a): a is input 1, held
    CHECK(ra.to_vector() == std::vector<float>{0.f, 0.f});
    std::tie(ra, rb) = run(mul_swapped, ConstantRule{0}, false);  // the constant b is held: a takes all
    CHECK(ra.to_vector() == R.to_vector());
    std::tie(ra, rb) = run(mulf, GradientRule{}, true);
    CHECK(ra.to_vector() == std::vector<float>{4.f, -6.f});  // R * b
    CHECK(rb.to_vector() == std::vector<float>{12.f, 6.f});  // R * a
  }

  TEST_CASE("relu: forward / pass / gradient mask") {
    const Tensor x = Tensor::from_vector({-1.f, 0.f, 2.f}, {3});
    CHECK(relu(x).to_vector() == std::vector<float>{0.f, 0.f, 2.f});
    Tape tape;
    Tensor y;
    {
      Recording rec(tape);
      y = relu(tape.input(x, "x"));
    }
    const Tensor R = Tensor::from_vector({5.f, 6.f, 7.f}, {3});
    PropagateOptions keep;
    keep.retain = true;
    CHECK(propagate(tape, y, R, Composite::by_name("zero"), keep).input("x").to_vector() == R.to_vector());
    CHECK(propagate(tape, y, R, Composite::by_name("gradient"), keep).input("x").to_vector() ==
          std::vector<float>{0.f, 0.f, 7.f});
  }
}

// detail::stabilized_divide, which the ε, z⁺, γ, αβ and Norm rules all divide through: its
// eight-lane loop against the definition written out per element, bit for bit, on values
// that test each branch (0, -0, the stabiliser's own magnitude, NaN, ±inf, denormals whose
// quotient overflows, R = 0) at every position of a vector and in the scalar tail.
TEST_CASE("stabilized_divide: equal to the per-element definition, bit for bit, for both stabilisers") {
  const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  std::vector<float> z = {0.0f, -0.0f, 0.5f, -0.5f, 0.25f, -0.25f, 1e-40f, -1e-40f, inf, -inf, nan, 3.0f, -7.5f, 1e30f,
                          -1e-30f, 0.1f, -0.1f, 2.5e-8f, 0.75f};
  std::mt19937 gen(5);
  std::uniform_real_distribution<float> u(-2.0f, 2.0f);
  while (z.size() < 203) z.push_back(u(gen));  // not a multiple of 8: the tail runs too
  std::vector<float> R(z.size());
  for (std::size_t i = 0; i < R.size(); ++i) R[i] = i % 7 == 3 ? 0.0f : u(gen);
  R[10] = inf;
  for (const auto kind : {Stabilizer::Sign, Stabilizer::Clip})
    for (const double eps : {0.0, 0.25, 1e-6}) {
      CAPTURE(static_cast<int>(kind));
      CAPTURE(eps);
      std::vector<float> s(z.size(), 123.0f);
      detail::stabilized_divide(R.data(), z.data(), s.data(), static_cast<std::int64_t>(z.size()), 0, {eps, kind});
      const float e = static_cast<float>(eps);
      for (std::size_t i = 0; i < z.size(); ++i) {
        CAPTURE(i);
        const float sg = z[i] >= 0.0f ? 1.0f : -1.0f;
        const float den = kind == Stabilizer::Clip ? sg * (std::fabs(z[i]) < e ? e : std::fabs(z[i])) : z[i] + e * sg;
        // A quotient that overflows while R is finite (R over a denormal z with eps 0) is
        // absorbed as a zero denominator's; an infinite R keeps its infinite quotient.
        const float q = den == 0.0f ? 0.0f : R[i] / den;
        const float want = std::isinf(q) && !std::isinf(R[i]) ? 0.0f : q;
        std::uint32_t a, b;
        std::memcpy(&a, &s[i], 4);
        std::memcpy(&b, &want, 4);
        if (std::isnan(want)) CHECK(std::isnan(s[i]));
        else CHECK(a == b);
      }
    }
}

// Add / sub under Norm on a tensor large enough for the fused pieces (2048 elements) and
// both threads: the float result of the three steps written out per element, bit for bit
// (y = a ± b, s = R / stab(y), R_a = a s, R_b = ±b s), for each stabiliser; Scaled (one
// epsilon scale per sample) against the same steps with that scale.
TEST_CASE("add / sub under norm: the fused pass gives the per-element values exactly") {
  const std::int64_t rows = 3, cols = 2048 * 9 + 77;  // 55,528 elements: several pieces, two threads
  const Tensor a = o::random_tensor({rows, cols}, 11, -1.0, 1.0), b = o::random_tensor({rows, cols}, 12, -1.0, 1.0);
  const Tensor R = o::random_tensor({rows, cols}, 13);
  // Exact zeros of y and of R at some places.
  float* bp = const_cast<float*>(b.data<float>());
  const float* ap = a.data<float>();
  for (std::int64_t i = 0; i < rows * cols; i += 997) bp[i] = ap[i];
  for (const bool is_sub : {false, true})
    for (const Rule& rule : {Rule{NormRule{}}, Rule{NormRule{0.0}}, Rule{NormRule{0.25, Stabilizer::Clip}},
                             Rule{EpsilonRule{0.1}}, Rule{NormRule{0.05, Stabilizer::Scaled}}}) {
      CAPTURE(is_sub);
      CAPTURE(rule_str(rule));
      Tape tape;
      Tensor y;
      {
        Recording rec(tape);
        y = is_sub ? sub(tape.input(a, "a"), tape.input(b, "b")) : add(tape.input(a, "a"), tape.input(b, "b"));
      }
      Composite c("t");
      c.set_fallback(rule);
      const RelevanceMap m = propagate(tape, y, R, c);
      const float* ra = m.input("a").data<float>();
      const float* rb = m.input("b").data<float>();
      const detail::Stab st = detail::stab_of(rule);
      const float sb = is_sub ? -1.0f : 1.0f;
      std::int64_t mismatches = 0;
      for (std::int64_t row = 0; row < rows; ++row) {
        float e = static_cast<float>(st.epsilon);
        if (st.kind == Stabilizer::Scaled) {
          double sq = 0;
          for (std::int64_t j = 0; j < cols; ++j) {
            const float yv = ap[row * cols + j] + sb * bp[row * cols + j];
            sq += static_cast<double>(yv) * yv;
          }
          e = static_cast<float>(st.epsilon * std::sqrt(sq / static_cast<double>(cols)));
        }
        for (std::int64_t j = 0; j < cols; ++j) {
          const std::int64_t i = row * cols + j;
          const float yv = ap[i] + sb * bp[i];
          const float sg = yv >= 0.0f ? 1.0f : -1.0f;
          const float den = st.kind == Stabilizer::Clip ? sg * std::max(std::fabs(yv), e) : yv + e * sg;
          const float s = den == 0.0f ? 0.0f : R.data<float>()[i] / den;
          if (ra[i] != ap[i] * s || rb[i] != sb * bp[i] * s) ++mismatches;
        }
      }
      CHECK(mismatches == 0);
      CHECK(y.data<float>()[5] == ap[5] + sb * bp[5]);
    }
}
