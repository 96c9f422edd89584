// GPU twins of ops/elementwise.cpp (cuda/elementwise.hpp): add / sub / mul forward and
// relevance, both operands read through broadcast strides. Shapes: a, b broadcastable to
// y (ys); R and every per-element result at ys (contiguous), summed back to the operand
// shapes with cuda::reduce_to_shape.

#include <vector>

#include "relprop/cuda/common.cuh"
#include "relprop/cuda/elementwise.hpp"
#include "relprop/cuda/primitives.hpp"
#include "relprop/cuda/stabilize.hpp"

namespace relprop::cuda {

namespace {

constexpr int kMaxDims = 12;

// y's index space after merging dimensions that both operands walk contiguously (or
// both broadcast): element i of y (row-major over `size`) reads a[sum c_d sa_d] and
// b[sum c_d sb_d]. `plain`: both offsets are i (no broadcasting at all).
struct Bcast {
  int rank = 0;
  bool plain = false;
  std::int64_t size[kMaxDims];
  std::int64_t sa[kMaxDims];  // a's strides in elements, 0 along broadcast dimensions
  std::int64_t sb[kMaxDims];  // b's strides
};

// Strides of a contiguous tensor of shape `s` read at shape ys (NumPy: right-aligned, 0
// where broadcast).
std::vector<std::int64_t> strides_at(const Shape& s, const Shape& ys) {
  const std::size_t r = ys.size(), lead = r - s.size();
  const Shape st = contiguous_strides(s);
  std::vector<std::int64_t> out(r, 0);
  for (std::size_t d = lead; d < r; ++d) out[d] = s[d - lead] == 1 ? 0 : st[d - lead];
  return out;
}

Bcast plan(const Shape& as, const Shape& bs, const Shape& ys, const char* op) {
  RELPROP_ASSERT(as.size() <= ys.size() && bs.size() <= ys.size(), "cuda binary op: operand rank above y's");
  const std::vector<std::int64_t> sa = strides_at(as, ys), sb = strides_at(bs, ys);
  struct Dim {
    std::int64_t size, sa, sb;
  };
  std::vector<Dim> dims;
  for (std::size_t d = 0; d < ys.size(); ++d) {
    if (ys[d] == 1) continue;
    const Dim cur{ys[d], sa[d], sb[d]};
    if (!dims.empty() && dims.back().sa == cur.sa * cur.size && dims.back().sb == cur.sb * cur.size) {
      dims.back() = Dim{dims.back().size * cur.size, cur.sa, cur.sb};
    } else {
      dims.push_back(cur);
    }
  }
  if (dims.size() > static_cast<std::size_t>(kMaxDims))
    throw UnsupportedError(std::string(op) + " on the GPU: more than 12 dimensions after merging " +
                           shape_str(as) + " and " + shape_str(bs));
  Bcast p;
  p.rank = static_cast<int>(dims.size());
  for (int d = 0; d < p.rank; ++d) {
    p.size[d] = dims[d].size;
    p.sa[d] = dims[d].sa;
    p.sb[d] = dims[d].sb;
  }
  p.plain = p.rank == 0 || (p.rank == 1 && p.sa[0] == 1 && p.sb[0] == 1);
  return p;
}

// f(i, oa, ob) for every element i of y, oa / ob the offsets it reads in a / b.
template <bool Plain, class F>
__global__ void bcast_kernel(Bcast p, std::int64_t n, F f) {
  const std::int64_t step = static_cast<std::int64_t>(blockDim.x) * gridDim.x;
  for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += step) {
    std::int64_t oa = i, ob = i;
    if constexpr (!Plain) {
      oa = ob = 0;
      std::int64_t q = i;
      for (int d = p.rank - 1; d >= 0; --d) {
        const std::int64_t next = q / p.size[d], c = q - next * p.size[d];
        oa += c * p.sa[d];
        ob += c * p.sb[d];
        q = next;
      }
    }
    f(i, oa, ob);
  }
}

template <class F>
void for_each(const Bcast& p, std::int64_t n, F f) {
  if (n <= 0) return;
  if (p.plain) bcast_kernel<true><<<blocks_for(n), 256, 0, stream()>>>(p, n, f);
  else bcast_kernel<false><<<blocks_for(n), 256, 0, stream()>>>(p, n, f);
  RELPROP_CUDA_CHECK(cudaGetLastError());
}

const char* name_of(BinKind k) { return k == BinKind::Add ? "add" : k == BinKind::Sub ? "sub" : "mul"; }

// The callers pass detail::as_f32 results of GPU tensors.
void check_f32_cuda(const Tensor& t) {
  RELPROP_ASSERT(t.defined() && t.device() == Device::CUDA && t.dtype() == DType::F32 && t.is_contiguous(),
                 "cuda binary ops: tensors must be contiguous float32 on the GPU");
}


// The CPU's contrastive shares, the same function (host and device).
using Shares = detail::ContrastiveShares;
using detail::contrastive_shares;

// A contribution c's share of both maps (the CPU's `share`).
__device__ __forceinline__ void share(float c, const Shares& s, float* pos, float* neg) {
  if (c > 0.0f) {
    *pos = c * s.pos_p;
    *neg = c * s.neg_p;
  } else if (c < 0.0f) {
    *pos = -c * s.pos_n;
    *neg = -c * s.neg_n;
  } else {
    *pos = *neg = 0.0f;
  }
}

// A per-element result at ys when wanted, else an undefined tensor (its pointer nullptr).
Tensor maybe_empty(bool want, const Shape& ys) { return want ? empty(ys) : Tensor(); }
float* maybe_ptr(const Tensor& t) { return t.defined() ? ptr<float>(t) : nullptr; }
Tensor reduced(const Tensor& t, const Shape& target) { return t.defined() ? reduce_to_shape(t, target) : Tensor(); }

}  // namespace

Tensor binary_forward(BinKind kind, const Tensor& a, const Tensor& b, const Shape& ys) {
  check_f32_cuda(a);
  check_f32_cuda(b);
  const Bcast p = plan(a.shape(), b.shape(), ys, name_of(kind));
  Tensor y = empty(ys);
  const std::int64_t n = y.numel();
  const float* ap = ptr<float>(a);
  const float* bp = ptr<float>(b);
  float* yp = ptr<float>(y);
  switch (kind) {
    case BinKind::Add:
      for_each(p, n, [=] __device__(std::int64_t i, std::int64_t oa, std::int64_t ob) { yp[i] = ap[oa] + bp[ob]; });
      break;
    case BinKind::Sub:
      for_each(p, n, [=] __device__(std::int64_t i, std::int64_t oa, std::int64_t ob) { yp[i] = ap[oa] - bp[ob]; });
      break;
    case BinKind::Mul:
      for_each(p, n, [=] __device__(std::int64_t i, std::int64_t oa, std::int64_t ob) { yp[i] = ap[oa] * bp[ob]; });
      break;
  }
  return y;
}

std::pair<Tensor, Tensor> binary_relevance(BinKind kind, const BinarySplit& split, const Tensor& R, const Tensor& a,
                                           const Tensor& b, bool need_a, bool need_b) {
  check_f32_cuda(R);
  check_f32_cuda(a);
  check_f32_cuda(b);
  const Shape& ys = R.shape();
  const Bcast p = plan(a.shape(), b.shape(), ys, name_of(kind));
  Bcast flat;  // for the splits that read R only (contiguous at ys): no offsets to compute
  flat.plain = true;
  const std::int64_t n = R.numel();
  const Tensor ra = maybe_empty(need_a, ys), rb = maybe_empty(need_b, ys);
  float* rap = maybe_ptr(ra);  // R_a at ys: (n,), nullptr when not needed
  float* rbp = maybe_ptr(rb);  // R_b at ys
  const float* r = ptr<float>(R);
  const float* ap = ptr<float>(a);
  const float* bp = ptr<float>(b);
  // Sub is add of a and -b: the second operand enters with this sign.
  const float sign_b = kind == BinKind::Sub ? -1.0f : 1.0f;
  switch (split.kind) {
    case BinarySplit::Kind::Gradient:
      if (kind == BinKind::Mul) {
        for_each(p, n, [=] __device__(std::int64_t i, std::int64_t oa, std::int64_t ob) {
          if (rap) rap[i] = r[i] * bp[ob];
          if (rbp) rbp[i] = r[i] * ap[oa];
        });
      } else {
        for_each(flat, n, [=] __device__(std::int64_t i, std::int64_t, std::int64_t) {
          if (rap) rap[i] = r[i];
          if (rbp) rbp[i] = sign_b * r[i];
        });
      }
      break;
    case BinarySplit::Kind::Fixed: {
      const float fa = split.fa;
      const bool rest = split.rest_to_b;
      // R_a rounded before R_b = R - R_a, as the CPU stores it (no fused multiply-add).
      for_each(flat, n, [=] __device__(std::int64_t i, std::int64_t, std::int64_t) {
        const float x = __fmul_rn(fa, r[i]);
        if (rap) rap[i] = x;
        if (rbp) rbp[i] = rest ? r[i] - x : 0.0f;
      });
      break;
    }
    case BinarySplit::Kind::Norm: {
      if (split.stab.kind == Stabilizer::Scaled) {
        // The Scaled epsilon needs each batch row's mean square of z = a +- b first.
        Tensor z = empty(ys);
        float* zp = ptr<float>(z);
        for_each(p, n, [=] __device__(std::int64_t i, std::int64_t oa, std::int64_t ob) {
          zp[i] = ap[oa] + sign_b * bp[ob];
        });
        const Tensor s = stabilized_divide(R, z, ys.empty() || ys[0] == 0 ? n : n / ys[0], split.stab);
        const float* sp = ptr<float>(s);
        for_each(p, n, [=] __device__(std::int64_t i, std::int64_t oa, std::int64_t ob) {
          if (rap) rap[i] = ap[oa] * sp[i];
          if (rbp) rbp[i] = sign_b * bp[ob] * sp[i];
        });
      } else {
        // One pass: z, s = R / stab(z), both shares (z recomputed in the forward's order).
        const float e = static_cast<float>(split.stab.epsilon);
        const bool clip = split.stab.kind == Stabilizer::Clip;
        for_each(p, n, [=] __device__(std::int64_t i, std::int64_t oa, std::int64_t ob) {
          const float av = ap[oa], cb = sign_b * bp[ob];
          const float s = detail::stab_divide(r[i], av + cb, e, clip);
          if (rap) rap[i] = av * s;
          if (rbp) rbp[i] = cb * s;
        });
      }
      break;
    }
    case BinarySplit::Kind::Backtrace: {
      const bool equal = split.equal_split;
      for_each(p, n, [=] __device__(std::int64_t i, std::int64_t oa, std::int64_t ob) {
        const float wa = fabsf(ap[oa]), wb = fabsf(bp[ob]), den = wa + wb;
        const float fa = (equal || den == 0.0f) ? 0.5f : wa / den;
        const float x = __fmul_rn(r[i], fa);
        if (rap) rap[i] = x;
        if (rbp) rbp[i] = r[i] - x;
      });
      break;
    }
  }
  return {reduced(ra, a.shape()), reduced(rb, b.shape())};
}

BinaryContrastive binary_contrastive(BinKind kind, const Tensor& Rp, const Tensor& Rn, const Tensor& a,
                                     const Tensor& b, bool need_a, bool need_b) {
  check_f32_cuda(Rp);
  check_f32_cuda(Rn);
  check_f32_cuda(a);
  check_f32_cuda(b);
  RELPROP_ASSERT(Rp.shape() == Rn.shape(), "cuda::binary_contrastive: the two maps differ in shape");
  const Shape& ys = Rp.shape();
  const Bcast p = plan(a.shape(), b.shape(), ys, name_of(kind));
  const std::int64_t n = Rp.numel();
  const Tensor pa = maybe_empty(need_a, ys), na = maybe_empty(need_a, ys);
  const Tensor pb = maybe_empty(need_b, ys), nb = maybe_empty(need_b, ys);
  float* pap = maybe_ptr(pa);  // at ys: (n,) each, nullptr when not needed
  float* nap = maybe_ptr(na);
  float* pbp = maybe_ptr(pb);
  float* nbp = maybe_ptr(nb);
  const float* rp = ptr<float>(Rp);
  const float* rn = ptr<float>(Rn);
  const float* ap = ptr<float>(a);
  const float* bp = ptr<float>(b);
  const float sign_b = kind == BinKind::Sub ? -1.0f : 1.0f;
  for_each(p, n, [=] __device__(std::int64_t i, std::int64_t oa, std::int64_t ob) {
    const float ca = ap[oa], cb = sign_b * bp[ob];
    const float P = (ca > 0.0f ? ca : 0.0f) + (cb > 0.0f ? cb : 0.0f);
    const float N = (ca < 0.0f ? -ca : 0.0f) + (cb < 0.0f ? -cb : 0.0f);
    const Shares s = contrastive_shares(P, N, ca + cb, rp[i], rn[i]);
    float pos, neg;
    if (pap) {
      share(ca, s, &pos, &neg);
      pap[i] = pos;
      nap[i] = neg;
    }
    if (pbp) {
      share(cb, s, &pos, &neg);
      pbp[i] = pos;
      nbp[i] = neg;
    }
  });
  return {reduced(pa, a.shape()), reduced(na, a.shape()), reduced(pb, b.shape()), reduced(nb, b.shape())};
}

}  // namespace relprop::cuda
