// The CPU policy of the linear-type LRP skeleton (ops/linear_type_skeleton.hpp): memory
// on the host, element-wise passes as OpenMP loops (parallel_for), the stabilised division
// of ops/common.cpp (AVX2), and the fast paths that read x on the host: the x- terms
// skipped after a ReLU, gamma's fused pass for x >= 0, flat with one output of ones.

#include "relprop/ops/linear_type.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "relprop/config.hpp"
#include "relprop/ops/common.hpp"
#include "relprop/ops/linear_type_skeleton.hpp"
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

struct CpuPolicy {
  static constexpr Device kDevice = Device::CPU;
  static constexpr bool kFusedGamma = true;
  static constexpr bool kFlatOneOutput = true;
  // Pieces of the element-wise loops: whole vectors, each on one thread.
  static constexpr std::int64_t kPiece = 4096;

  static float* ptr(const Tensor& t) { return t.data<float>(); }

  // f(i) for i < n. Each piece works on its own copy of f, whose members then stay in
  // registers (the stores through its pointers could otherwise alias them).
  template <class F>
  static void each(std::int64_t n, const F& f) {
    parallel_for((n + kPiece - 1) / kPiece, n > kParallelMin, [&](std::int64_t piece) {
      const F g = f;
      const std::int64_t hi = std::min(n, (piece + 1) * kPiece);
      for (std::int64_t i = piece * kPiece; i < hi; ++i) g(i);
    });
  }

  // f(i, row) for row < rows and i in [row len, (row + 1) len).
  template <class F>
  static void rows(std::int64_t rows, std::int64_t len, const F& f) {
    const std::int64_t pieces = (len + kPiece - 1) / kPiece;
    parallel_for2(rows, pieces, rows * len > kParallelMin, [&](std::int64_t r, std::int64_t piece) {
      const F g = f;
      const std::int64_t lo = r * len + piece * kPiece, hi = r * len + std::min(len, (piece + 1) * kPiece);
      for (std::int64_t i = lo; i < hi; ++i) g(i, r);
    });
  }

  static void copy(float* dst, const float* src, std::int64_t n) {
    std::memcpy(dst, src, static_cast<std::size_t>(n) * sizeof(float));
  }

  static Tensor divide(const Tensor& den, const Tensor& r, std::int64_t group, Stab stab) {
    Tensor s = Tensor::empty(den.shape());
    stabilized_divide(r.data<float>(), den.data<float>(), s.data<float>(), den.numel(), group, stab);
    return s;
  }

  // stabilized_divide's Scaled epsilons, one per row.
  static Tensor row_eps(const Tensor& den, std::int64_t group, double eps) {
    const std::int64_t n = den.numel(), rows = group > 0 ? n / group : 0;
    Tensor e = Tensor::empty({std::max<std::int64_t>(rows, 1)});
    const float* z = den.data<float>();
    float* o = e.data<float>();
    parallel_for(rows, n > kParallelMin, [&](std::int64_t g) { o[g] = scaled_epsilon(z + g * group, group, eps); });
    return e;
  }

  // After a ReLU every input is >= 0: x- = 0 and the skeleton drops every term that
  // multiplies it. In blocks whose inner loop has no early exit, so it vectorises.
  static bool nonnegative(const Tensor& x) { return nonnegative(x.data<float>(), x.numel()); }
  static bool nonnegative(const float* p, std::int64_t n) {
    for (std::int64_t lo = 0; lo < n; lo += 8192) {
      const std::int64_t hi = std::min(n, lo + 8192);
      int negative = 0;
      for (std::int64_t i = lo; i < hi; ++i) negative |= p[i] < 0.0f ? 1 : 0;
      if (negative) return false;
    }
    return true;
  }

  // Samples of a batch that differ in nonnegative(): the sign rules' fast paths would
  // give them other bits than they get alone.
  static bool mixed_signs(const Tensor& x) {
    if (x.dim() < 2 || x.size(0) < 2) return false;
    const Tensor c = x.contiguous();
    const std::int64_t N = c.size(0), per = c.numel() / N;
    const bool first = nonnegative(c.data<float>(), per);
    for (std::int64_t n = 1; n < N; ++n)
      if (nonnegative(c.data<float>() + n * per, per) != first) return true;
    return false;
  }

  // gamma for x >= 0, Sign / Clip: u, v, s, t and the stacked [A; B] in one pass. Each
  // output row in pieces of kGammaPiece: u, v and R split by the sign of z (plain loops,
  // vectorised), the two stabilised divisions (AVX2), then A and B; the same operations
  // per element as the skeleton's general form.
  static void gamma_fused(const GammaFused& a) {
    constexpr std::int64_t kGammaPiece = 512;
    const std::int64_t O = a.L.O, inner = a.L.inner;
    const float g = a.g;
    parallel_for2(a.L.outer, O, a.L.n() > kParallelMin, [&](std::int64_t o, std::int64_t k) {
      const float bk = a.b ? a.b[k] : 0.0f;
      const float bu = a.bias ? lt::GammaUp{g}(bk) : 0.0f, bd = a.bias ? lt::GammaDn{g}(bk) : 0.0f;
      const std::int64_t base = (o * O + k) * inner;
      float* A = a.both + (2 * o * O + k) * inner;
      float* B = A + O * inner;
      alignas(32) float u[kGammaPiece], v[kGammaPiece], rpos[kGammaPiece], rneg[kGammaPiece];
      for (std::int64_t q0 = 0; q0 < inner; q0 += kGammaPiece) {
        const std::int64_t n = std::min(kGammaPiece, inner - q0);
        const float *zq = a.z + base + q0, *pq = a.P + base + q0, *rq = a.R + base + q0;
        for (std::int64_t q = 0; q < n; ++q) {
          const float zi = zq[q], z0 = zi - bk;
          u[q] = lt::gamma_u(z0, pq[q], g) + bu;
          v[q] = lt::gamma_v(z0, pq[q], g) + bd;
          rpos[q] = zi > 0.0f ? rq[q] : 0.0f;
          rneg[q] = zi < 0.0f ? rq[q] : 0.0f;
        }
        stabilized_divide_piece_in_place(rpos, u, n, a.stab);  // u <- s
        stabilized_divide_piece_in_place(rneg, v, n, a.stab);  // v <- t
        float *Aq = A + q0, *Bq = B + q0;
        for (std::int64_t q = 0; q < n; ++q) {
          Aq[q] = lt::gamma_a(u[q], v[q], g);
          Bq[q] = lt::gamma_b(u[q], v[q], g);
        }
      }
    });
  }

  // flat with one output of ones: S = sum_o R_o / stab(den), the outputs added in order,
  // over pieces of the inner extent. den: z's shape with one output; S: den's shape.
  static Tensor flat_sums(const Tensor& R, const Tensor& den, OutLayout L, Stab stab) {
    Tensor S = Tensor::empty(den.shape());
    const float* r = R.data<float>();
    const float* d = den.data<float>();
    float* sp = S.data<float>();
    const std::int64_t O = L.O, inner = L.inner;
    constexpr std::int64_t kFlatPiece = 2048;
    const std::int64_t pieces = (inner + kFlatPiece - 1) / kFlatPiece;
    parallel_for2(L.outer, pieces, L.n() > kParallelMin, [&](std::int64_t n, std::int64_t piece) {
      const std::int64_t lo = piece * kFlatPiece, len = std::min(kFlatPiece, inner - lo);
      alignas(32) float q[kFlatPiece];
      float* acc = sp + n * inner + lo;
      std::fill(acc, acc + len, 0.0f);
      for (std::int64_t o = 0; o < O; ++o) {
        stabilized_divide_piece(r + (n * O + o) * inner + lo, d + n * inner + lo, q, len, stab);
        for (std::int64_t i = 0; i < len; ++i) acc[i] += q[i];
      }
    });
    return S;
  }
};

}  // namespace

template class LinearTypeSkeleton<CpuPolicy>;

std::optional<Tensor> linear_type_relevance(const Rule& rule, const LinearMaps& maps, const Tensor& x,
                                            const Tensor& w, const Tensor& b, const Tensor& z, const Tensor& R,
                                            WeightCache& cache, const RelevanceContext& ctx) {
#if RELPROP_HAVE_CUDA
  if (on_cuda(x)) return cuda::linear_type_relevance(rule, maps, x, w, b, z, R, cache, ctx);
#endif
  return linear_type_run<CpuPolicy>(rule, maps, x, w, b, z, R, cache, ctx);
}

std::optional<std::pair<Tensor, Tensor>> linear_type_contrastive(const Rule& rule, const LinearMaps& maps,
                                                                 const Tensor& x, const Tensor& w, const Tensor& b,
                                                                 const Tensor& z, const Tensor& Rp, const Tensor& Rn,
                                                                 WeightCache& cache) {
  const auto* bt = std::get_if<BacktraceRule>(&rule);
  if (!bt || bt->mode != BacktraceRule::Mode::Contrastive) return std::nullopt;
  RELPROP_ASSERT(Rp.shape() == z.shape() && Rn.shape() == z.shape(), "contrastive maps must have z's shape");
#if RELPROP_HAVE_CUDA
  if (on_cuda(x)) return cuda::linear_type_contrastive(maps, x, w, b, z, Rp, Rn, cache);
#endif
  return linear_type_run_contrastive<CpuPolicy>(maps, x, w, b, z, Rp, Rn, cache);
}

}  // namespace relprop::detail
