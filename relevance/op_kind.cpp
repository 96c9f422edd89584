#include "relprop/relevance/op_kind.hpp"

#include <array>
#include <limits>

#include "relprop/tensor/error.hpp"

namespace relprop {

namespace {

// relevance/ops.def names rules by their RuleKind enumerators, and `All`.
using enum RuleKind;
constexpr RuleSet All = RuleSet::all();

constexpr std::array<OpInfo, kNumOps> kTable = {{
#define RELPROP_OP(e, name, cls, lo, hi, ...) {OpKind::e, #name, OpClass::cls, lo, hi, RuleSet{__VA_ARGS__}},
#include "relprop/relevance/ops.def"
#undef RELPROP_OP
}};

constexpr bool table_in_order() {
  for (int i = 0; i < kNumOps; ++i)
    if (static_cast<int>(kTable[i].kind) != i || kTable[i].min_inputs < 0 || kTable[i].min_inputs > kTable[i].max_inputs)
      return false;
  return true;
}
static_assert(table_in_order(), "relevance/ops.def: rows out of order, or min inputs above max inputs");

}  // namespace

std::string_view op_class_name(OpClass c) {
  switch (c) {
    case OpClass::LinearType: return "linear-type";
    case OpClass::Activation: return "activation";
    case OpClass::Elementwise: return "elementwise";
    case OpClass::Pooling: return "pooling";
    case OpClass::Normalization: return "normalization";
    case OpClass::Shape: return "shape";
    case OpClass::Attention: return "attention";
    case OpClass::Other: return "other";
  }
  return "?";
}

const OpInfo& op_info(OpKind kind) { return kTable[static_cast<std::size_t>(kind)]; }
std::span<const OpInfo> op_table() { return kTable; }

const OpInfo* find_op_info(std::string_view name) {
  for (const auto& row : kTable)
    if (row.name == name) return &row;
  return nullptr;
}

OpKind op_kind(std::string_view name) {
  if (const OpInfo* row = find_op_info(name)) return row->kind;
  throw NotFoundError("unknown op '" + std::string(name) + "' (known: " + op_names() + ")");
}

std::string_view op_name(OpKind kind) { return op_info(kind).name; }
OpClass op_class(OpKind kind) { return op_info(kind).op_class; }
bool op_supports(OpKind kind, const Rule& rule) { return op_info(kind).rules.has(rule_kind(rule)); }

std::string op_names() {
  std::string s;
  for (const auto& row : kTable) s += (s.empty() ? "" : ", ") + std::string(row.name);
  return s;
}

std::optional<std::pair<double, double>> backtrace_gate_bounds(OpKind kind) {
  constexpr double inf = std::numeric_limits<double>::infinity();
  struct Gate {
    OpKind op;
    double low, high;
  };
  constexpr Gate kGates[] = {{OpKind::Relu, 0.0, inf},
                             {OpKind::Sigmoid, -4.0, 4.0},
                             {OpKind::Tanh, -2.0, 2.0},
                             {OpKind::Softmax, -1.0, 2.0},
                             {OpKind::Silu, -6.0, inf}};
  for (const Gate& g : kGates)
    if (g.op == kind) return std::pair{g.low, g.high};
  return std::nullopt;
}

}  // namespace relprop
