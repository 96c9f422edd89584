#pragma once
// The op table generated from ops/ops.def: kinds, names, classes and the hooks the graph
// format uses to check shapes and run nodes.

#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "relevance/tape.hpp"
#include "tensor/tensor.hpp"

namespace relprop {

enum class OpKind : std::uint16_t {
#define RELPROP_OP(e, n, c) e,
#include "ops/ops.def"
#undef RELPROP_OP
};

inline constexpr int kNumOps = 0
#define RELPROP_OP(e, n, c) +1
#include "ops/ops.def"
#undef RELPROP_OP
    ;

// A node attribute from the graph format (PyTorch's argument names and value types).
using AttrValue = std::variant<std::int64_t, double, bool, std::string, std::vector<std::int64_t>,
                               std::vector<double>>;

class Attrs {
 public:
  Attrs() = default;
  explicit Attrs(std::map<std::string, AttrValue> values) : values_(std::move(values)) {}
  bool has(const std::string& key) const { return values_.count(key) != 0; }
  // Typed getters; ValueError naming `node` and the attribute on a type mismatch.
  std::int64_t get_int(std::string_view node, const std::string& key, std::int64_t dflt) const;
  double get_float(std::string_view node, const std::string& key, double dflt) const;
  bool get_bool(std::string_view node, const std::string& key, bool dflt) const;
  std::vector<std::int64_t> get_ints(std::string_view node, const std::string& key,
                                     std::vector<std::int64_t> dflt) const;
  // ValueError naming `node` for an attribute not in `known`.
  void check_known(std::string_view node, std::string_view op,
                   std::span<const std::string_view> known) const;
  const std::map<std::string, AttrValue>& values() const { return values_; }

 private:
  std::map<std::string, AttrValue> values_;
};

// Shapes of one graph node's inputs and parameters, for checking before anything runs.
struct OpShapeCall {
  std::string_view node;
  const Attrs& attrs;
  std::span<const Shape> inputs;
  const std::map<std::string, Shape>& params;  // role ("weight", "bias") -> shape
};

// One graph node ready to run. Ops record themselves on the current tape, named `node`.
struct OpCall {
  std::string_view node;
  const Attrs& attrs;
  std::span<const Tensor> inputs;
  const std::map<std::string, Tensor>& params;
};

struct OpSpec {
  OpKind kind;
  std::string_view name;
  OpClass op_class;
  int min_inputs = 1;
  int max_inputs = 1;
  std::vector<std::string_view> required_params;
  std::vector<std::string_view> optional_params;
  std::vector<std::string_view> attrs;  // attribute names the op understands
  Shape (*infer)(const OpShapeCall&) = nullptr;  // throws ShapeError naming the node
  Tensor (*run)(const OpCall&) = nullptr;
};

const OpSpec& op_spec(OpKind kind);
// nullptr when `name` is not an op.
const OpSpec* find_op(std::string_view name);
std::string_view op_name(OpKind kind);
// All op names, comma separated (for error messages).
std::string op_names();

}  // namespace relprop
