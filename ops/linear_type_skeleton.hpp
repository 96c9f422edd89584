#pragma once
// The LRP skeleton for linear-type ops (linear, conv1d, conv2d), written once for every
// device: each rule of docs/RULES.md from the op's own forward F(x, W) and transpose
// T(s, W) (LinearMaps), the element-wise parts as the functors of
// ops/linear_type_kernels.hpp. A policy P supplies the rest:
//
//   static constexpr Device kDevice;                  where its tensors live
//   static float* ptr(const Tensor& t);               data of a contiguous float32 tensor
//   template <class F> static void each(n, const F& f);            f(i), i in [0, n)
//   template <class F> static void rows(rows, len, const F& f);    f(i, i / len), i < rows len
//   static void copy(float* dst, const float* src, std::int64_t n);
//   static Tensor divide(const Tensor& den, const Tensor& r, std::int64_t group, Stab stab);
//                                                     r / stab(den), Scaled per row of group
//   static Tensor row_eps(const Tensor& den, std::int64_t group, double eps);
//                                                     Scaled: eps sqrt(mean(den^2)) per row
// and its fast paths, which it may decline:
//   static bool nonnegative(const Tensor& x);         x >= 0 everywhere (after a ReLU): the
//                                                     x- terms are skipped, gamma takes its
//                                                     one-forward form (false: never known)
//   static bool mixed_signs(const Tensor& x);         some samples (along dimension 0) have
//                                                     x >= 0 throughout and others not: the
//                                                     sign rules then run sample by sample
//   static constexpr bool kFusedGamma;                gamma_fused(GammaFused) computes the
//                                                     x >= 0 gamma pair for Sign / Clip
//   static constexpr bool kFlatOneOutput;             flat_sums(R, den, L, stab) gives
//                                                     sum_o R_o / stab(den) for flat's one
//                                                     output of ones
// Stacked weights (where maps.stackable) and transposes multiplied by x in place serve
// every policy. ops/linear_type.cpp holds the CPU policy, cuda/linear_type.cu the CUDA
// one; each instantiates LinearTypeSkeleton with it.
//
// Shapes: x (..., in) or (N, C, ...); z, R, s: z's shape, seen as (outer, O, inner) around
// its output dimension maps.out_dim; b: (O,), element k broadcast along out_dim. A "pair"
// holds two z-shaped tensors (a, b); when the map is stackable they are one
// (outer, 2, O, inner) tensor, the layout a transpose with the stacked weight [Wa; Wb]
// reads, so T(a, Wa) + T(b, Wb) is one GEMM.

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "relprop/ops/common.hpp"
#include "relprop/ops/linear_type.hpp"
#include "relprop/ops/linear_type_kernels.hpp"

namespace relprop::detail {

// z seen as (outer, O, inner) around the output dimension.
struct OutLayout {
  std::int64_t outer = 1, O = 1, inner = 1;
  std::int64_t block() const { return O * inner; }
  std::int64_t n() const { return outer * O * inner; }
};

// What a policy's fused gamma pass reads and writes (x >= 0, Sign / Clip; see gamma).
struct GammaFused {
  const float* z;  // the forward's output, bias included
  const float* P;  // x W+
  const float* R;
  const float* b;  // the bias, or nullptr
  bool bias;       // the gamma biases enter u and v
  float g;
  Stab stab;
  OutLayout L;
  float* both;     // the stacked pair (A, B): (outer, 2, O, inner)
};

template <class P>
class LinearTypeSkeleton {
 public:
  using Bounds = std::optional<std::pair<double, double>>;

  LinearTypeSkeleton(const LinearMaps& m, const Tensor& x_, const Tensor& w_, const Tensor& b_, const Tensor& z_,
                     const Tensor& R_, WeightCache& c)
      : maps(m),
        cx(x_),
        cw(w_),
        cb(b_),
        cz(z_),
        cR(R_),
        x(cx.get()),
        w(cw.get()),
        b(cb.get()),
        z(cz.get()),
        R(cR.get()),
        cache(c) {
    const Shape& zs = z.shape();
    out_dim = maps.out_dim < 0 ? static_cast<int>(zs.size()) + maps.out_dim : maps.out_dim;
    for (int i = 0; i < out_dim; ++i) L.outer *= zs[i];
    for (std::size_t i = out_dim + 1; i < zs.size(); ++i) L.inner *= zs[i];
    L.O = zs[out_dim];
    RELPROP_ASSERT(!b.defined() || b.numel() == L.O, "linear-type relevance: bias and outputs disagree");
  }

  // R_in under `rule`; nullopt for the rules that are not linear-type rules.
  std::optional<Tensor> apply(const Rule& rule, const RelevanceContext& ctx) {
    return std::visit(Apply{*this, ctx}, rule);
  }

  // Backtrace contrastive mode: the positive and negative maps of x from R (positive) and Rn.
  std::pair<Tensor, Tensor> contrastive(const Tensor& Rn_in) {
    const Tensor Rn = Rn_in.contiguous();
    const Signs sx = split();
    const auto [Ps, Ns] = signed_sums(sx);
    const Pair pos = make_pair(), neg = make_pair();
    P::rows(L.outer, L.block(), lt::ContrastivePairs{ptr(Ps), ptr(Ns), ptr(z), ptr(R), ptr(Rn), pos.out, neg.out});
    return {by_sign(pos, sx), by_sign(neg, sx)};
  }

 private:
  // One overload per rule: a rule type added to relprop::Rule fails to compile here until
  // it is handled.
  struct Apply {
    LinearTypeSkeleton& k;
    const RelevanceContext& ctx;
    std::optional<Tensor> operator()(const ZeroRule& r) const {
      return k.epsilon(Stab{0.0, Stabilizer::Sign}, r.zero_bias);
    }
    std::optional<Tensor> operator()(const EpsilonRule& r) const {
      return k.epsilon(Stab{r.epsilon, r.stabilizer}, r.zero_bias);
    }
    std::optional<Tensor> operator()(const ZPlusRule& r) const {
      return k.positive(Stab{r.epsilon, r.stabilizer}, r.zero_bias, 1.0f);
    }
    std::optional<Tensor> operator()(const AlphaBetaRule& r) const { return k.alpha_beta(r); }
    std::optional<Tensor> operator()(const GammaRule& r) const { return k.gamma(r); }
    std::optional<Tensor> operator()(const ZBoxRule& r) const { return k.zbox(r); }
    std::optional<Tensor> operator()(const WSquareRule& r) const {
      return k.by_weights(k.weight("w^2", lt::Square{}), Stab{r.epsilon, r.stabilizer}, !r.zero_bias);
    }
    std::optional<Tensor> operator()(const FlatRule& r) const { return k.flat(Stab{r.epsilon, r.stabilizer}); }
    std::optional<Tensor> operator()(const GradientRule&) const { return k.T(k.R, k.w); }
    std::optional<Tensor> operator()(const BacktraceRule& r) const { return k.backtrace(r, ctx.activation_bounds); }
    // Not linear-type rules: the op decides (pass where in and out features agree; norm
    // and constant are for parameterless maps and products, uniform for pooling).
    std::optional<Tensor> operator()(const PassRule&) const { return std::nullopt; }
    std::optional<Tensor> operator()(const NormRule&) const { return std::nullopt; }
    std::optional<Tensor> operator()(const ConstantRule&) const { return std::nullopt; }
    std::optional<Tensor> operator()(const UniformRule&) const { return std::nullopt; }
  };

  // x split by sign: p = x+ (x itself when x >= 0 is known), n = x- (undefined then).
  struct Signs {
    Tensor p, n;
    bool has_neg = true;
  };
  // Two z-shaped halves: `both` when stacked, else `a` and `b`.
  struct Pair {
    Tensor both, a, b;
    lt::PairOut out;
  };

  // A tensor as it is when contiguous (no copy of the handle: on small layers those copies
  // cost as much as the arithmetic), else a contiguous copy held here.
  struct Contiguous {
    Tensor own;
    const Tensor* t;
    explicit Contiguous(const Tensor& in)
        : own(in.defined() && !in.is_contiguous() ? in.contiguous() : Tensor()), t(own.defined() ? &own : &in) {}
    Contiguous(const Contiguous&) = delete;
    Contiguous& operator=(const Contiguous&) = delete;
    const Tensor& get() const { return *t; }
  };

  const LinearMaps& maps;
  Contiguous cx, cw, cb, cz, cR;
  const Tensor &x, &w, &b, &z, &R;  // contiguous float32 on P's device; b undefined: no bias
  WeightCache& cache;
  OutLayout L;
  int out_dim = 0;

  static float* ptr(const Tensor& t) { return P::ptr(t); }
  static Tensor empty(const Shape& s) { return Tensor::empty(s, DType::F32, P::kDevice); }
  static Tensor full(const Shape& s, double v) { return Tensor::full(s, v, DType::F32, P::kDevice); }
  // `c` with storage of its own, to write into (a fresh map result already is).
  static Tensor own(Tensor c) {
    if (!c.is_contiguous() || c.storage().use_count() > 1) c = c.clone();
    return c;
  }

  Tensor F(const Tensor& xx, const Tensor& ww) const { return maps.forward(xx, ww).contiguous(); }
  Tensor T(const Tensor& s, const Tensor& ww) const { return maps.transpose(s, ww).contiguous(); }

  // f applied to every element of `t`.
  template <class Fn>
  static Tensor map(const Tensor& t, Fn f) {
    Tensor out = empty(t.shape());
    P::each(t.numel(), lt::Map<Fn>{ptr(t), ptr(out), f});
    return out;
  }
  // A modified weight (W+, W-, |W|, W^2, ones, W + gamma W+/-), cached under `key`.
  template <class Fn>
  const Tensor& weight(const std::string& key, Fn f) {
    return cache.get(key, [&] { return map(w, f); });
  }
  const Tensor& w_pos() { return weight("w+", lt::Pos{}); }
  const Tensor& w_neg() { return weight("w-", lt::Neg{}); }
  // f(b), cached beside the weights (b must be defined).
  template <class Fn>
  const Tensor& bias_of(const std::string& key, Fn f) {
    return cache.get("bias " + key, [&] { return map(b, f); });
  }

  // zz += scale v_k at every element of output k; v (O,).
  void add_per_output(const Tensor& zz, const Tensor& v, float scale) const {
    P::rows(L.outer * L.O, L.inner, lt::AddPerOutput{ptr(zz), ptr(v), scale, L.O});
  }

  // [wa; wb] stacked along dimension 0, cached under `key`.
  const Tensor& stacked(const std::string& key, const Tensor& wa, const Tensor& wb) {
    return cache.get(key, [&] {
      Shape sh = wa.shape();
      sh[0] *= 2;
      Tensor st = empty(sh);
      P::copy(ptr(st), ptr(wa), wa.numel());
      P::copy(ptr(st) + wa.numel(), ptr(wb), wb.numel());
      return st;
    });
  }

  // (A, B) = (F(xx, wa), F(xx, wb)), or (A, B) += them when `acc`: one pass with the
  // stacked weight when the map allows it.
  void F2(const Tensor& xx, const std::string& key, const Tensor& wa, const Tensor& wb, Tensor& A, Tensor& B,
          bool acc) {
    if (!maps.stackable) {
      Tensor fa = F(xx, wa), fb = F(xx, wb);
      if (acc) {
        P::each(A.numel(), lt::AddTo{ptr(A), ptr(fa)});
        P::each(B.numel(), lt::AddTo{ptr(B), ptr(fb)});
      } else {
        A = own(std::move(fa));
        B = own(std::move(fb));
      }
      return;
    }
    const Tensor both = F(xx, stacked(key, wa, wb));
    if (!acc) {
      A = empty(z.shape());
      B = empty(z.shape());
    }
    P::rows(L.outer, L.block(), lt::SplitStacked{ptr(both), ptr(A), ptr(B), L.block(), acc});
  }

  // A fresh pair of z-shaped halves, stacked when the map is stackable.
  Pair make_pair() const {
    Pair p;
    if (maps.stackable) {
      Shape sh = z.shape();
      sh[out_dim] *= 2;
      p.both = empty(sh);
      float* base = ptr(p.both);
      p.out = lt::PairOut{base, base + L.block(), L.block(), 2 * L.block()};
    } else {
      p.a = empty(z.shape());
      p.b = empty(z.shape());
      p.out = lt::PairOut{ptr(p.a), ptr(p.b), L.block(), L.block()};
    }
    return p;
  }

  // The pair (b, a) of p: a copy when stacked, the same tensors otherwise.
  Pair swapped(const Pair& p) const {
    if (!maps.stackable) {
      Pair q;
      q.a = p.b;
      q.b = p.a;
      q.out = lt::PairOut{p.out.b, p.out.a, L.block(), L.block()};
      return q;
    }
    Pair q = make_pair();
    P::rows(L.outer, L.block(), lt::SwapPair{p.out.a, p.out.b, q.out});
    return q;
  }

  // T(p.a, wa) + T(p.b, wb): one pass with the stacked weight when the map allows it.
  Tensor T2(const Pair& p, const std::string& key, const Tensor& wa, const Tensor& wb) {
    if (maps.stackable) return T(p.both, stacked(key, wa, wb));
    Tensor out = own(T(p.a, wa));
    P::each(out.numel(), lt::AddTo{ptr(out), ptr(T(p.b, wb))});
    return out;
  }

  // scale (xx c), in place in c.
  static Tensor times(const Tensor& xx, Tensor c, float scale = 1.0f) {
    RELPROP_ASSERT(xx.numel() == c.numel(), "times: element counts differ");
    c = own(std::move(c));
    P::each(c.numel(), lt::Times{ptr(c), ptr(xx), scale});
    return c;
  }
  // scale (x+ c + x- c2), in place in c; x+ c alone when x >= 0 is known.
  static Tensor times(const Signs& sx, Tensor c, const Tensor& c2, float scale = 1.0f) {
    if (!sx.has_neg) return times(sx.p, std::move(c), scale);
    RELPROP_ASSERT(sx.p.numel() == c.numel() && c.numel() == c2.numel(), "times: element counts differ");
    c = own(std::move(c));
    P::each(c.numel(), lt::TimesSigns{ptr(c), ptr(sx.p), ptr(sx.n), ptr(c2), scale});
    return c;
  }

  // Rows of the Scaled stabiliser: the non-batch elements of each sample.
  static std::int64_t group_of(const Tensor& den) {
    return den.dim() > 1 ? den.numel() / std::max<std::int64_t>(den.size(0), 1) : den.numel();
  }
  // s = r / stab(den).
  static Tensor divide(const Tensor& den, Stab stab, const Tensor& r) { return P::divide(den, r, group_of(den), stab); }
  // fn(d1, d2): the element-wise dividers for denominators d1 and d2 under `stab`
  // (Scaled: each with the epsilons of its own rows).
  template <class Fn>
  static void with_stab(const Tensor& d1, const Tensor& d2, Stab stab, Fn&& fn) {
    if (stab.kind != Stabilizer::Scaled) {
      const lt::FixedStab d{static_cast<float>(stab.epsilon), stab.kind == Stabilizer::Clip};
      fn(d, d);
      return;
    }
    const std::int64_t g1 = group_of(d1), g2 = group_of(d2);
    const Tensor e1 = P::row_eps(d1, g1, stab.epsilon), e2 = P::row_eps(d2, g2, stab.epsilon);
    fn(lt::RowStab{ptr(e1), std::max<std::int64_t>(g1, 1)}, lt::RowStab{ptr(e2), std::max<std::int64_t>(g2, 1)});
  }

  Signs split() const {
    Signs s;
    s.has_neg = !P::nonnegative(x);
    if (!s.has_neg) {
      s.p = x;
      return s;
    }
    s.p = empty(x.shape());
    s.n = empty(x.shape());
    P::each(x.numel(), lt::SplitSigns{ptr(x), ptr(s.p), ptr(s.n)});
    return s;
  }

  // ---- the rules ------------------------------------------------------------------------

  // Zero / Epsilon: R_in = x * T(R / stab(z), W).
  Tensor epsilon(Stab stab, bool zero_bias) {
    Tensor zz = z;
    if (zero_bias && b.defined()) {
      zz = z.clone();
      add_per_output(zz, b, -1.0f);
    }
    return times(x, T(divide(zz, stab, R), w));
  }

  // z+ (alpha 1) and alpha-beta with beta 0: positive contributions x+ w+ and x- w- (and
  // b+); the result times alpha.
  Tensor positive(Stab stab, bool zero_bias, float alpha) {
    const Signs sx = split();
    const Tensor* bias = !zero_bias && b.defined() ? &bias_of("+", lt::Pos{}) : nullptr;
    Tensor zp = own(F(sx.p, w_pos()));
    if (sx.has_neg)
      P::rows(L.outer * L.O, L.inner,
              lt::AddTermBias{ptr(zp), ptr(F(sx.n, w_neg())), bias ? ptr(*bias) : nullptr, L.O});
    else if (bias)
      add_per_output(zp, *bias, 1.0f);
    const Tensor s = divide(zp, stab, R);
    Tensor out = T(s, w_pos());
    return times(sx, std::move(out), sx.has_neg ? T(s, w_neg()) : Tensor(), alpha);
  }

  // Sums of the positive contributions x_j w_jk and of the negative ones (<= 0) per
  // output: one stacked pass with [W+; W-] per input sign.
  std::pair<Tensor, Tensor> signed_sums(const Signs& sx) {
    Tensor Ps, Ns;
    F2(sx.p, "w+|w-", w_pos(), w_neg(), Ps, Ns, false);
    if (sx.has_neg) F2(sx.n, "w+|w-", w_pos(), w_neg(), Ns, Ps, true);  // x- W+ <= 0, x- W- >= 0
    return {std::move(Ps), std::move(Ns)};
  }

  // R_j = sum_k [z_jk > 0] z_jk a_k + [z_jk < 0] z_jk b_k with (a, b) the pair p:
  // x+ (T(a, W+) + T(b, W-)) + x- (T(b, W+) + T(a, W-)).
  Tensor by_sign(const Pair& p, const Signs& sx) {
    Tensor out = T2(p, "w+|w-", w_pos(), w_neg());
    if (!sx.has_neg) return times(sx.p, std::move(out));
    return times(sx, std::move(out), T2(swapped(p), "w+|w-", w_pos(), w_neg()));
  }

  Tensor alpha_beta(const AlphaBetaRule& r) {
    const Stab stab{r.epsilon, r.stabilizer};
    if (r.beta == 0.0) return positive(stab, r.zero_bias, static_cast<float>(r.alpha));
    const Signs sx = split();
    // Named references, not a structured binding: the lambda below uses them, and clang
    // before 16 cannot capture a structured binding.
    auto sums = signed_sums(sx);
    Tensor &zp = sums.first, &zn = sums.second;
    if (!r.zero_bias && b.defined())
      P::rows(L.outer * L.O, L.inner,
              lt::AddPerOutput2{ptr(zp), ptr(bias_of("+", lt::Pos{})), ptr(zn), ptr(bias_of("-", lt::Neg{})), L.O});
    // alpha * (positive contributions / z+) - beta * (negative contributions / z-).
    const Pair p = make_pair();
    const float al = static_cast<float>(r.alpha), be = static_cast<float>(r.beta);
    with_stab(zp, zn, stab, [&](auto dp, auto dn) {
      P::rows(L.outer, L.block(), lt::AlphaBetaPair<decltype(dp)>{ptr(zp), ptr(zn), ptr(R), dp, dn, al, be, p.out});
    });
    return by_sign(p, sx);
  }

  // Generalised gamma: outputs with z > 0 use (w up for x+, w down for x-), outputs with
  // z < 0 the other way round; outputs with z = 0 pass nothing.
  Tensor gamma(const GammaRule& r) {
    const Stab stab{r.epsilon, r.stabilizer};
    const float g = static_cast<float>(r.gamma);
    const std::string tag = std::to_string(r.gamma);
    const Signs sx = split();
    if (!sx.has_neg && maps.stackable) return gamma_nonneg(r, stab, g, tag);
    const Tensor& w_up = weight("gamma-up:" + tag, lt::GammaUp{g});
    const Tensor& w_dn = weight("gamma-dn:" + tag, lt::GammaDn{g});
    // u = x+ w_up + x- w_dn, v = x+ w_dn + x- w_up: one stacked pass per input sign.
    Tensor u, v;
    F2(sx.p, "gamma-up|dn:" + tag, w_up, w_dn, u, v, false);
    if (sx.has_neg) F2(sx.n, "gamma-dn|up:" + tag, w_dn, w_up, u, v, true);
    if (!r.zero_bias && b.defined())
      P::rows(L.outer * L.O, L.inner,
              lt::AddPerOutput2{ptr(u), ptr(bias_of("gamma-up:" + tag, lt::GammaUp{g})), ptr(v),
                                ptr(bias_of("gamma-dn:" + tag, lt::GammaDn{g})), L.O});
    // R split by the sign of the forward z, divided, written as the pair (s, t).
    const Pair p = make_pair();
    with_stab(u, v, stab, [&](auto du, auto dv) {
      P::rows(L.outer, L.block(), lt::GammaPair<decltype(du)>{ptr(u), ptr(v), ptr(z), ptr(R), du, dv, p.out});
    });
    Tensor out = T2(p, "gamma-up|dn:" + tag, w_up, w_dn);
    return times(sx, std::move(out), sx.has_neg ? T2(p, "gamma-dn|up:" + tag, w_dn, w_up) : Tensor());
  }

  // gamma for x >= 0 with a stackable map: with z0 = x W (the forward's z less the bias)
  // and P = x W+,
  //   u = x (W + g W+) = z0 + g P,  v = x (W + g W-) = (1 + g) z0 - g P,
  // and T(s, W_up) + T(t, W_dn) = T(s + (1 + g) t, W) + g T(s - t, W+): one forward pass
  // and one stacked transpose instead of two of each.
  Tensor gamma_nonneg(const GammaRule& r, Stab stab, float g, const std::string& tag) {
    const Tensor Px = F(x, w_pos());
    const Pair p = make_pair();
    const bool bias = b.defined() && !r.zero_bias;
    bool done = false;
    if constexpr (P::kFusedGamma) {
      if (stab.kind != Stabilizer::Scaled) {
        P::gamma_fused(
            GammaFused{ptr(z), ptr(Px), ptr(R), b.defined() ? ptr(b) : nullptr, bias, g, stab, L, ptr(p.both)});
        done = true;
      }
    }
    if (!done) {
      Tensor u = empty(z.shape()), v = empty(z.shape());
      P::rows(L.outer * L.O, L.inner,
              lt::GammaNonnegUV{ptr(z), ptr(Px), b.defined() ? ptr(b) : nullptr,
                                bias ? ptr(bias_of("gamma-up:" + tag, lt::GammaUp{g})) : nullptr,
                                bias ? ptr(bias_of("gamma-dn:" + tag, lt::GammaDn{g})) : nullptr, g, L.O, ptr(u),
                                ptr(v)});
      with_stab(u, v, stab, [&](auto du, auto dv) {
        P::rows(L.outer, L.block(),
                lt::GammaPair<decltype(du), true>{ptr(u), ptr(v), ptr(z), ptr(R), du, dv, p.out, g});
      });
    }
    return times(x, T2(p, "w|w+", w, w_pos()));
  }

  // z^B: bounds broadcast along x's channel dimension, built on P's device once per node.
  Tensor bound(const std::vector<double>& v) {
    if (v.size() == 1) return full(x.shape(), v[0]);
    const int cd = maps.channel_dim;
    if (x.dim() <= cd || x.size(cd) != static_cast<std::int64_t>(v.size()))
      throw ShapeError("zbox: " + std::to_string(v.size()) + " per-channel bounds for an input of shape " +
                       x.str_shape() + " (channels on dimension " + std::to_string(cd) + ")");
    Shape vs(x.dim(), 1);
    vs[cd] = static_cast<std::int64_t>(v.size());
    std::string key = "zbox-bound";
    for (double e : v) key += ":" + std::to_string(e);
    const Tensor& per_channel = cache.get(key, [&] {
      Tensor t = empty(vs);
      for (std::size_t c = 0; c < v.size(); ++c)
        t.slice(cd, static_cast<std::int64_t>(c), static_cast<std::int64_t>(c) + 1).fill(static_cast<float>(v[c]));
      return t;
    });
    return broadcast_f32(per_channel, x.shape());
  }

  Tensor zbox(const ZBoxRule& r) {
    const Tensor lo = bound(r.low), hi = bound(r.high);
    const Tensor d = own(F(x, w));
    P::each(d.numel(), lt::Sub2{ptr(d), ptr(F(lo, w_pos())), ptr(F(hi, w_neg()))});
    const Tensor s = divide(d, Stab{r.epsilon, r.stabilizer}, R);
    Tensor out = own(T(s, w));
    P::each(out.numel(), lt::TimesBounds{ptr(out), ptr(x), ptr(lo), ptr(T(s, w_pos())), ptr(hi), ptr(T(s, w_neg()))});
    return out;
  }

  // w^2 (and flat: every weight 1, no bias): R_in = T(R / stab(F(1, W') + b'), W').
  Tensor by_weights(const Tensor& ww, Stab stab, bool with_bias) {
    const Tensor den = own(F(full(x.shape(), 1.0), ww));
    if (with_bias && b.defined()) add_per_output(den, bias_of("^2", lt::Square{}), 1.0f);
    return T(divide(den, stab, R), ww);
  }

  // Flat: every weight 1, no bias. Where the map reads its output count from the weight
  // (stackable: a linear layer, an ungrouped convolution) every output reads the same
  // inputs with the same weights, so one output of ones gives the denominator of all of
  // them, and T(s, ones) = T(sum_o s_o, ones) with that one output: O times fewer
  // products. A policy may take that path (kFlatOneOutput); the Scaled stabiliser, whose
  // epsilon comes from all denominators, and grouped convolutions take the general one.
  Tensor flat(Stab stab) {
    if constexpr (P::kFlatOneOutput) {
      if (maps.stackable && stab.kind != Stabilizer::Scaled) {
        Shape one_out = w.shape();
        one_out[0] = 1;
        const Tensor ones = full(one_out, 1.0);
        const Tensor den = F(full(x.shape(), 1.0), ones);  // z's shape with one output
        return T(P::flat_sums(R, den, L, stab), ones);
      }
    }
    return by_weights(weight("ones", lt::One{}), stab, false);
  }

  Tensor backtrace(const BacktraceRule& r, const Bounds& bounds) {
    if (r.mode != BacktraceRule::Mode::Default)
      throw UnsupportedError("backtrace-contrastive moves two maps together: run it with propagate_contrastive "
                             "(the CLI's --composite backtrace-contrastive), not propagate");
    if (r.gate && bounds) return backtrace_gated(*bounds);
    // R_j = sum_k R_k |x_j w_jk| / (P_k + N_k + |b_k|): two GEMMs with |x| and |W|.
    const Tensor ax = map(x, lt::Abs{});
    const Tensor& aw = weight("|w|", lt::Abs{});
    const Tensor den = own(F(ax, aw));
    if (b.defined()) add_per_output(den, bias_of("|.|", lt::Abs{}), 1.0f);
    return times(ax, T(divide(den, Stab{0.0, Stabilizer::Sign}, R), aw));
  }

  // Saturation gate: with t_k = z_k, P_k := 0 when t_k < l and N_k := 0 when t_k > u;
  // the kept side(s) share R_k by |z_jk| / (kept sides + |b_k|).
  Tensor backtrace_gated(const std::pair<double, double>& lu) {
    const Signs sx = split();
    const auto [Ps, Ns] = signed_sums(sx);
    const Pair p = make_pair();
    P::rows(L.outer, L.block(),
            lt::GatedPair{ptr(Ps), ptr(Ns), ptr(z), ptr(R), b.defined() ? ptr(b) : nullptr, lu.first, lu.second, L.O,
                          L.inner, p.out});
    return by_sign(p, sx);
  }
};

// True for the rules whose CPU fast paths depend on whether x >= 0 throughout (x- terms
// skipped, gamma's one-forward form): z+, alpha-beta, gamma, the gated backtrace.
inline bool uses_signs(const Rule& rule) {
  if (const auto* bt = std::get_if<BacktraceRule>(&rule)) return bt->gate;
  return std::holds_alternative<ZPlusRule>(rule) || std::holds_alternative<AlphaBetaRule>(rule) ||
         std::holds_alternative<GammaRule>(rule);
}

// Calls f(n, x_n, z_n, R_n) for every sample n (slices along dimension 0).
template <class F>
void each_sample(const Tensor& x, const Tensor& z, const Tensor& R, F&& f) {
  for (std::int64_t n = 0; n < x.size(0); ++n)
    f(n, x.slice(0, n, n + 1), z.slice(0, n, n + 1), R.slice(0, n, n + 1));
}

// linear_type_relevance / linear_type_contrastive (ops/linear_type.hpp) on P's device.
// A batch whose samples differ in whether their x is >= 0 throughout (P::mixed_signs) is
// explained sample by sample under the rules that depend on it, so that each sample takes
// the path, and gets the bits, it gets alone.
template <class P>
std::optional<Tensor> linear_type_run(const Rule& rule, const LinearMaps& maps, const Tensor& x, const Tensor& w,
                                      const Tensor& b, const Tensor& z, const Tensor& R, WeightCache& cache,
                                      const RelevanceContext& ctx) {
  if (uses_signs(rule) && P::mixed_signs(x)) {
    Tensor out = Tensor::empty(x.shape(), DType::F32, P::kDevice);
    each_sample(x, z, R, [&](std::int64_t n, const Tensor& xn, const Tensor& zn, const Tensor& Rn) {
      LinearTypeSkeleton<P> k(maps, xn, w, b, zn, Rn, cache);
      out.slice(0, n, n + 1).copy_from(*k.apply(rule, ctx));
    });
    return out;
  }
  LinearTypeSkeleton<P> k(maps, x, w, b, z, R, cache);
  return k.apply(rule, ctx);
}

template <class P>
std::pair<Tensor, Tensor> linear_type_run_contrastive(const LinearMaps& maps, const Tensor& x, const Tensor& w,
                                                      const Tensor& b, const Tensor& z, const Tensor& Rp,
                                                      const Tensor& Rn, WeightCache& cache) {
  if (P::mixed_signs(x)) {
    Tensor pos = Tensor::empty(x.shape(), DType::F32, P::kDevice), neg = Tensor::empty(x.shape(), DType::F32, P::kDevice);
    each_sample(x, z, Rp, [&](std::int64_t n, const Tensor& xn, const Tensor& zn, const Tensor& Rpn) {
      LinearTypeSkeleton<P> k(maps, xn, w, b, zn, Rpn, cache);
      const auto [p, q] = k.contrastive(Rn.slice(0, n, n + 1));
      pos.slice(0, n, n + 1).copy_from(p);
      neg.slice(0, n, n + 1).copy_from(q);
    });
    return {pos, neg};
  }
  LinearTypeSkeleton<P> k(maps, x, w, b, z, Rp, cache);
  return k.contrastive(Rn);
}

}  // namespace relprop::detail
