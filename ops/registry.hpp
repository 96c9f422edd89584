#pragma once
// The graph format's hooks of each op: its parameters, attributes, shape inference and
// how to run it. Kinds, names, classes, arity and rules come from relevance/ops.def
// (relevance/op_kind.hpp); each op family file defines op_spec_<name>() for its ops.

#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "relprop/relevance/op_kind.hpp"
#include "relprop/relevance/tape.hpp"
#include "relprop/tensor/tensor.hpp"

namespace relprop {

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

// One op as the graph format sees it: parameters, attributes, hooks (its name, class and
// number of inputs: op_info(kind)).
struct OpSpec {
  OpKind kind;
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

}  // namespace relprop
