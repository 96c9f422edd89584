#pragma once
// The element-wise bodies of the linear-type LRP skeleton (ops/linear_type_skeleton.hpp),
// written once for the CPU loops and the GPU kernels: each is a small struct of pointers
// and scalars whose call operator handles one element. A policy runs them either as
//   f(i)        for i in [0, n)                (each), or
//   f(i, row)   with row = i / len             (rows: row-major blocks of len elements).
// Shapes as in the skeleton: z seen as (outer, O, inner) around its output dimension, so
// element i of z belongs to output k = (i / inner) % O; a "pair" is two z-shaped tensors
// written either apart or stacked as one (outer, 2, O, inner) tensor (see PairOut).
//
// Expressions are written with the grouping (and, for the host compiler's FMA
// contraction, the statement order) of the passes they replace, so the CPU computes the
// same bits as before they were fused; the comments name the rounding each one keeps.

#include <cfloat>
#include <cmath>
#include <cstdint>

#include "relprop/ops/common.hpp"  // stab_divide, ContrastiveShares
#include "relprop/ops/host_device.hpp"

namespace relprop::detail::lt {

// ---- functions of one value (weights, inputs, bias) ---------------------------------------

struct Pos {
  RELPROP_HOST_DEVICE float operator()(float v) const { return v > 0.0f ? v : 0.0f; }
};
struct Neg {
  RELPROP_HOST_DEVICE float operator()(float v) const { return v < 0.0f ? v : 0.0f; }
};
struct Abs {
  RELPROP_HOST_DEVICE float operator()(float v) const { return fabsf(v); }
};
// v^2, at most the largest float: the square of a weight above ~1.8e19 would be
// infinite, and infinity times the zero quotients it causes NaN.
struct Square {
  RELPROP_HOST_DEVICE float operator()(float v) const {
    const float q = v * v;
    return q == HUGE_VALF ? FLT_MAX : q;
  }
};
struct One {
  RELPROP_HOST_DEVICE float operator()(float) const { return 1.0f; }
};
struct GammaUp {  // w + gamma w+
  float g;
  RELPROP_HOST_DEVICE float operator()(float v) const { return v + g * Pos()(v); }
};
struct GammaDn {  // w + gamma w-
  float g;
  RELPROP_HOST_DEVICE float operator()(float v) const { return v + g * Neg()(v); }
};

// ---- the stabilised division --------------------------------------------------------------

// The stabilised division of one element is detail::stab_divide (ops/common.hpp).

// The Sign / Clip stabilisers: one epsilon for every element.
struct FixedStab {
  float eps = 0.0f;
  bool clip = false;
  RELPROP_HOST_DEVICE float operator()(float r, float z, std::int64_t) const {
    return detail::stab_divide(r, z, eps, clip);
  }
};
// The Scaled stabiliser: element i divides with the epsilon of its row of `group`
// elements (one sample), row_eps[i / group].
struct RowStab {
  const float* row_eps = nullptr;
  std::int64_t group = 1;
  RELPROP_HOST_DEVICE float operator()(float r, float z, std::int64_t i) const {
    return detail::stab_divide(r, z, row_eps[i / group], false);
  }
};

// ---- layouts -------------------------------------------------------------------------------

// Where element i (in row o = i / block of z's (outer, O * inner) view) of the two halves
// of a pair goes: a[at(i, o)], b[at(i, o)]. stride = block: two separate tensors;
// stride = 2 block: one stacked tensor, b starting one block after a.
struct PairOut {
  float* a;
  float* b;
  std::int64_t block;   // O * inner
  std::int64_t stride;  // between consecutive outer rows
  RELPROP_HOST_DEVICE std::int64_t at(std::int64_t i, std::int64_t o) const { return o * stride + (i - o * block); }
};

// ---- element-wise passes: f(i) -------------------------------------------------------------

// o = f(p).
template <class F>
struct Map {
  const float* p;
  float* o;
  F f;
  RELPROP_HOST_DEVICE void operator()(std::int64_t i) const { o[i] = f(p[i]); }
};

// x+ and x- in one pass.
struct SplitSigns {
  const float* x;
  float* xp;
  float* xn;
  RELPROP_HOST_DEVICE void operator()(std::int64_t i) const {
    const float v = x[i];
    xp[i] = Pos()(v);
    xn[i] = Neg()(v);
  }
};

// o += t.
struct AddTo {
  float* o;
  const float* t;
  RELPROP_HOST_DEVICE void operator()(std::int64_t i) const { o[i] += t[i]; }
};

// d = (d - a) - c (z^B's denominator).
struct Sub2 {
  float* d;
  const float* a;
  const float* c;
  RELPROP_HOST_DEVICE void operator()(std::int64_t i) const { d[i] = (d[i] - a[i]) - c[i]; }
};

// c = scale (c x): the input times its transpose, in place.
struct Times {
  float* c;
  const float* x;
  float scale;
  RELPROP_HOST_DEVICE void operator()(std::int64_t i) const { c[i] = absorb_overflow(scale * (c[i] * x[i]), x[i]); }
};

// c = scale (x+ c + x- c2), in place: x+ c rounded first, x- c2 added to it (one FMA on
// targets that fuse), as when the two products were separate passes.
struct TimesSigns {
  float* c;
  const float* xp;
  const float* xn;
  const float* c2;
  float scale;
  RELPROP_HOST_DEVICE void operator()(std::int64_t i) const {
    const float neg = xn[i] * c2[i];  // first: the product the sum below takes in
    const float pos = xp[i] * c[i];
    c[i] = absorb_overflow(scale * (pos + neg), xp[i] + xn[i]);
  }
};

// c = (x c - lo c2) - hi c3, in place (z^B): x c rounded first, then each bound's product
// subtracted (fused on targets that fuse), as when they were three passes.
struct TimesBounds {
  float* c;
  const float* x;
  const float* lo;
  const float* c2;
  const float* hi;
  const float* c3;
  RELPROP_HOST_DEVICE void operator()(std::int64_t i) const {
    const float low = lo[i] * c2[i];
    const float mid = x[i] * c[i];
    const float part = mid - low;
    const float high = hi[i] * c3[i];
    c[i] = absorb_overflow(part - high, x[i]);
  }
};

// The contrastive shares of every output as two pairs with the spread's signs: positive
// map (pos_p, -pos_n), negative map (neg_p, -neg_n). P, N, z, Rp, Rn: z's shape; both
// pairs share one layout.
struct ContrastivePairs {
  const float* P;
  const float* N;
  const float* z;
  const float* rp;
  const float* rn;
  PairOut pos, neg;
  RELPROP_HOST_DEVICE void operator()(std::int64_t i, std::int64_t o) const {
    const ContrastiveShares sh = contrastive_shares(P[i], -N[i], z[i], rp[i], rn[i]);
    const std::int64_t j = pos.at(i, o);
    pos.a[j] = sh.pos_p;
    pos.b[j] = -sh.pos_n;
    neg.a[j] = sh.neg_p;
    neg.b[j] = -sh.neg_n;
  }
};

// ---- passes along the output dimension: f(i, row), row = i / inner ------------------------
// (row % O is the output k.)

// The bias terms read values per output already transformed (b+, |b|, b^2, ...: the
// skeleton caches them), so that f(b) is rounded on its own as it always was, whatever
// the compiler fuses.

// o += scale v_k (scale +1 or -1: exact).
struct AddPerOutput {
  float* o;
  const float* v;
  float scale;
  std::int64_t O;
  RELPROP_HOST_DEVICE void operator()(std::int64_t i, std::int64_t row) const { o[i] += scale * v[row % O]; }
};

// o1 += v1_k, o2 += v2_k in one pass.
struct AddPerOutput2 {
  float* o1;
  const float* v1;
  float* o2;
  const float* v2;
  std::int64_t O;
  RELPROP_HOST_DEVICE void operator()(std::int64_t i, std::int64_t row) const {
    const std::int64_t k = row % O;
    o1[i] += v1[k];
    o2[i] += v2[k];
  }
};

// o = (o + t) + v_k, the bias term only when v is given.
struct AddTermBias {
  float* o;
  const float* t;
  const float* v;  // nullptr: no bias
  std::int64_t O;
  RELPROP_HOST_DEVICE void operator()(std::int64_t i, std::int64_t row) const {
    const float s = o[i] + t[i];
    o[i] = v ? s + v[row % O] : s;
  }
};

// ---- pair passes: f(i, o), o = i / block (the outer row) -----------------------------------

// The two halves of a stacked forward (outer, 2, O, inner) into a and b (z's shape):
// written, or added when `acc`.
struct SplitStacked {
  const float* src;
  float* a;
  float* b;
  std::int64_t block;
  bool acc;
  RELPROP_HOST_DEVICE void operator()(std::int64_t i, std::int64_t o) const {
    const std::int64_t q = i - o * block;
    const float va = src[2 * o * block + q], vb = src[(2 * o + 1) * block + q];
    if (acc) {
      a[i] += va;
      b[i] += vb;
    } else {
      a[i] = va;
      b[i] = vb;
    }
  }
};

// (a, b) of one pair written as (b, a) into another.
struct SwapPair {
  const float* a;
  const float* b;
  PairOut out;
  RELPROP_HOST_DEVICE void operator()(std::int64_t i, std::int64_t o) const {
    const std::int64_t j = out.at(i, o);
    const float va = a[j], vb = b[j];
    out.a[j] = vb;
    out.b[j] = va;
  }
};

// alpha-beta: a = alpha R / stab(z+), b = -beta R / stab(z-).
template <class D>
struct AlphaBetaPair {
  const float* zp;
  const float* zn;
  const float* r;
  D dp, dn;
  float alpha, beta;
  PairOut out;
  RELPROP_HOST_DEVICE void operator()(std::int64_t i, std::int64_t o) const {
    const std::int64_t j = out.at(i, o);
    out.a[j] = alpha * dp(r[i], zp[i], i);
    out.b[j] = -beta * dn(r[i], zn[i], i);
  }
};

// gamma for x >= 0 (ops/linear_type_skeleton.hpp): with z0 = x W and P = x W+,
// u = z0 + g P and v = (1 + g) z0 - g P before their biases; from s and t (GammaPair)
// the transpose reads A = s + (1 + g) t with W and B = g (s - t) with W+.
RELPROP_HOST_DEVICE inline float gamma_u(float z0, float p, float g) { return z0 + g * p; }
RELPROP_HOST_DEVICE inline float gamma_v(float z0, float p, float g) { return (1.0f + g) * z0 - g * p; }
RELPROP_HOST_DEVICE inline float gamma_a(float s, float t, float g) { return s + (1.0f + g) * t; }
RELPROP_HOST_DEVICE inline float gamma_b(float s, float t, float g) { return g * (s - t); }

// gamma: s = R [z > 0] / stab(u), t = R [z < 0] / stab(v), written as the pair (s, t),
// or for x >= 0 (AB) as (A, B) above.
template <class D, bool AB = false>
struct GammaPair {
  const float* u;
  const float* v;
  const float* z;
  const float* r;
  D du, dv;
  PairOut out;
  float g = 0.0f;  // AB only
  RELPROP_HOST_DEVICE void operator()(std::int64_t i, std::int64_t o) const {
    const float zi = z[i];
    const float s = du(zi > 0.0f ? r[i] : 0.0f, u[i], i);
    const float t = dv(zi < 0.0f ? r[i] : 0.0f, v[i], i);
    const std::int64_t j = out.at(i, o);
    if constexpr (AB) {
      out.a[j] = gamma_a(s, t, g);
      out.b[j] = gamma_b(s, t, g);
    } else {
      out.a[j] = s;
      out.b[j] = t;
    }
  }
};

// u, v from the forward's z (bias included, z0 = z - b_k) and P, plus the gamma biases
// bu_k (b + g b+) and bd_k (b + g b-) when given. f(i, row) with row = i / inner.
struct GammaNonnegUV {
  const float* z;
  const float* P;
  const float* b;   // nullptr: no bias
  const float* bu;  // nullptr: the gamma biases do not enter
  const float* bd;
  float g;
  std::int64_t O;
  float* u;
  float* v;
  RELPROP_HOST_DEVICE void operator()(std::int64_t i, std::int64_t row) const {
    const std::int64_t k = row % O;
    const float z0 = b ? z[i] - b[k] : z[i];
    float ui = gamma_u(z0, P[i], g), vi = gamma_v(z0, P[i], g);
    if (bu) {
      ui = ui + bu[k];
      vi = vi + bd[k];
    }
    u[i] = ui;
    v[i] = vi;
  }
};

// Gated backtrace (docs/RULES.md, "Saturation gate"): with t = z, P := 0 when t < l and N := 0 when t > u; the
// kept side(s) share R by |z_jk| / (kept sides + |b_k|), the denominator in double.
// Writes a = s on the kept positive side, b = -s on the kept negative side (the spread's
// signs). b: (O,) or nullptr; inner: z's extent after the output dimension.
struct GatedPair {
  const float* P;
  const float* N;
  const float* z;
  const float* r;
  const float* b;
  double lo, hi;
  std::int64_t O, inner;
  PairOut out;
  RELPROP_HOST_DEVICE void operator()(std::int64_t i, std::int64_t o) const {
    const bool keep_p = !(z[i] < lo), keep_n = !(z[i] > hi);
    const float bb = b ? Abs()(b[(i / inner) % O]) : 0.0f;
    const double den = (keep_p ? static_cast<double>(P[i]) : 0.0) + (keep_n ? -static_cast<double>(N[i]) : 0.0) + bb;
    const float q = den == 0.0 ? 0.0f : static_cast<float>(r[i] / den);
    const float s = fabsf(q) == HUGE_VALF && fabsf(r[i]) != HUGE_VALF ? 0.0f : q;  // as finite_quotient
    const std::int64_t j = out.at(i, o);
    out.a[j] = keep_p ? s : 0.0f;
    out.b[j] = -(keep_n ? s : 0.0f);
  }
};

}  // namespace relprop::detail::lt
