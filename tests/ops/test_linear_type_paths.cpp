// The linear-type skeleton's general path against the CPU's fast paths, on the CPU.
// ops/linear_type_skeleton.hpp is one template for every device; the GPU's policy takes
// none of the CPU's shortcuts (it cannot tell x >= 0 without reading x back; gamma's
// fused pass for x >= 0 and flat's one output of ones are CPU hooks). Here the template
// runs with a host policy that declines them too, so every rule's GPU sequence of
// element-wise steps (x split by sign always, the swapped pair of the x- transpose, the
// fused pair passes, the O-output weight of ones) is checked against the CPU's on
// machines without a GPU: within 1e-5 of the largest relevance, as the GPU parity suite.
//
// Inputs, weights and biases are multiples of 1/16, so every forward sum is exact in
// float32 whatever the order (as in tests/cuda/parity.hpp): denominators and the signs of
// z agree exactly and only the transposes' rounding differs.

#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "relprop/ops/linear_type_skeleton.hpp"
#include "reference/linear_type_rules.hpp"
#include "reference/oracle.hpp"

using namespace relprop;

namespace {

// Host memory and plain serial loops; every fast path declined, as the CUDA policy does.
struct GeneralPolicy {
  static constexpr Device kDevice = Device::CPU;
  static constexpr bool kFusedGamma = false;
  static constexpr bool kFlatOneOutput = false;
  static float* ptr(const Tensor& t) { return t.data<float>(); }
  template <class F>
  static void each(std::int64_t n, const F& f) {
    for (std::int64_t i = 0; i < n; ++i) f(i);
  }
  template <class F>
  static void rows(std::int64_t rows, std::int64_t len, const F& f) {
    for (std::int64_t i = 0; i < rows * len; ++i) f(i, i / len);
  }
  static void copy(float* dst, const float* src, std::int64_t n) {
    std::memcpy(dst, src, static_cast<std::size_t>(n) * sizeof(float));
  }
  static Tensor divide(const Tensor& den, const Tensor& r, std::int64_t group, detail::Stab stab) {
    Tensor s = Tensor::empty(den.shape());
    detail::stabilized_divide(r.data<float>(), den.data<float>(), s.data<float>(), den.numel(), group, stab);
    return s;
  }
  static Tensor row_eps(const Tensor& den, std::int64_t group, double eps) {
    const std::int64_t rows = group > 0 ? den.numel() / group : 0;
    Tensor e = Tensor::empty({std::max<std::int64_t>(rows, 1)});
    for (std::int64_t g = 0; g < rows; ++g) {
      double sq = 0;
      for (std::int64_t i = 0; i < group; ++i) {
        const double v = den.data<float>()[g * group + i];
        sq += v * v;
      }
      e.data<float>()[g] = static_cast<float>(eps * std::sqrt(sq / static_cast<double>(group)));
    }
    return e;
  }
  static bool nonnegative(const Tensor&) { return false; }
  static bool mixed_signs(const Tensor&) { return false; }
};

Tensor dyadic(const Shape& shape, std::uint32_t seed, double lo = -1.0, double hi = 1.0) {
  std::vector<double> v = oracle::random_tensor(shape, seed, lo, hi).to_vector_f64();
  for (double& e : v) e = std::round(e * 16.0) / 16.0;
  return Tensor::from_vector(std::span<const double>(v), shape).to(DType::F32);
}

// max |got - ref| / max |ref|.
double rel_diff(const Tensor& got, const Tensor& ref) {
  REQUIRE(got.shape() == ref.shape());
  const auto g = got.to_vector_f64(), r = ref.to_vector_f64();
  double d = 0, m = 0;
  for (std::size_t i = 0; i < r.size(); ++i) {
    m = std::max(m, std::fabs(r[i]));
    d = std::max(d, std::fabs(g[i] - r[i]));
  }
  return m > 0 ? d / m : d;
}

// A linear-type layer seen as z[n, o, h] = sum_c W[o, c] x[n, c, h]: (N, C, H) -> (N, O, H)
// with out_dim 1 (a 1x1 convolution; H = 1 and out_dim -1 make it a linear layer on
// (N, C)). The output count is read from the weight (stacked weights work), and
// `stackable` says whether the skeleton may use them.
detail::LinearMaps pointwise_maps(const Shape& xs, bool stackable, bool linear_layout) {
  const std::int64_t N = xs[0], C = xs[1], H = linear_layout ? 1 : xs[2];
  detail::LinearMaps m;
  m.forward = [=](const Tensor& x, const Tensor& w) {
    const std::int64_t Ow = w.size(0);
    Tensor z = Tensor::empty(linear_layout ? Shape{N, Ow} : Shape{N, Ow, H});
    const float *xp = x.data<float>(), *wp = w.data<float>();
    float* zp = z.data<float>();
    for (std::int64_t n = 0; n < N; ++n)
      for (std::int64_t o = 0; o < Ow; ++o)
        for (std::int64_t h = 0; h < H; ++h) {
          float acc = 0.0f;
          for (std::int64_t c = 0; c < C; ++c) acc += wp[o * C + c] * xp[(n * C + c) * H + h];
          zp[(n * Ow + o) * H + h] = acc;
        }
    return z;
  };
  m.transpose = [=](const Tensor& s, const Tensor& w) {
    const std::int64_t Ow = w.size(0);
    Tensor out = Tensor::empty(xs);
    const float *sp = s.data<float>(), *wp = w.data<float>();
    float* op = out.data<float>();
    for (std::int64_t n = 0; n < N; ++n)
      for (std::int64_t c = 0; c < C; ++c)
        for (std::int64_t h = 0; h < H; ++h) {
          float acc = 0.0f;
          for (std::int64_t o = 0; o < Ow; ++o) acc += wp[o * C + c] * sp[(n * Ow + o) * H + h];
          op[(n * C + c) * H + h] = acc;
        }
    return out;
  };
  m.channel_dim = 1;
  m.out_dim = linear_layout ? -1 : 1;
  m.stackable = stackable;
  return m;
}

struct Layer {
  std::string name;
  detail::LinearMaps maps;
  Tensor x, w, b, z, R, Rn;
};

Layer layer(bool linear_layout, bool stackable, bool bias, bool nonneg, std::uint32_t seed) {
  const Shape xs = linear_layout ? Shape{3, 11} : Shape{2, 5, 7};
  const std::int64_t O = linear_layout ? 9 : 6;
  Layer l;
  l.name = std::string(linear_layout ? "linear (3, 11) -> 9" : "pointwise (2, 5, 7) -> 6") +
           (stackable ? ", stackable" : ", not stackable") + (bias ? ", bias" : "") + (nonneg ? ", x >= 0" : "");
  l.maps = pointwise_maps(xs, stackable, linear_layout);
  l.x = dyadic(xs, seed, nonneg ? 0.0 : -1.0, 1.0);
  l.w = dyadic({O, xs[1]}, seed + 1);
  l.b = bias ? dyadic({O}, seed + 2) : Tensor();
  l.z = l.maps.forward(l.x, l.w);
  if (bias) {
    const std::int64_t inner = linear_layout ? 1 : xs[2];
    float* zp = l.z.data<float>();
    for (std::int64_t i = 0; i < l.z.numel(); ++i) zp[i] += l.b.data<float>()[(i / inner) % O];
  }
  l.R = oracle::random_tensor(l.z.shape(), seed + 3);
  l.Rn = oracle::random_tensor(l.z.shape(), seed + 4, 0.0, 1.0);
  return l;
}

}  // namespace

TEST_SUITE("ops.linear_type") {
  TEST_CASE("the general path (the GPU's) agrees with the CPU's fast paths on every rule") {
    std::uint32_t seed = 1;
    int checked = 0;
    for (const bool linear_layout : {true, false})
      for (const bool stackable : {true, false})
        for (const bool bias : {true, false})
          for (const bool nonneg : {false, true}) {
            const Layer l = layer(linear_layout, stackable, bias, nonneg, seed += 10);
            // The saturation gate for backtrace:gate: outputs below -0.5 keep only their
            // negative side, those above 0.5 only their positive side.
            RelevanceContext ctx;
            ctx.activation_bounds = std::make_pair(-0.5, 0.5);
            for (const Rule& rule : testing::linear_type_rules(l.x.size(1))) {
              INFO(l.name << " under " << rule_str(rule));
              detail::WeightCache fast_cache, general_cache;
              const auto fast = detail::linear_type_relevance(rule, l.maps, l.x, l.w, l.b, l.z, l.R, fast_cache, ctx);
              const auto general = detail::linear_type_run<GeneralPolicy>(rule, l.maps, l.x, l.w, l.b, l.z, l.R,
                                                                           general_cache, ctx);
              REQUIRE(fast.has_value());
              REQUIRE(general.has_value());
              CHECK(rel_diff(*general, *fast) <= 1e-5);
              ++checked;
            }
            INFO(l.name << " under backtrace-contrastive");
            detail::WeightCache fast_cache, general_cache;
            const auto fast = detail::linear_type_contrastive(parse_rule("backtrace-contrastive"), l.maps, l.x, l.w,
                                                              l.b, l.z, l.R, l.Rn, fast_cache);
            const auto general = detail::linear_type_run_contrastive<GeneralPolicy>(l.maps, l.x, l.w, l.b, l.z, l.R,
                                                                                    l.Rn, general_cache);
            REQUIRE(fast.has_value());
            CHECK(rel_diff(general.first, fast->first) <= 1e-5);
            CHECK(rel_diff(general.second, fast->second) <= 1e-5);
          }
    CHECK(checked == 16 * static_cast<int>(testing::linear_type_rules(1).size()));
  }

  TEST_CASE("rules that are not linear-type rules give nullopt") {
    const Layer l = layer(true, true, true, false, 7);
    detail::WeightCache cache;
    const RelevanceContext ctx;
    for (const Rule& rule : {Rule{PassRule{}}, Rule{NormRule{}}, Rule{ConstantRule{}}}) {
      INFO(rule_str(rule));
      CHECK_FALSE(detail::linear_type_relevance(rule, l.maps, l.x, l.w, l.b, l.z, l.R, cache, ctx).has_value());
    }
  }
}
