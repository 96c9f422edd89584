#pragma once
// Element types. F32 is the compute type; the others exist to load weights and ids and
// are converted at the boundary. One list, every table derived from it.

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace relprop {

// X(enum name, C++ storage type, bytes, name as safetensors writes it)
#define RELPROP_DTYPES(X)            \
  X(F32, float, 4, "F32")            \
  X(F64, double, 8, "F64")           \
  X(F16, std::uint16_t, 2, "F16")    \
  X(BF16, std::uint16_t, 2, "BF16")  \
  X(I32, std::int32_t, 4, "I32")     \
  X(I64, std::int64_t, 8, "I64")     \
  X(U8, std::uint8_t, 1, "U8")       \
  X(BOOL, bool, 1, "BOOL")

// The element type of a tensor.
enum class DType : std::uint8_t {
#define X(e, t, n, s) e,
  RELPROP_DTYPES(X)
#undef X
};

// Number of DTypes.
inline constexpr int kNumDTypes = 0
#define X(e, t, n, s) +1
    RELPROP_DTYPES(X)
#undef X
    ;
static_assert(kNumDTypes == 8, "update the dtype tables when adding a dtype");

// Bytes per element.
constexpr std::size_t dtype_size(DType d) {
  switch (d) {
#define X(e, t, n, s) \
  case DType::e:      \
    return n;
    RELPROP_DTYPES(X)
#undef X
  }
  return 0;
}

// The dtype's name as safetensors spells it ("F32", "BF16", ...).
constexpr std::string_view dtype_name(DType d) {
  switch (d) {
#define X(e, t, n, s) \
  case DType::e:      \
    return s;
    RELPROP_DTYPES(X)
#undef X
  }
  return "?";
}

// True for the floating-point types (F32, F64, F16, BF16).
constexpr bool is_floating(DType d) {
  return d == DType::F32 || d == DType::F64 || d == DType::F16 || d == DType::BF16;
}

// The DType of a C++ element type used for typed access (float -> F32, ...).
template <class T>
struct dtype_of;
template <> struct dtype_of<float> { static constexpr DType value = DType::F32; };
template <> struct dtype_of<double> { static constexpr DType value = DType::F64; };
template <> struct dtype_of<std::int32_t> { static constexpr DType value = DType::I32; };
template <> struct dtype_of<std::int64_t> { static constexpr DType value = DType::I64; };
template <> struct dtype_of<std::uint8_t> { static constexpr DType value = DType::U8; };
template <> struct dtype_of<bool> { static constexpr DType value = DType::BOOL; };

// IEEE half and bfloat16 bit patterns <-> float (round to nearest even).
float half_to_float(std::uint16_t h);
std::uint16_t float_to_half(float f);
float bf16_to_float(std::uint16_t b);
std::uint16_t float_to_bf16(float f);

// Where a tensor's memory lives.
enum class Device : std::uint8_t { CPU, CUDA };

// The device's lower-case name ("cpu", "cuda").
constexpr std::string_view device_name(Device d) {
  switch (d) {
    case Device::CPU:
      return "cpu";
    case Device::CUDA:
      return "cuda";
  }
  return "?";
}

}  // namespace relprop
