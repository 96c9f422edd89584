#pragma once
// The element-wise activations' f and f', written once for every evaluator: each body is
// a template on a small math policy M (exp, expm1, erf, tanh) and on the type of x, so
// that one body serves
//   - the CPU's scalar loop (StdMath below: the float overloads of <cmath>),
//   - the CPU's vectorised forward (ops/activation.cpp's EigenMath: x an Eigen array
//     expression, the functions Eigen's packet versions; the transcendental kinds only),
//   - the GPU kernels (cuda/activation.cu's CudaMath: expf, erff, ...).
// Kinks follow PyTorch (ReLU'(0) = 0); max / min are written as the ternaries std::max /
// std::min are, so NaN and -0 go the same way everywhere.

#include <cmath>
#include <type_traits>

#include "relprop/ops/host_device.hpp"

namespace relprop::detail {

// The element-wise activation kinds (relu, leaky_relu, relu6, elu, gelu (erf / tanh
// approximation), silu, sigmoid, tanh, hardswish).
enum class Act { Relu, LeakyRelu, Relu6, Elu, Gelu, GeluTanh, Silu, Sigmoid, Tanh, Hardswish };

// Kinds whose f is a formula of exp / erf / tanh alone, without a branch: the ones an
// array evaluator (Eigen) can take.
constexpr bool act_branch_free(Act k) {
  return k == Act::Gelu || k == Act::GeluTanh || k == Act::Silu || k == Act::Sigmoid || k == Act::Tanh;
}

// Calls fn(std::integral_constant<Act, K>{}) for the runtime kind, so that loops and
// kernels are compiled once per activation instead of switching per element.
template <class Fn>
void with_act(Act kind, Fn&& fn) {
  switch (kind) {
    case Act::Relu: return fn(std::integral_constant<Act, Act::Relu>{});
    case Act::LeakyRelu: return fn(std::integral_constant<Act, Act::LeakyRelu>{});
    case Act::Relu6: return fn(std::integral_constant<Act, Act::Relu6>{});
    case Act::Elu: return fn(std::integral_constant<Act, Act::Elu>{});
    case Act::Gelu: return fn(std::integral_constant<Act, Act::Gelu>{});
    case Act::GeluTanh: return fn(std::integral_constant<Act, Act::GeluTanh>{});
    case Act::Silu: return fn(std::integral_constant<Act, Act::Silu>{});
    case Act::Sigmoid: return fn(std::integral_constant<Act, Act::Sigmoid>{});
    case Act::Tanh: return fn(std::integral_constant<Act, Act::Tanh>{});
    case Act::Hardswish: return fn(std::integral_constant<Act, Act::Hardswish>{});
  }
}

// Scalar math on the host.
struct StdMath {
  static float exp(float x) { return std::exp(x); }
  static float expm1(float x) { return std::expm1(x); }
  static float erf(float x) { return std::erf(x); }
  static float tanh(float x) { return std::tanh(x); }
};

// f(x). `a`: LeakyReLU's slope, ELU's alpha (unused by the others).
template <Act K, class M, class T>
RELPROP_HOST_DEVICE inline auto act_f(const T& x, float a) {
  if constexpr (K == Act::Relu) {
    return x > 0.0f ? x : 0.0f;
  } else if constexpr (K == Act::LeakyRelu) {
    return x > 0.0f ? x : a * x;
  } else if constexpr (K == Act::Relu6) {
    const float m = x < 0.0f ? 0.0f : x;  // std::max(x, 0)
    return 6.0f < m ? 6.0f : m;           // std::min(m, 6)
  } else if constexpr (K == Act::Elu) {
    return x > 0.0f ? x : a * M::expm1(x);
  } else if constexpr (K == Act::Gelu) {
    return 0.5f * x * (1.0f + M::erf(x * 0.70710678118654752f));
  } else if constexpr (K == Act::GeluTanh) {
    return 0.5f * x * (1.0f + M::tanh(0.79788456080286536f * (x + 0.044715f * x * x * x)));
  } else if constexpr (K == Act::Silu) {
    return x / (1.0f + M::exp(-x));
  } else if constexpr (K == Act::Sigmoid) {
    return 1.0f / (1.0f + M::exp(-x));
  } else if constexpr (K == Act::Hardswish) {
    // x relu6(x + 3) / 6, PyTorch's order of operations.
    const float m = x + 3.0f < 0.0f ? 0.0f : x + 3.0f;
    return x * (6.0f < m ? 6.0f : m) / 6.0f;
  } else {
    static_assert(K == Act::Tanh);
    return M::tanh(x);
  }
}

// f'(x), scalars only.
template <Act K, class M>
RELPROP_HOST_DEVICE inline float act_df(float x, float a) {
  if constexpr (K == Act::Relu) {
    return x > 0.0f ? 1.0f : 0.0f;
  } else if constexpr (K == Act::LeakyRelu) {
    return x > 0.0f ? 1.0f : a;
  } else if constexpr (K == Act::Relu6) {
    return x > 0.0f && x < 6.0f ? 1.0f : 0.0f;
  } else if constexpr (K == Act::Elu) {
    return x > 0.0f ? 1.0f : a * M::exp(x);
  } else if constexpr (K == Act::Gelu) {
    const float cdf = 0.5f * (1.0f + M::erf(x * 0.70710678118654752f));
    return cdf + x * 0.39894228040143268f * M::exp(-0.5f * x * x);
  } else if constexpr (K == Act::GeluTanh) {
    const float k = 0.79788456080286536f, u = k * (x + 0.044715f * x * x * x), t = M::tanh(u);
    return 0.5f * (1.0f + t) + 0.5f * x * (1.0f - t * t) * k * (1.0f + 3.0f * 0.044715f * x * x);
  } else if constexpr (K == Act::Silu) {
    const float s = 1.0f / (1.0f + M::exp(-x));
    return s * (1.0f + x * (1.0f - s));
  } else if constexpr (K == Act::Sigmoid) {
    const float s = 1.0f / (1.0f + M::exp(-x));
    return s * (1.0f - s);
  } else if constexpr (K == Act::Hardswish) {
    // PyTorch's kinks: 0 below -3, x / 3 + 1/2 up to 3 included, 1 above.
    return x < -3.0f ? 0.0f : x <= 3.0f ? x / 3.0f + 0.5f : 1.0f;
  } else {
    static_assert(K == Act::Tanh);
    const float t = M::tanh(x);
    return 1.0f - t * t;
  }
}

}  // namespace relprop::detail
