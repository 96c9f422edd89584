// The LRP skeleton for linear-type ops on the GPU: the twin of the Skeleton in
// ops/linear_type.cpp, rule for rule (equations: shared/RULES.md). The GEMM-shaped work
// goes through the op's own maps F(x, W) / T(s, W) (cuBLAS, cuDNN), the element-wise
// parts through the fused kernels below.
//
// Shapes: x (..., I) or (N, C, ...); z, R, s: z's shape, seen as (outer, O, inner) around
// its output dimension maps.out_dim; b: (O,), element k broadcast along out_dim.
// "Pair": two z-shaped tensors (a, b); when the map is stackable they are written
// straight into one (outer, 2, O, inner) tensor, the layout a transpose with the stacked
// weight [Wa; Wb] reads, so T(a, Wa) + T(b, Wb) is one GEMM.
//
// Differences from the CPU skeleton, all within float rounding:
// - The CPU skips every x- term when x >= 0 everywhere (after a ReLU) and then takes a
//   shortcut for gamma. That test reads x on the host; here the general formulas run
//   always (x- is then exactly 0, its terms add exact zeros).
// - Sums are fused differently (a * b + c as one FMA), GEMMs accumulate in another order.

#include "relprop/cuda/linear_type.hpp"

#include <cstdint>
#include <string>

#include "relprop/cuda/common.cuh"
#include "relprop/cuda/primitives.hpp"
#include "relprop/ops/common.hpp"

namespace relprop::cuda {

namespace {

using detail::LinearMaps;
using detail::Stab;
using detail::WeightCache;

// ---- element-wise functors (weights and bias) -------------------------------------------

struct Identity {
  __host__ __device__ float operator()(float v) const { return v; }
};
struct Pos {
  __host__ __device__ float operator()(float v) const { return v > 0.0f ? v : 0.0f; }
};
struct Neg {
  __host__ __device__ float operator()(float v) const { return v < 0.0f ? v : 0.0f; }
};
struct Abs {
  __host__ __device__ float operator()(float v) const { return fabsf(v); }
};
struct Square {
  __host__ __device__ float operator()(float v) const { return v * v; }
};
struct One {
  __host__ __device__ float operator()(float) const { return 1.0f; }
};
struct GammaUp {  // w + gamma w+
  float g;
  __host__ __device__ float operator()(float v) const { return v + g * Pos()(v); }
};
struct GammaDn {  // w + gamma w-
  float g;
  __host__ __device__ float operator()(float v) const { return v + g * Neg()(v); }
};

// z seen as (outer, O, inner) around the output dimension.
struct Layout {
  std::int64_t outer = 1, O = 1, inner = 1;
  std::int64_t block() const { return O * inner; }
  std::int64_t n() const { return outer * O * inner; }
};

// Where element i of the two z-shaped halves of a pair goes: a[at(i)], b[at(i)].
struct PairOut {
  float* a;
  float* b;
  std::int64_t block;   // O * inner
  std::int64_t stride;  // between consecutive outer rows: block, or 2 block when stacked
  __device__ std::int64_t at(std::int64_t i) const {
    const std::int64_t o = i / block;
    return o * stride + (i - o * block);
  }
};

// A denominator stabiliser on the device: a fixed epsilon, or one per row of `group`
// elements (Scaled), as detail::stabilized_divide.
struct DevStab {
  const float* row_eps = nullptr;  // (n / group,) for Scaled, else nullptr
  std::int64_t group = 1;
  float eps = 0.0f;
  bool clip = false;
  // r / stab(den) for element i; a stabilised denominator of exactly 0 gives 0.
  __device__ float div(float r, float den, std::int64_t i) const {
    const float e = row_eps ? row_eps[i / group] : eps;
    const float sg = den >= 0.0f ? 1.0f : -1.0f;  // sgn0: +1 at zero
    const float ad = fabsf(den);
    const float d = clip ? sg * (ad < e ? e : ad) : den + e * sg;  // std::max's NaN behaviour, as the CPU
    return d == 0.0f ? 0.0f : r / d;
  }
};

// ---- kernels (plain named functions: the device lambdas capture pointers and scalars) ---

// f applied to every element of a (a weight: W+, W-, |W|, W^2, ones, W + gamma W+/-).
template <class F>
Tensor map1(const Tensor& a, F f) {
  Tensor out = empty(a.shape());
  const float* p = ptr<float>(a);
  float* o = ptr<float>(out);
  launch(a.numel(), [=] __device__(std::int64_t i) { o[i] = f(p[i]); });
  return out;
}

// x+ and x- in one pass. x, xp, xn: x's shape.
void split_signs(const Tensor& x, Tensor& xp, Tensor& xn) {
  xp = empty(x.shape());
  xn = empty(x.shape());
  const float* p = ptr<float>(x);
  float *a = ptr<float>(xp), *c = ptr<float>(xn);
  launch(x.numel(), [=] __device__(std::int64_t i) {
    const float v = p[i];
    a[i] = v > 0.0f ? v : 0.0f;
    c[i] = v < 0.0f ? v : 0.0f;
  });
}

// zz += scale * f(b) broadcast along the output dimension. zz: (outer, O, inner), b: (O,).
template <class F>
void add_bias(const Tensor& zz, const Tensor& b, F f, float scale, Layout L) {
  float* o = ptr<float>(zz);
  const float* bp = ptr<float>(b);
  const std::int64_t O = L.O, inner = L.inner;
  launch(L.n(), [=] __device__(std::int64_t i) { o[i] += scale * f(bp[(i / inner) % O]); });
}

// z1 += f(b), z2 += g(b) in one pass. z1, z2: (outer, O, inner), b: (O,).
template <class F, class G>
void add_bias2(const Tensor& z1, F f, const Tensor& z2, G g, const Tensor& b, Layout L) {
  float *o1 = ptr<float>(z1), *o2 = ptr<float>(z2);
  const float* bp = ptr<float>(b);
  const std::int64_t O = L.O, inner = L.inner;
  launch(L.n(), [=] __device__(std::int64_t i) {
    const float bk = bp[(i / inner) % O];
    o1[i] += f(bk);
    o2[i] += g(bk);
  });
}

// acc = (acc + t) + f(b) (the bias term only when b is defined). acc, t: (outer, O, inner).
template <class F>
void add_with_bias(const Tensor& acc, const Tensor& t, const Tensor& b, F f, Layout L) {
  float* o = ptr<float>(acc);
  const float* p = ptr<float>(t);
  const float* bp = b.defined() ? ptr<float>(b) : nullptr;
  const std::int64_t O = L.O, inner = L.inner;
  launch(L.n(), [=] __device__(std::int64_t i) {
    const float v = o[i] + p[i];
    o[i] = bp ? v + f(bp[(i / inner) % O]) : v;
  });
}

// The two halves of a stacked forward (outer, 2, O, inner) into a, b (outer, O, inner):
// written (acc false) or added (acc true).
void split_stacked(const Tensor& both, const Tensor& a, const Tensor& b, bool acc, Layout L) {
  const float* src = ptr<float>(both);
  float *pa = ptr<float>(a), *pb = ptr<float>(b);
  const std::int64_t block = L.block();
  launch(L.n(), [=] __device__(std::int64_t i) {
    const std::int64_t o = i / block, q = i - o * block;
    const float va = src[2 * o * block + q], vb = src[(2 * o + 1) * block + q];
    if (acc) {
      pa[i] += va;
      pb[i] += vb;
    } else {
      pa[i] = va;
      pb[i] = vb;
    }
  });
}

// c *= x, in place. c, x: x's shape.
void mul_inplace(const Tensor& c, const Tensor& x) {
  float* o = ptr<float>(c);
  const float* p = ptr<float>(x);
  launch(c.numel(), [=] __device__(std::int64_t i) { o[i] *= p[i]; });
}

// c1 = scale * (xp * c1 + xn * c2), in place. All of x's shape.
void combine2(const Tensor& c1, const Tensor& xp, const Tensor& xn, const Tensor& c2, float scale) {
  float* o = ptr<float>(c1);
  const float *p = ptr<float>(xp), *q = ptr<float>(xn), *c = ptr<float>(c2);
  launch(c1.numel(), [=] __device__(std::int64_t i) { o[i] = scale * (p[i] * o[i] + q[i] * c[i]); });
}

// c1 = x * c1 - lo * c2 - hi * c3, in place (z^B). All of x's shape.
void combine3(const Tensor& c1, const Tensor& x, const Tensor& lo, const Tensor& c2, const Tensor& hi,
              const Tensor& c3) {
  float* o = ptr<float>(c1);
  const float *px = ptr<float>(x), *pl = ptr<float>(lo), *p2 = ptr<float>(c2), *ph = ptr<float>(hi),
              *p3 = ptr<float>(c3);
  launch(c1.numel(), [=] __device__(std::int64_t i) { o[i] = (px[i] * o[i] - pl[i] * p2[i]) - ph[i] * p3[i]; });
}

// d = (d - a) - c, in place. All of z's shape.
void sub2(const Tensor& d, const Tensor& a, const Tensor& c) {
  float* o = ptr<float>(d);
  const float *p = ptr<float>(a), *q = ptr<float>(c);
  launch(d.numel(), [=] __device__(std::int64_t i) { o[i] = (o[i] - p[i]) - q[i]; });
}

// One block per row of `group` elements: eps * sqrt(mean(den^2)) over the row, the sum in
// double in a fixed order (deterministic). den: (rows * group,), out: (rows,).
__global__ void row_eps_kernel(const float* den, float* out, std::int64_t group, double eps) {
  __shared__ double part[256];
  const std::int64_t base = static_cast<std::int64_t>(blockIdx.x) * group;
  double sq = 0;
  for (std::int64_t i = threadIdx.x; i < group; i += blockDim.x) {
    const double v = den[base + i];
    sq += v * v;
  }
  part[threadIdx.x] = sq;
  __syncthreads();
  for (int w = blockDim.x / 2; w > 0; w /= 2) {
    if (threadIdx.x < w) part[threadIdx.x] += part[threadIdx.x + w];
    __syncthreads();
  }
  if (threadIdx.x == 0) out[blockIdx.x] = static_cast<float>(eps * sqrt(part[0] / static_cast<double>(group)));
}

// The stabiliser for denominators `den`: Scaled groups the non-batch elements of each
// sample, like the CPU's divide. `keep` holds the per-row epsilons the result points to.
DevStab device_stab(const Tensor& den, Stab stab, Tensor& keep) {
  DevStab d;
  d.eps = static_cast<float>(stab.epsilon);
  d.clip = stab.kind == Stabilizer::Clip;
  if (stab.kind != Stabilizer::Scaled) return d;
  const std::int64_t n = den.numel();
  const std::int64_t group = den.dim() > 1 ? n / std::max<std::int64_t>(den.size(0), 1) : n;
  const std::int64_t rows = group > 0 ? n / group : 0;
  keep = empty({std::max<std::int64_t>(rows, 1)});
  if (rows > 0) {
    row_eps_kernel<<<static_cast<unsigned>(rows), 256, 0, stream()>>>(ptr<float>(den), ptr<float>(keep), group,
                                                                       stab.epsilon);
    RELPROP_CUDA_CHECK(cudaGetLastError());
  }
  d.row_eps = ptr<float>(keep);
  d.group = std::max<std::int64_t>(group, 1);
  return d;
}

// alpha-beta: a = alpha R / stab(z+), b = -beta R / stab(z-). zp, zn, R: (outer, O, inner).
void alpha_beta_pair(const Tensor& zp, const Tensor& zn, const Tensor& R, DevStab sp, DevStab sn, float al,
                     float be, PairOut out, std::int64_t n) {
  const float *p = ptr<float>(zp), *q = ptr<float>(zn), *r = ptr<float>(R);
  launch(n, [=] __device__(std::int64_t i) {
    const std::int64_t j = out.at(i);
    out.a[j] = al * sp.div(r[i], p[i], i);
    out.b[j] = -be * sn.div(r[i], q[i], i);
  });
}

// The gamma pass: s = R [z > 0] / stab(u), t = R [z < 0] / stab(v). u, v, z, R: z's shape.
void gamma_pair(const Tensor& u, const Tensor& v, const Tensor& z, const Tensor& R, DevStab su, DevStab sv,
                PairOut out, std::int64_t n) {
  const float *pu = ptr<float>(u), *pv = ptr<float>(v), *pz = ptr<float>(z), *r = ptr<float>(R);
  launch(n, [=] __device__(std::int64_t i) {
    const std::int64_t j = out.at(i);
    const float zi = pz[i];
    out.a[j] = su.div(zi > 0.0f ? r[i] : 0.0f, pu[i], i);
    out.b[j] = sv.div(zi < 0.0f ? r[i] : 0.0f, pv[i], i);
  });
}

// Gated backtrace: with t = z, P := 0 when t < l and N := 0 when t > u; the kept side(s)
// share R by |z_jk| / (kept sides + |b_k|) (denominator in double, as the CPU). Writes
// a = s on the kept positive side, b = -s on the kept negative side (the spread's signs).
// P, N, z, R: (outer, O, inner); b: (O,) or nullptr.
void gated_pair(const Tensor& P, const Tensor& N, const Tensor& z, const Tensor& R, const float* bp, double lo,
                double hi, Layout L, PairOut out) {
  const float *p = ptr<float>(P), *q = ptr<float>(N), *t = ptr<float>(z), *r = ptr<float>(R);
  const std::int64_t O = L.O, inner = L.inner;
  launch(L.n(), [=] __device__(std::int64_t i) {
    const bool keep_p = !(t[i] < lo), keep_n = !(t[i] > hi);
    const float bb = bp ? fabsf(bp[(i / inner) % O]) : 0.0f;
    const double den = (keep_p ? static_cast<double>(p[i]) : 0.0) + (keep_n ? -static_cast<double>(q[i]) : 0.0) + bb;
    const float s = den == 0.0 ? 0.0f : static_cast<float>(r[i] / den);
    const std::int64_t j = out.at(i);
    out.a[j] = keep_p ? s : 0.0f;
    out.b[j] = -(keep_n ? s : 0.0f);
  });
}

// The CPU's contrastive shares, the same function (host and device).
using Shares = detail::ContrastiveShares;

// Contrastive backtrace shares of every output, as pairs with the spread's signs:
// positive map (pos_p, -pos_n), negative map (neg_p, -neg_n). P, N, z, Rp, Rn: z's shape.
void contrastive_pairs(const Tensor& P, const Tensor& N, const Tensor& z, const Tensor& Rp, const Tensor& Rn,
                       PairOut pos, PairOut neg, std::int64_t n) {
  const float *p = ptr<float>(P), *q = ptr<float>(N), *t = ptr<float>(z), *rp = ptr<float>(Rp),
              *rn = ptr<float>(Rn);
  launch(n, [=] __device__(std::int64_t i) {
    const Shares sh = detail::contrastive_shares(p[i], -q[i], t[i], rp[i], rn[i]);
    const std::int64_t j = pos.at(i);  // pos and neg share one layout
    pos.a[j] = sh.pos_p;
    pos.b[j] = -sh.pos_n;
    neg.a[j] = sh.neg_p;
    neg.b[j] = -sh.neg_n;
  });
}

// ---- the skeleton -----------------------------------------------------------------------

using Bounds = std::optional<std::pair<double, double>>;

// Two z-shaped halves (see the top of the file): `both` when stacked, else `a` and `b`.
struct Pair {
  Tensor both, a, b;
  PairOut out;
};

struct Skeleton {
  const LinearMaps& maps;
  Tensor x, w, b, z, R;  // contiguous float32 on the GPU; b undefined: no bias
  WeightCache& cache;
  Layout L;
  int out_dim = 0;

  Skeleton(const LinearMaps& m, const Tensor& x_, const Tensor& w_, const Tensor& b_, const Tensor& z_,
           const Tensor& R_, WeightCache& c)
      : maps(m),
        x(x_.contiguous()),
        w(w_.contiguous()),
        b(b_.defined() ? b_.contiguous() : Tensor()),
        z(z_.contiguous()),
        R(R_.contiguous()),
        cache(c) {
    const Shape& zs = z.shape();
    out_dim = maps.out_dim < 0 ? static_cast<int>(zs.size()) + maps.out_dim : maps.out_dim;
    L.outer = L.inner = 1;
    for (int i = 0; i < out_dim; ++i) L.outer *= zs[i];
    for (std::size_t i = out_dim + 1; i < zs.size(); ++i) L.inner *= zs[i];
    L.O = zs[out_dim];
    RELPROP_ASSERT(!b.defined() || b.numel() == L.O, "linear-type relevance (GPU): bias and outputs disagree");
  }

  template <class Fn>
  const Tensor& weight(const std::string& key, Fn f) {
    return cache.get(key, [&] { return map1(w, f); });
  }
  const Tensor& w_pos() { return weight("w+", Pos{}); }
  const Tensor& w_neg() { return weight("w-", Neg{}); }

  Tensor F(const Tensor& xx, const Tensor& ww) const { return maps.forward(xx, ww).contiguous(); }
  Tensor T(const Tensor& s, const Tensor& ww) const { return maps.transpose(s, ww).contiguous(); }

  // [wa; wb] stacked along dimension 0 (device-to-device copies), cached under `key`.
  const Tensor& stacked(const std::string& key, const Tensor& wa, const Tensor& wb) {
    return cache.get(key, [&] {
      Shape sh = wa.shape();
      sh[0] *= 2;
      Tensor st = empty(sh);
      float* dst = ptr<float>(st);
      RELPROP_CUDA_CHECK(cudaMemcpyAsync(dst, ptr<float>(wa), wa.nbytes(), cudaMemcpyDeviceToDevice, stream()));
      RELPROP_CUDA_CHECK(
          cudaMemcpyAsync(dst + wa.numel(), ptr<float>(wb), wb.nbytes(), cudaMemcpyDeviceToDevice, stream()));
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
        cuda::axpy(A, fa);
        cuda::axpy(B, fb);
      } else {
        A = std::move(fa);
        B = std::move(fb);
      }
      return;
    }
    const Tensor both = F(xx, stacked(key, wa, wb));
    if (!acc) {
      A = empty(z.shape());
      B = empty(z.shape());
    }
    split_stacked(both, A, B, acc, L);
  }

  // A fresh pair of z-shaped halves, stacked when the map is stackable.
  Pair make_pair() const {
    Pair p;
    if (maps.stackable) {
      Shape sh = z.shape();
      sh[out_dim] *= 2;
      p.both = empty(sh);
      float* base = ptr<float>(p.both);
      p.out = PairOut{base, base + L.block(), L.block(), 2 * L.block()};
    } else {
      p.a = empty(z.shape());
      p.b = empty(z.shape());
      p.out = PairOut{ptr<float>(p.a), ptr<float>(p.b), L.block(), L.block()};
    }
    return p;
  }

  // T(p.a, wa) + T(p.b, wb): one pass with the stacked weight when the map allows it.
  Tensor T2(const Pair& p, const std::string& key, const Tensor& wa, const Tensor& wb) {
    if (maps.stackable) return T(p.both, stacked(key, wa, wb));
    Tensor out = own(T(p.a, wa));
    cuda::axpy(out, T(p.b, wb));
    return out;
  }

  // `c` with storage of its own, to write into (a fresh transpose result already is).
  static Tensor own(Tensor c) {
    if (!c.is_contiguous() || c.storage().use_count() > 1) c = c.clone();
    return c;
  }

  // c * x, in place in c.
  Tensor times(const Tensor& xx, Tensor c) const {
    RELPROP_ASSERT(xx.numel() == c.numel(), "times: element counts differ");
    c = own(std::move(c));
    mul_inplace(c, xx);
    return c;
  }

  // s = R / stab(den); the Scaled variant groups the non-batch elements of each sample.
  Tensor divide(const Tensor& den, Stab stab, const Tensor& r) const {
    const std::int64_t group =
        den.dim() > 1 ? den.numel() / std::max<std::int64_t>(den.size(0), 1) : den.numel();
    return cuda::stabilized_divide(r, den, group, stab);
  }

  // Zero / Epsilon: R_in = x * T(R / stab(z), W).
  Tensor epsilon(Stab stab, bool zero_bias) {
    Tensor zz = z;
    if (zero_bias && b.defined()) {
      zz = z.clone();
      add_bias(zz, b, Identity{}, -1.0f, L);
    }
    return times(x, T(divide(zz, stab, R), w));
  }

  // z+ (alpha 1) and alpha-beta with beta 0: positive contributions x+ w+ and x- w- (and
  // b+); the result times alpha.
  Tensor positive(Stab stab, bool zero_bias, float alpha) {
    Tensor xp, xn;
    split_signs(x, xp, xn);
    Tensor zp = F(xp, w_pos());
    add_with_bias(zp, F(xn, w_neg()), zero_bias ? Tensor() : b, Pos{}, L);
    const Tensor s = divide(zp, stab, R);
    Tensor out = own(T(s, w_pos()));
    combine2(out, xp, xn, T(s, w_neg()), alpha);
    return out;
  }

  // Sums of the positive contributions x_j w_jk and of the negative ones (<= 0) per
  // output: one stacked pass with [W+; W-] per input sign.
  std::pair<Tensor, Tensor> signed_sums(const Tensor& xp, const Tensor& xn) {
    Tensor P, N;
    F2(xp, "w+|w-", w_pos(), w_neg(), P, N, false);
    F2(xn, "w+|w-", w_pos(), w_neg(), N, P, true);  // x- W+ <= 0, x- W- >= 0
    return {std::move(P), std::move(N)};
  }

  // R_j = sum_k [z_jk > 0] z_jk a_k + [z_jk < 0] z_jk b_k with (a, b) the pair p:
  // x+ (T(a, W+) + T(b, W-)) + x- (T(a, W-) + T(b, W+)).
  Tensor by_sign(const Pair& p, const Tensor& xp, const Tensor& xn) {
    Tensor out = own(T2(p, "w+|w-", w_pos(), w_neg()));
    combine2(out, xp, xn, T2(p, "w-|w+", w_neg(), w_pos()), 1.0f);
    return out;
  }

  Tensor alpha_beta(const AlphaBetaRule& r) {
    const Stab stab{r.epsilon, r.stabilizer};
    if (r.beta == 0.0) return positive(stab, r.zero_bias, static_cast<float>(r.alpha));
    Tensor xp, xn;
    split_signs(x, xp, xn);
    auto [zp, zn] = signed_sums(xp, xn);
    if (!r.zero_bias && b.defined()) add_bias2(zp, Pos{}, zn, Neg{}, b, L);
    // alpha * (positive contributions / z+) - beta * (negative contributions / z-).
    Tensor kp, kn;
    const DevStab sp = device_stab(zp, stab, kp), sn = device_stab(zn, stab, kn);
    const Pair p = make_pair();
    alpha_beta_pair(zp, zn, R, sp, sn, static_cast<float>(r.alpha), static_cast<float>(r.beta), p.out, L.n());
    return by_sign(p, xp, xn);
  }

  // Generalised gamma: outputs with z > 0 use (w up for x+, w down for x-), outputs with
  // z < 0 the other way round; outputs with z = 0 pass nothing.
  Tensor gamma(const GammaRule& r) {
    const Stab stab{r.epsilon, r.stabilizer};
    const float g = static_cast<float>(r.gamma);
    const std::string tag = std::to_string(r.gamma);
    Tensor xp, xn;
    split_signs(x, xp, xn);
    const Tensor& w_up = weight("gamma-up:" + tag, GammaUp{g});
    const Tensor& w_dn = weight("gamma-dn:" + tag, GammaDn{g});
    // u = x+ w_up + x- w_dn, v = x+ w_dn + x- w_up: one stacked pass per input sign.
    Tensor u, v;
    F2(xp, "gamma-up|dn:" + tag, w_up, w_dn, u, v, false);
    F2(xn, "gamma-dn|up:" + tag, w_dn, w_up, u, v, true);
    if (!r.zero_bias && b.defined()) add_bias2(u, GammaUp{g}, v, GammaDn{g}, b, L);
    // R split by the sign of the forward z, divided, written as the pair (s, t).
    Tensor ku, kv;
    const DevStab su = device_stab(u, stab, ku), sv = device_stab(v, stab, kv);
    const Pair p = make_pair();
    gamma_pair(u, v, z, R, su, sv, p.out, L.n());
    Tensor out = own(T2(p, "gamma-up|dn:" + tag, w_up, w_dn));
    combine2(out, xp, xn, T2(p, "gamma-dn|up:" + tag, w_dn, w_up), 1.0f);
    return out;
  }

  // z^B: bounds broadcast along x's channel dimension (on the GPU).
  Tensor bound(const std::vector<double>& v) const {
    if (v.size() == 1) return Tensor::full(x.shape(), v[0], DType::F32, Device::CUDA);
    const int cd = maps.channel_dim;
    if (x.dim() <= cd || x.size(cd) != static_cast<std::int64_t>(v.size()))
      throw ShapeError("zbox: " + std::to_string(v.size()) + " per-channel bounds for an input of shape " +
                       x.str_shape() + " (channels on dimension " + std::to_string(cd) + ")");
    Shape vs(x.dim(), 1);
    vs[cd] = static_cast<std::int64_t>(v.size());
    // Filled channel by channel on the device (no host upload, which would wait for the
    // host and could not be captured into a CUDA Graph), once per node.
    std::string key = "zbox-bound";
    for (double b : v) key += ":" + std::to_string(b);
    const Tensor& dev = cache.get(key, [&] {
      Tensor t = Tensor::empty(vs, DType::F32, Device::CUDA);
      for (std::size_t c = 0; c < v.size(); ++c)
        t.slice(cd, static_cast<std::int64_t>(c), static_cast<std::int64_t>(c) + 1).fill(static_cast<float>(v[c]));
      return t;
    });
    return detail::broadcast_f32(dev, x.shape());
  }

  Tensor zbox(const ZBoxRule& r) {
    const Tensor lo = bound(r.low), hi = bound(r.high);
    const Tensor d = own(F(x, w));
    sub2(d, F(lo, w_pos()), F(hi, w_neg()));
    const Tensor s = divide(d, Stab{r.epsilon, r.stabilizer}, R);
    Tensor out = own(T(s, w));
    combine3(out, x, lo, T(s, w_pos()), hi, T(s, w_neg()));
    return out;
  }

  // w^2 (and flat: every weight 1, no bias): R_in = T(R / stab(F(1, W') + b'), W').
  Tensor by_weights(const Tensor& ww, Stab stab, bool with_bias) {
    Tensor den = own(F(Tensor::full(x.shape(), 1.0, DType::F32, Device::CUDA), ww));
    if (with_bias && b.defined()) add_bias(den, b, Square{}, 1.0f, L);
    return T(divide(den, stab, R), ww);
  }

  Tensor backtrace(const BacktraceRule& r, const Bounds& bounds) {
    if (r.mode != BacktraceRule::Mode::Default)
      throw UnsupportedError("backtrace-contrastive moves two maps together: run it with propagate_contrastive "
                             "(the CLI's --composite backtrace-contrastive), not propagate");
    if (r.gate && bounds) return backtrace_gated(*bounds);
    // R_j = sum_k R_k |x_j w_jk| / (P_k + N_k + |b_k|): two GEMMs with |x| and |W|.
    const Tensor ax = map1(x, Abs{});
    const Tensor& aw = weight("|w|", Abs{});
    Tensor den = own(F(ax, aw));
    if (b.defined()) add_bias(den, b, Abs{}, 1.0f, L);
    return times(ax, T(divide(den, Stab{0.0, Stabilizer::Sign}, R), aw));
  }

  // Saturation gate: with t_k = z_k, P_k := 0 when t_k < l and N_k := 0 when t_k > u;
  // the kept side(s) share R_k by |z_jk| / (kept sides + |b_k|).
  Tensor backtrace_gated(const std::pair<double, double>& lu) {
    Tensor xp, xn;
    split_signs(x, xp, xn);
    const auto [P, N] = signed_sums(xp, xn);
    const Pair p = make_pair();
    gated_pair(P, N, z, R, b.defined() ? ptr<float>(b) : nullptr, lu.first, lu.second, L, p.out);
    return by_sign(p, xp, xn);
  }

  // Contrastive mode (RULES.md): both maps spread by |z_jk| within a side; when both
  // signs contribute, the winning side (positive when z_k > 0) takes max(R+, R-) and the
  // other side min(R+, R-), R+ always landing in the positive map. No bias sink.
  std::pair<Tensor, Tensor> backtrace_contrastive(const Tensor& Rn_in) {
    const Tensor Rn = Rn_in.contiguous();
    Tensor xp, xn;
    split_signs(x, xp, xn);
    const auto [P, N] = signed_sums(xp, xn);
    const Pair pos = make_pair(), neg = make_pair();
    contrastive_pairs(P, N, z, R, Rn, pos.out, neg.out, L.n());
    return {by_sign(pos, xp, xn), by_sign(neg, xp, xn)};
  }
};

}  // namespace

std::optional<Tensor> linear_type_relevance(const Rule& rule, const detail::LinearMaps& maps, const Tensor& x,
                                            const Tensor& w, const Tensor& b, const Tensor& z, const Tensor& R,
                                            detail::WeightCache& cache, const RelevanceContext& ctx) {
  detail::same_device("linear-type relevance",
                      {{&x, "input"}, {&w, "weight"}, {&b, "bias"}, {&z, "output"}, {&R, "relevance"}});
  Skeleton k(maps, x, w, b, z, R, cache);
  return std::visit(
      [&](const auto& r) -> std::optional<Tensor> {
        using T = std::decay_t<decltype(r)>;
        if constexpr (std::is_same_v<T, ZeroRule>) return k.epsilon(Stab{0.0, Stabilizer::Sign}, r.zero_bias);
        else if constexpr (std::is_same_v<T, EpsilonRule>) return k.epsilon(Stab{r.epsilon, r.stabilizer}, r.zero_bias);
        else if constexpr (std::is_same_v<T, ZPlusRule>)
          return k.positive(Stab{r.epsilon, r.stabilizer}, r.zero_bias, 1.0f);
        else if constexpr (std::is_same_v<T, AlphaBetaRule>) return k.alpha_beta(r);
        else if constexpr (std::is_same_v<T, GammaRule>) return k.gamma(r);
        else if constexpr (std::is_same_v<T, ZBoxRule>) return k.zbox(r);
        else if constexpr (std::is_same_v<T, WSquareRule>)
          return k.by_weights(k.weight("w^2", Square{}), Stab{r.epsilon, r.stabilizer}, !r.zero_bias);
        else if constexpr (std::is_same_v<T, FlatRule>)
          return k.by_weights(k.weight("ones", One{}), Stab{r.epsilon, r.stabilizer}, false);
        else if constexpr (std::is_same_v<T, GradientRule>) return k.T(k.R, k.w);
        else if constexpr (std::is_same_v<T, BacktraceRule>) return k.backtrace(r, ctx.activation_bounds);
        else return std::nullopt;  // Pass, Norm: not linear-type rules (the op decides)
      },
      rule);
}

std::optional<std::pair<Tensor, Tensor>> linear_type_contrastive(const Rule& rule, const detail::LinearMaps& maps,
                                                                 const Tensor& x, const Tensor& w, const Tensor& b,
                                                                 const Tensor& z, const Tensor& Rp, const Tensor& Rn,
                                                                 detail::WeightCache& cache) {
  const auto* bt = std::get_if<BacktraceRule>(&rule);
  if (!bt || bt->mode != BacktraceRule::Mode::Contrastive) return std::nullopt;
  RELPROP_ASSERT(Rp.shape() == z.shape() && Rn.shape() == z.shape(), "contrastive maps must have z's shape");
  detail::same_device("linear-type relevance", {{&x, "input"},
                                                {&w, "weight"},
                                                {&b, "bias"},
                                                {&z, "output"},
                                                {&Rp, "positive relevance"},
                                                {&Rn, "negative relevance"}});
  Skeleton k(maps, x, w, b, z, Rp, cache);
  return k.backtrace_contrastive(Rn);
}

}  // namespace relprop::cuda
