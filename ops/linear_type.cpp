// The LRP skeleton for linear-type ops. Every rule is written with the op's own forward
// F(x, W) and transpose T(s, W); the equations are those of shared/RULES.md.
// Shapes: x (..., in) or (N, C, ...); z, R, s: z's shape; b: (O,) viewed as maps.bias_view.

#include "relprop/ops/linear_type.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "relprop/ops/common.hpp"
#include "relprop/config.hpp"
#if RELPROP_HAVE_CUDA
#include "relprop/cuda/linear_type.hpp"
#endif

namespace relprop::detail {

const Tensor& WeightCache::get(const std::string& key, const std::function<Tensor()>& make) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = tensors_.find(key);
  if (it == tensors_.end()) it = tensors_.emplace(key, make()).first;
  return it->second;
}

void WeightCache::clear() {
  std::lock_guard<std::mutex> lock(mutex_);
  tensors_.clear();
}

namespace {

// Element-wise maps over contiguous float32 tensors.
template <class F>
Tensor map1(const Tensor& a, F f) {
  Tensor out = Tensor::empty(a.shape());
  const float* p = a.data<float>();
  float* o = out.data<float>();
  const std::int64_t n = a.numel();
  detail::parallel_for(n, n > detail::kParallelMin, [&](std::int64_t i) { o[i] = f(p[i]); });
  return out;
}

template <class F>
Tensor map2(const Tensor& a, const Tensor& b, F f) {
  RELPROP_ASSERT(a.numel() == b.numel(), "map2: element counts differ");
  Tensor out = Tensor::empty(a.shape());
  const float* p = a.data<float>();
  const float* q = b.data<float>();
  float* o = out.data<float>();
  const std::int64_t n = a.numel();
  detail::parallel_for(n, n > detail::kParallelMin, [&](std::int64_t i) { o[i] = f(p[i], q[i]); });
  return out;
}

// acc += scale * t (in place; acc is owned by the skeleton).
void axpy(Tensor& acc, const Tensor& t, float scale = 1.0f) {
  float* a = acc.data<float>();
  const float* p = t.data<float>();
  const std::int64_t n = acc.numel();
  detail::parallel_for(n, n > detail::kParallelMin, [&](std::int64_t i) { a[i] += scale * p[i]; });
}

// c *= x, in place when c's storage is its own (a fresh transpose result): saves the
// allocation and one pass over memory that map2 would cost.
Tensor times(const Tensor& x, Tensor c) {
  RELPROP_ASSERT(x.numel() == c.numel(), "times: element counts differ");
  if (!c.is_contiguous() || c.storage().use_count() > 1) c = c.clone();
  float* o = c.data<float>();
  const float* p = x.data<float>();
  const std::int64_t n = c.numel();
  detail::parallel_for(n, n > detail::kParallelMin, [&](std::int64_t i) { o[i] *= p[i]; });
  return c;
}

// acc += scale * x * c, fused.
void add_times(Tensor& acc, const Tensor& x, const Tensor& c, float scale = 1.0f) {
  RELPROP_ASSERT(acc.numel() == x.numel() && x.numel() == c.numel(), "add_times: element counts differ");
  float* a = acc.data<float>();
  const float* p = x.data<float>();
  const float* q = c.data<float>();
  const std::int64_t n = acc.numel();
  detail::parallel_for(n, n > detail::kParallelMin, [&](std::int64_t i) { a[i] += scale * p[i] * q[i]; });
}

// Function objects, not function pointers: map1 inlines and vectorises them.
constexpr auto pos = [](float v) { return v > 0.0f ? v : 0.0f; };
constexpr auto neg = [](float v) { return v < 0.0f ? v : 0.0f; };

using Bounds = std::optional<std::pair<double, double>>;

struct Skeleton {
  const LinearMaps& maps;
  const Tensor& x;
  const Tensor& w;
  const Tensor& b;  // undefined: no bias
  const Tensor& z;
  const Tensor& R;
  WeightCache& cache;

  template <class Fn>
  const Tensor& weight(const std::string& key, Fn f) {
    return cache.get(key, [&] { return map1(w, f); });
  }
  const Tensor& w_pos() { return weight("w+", pos); }
  const Tensor& w_neg() { return weight("w-", neg); }

  // After a ReLU every input is >= 0: then x- = 0 and the rules below drop every term
  // that multiplies it, and reuse the forward's z instead of recomputing x W.
  bool nonnegative() const {
    // In blocks whose inner loop has no early exit, so it vectorises.
    const float* p = x.data<float>();
    const std::int64_t n = x.numel();
    for (std::int64_t lo = 0; lo < n; lo += 8192) {
      const std::int64_t hi = std::min(n, lo + 8192);
      int negative = 0;
      for (std::int64_t i = lo; i < hi; ++i) negative |= p[i] < 0.0f ? 1 : 0;
      if (negative) return false;
    }
    return true;
  }

  Tensor F(const Tensor& xx, const Tensor& ww) const { return maps.forward(xx, ww).contiguous(); }
  Tensor T(const Tensor& s, const Tensor& ww) const { return maps.transpose(s, ww).contiguous(); }

  // [wa; wb] stacked along dimension 0, cached under `key`.
  const Tensor& stacked(const std::string& key, const Tensor& wa, const Tensor& wb) {
    return cache.get(key, [&] {
      Shape sh = wa.shape();
      sh[0] *= 2;
      Tensor st = Tensor::empty(sh);
      std::memcpy(st.data<float>(), wa.data<float>(), wa.nbytes());
      std::memcpy(st.data<float>() + wa.numel(), wb.data<float>(), wb.nbytes());
      return st;
    });
  }

  // Outer / inner extents of z around its output dimension.
  std::pair<std::int64_t, std::int64_t> around_out(const Shape& zs) const {
    const int d = maps.out_dim < 0 ? static_cast<int>(zs.size()) + maps.out_dim : maps.out_dim;
    std::int64_t outer = 1, inner = 1;
    for (int i = 0; i < d; ++i) outer *= zs[i];
    for (std::size_t i = d + 1; i < zs.size(); ++i) inner *= zs[i];
    return {outer, inner};
  }

  // (F(x, wa), F(x, wb)): one pass with the stacked weight when the map allows it.
  std::pair<Tensor, Tensor> F2(const Tensor& xx, const std::string& key, const Tensor& wa, const Tensor& wb) {
    if (!maps.stackable) return {F(xx, wa), F(xx, wb)};
    const Tensor both = F(xx, stacked(key, wa, wb));
    const auto [outer, inner] = around_out(z.shape());
    const std::int64_t block = z.numel() / outer;  // O * inner
    Tensor a = Tensor::empty(z.shape()), b2 = Tensor::empty(z.shape());
    const float* src = both.data<float>();
    float *pa = a.data<float>(), *pb = b2.data<float>();
    detail::parallel_for(outer, outer > 1 && z.numel() > detail::kParallelMin, [&](std::int64_t o) {
      std::memcpy(pa + o * block, src + 2 * o * block, block * sizeof(float));
      std::memcpy(pb + o * block, src + (2 * o + 1) * block, block * sizeof(float));
    });
    (void)inner;
    return {std::move(a), std::move(b2)};
  }

  // T(sa, wa) + T(sb, wb): one pass with the stacked weight when the map allows it.
  Tensor T2(const Tensor& sa, const Tensor& sb, const std::string& key, const Tensor& wa, const Tensor& wb) {
    if (!maps.stackable) {
      Tensor out = T(sa, wa);
      axpy(out, T(sb, wb));
      return out;
    }
    const auto [outer, inner] = around_out(z.shape());
    const std::int64_t block = z.numel() / outer;
    Shape sh = z.shape();
    const int d = maps.out_dim < 0 ? static_cast<int>(sh.size()) + maps.out_dim : maps.out_dim;
    sh[d] *= 2;
    Tensor both = Tensor::empty(sh);
    float* dst = both.data<float>();
    const float *pa = sa.data<float>(), *pb = sb.data<float>();
    detail::parallel_for(outer, outer > 1 && z.numel() > detail::kParallelMin, [&](std::int64_t o) {
      std::memcpy(dst + 2 * o * block, pa + o * block, block * sizeof(float));
      std::memcpy(dst + (2 * o + 1) * block, pb + o * block, block * sizeof(float));
    });
    (void)inner;
    return T(both, stacked(key, wa, wb));
  }

  // zz (z's shape) += scale * v[k] at every element of output k, v holding one value per
  // output (the bias's layout), without materialising the broadcast.
  void add_per_output(Tensor& zz, const Tensor& v, float scale = 1.0f) const {
    const auto [outer, inner] = around_out(zz.shape());
    const std::int64_t O = outer * inner > 0 ? zz.numel() / (outer * inner) : 0;
    if (v.numel() != O || !v.is_contiguous() || v.dtype() != DType::F32 || !zz.is_contiguous()) {
      axpy(zz, broadcast_f32(v.view(maps.bias_view), zz.shape()), scale);
      return;
    }
    const float* vp = v.data<float>();
    float* a = zz.data<float>();
    detail::parallel_for2(outer, O, zz.numel() > detail::kParallelMin, [&](std::int64_t o, std::int64_t k) {
        const float add = scale * vp[k];
        float* row = a + (o * O + k) * inner;
        for (std::int64_t q = 0; q < inner; ++q) row[q] += add;
      });
  }

  // z += f(b) broadcast over z (nothing when there is no bias or it is dropped).
  template <class Fn>
  void add_bias(Tensor& zz, Fn f, bool use) const {
    if (!use || !b.defined()) return;
    add_per_output(zz, map1(b, f));
  }

  // s = R / stab(den); the Scaled variant groups the non-batch elements of each sample.
  Tensor divide(const Tensor& den, Stab stab, const Tensor& r) const {
    Tensor s = Tensor::empty(den.shape());
    const std::int64_t group = den.dim() > 1 ? den.numel() / std::max<std::int64_t>(den.size(0), 1) : den.numel();
    stabilized_divide(r.data<float>(), den.data<float>(), s.data<float>(), den.numel(), group, stab);
    return s;
  }

  // Zero / Epsilon: R_in = x * T(R / stab(z), W).
  Tensor epsilon(Stab stab, bool zero_bias) {
    Tensor zz = z;
    if (zero_bias && b.defined()) {
      zz = z.clone();
      add_per_output(zz, b, -1.0f);
    }
    return times(x, T(divide(zz, stab, R), w));
  }

  // z+ : positive contributions x+ w+ and x- w- (and b+).
  Tensor zplus(Stab stab, bool zero_bias) {
    // After a ReLU (x >= 0) x- is exactly 0: its terms are skipped, the result is the same.
    const bool has_neg = !nonnegative();
    const Tensor xp = has_neg ? map1(x, pos) : x, xn = has_neg ? map1(x, neg) : Tensor();
    Tensor zp = F(xp, w_pos());
    if (has_neg) axpy(zp, F(xn, w_neg()));
    add_bias(zp, pos, !zero_bias);
    const Tensor s = divide(zp, stab, R);
    Tensor out = times(xp, T(s, w_pos()));
    if (has_neg) add_times(out, xn, T(s, w_neg()));
    return out;
  }

  // Sums of the positive contributions x_j w_jk and of the negative ones (<= 0) per
  // output: one stacked pass with [W+; W-] per input sign.
  std::pair<Tensor, Tensor> signed_sums(const Tensor& xp, const Tensor& xn, bool has_neg) {
    auto [P, N] = F2(xp, "w+|w-", w_pos(), w_neg());
    if (has_neg) {
      auto [Nb, Pb] = F2(xn, "w+|w-", w_pos(), w_neg());  // x- W+ <= 0, x- W- >= 0
      axpy(P, Pb);
      axpy(N, Nb);
    }
    return {std::move(P), std::move(N)};
  }

  // R_j = sum_k [z_jk > 0] z_jk a_k + [z_jk < 0] z_jk b_k, one stacked transpose per sign.
  Tensor by_sign(const Tensor& a, const Tensor& bb, const Tensor& xp, const Tensor& xn, bool has_neg) {
    Tensor out = times(xp, T2(a, bb, "w+|w-", w_pos(), w_neg()));
    if (has_neg) add_times(out, xn, T2(bb, a, "w+|w-", w_pos(), w_neg()));
    return out;
  }

  Tensor alpha_beta(const AlphaBetaRule& r) {
    const Stab stab{r.epsilon, r.stabilizer};
    // After a ReLU (x >= 0) x- is exactly 0: its terms are skipped, the result is the same.
    const bool has_neg = !nonnegative();
    const Tensor xp = has_neg ? map1(x, pos) : x, xn = has_neg ? map1(x, neg) : Tensor();
    if (r.beta == 0.0) {
      Tensor zp = F(xp, w_pos());
      if (has_neg) axpy(zp, F(xn, w_neg()));
      add_bias(zp, pos, !r.zero_bias);
      const Tensor sp = divide(zp, stab, R);
      Tensor out = times(xp, T(sp, w_pos()));
      if (has_neg) add_times(out, xn, T(sp, w_neg()));
      if (r.alpha != 1.0) {
        const float al = static_cast<float>(r.alpha);
        out = map1(out, [al](float v) { return al * v; });
      }
      return out;
    }
    auto [zp, zn] = signed_sums(xp, xn, has_neg);
    add_bias(zp, pos, !r.zero_bias);
    add_bias(zn, neg, !r.zero_bias);
    // alpha * (positive contributions / z+) - beta * (negative contributions / z-).
    Tensor sp = divide(zp, stab, R), sn = divide(zn, stab, R);
    const float al = static_cast<float>(r.alpha), be = static_cast<float>(r.beta);
    sp = map1(sp, [al](float v) { return al * v; });
    sn = map1(sn, [be](float v) { return -be * v; });
    return by_sign(sp, sn, xp, xn, has_neg);
  }

  // Generalised gamma: outputs with z > 0 use (w up for x+, w down for x-), outputs with
  // z < 0 the other way round; outputs with z = 0 pass nothing.
  Tensor gamma(const GammaRule& r) {
    const Stab stab{r.epsilon, r.stabilizer};
    const float g = static_cast<float>(r.gamma);
    const std::string tag = std::to_string(r.gamma);
    // After a ReLU (x >= 0) x- is exactly 0: its terms are skipped, the result is the same.
    const bool has_neg = !nonnegative();
    const Tensor xp = has_neg ? map1(x, pos) : x, xn = has_neg ? map1(x, neg) : Tensor();
    auto add_gamma_bias = [&](Tensor& zz, bool up) {
      if (r.zero_bias || !b.defined()) return;
      add_per_output(zz, map1(b, [g, up](float v) { return v + g * (up ? pos(v) : neg(v)); }));
    };
    if (!has_neg && maps.stackable) {
      // x >= 0: with z0 = x W (the forward's z less the bias) and P = x W+,
      //   u = x (W + g W+) = z0 + g P,  v = x (W + g W-) = (1 + g) z0 - g P,
      // and T(s, W_up) + T(t, W_dn) = T(s + (1 + g) t, W) + g T(s - t, W+): one forward
      // pass and one stacked transpose instead of two of each.
      const Tensor P = F(x, w_pos());
      if (stab.kind != Stabilizer::Scaled) {
        // One fused pass: u, v, s, t and the stacked [A; B] the transpose reads.
        const auto [outer, inner] = around_out(z.shape());
        const std::int64_t O = z.numel() / (outer * inner);
        Shape sh = z.shape();
        sh[maps.out_dim < 0 ? sh.size() + maps.out_dim : maps.out_dim] *= 2;
        Tensor both = Tensor::empty(sh);
        const bool bias = b.defined() && !r.zero_bias;
        const Tensor bf = b.defined() ? b.contiguous() : Tensor();
        const float* bp = b.defined() ? bf.data<float>() : nullptr;
        const float *zp = z.data<float>(), *pp = P.data<float>(), *rp = R.data<float>();
        float* out = both.data<float>();
        // Each output row in pieces of kPiece: u, v and R split by the sign of z (plain
        // loops, vectorised), the two stabilised divisions (AVX2), then A and B. The same
        // operations per element as one scalar pass.
        constexpr std::int64_t kPiece = 512;
        detail::parallel_for2(outer, O, z.numel() > detail::kParallelMin, [&](std::int64_t o, std::int64_t k) {
            const float bk = bp ? bp[k] : 0.0f;
            const float bu = bias ? bk + g * pos(bk) : 0.0f, bd = bias ? bk + g * neg(bk) : 0.0f;
            const std::int64_t base = (o * O + k) * inner;
            float* A = out + (2 * o * O + k) * inner;
            float* B = A + O * inner;
            alignas(32) float u[kPiece], v[kPiece], rpos[kPiece], rneg[kPiece];
            for (std::int64_t q0 = 0; q0 < inner; q0 += kPiece) {
              const std::int64_t n = std::min(kPiece, inner - q0);
              const float *zq = zp + base + q0, *pq = pp + base + q0, *rq = rp + base + q0;
              for (std::int64_t q = 0; q < n; ++q) {
                const float zi = zq[q], z0 = zi - bk;
                u[q] = (z0 + g * pq[q]) + bu;
                v[q] = ((1.0f + g) * z0 - g * pq[q]) + bd;
                rpos[q] = zi > 0.0f ? rq[q] : 0.0f;
                rneg[q] = zi < 0.0f ? rq[q] : 0.0f;
              }
              detail::stabilized_divide_piece_in_place(rpos, u, n, stab);  // u <- s
              detail::stabilized_divide_piece_in_place(rneg, v, n, stab);  // v <- t
              float *Aq = A + q0, *Bq = B + q0;
              for (std::int64_t q = 0; q < n; ++q) {
                Aq[q] = u[q] + (1.0f + g) * v[q];
                Bq[q] = g * (u[q] - v[q]);
              }
            }
          });
        return times(x, T(both, stacked("w|w+", w, w_pos())));
      }
      Tensor z0 = z.clone();
      if (b.defined()) add_per_output(z0, b, -1.0f);
      Tensor u = Tensor::empty(z.shape()), v = Tensor::empty(z.shape());
      {
        const float *zp = z0.data<float>(), *pp = P.data<float>();
        float *up = u.data<float>(), *vp = v.data<float>();
        const std::int64_t n = z.numel();
        detail::parallel_for(n, n > detail::kParallelMin, [&](std::int64_t i) {
          up[i] = zp[i] + g * pp[i];
          vp[i] = (1.0f + g) * zp[i] - g * pp[i];
        });
      }
      add_gamma_bias(u, true);
      add_gamma_bias(v, false);
      // s = R [z > 0] / stab(u), t = R [z < 0] / stab(v); then A = s + (1 + g) t, B = g (s - t).
      const Tensor Rp = map2(R, z, [](float r0, float z1) { return z1 > 0.0f ? r0 : 0.0f; });
      const Tensor Rn = map2(R, z, [](float r0, float z1) { return z1 < 0.0f ? r0 : 0.0f; });
      const Tensor s = divide(u, stab, Rp), t = divide(v, stab, Rn);
      const Tensor A = map2(s, t, [g](float a, float c) { return a + (1.0f + g) * c; });
      const Tensor B = map2(s, t, [g](float a, float c) { return g * (a - c); });
      return times(x, T2(A, B, "w|w+", w, w_pos()));
    }
    const Tensor& w_up = cache.get("gamma-up:" + tag, [&] { return map1(w, [g](float v) { return v + g * pos(v); }); });
    const Tensor& w_dn = cache.get("gamma-dn:" + tag, [&] { return map1(w, [g](float v) { return v + g * neg(v); }); });
    // u = x+ w_up + x- w_dn, v = x+ w_dn + x- w_up: one stacked pass per input sign.
    auto [u, v] = F2(xp, "gamma-up|dn:" + tag, w_up, w_dn);
    if (has_neg) {
      auto [un, vn] = F2(xn, "gamma-dn|up:" + tag, w_dn, w_up);
      axpy(u, un);
      axpy(v, vn);
    }
    add_gamma_bias(u, true);
    add_gamma_bias(v, false);
    // R split by the sign of the forward z.
    const Tensor Rp = map2(R, z, [](float rr, float zz) { return zz > 0.0f ? rr : 0.0f; });
    const Tensor Rn = map2(R, z, [](float rr, float zz) { return zz < 0.0f ? rr : 0.0f; });
    const Tensor s = divide(u, stab, Rp), t = divide(v, stab, Rn);
    Tensor out = times(xp, T2(s, t, "gamma-up|dn:" + tag, w_up, w_dn));
    if (has_neg) add_times(out, xn, T2(s, t, "gamma-dn|up:" + tag, w_dn, w_up));
    return out;
  }

  // z^B: bounds broadcast along x's channel dimension.
  Tensor bound(const std::vector<double>& v) const {
    if (v.size() == 1) return Tensor::full(x.shape(), v[0]);
    const int cd = maps.channel_dim;
    if (x.dim() <= cd || x.size(cd) != static_cast<std::int64_t>(v.size()))
      throw ShapeError("zbox: " + std::to_string(v.size()) + " per-channel bounds for an input of shape " +
                       x.str_shape() + " (channels on dimension " + std::to_string(cd) + ")");
    Shape vs(x.dim(), 1);
    vs[cd] = static_cast<std::int64_t>(v.size());
    return broadcast_f32(Tensor::from_vector(std::span<const double>(v), vs).to(DType::F32), x.shape());
  }

  Tensor zbox(const ZBoxRule& r) {
    const Tensor lo = bound(r.low), hi = bound(r.high);
    Tensor d = F(x, w);
    axpy(d, F(lo, w_pos()), -1.0f);
    axpy(d, F(hi, w_neg()), -1.0f);
    const Tensor s = divide(d, {r.epsilon, r.stabilizer}, R);
    Tensor out = times(x, T(s, w));
    add_times(out, lo, T(s, w_pos()), -1.0f);
    add_times(out, hi, T(s, w_neg()), -1.0f);
    return out;
  }

  // w^2 (and flat: every weight 1, no bias): R_in = T(R / stab(F(1, W') + b'), W').
  Tensor by_weights(const Tensor& ww, Stab stab, bool with_bias) {
    Tensor den = F(Tensor::full(x.shape(), 1.0), ww);
    add_bias(den, [](float v) { return v * v; }, with_bias);
    return T(divide(den, stab, R), ww);
  }

  // Flat: every weight 1, no bias. Where the map reads its output count from the weight
  // (stackable: a linear layer, an ungrouped convolution) every output reads the same
  // inputs with the same weights, so one output of ones gives the denominator of all of
  // them, and T(s, ones) = T(Σ_o s_o, ones) with that one output: O times fewer products
  // than running the O-output weight of ones. The Scaled stabiliser, whose epsilon comes
  // from all denominators, and grouped convolutions take the general path.
  Tensor flat(Stab stab) {
    if (!maps.stackable || stab.kind == Stabilizer::Scaled)
      return by_weights(weight("ones", [](float) { return 1.0f; }), stab, false);
    Shape one_out = w.shape();
    one_out[0] = 1;
    const Tensor ones = Tensor::full(one_out, 1.0);
    const Tensor den = F(Tensor::full(x.shape(), 1.0), ones);  // z's shape with one output
    const auto [outer, inner] = around_out(z.shape());
    const std::int64_t O = outer * inner > 0 ? z.numel() / (outer * inner) : 0;
    // S = Σ_o R_o / stab(den), the outputs added in order, over pieces of the inner extent.
    Tensor S = Tensor::empty(den.shape());
    const float* r = R.data<float>();
    const float* d = den.data<float>();
    float* sp = S.data<float>();
    constexpr std::int64_t kPiece = 2048;
    const std::int64_t pieces = (inner + kPiece - 1) / kPiece;
    parallel_for2(outer, pieces, z.numel() > kParallelMin, [&](std::int64_t n, std::int64_t piece) {
      const std::int64_t lo = piece * kPiece, len = std::min(kPiece, inner - lo);
      alignas(32) float q[kPiece];
      float* acc = sp + n * inner + lo;
      std::fill(acc, acc + len, 0.0f);
      for (std::int64_t o = 0; o < O; ++o) {
        stabilized_divide_piece(r + (n * O + o) * inner + lo, d + n * inner + lo, q, len, stab);
        for (std::int64_t i = 0; i < len; ++i) acc[i] += q[i];
      }
    });
    return T(S, ones);
  }

  Tensor backtrace(const BacktraceRule& r, const Bounds& bounds) {
    if (r.mode != BacktraceRule::Mode::Default)
      throw UnsupportedError("backtrace-contrastive moves two maps together: run it with propagate_contrastive "
                             "(the CLI's --composite backtrace-contrastive), not propagate");
    if (r.gate && bounds) return backtrace_gated(*bounds);
    // R_j = sum_k R_k |x_j w_jk| / (P_k + N_k + |b_k|): two GEMMs with |x| and |W|.
    const Tensor ax = map1(x, [](float v) { return std::fabs(v); });
    const Tensor& aw = weight("|w|", [](float v) { return std::fabs(v); });
    Tensor den = F(ax, aw);
    add_bias(den, [](float v) { return std::fabs(v); }, true);
    return times(ax, T(divide(den, {0.0, Stabilizer::Sign}, R), aw));
  }

  // R_j = sum_k [z_jk > 0] z_jk sP_k + [z_jk < 0] |z_jk| sN_k.
  Tensor spread(const Tensor& sP, const Tensor& sN, const Tensor& xp, const Tensor& xn, bool has_neg) {
    return by_sign(sP, map1(sN, [](float v) { return -v; }), xp, xn, has_neg);
  }

  // |b| broadcast onto z (zeros without a bias).
  Tensor abs_bias() const {
    if (!b.defined()) return Tensor::zeros(z.shape());
    return broadcast_f32(map1(b, [](float v) { return std::fabs(v); }).view(maps.bias_view), z.shape());
  }

  // Saturation gate: with t_k = z_k, P_k := 0 when t_k < l and N_k := 0 when t_k > u;
  // the kept side(s) share R_k by |z_jk| / (kept sides + |b_k|).
  Tensor backtrace_gated(const std::pair<double, double>& lu) {
    const bool has_neg = !nonnegative();
    const Tensor xp = has_neg ? map1(x, pos) : x, xn = has_neg ? map1(x, neg) : Tensor();
    const auto [P, N] = signed_sums(xp, xn, has_neg);
    const Tensor ab = abs_bias();
    Tensor sP = Tensor::empty(z.shape()), sN = Tensor::empty(z.shape());
    const float *p = P.data<float>(), *q = N.data<float>(), *t = z.data<float>(), *r = R.data<float>(),
                *bb = ab.data<float>();
    float *op = sP.data<float>(), *on = sN.data<float>();
    for (std::int64_t k = 0; k < z.numel(); ++k) {
      const bool keep_p = !(t[k] < lu.first), keep_n = !(t[k] > lu.second);
      const double den = (keep_p ? p[k] : 0.0) + (keep_n ? -static_cast<double>(q[k]) : 0.0) + bb[k];
      const float s = den == 0.0 ? 0.0f : static_cast<float>(r[k] / den);
      op[k] = keep_p ? s : 0.0f;
      on[k] = keep_n ? s : 0.0f;
    }
    return spread(sP, sN, xp, xn, has_neg);
  }

  // Contrastive mode (RULES.md): both maps spread by |z_jk| within a side; when both
  // signs contribute, the winning side (positive when z_k > 0) takes max(R+, R-) and the
  // other side min(R+, R-), R+ always landing in the positive map. No bias sink.
  std::pair<Tensor, Tensor> backtrace_contrastive(const Tensor& Rn) {
    const bool has_neg = !nonnegative();
    const Tensor xp = has_neg ? map1(x, pos) : x, xn = has_neg ? map1(x, neg) : Tensor();
    const auto [P, N] = signed_sums(xp, xn, has_neg);
    Tensor pp = Tensor::zeros(z.shape()), pn = Tensor::zeros(z.shape());  // positive map from P / N side
    Tensor np = Tensor::zeros(z.shape()), nn = Tensor::zeros(z.shape());  // negative map from P / N side
    const float *p = P.data<float>(), *q = N.data<float>(), *t = z.data<float>(), *rp = R.data<float>(),
                *rn = Rn.data<float>();
    float *a = pp.data<float>(), *b2 = pn.data<float>(), *c = np.data<float>(), *d = nn.data<float>();
    for (std::int64_t k = 0; k < z.numel(); ++k) {
      const ContrastiveShares sh = contrastive_shares(p[k], -q[k], t[k], rp[k], rn[k]);
      a[k] = sh.pos_p;
      b2[k] = sh.pos_n;
      c[k] = sh.neg_p;
      d[k] = sh.neg_n;
    }
    return {spread(pp, pn, xp, xn, has_neg), spread(np, nn, xp, xn, has_neg)};
  }
};

}  // namespace

std::optional<Tensor> linear_type_relevance(const Rule& rule, const LinearMaps& maps, const Tensor& x,
                                            const Tensor& w, const Tensor& b, const Tensor& z, const Tensor& R,
                                            WeightCache& cache, const RelevanceContext& ctx) {
#if RELPROP_HAVE_CUDA
  if (on_cuda(x)) return cuda::linear_type_relevance(rule, maps, x, w, b, z, R, cache, ctx);
#endif
  Skeleton k{maps, x, w, b, z, R, cache};
  return std::visit(
      [&](const auto& r) -> std::optional<Tensor> {
        using T = std::decay_t<decltype(r)>;
        if constexpr (std::is_same_v<T, ZeroRule>) return k.epsilon({0.0, Stabilizer::Sign}, r.zero_bias);
        else if constexpr (std::is_same_v<T, EpsilonRule>) return k.epsilon({r.epsilon, r.stabilizer}, r.zero_bias);
        else if constexpr (std::is_same_v<T, ZPlusRule>) return k.zplus({r.epsilon, r.stabilizer}, r.zero_bias);
        else if constexpr (std::is_same_v<T, AlphaBetaRule>) return k.alpha_beta(r);
        else if constexpr (std::is_same_v<T, GammaRule>) return k.gamma(r);
        else if constexpr (std::is_same_v<T, ZBoxRule>) return k.zbox(r);
        else if constexpr (std::is_same_v<T, WSquareRule>)
          return k.by_weights(k.weight("w^2", [](float v) { return v * v; }), {r.epsilon, r.stabilizer}, !r.zero_bias);
        else if constexpr (std::is_same_v<T, FlatRule>) return k.flat({r.epsilon, r.stabilizer});
        else if constexpr (std::is_same_v<T, GradientRule>) return k.T(R, w);
        else if constexpr (std::is_same_v<T, BacktraceRule>) return k.backtrace(r, ctx.activation_bounds);
        else return std::nullopt;  // Pass, Norm: not linear-type rules (the op decides)
      },
      rule);
}

}  // namespace relprop::detail

namespace relprop::detail {

std::optional<std::pair<Tensor, Tensor>> linear_type_contrastive(const Rule& rule, const LinearMaps& maps,
                                                                 const Tensor& x, const Tensor& w, const Tensor& b,
                                                                 const Tensor& z, const Tensor& Rp, const Tensor& Rn,
                                                                 WeightCache& cache) {
  const auto* bt = std::get_if<BacktraceRule>(&rule);
  if (!bt || bt->mode != BacktraceRule::Mode::Contrastive) return std::nullopt;
  RELPROP_ASSERT(Rp.shape() == z.shape() && Rn.shape() == z.shape(), "contrastive maps must have z's shape");
#if RELPROP_HAVE_CUDA
  if (on_cuda(x)) return cuda::linear_type_contrastive(rule, maps, x, w, b, z, Rp, Rn, cache);
#endif
  Skeleton k{maps, x, w, b, z, Rp, cache};
  return k.backtrace_contrastive(Rn);
}

}  // namespace relprop::detail
