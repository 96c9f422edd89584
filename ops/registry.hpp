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

#include "relprop/relevance/tape.hpp"
#include "relprop/tensor/tensor.hpp"

namespace relprop {

// One enumerator per op, in ops/ops.def's order.
enum class OpKind : std::uint16_t {
#define RELPROP_OP(e, n, c) e,
#include "relprop/ops/ops.def"
#undef RELPROP_OP
};

// Number of ops.
inline constexpr int kNumOps = 0
#define RELPROP_OP(e, n, c) +1
#include "relprop/ops/ops.def"
#undef RELPROP_OP
    ;

// A node attribute from the graph format (PyTorch's argument names and value types).
using AttrValue = std::variant<std::int64_t, double, bool, std::string, std::vector<std::int64_t>,
                               std::vector<double>>;

// A graph node's attributes by name, with typed, checked getters.
class Attrs {
 public:
  Attrs() = default;  // no attributes
  explicit Attrs(std::map<std::string, AttrValue> values) : values_(std::move(values)) {}
  bool has(const std::string& key) const { return values_.count(key) != 0; }  // key present
  // Typed getters: `dflt` when the key is absent; ValueError naming `node` and the
  // attribute on a type mismatch. get_float also takes an integer, get_ints a single one.
  std::int64_t get_int(std::string_view node, const std::string& key, std::int64_t dflt) const;
  double get_float(std::string_view node, const std::string& key, double dflt) const;
  bool get_bool(std::string_view node, const std::string& key, bool dflt) const;
  std::vector<std::int64_t> get_ints(std::string_view node, const std::string& key,
                                     std::vector<std::int64_t> dflt) const;
  // ValueError naming `node` for an attribute not in `known`.
  void check_known(std::string_view node, std::string_view op,
                   std::span<const std::string_view> known) const;
  const std::map<std::string, AttrValue>& values() const { return values_; }  // all, by name

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

// One op as the graph format sees it: name, class, inputs, parameters, attributes, hooks.
struct OpSpec {
  OpKind kind;
  std::string_view name;  // the graph name ("conv2d")
  OpClass op_class;
  int min_inputs = 1;  // number of graph inputs the node takes
  int max_inputs = 1;
  std::vector<std::string_view> required_params;  // parameter roles ("weight", ...)
  std::vector<std::string_view> optional_params;
  std::vector<std::string_view> attrs;  // attribute names the op understands
  Shape (*infer)(const OpShapeCall&) = nullptr;  // output shape; throws ShapeError naming the node
  Tensor (*run)(const OpCall&) = nullptr;        // runs the op, recording it when a tape is current
};

// The spec of `kind`.
const OpSpec& op_spec(OpKind kind);
// nullptr when `name` is not an op.
const OpSpec* find_op(std::string_view name);
// The graph name of `kind` ("linear", ...).
std::string_view op_name(OpKind kind);
// All op names, comma separated (for error messages).
std::string op_names();

}  // namespace relprop
