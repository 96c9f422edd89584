#pragma once
// The op vocabulary, generated from relevance/ops.def: one OpKind per op, its graph name,
// its class, its arity and the rules it supports. The engine, the composites, the graph
// format and the CLI all read it; ops/ implements it (each family file defines its ops'
// kernels and graph hooks, ops/registry.hpp).

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include "relprop/relevance/rules.hpp"

namespace relprop {

// Coarse family of an op, used by composites to pick rules ("every linear-type node").
enum class OpClass {
  LinearType,   // linear, conv: the shared LRP skeleton
  Activation,   // element-wise non-linearity
  Elementwise,  // add, sub, mul of computed tensors
  Pooling,
  Normalization,
  Shape,  // reshape, cat, slice, ...: relevance moves as values move
  Attention,
  Other,
};
// The class's name for messages ("linear-type", "activation", ...).
std::string_view op_class_name(OpClass c);

// One enumerator per op, in relevance/ops.def's order.
enum class OpKind : std::uint16_t {
#define RELPROP_OP(e, name, cls, lo, hi, ...) e,
#include "relprop/relevance/ops.def"
#undef RELPROP_OP
};

// Number of ops.
inline constexpr int kNumOps = 0
#define RELPROP_OP(e, name, cls, lo, hi, ...) +1
#include "relprop/relevance/ops.def"
#undef RELPROP_OP
    ;

// One row of relevance/ops.def.
struct OpInfo {
  OpKind kind;
  std::string_view name;  // the graph format's name ("conv2d")
  OpClass op_class;
  int min_inputs;  // graph inputs the node takes (parameters not counted)
  int max_inputs;
  RuleSet rules;  // the rules its relevance kernel implements
};

// The row of `kind`.
const OpInfo& op_info(OpKind kind);
// Every row, in relevance/ops.def's order.
std::span<const OpInfo> op_table();
// The row of the op called `name`, or nullptr.
const OpInfo* find_op_info(std::string_view name);
// The op called `name`; NotFoundError listing the known names.
OpKind op_kind(std::string_view name);
// Shorthands for op_info(kind).name / .op_class.
std::string_view op_name(OpKind kind);
OpClass op_class(OpKind kind);
// Whether op `kind` implements `rule`.
bool op_supports(OpKind kind, const Rule& rule);
// All op names, comma separated (for error messages).
std::string op_names();

// The saturation-gate bounds (l, u) an activation op sets for the Backtrace rule
// (docs/RULES.md, "Saturation gate"): relu (0, inf), sigmoid (-4, 4), tanh (-2, 2),
// softmax (-1, 2), silu (-6, inf); nullopt for other ops.
std::optional<std::pair<double, double>> backtrace_gate_bounds(OpKind kind);

}  // namespace relprop
