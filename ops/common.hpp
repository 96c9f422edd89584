#pragma once
// Helpers shared by the op families: input checks, recording, stabilised division and
// broadcasting reductions. Dimension letters used in shape comments across ops/:
//   N batch, I input features, O output features, M rows (all leading dims flattened).

#include <cstdint>
#include <initializer_list>
#include <string_view>
#include <vector>

#include "relevance/rules.hpp"
#include "relevance/tape.hpp"
#include "tensor/tensor.hpp"

namespace relprop::detail {

// `t` as a contiguous float32 CPU tensor (itself when it already is one). DtypeError /
// ValueError naming `op` and the argument `what` otherwise.
Tensor as_f32(const Tensor& t, std::string_view op, std::string_view what);

// The tape to record on: the current one when any of `inputs` was recorded on it, else
// nullptr (an op on constants only records nothing).
Tape* recording_tape(std::initializer_list<const Tensor*> inputs);
// Value ids of `inputs` on `tape` (-1 for constants).
std::vector<ValueId> value_ids(const Tape& tape, std::initializer_list<const Tensor*> inputs);

// Rows of `group` elements each share a stabiliser scale (Stabilizer::Scaled): the
// non-batch size of the tensor.
struct Stab {
  double epsilon = 0.0;
  Stabilizer kind = Stabilizer::Sign;
};
// s[i] = R[i] / stab(z[i]) for i < n; a denominator of exactly 0 gives s = 0.
// R, z, s: (n,), grouped in rows of `group` for the Scaled variant.
void stabilized_divide(const float* R, const float* z, float* s, std::int64_t n, std::int64_t group,
                       Stab stab);
// The stabiliser a Zero / Epsilon / Norm rule asks for.
Stab stab_of(const Rule& rule);

// Sum of `t` over the dimensions along which a tensor of shape `target` was broadcast to
// t's shape (NumPy rules), giving a tensor of shape `target`.
Tensor reduce_to_shape(const Tensor& t, const Shape& target);
// `t` broadcast to `shape` and made contiguous float32.
Tensor broadcast_f32(const Tensor& t, const Shape& shape);

// A node name for error messages: the given name, else the op's.
inline std::string label(std::string_view name, std::string_view op) {
  return std::string(name.empty() ? op : name);
}

}  // namespace relprop::detail
