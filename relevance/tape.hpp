#pragma once
// The tape: while a Recording scope is active on a thread, every op appends a Node that
// knows its op, its module-path name, its input and output values, and keeps only what
// its relevance kernels read. Creation order is a topological order, so the engine
// (engine.hpp) walks the nodes backwards in one loop.

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "relprop/relevance/op_kind.hpp"
#include "relprop/relevance/rules.hpp"
#include "relprop/tensor/tensor.hpp"

namespace relprop {

// Index of a Value on its tape; -1 stands for a constant.
using ValueId = std::int32_t;

// What a node's relevance kernel gets besides the rule.
struct RelevanceContext {
  // needs_input[i] != 0: input i is a recorded value (not a constant); constants get no
  // relevance, so kernels may skip their work.
  std::span<const std::uint8_t> needs_input;
  // Whether input i wants relevance (false past the end).
  bool needs(std::size_t i) const { return i < needs_input.size() && needs_input[i] != 0; }
  // Backtrace saturation gate: the bounds (l, u) of the activation that alone reads this
  // node's output (docs/RULES.md, "Saturation gate"); +-infinity where the activation has no bound. Absent when
  // no gated activation follows.
  std::optional<std::pair<double, double>> activation_bounds;
};

// The two maps of DLBacktrace's contrastive mode, per input.
struct RelevancePair {
  std::vector<Tensor> positive;
  std::vector<Tensor> negative;
};

// One recorded op: what its relevance kernels need, and the kernels. Each op family
// defines its own subclasses; which rules a node takes is its op's row of
// relevance/ops.def, which the engine checks before calling relevance().
class Node {
 public:
  explicit Node(OpKind op) : op_(op) {}
  virtual ~Node() = default;
  OpKind op() const { return op_; }
  // The op's name as the graph format spells it ("linear", "relu", ...).
  std::string_view op_name() const { return relprop::op_name(op_); }
  OpClass op_class() const { return relprop::op_class(op_); }  // the op's family, for composites
  // Relevance of each input given the relevance `R` on the output (same shape as the
  // output). Returns one tensor per input, undefined where ctx.needs_input is false.
  // Throws UnsupportedError for a rule outside the op's row of relevance/ops.def, or one
  // this node cannot apply (e.g. pass on a layer whose input and output shapes differ).
  virtual std::vector<Tensor> relevance(const Rule& rule, const Tensor& R,
                                        const RelevanceContext& ctx) const = 0;
  // Contrastive mode: moves the positive map `Rp` and the negative map `Rn` together.
  // The default moves each map on its own by `rule` (a Backtrace rule in its default
  // mode), which is what shape ops, pooling and activations do; linear-type nodes and
  // sums override it with DLBacktrace's winner/loser split.
  virtual RelevancePair relevance_contrastive(const Rule& rule, const Tensor& Rp, const Tensor& Rn,
                                              const RelevanceContext& ctx) const;
  // Drops the tensors saved for relevance (the engine calls it once the node has run).
  virtual void release() = 0;

  // Throws the UnsupportedError for `rule` on this node: without `why`, that the op does
  // not implement it (listing its row's rules); with `why`, why this node cannot apply it.
  [[noreturn]] void unsupported(const Rule& rule, std::string_view why = {}) const;

  std::string name;             // module path, e.g. "features.0"
  std::vector<ValueId> inputs;  // -1 for constants (weights, untracked tensors)
  ValueId output = -1;

 private:
  OpKind op_;
};

// A tensor flowing through the recorded computation.
struct Value {
  std::string name;   // graph input name or the producing node's name
  Shape shape;
  DType dtype = DType::F32;
  std::int32_t producer = -1;  // node index; -1 for graph inputs
};

// The recorded computation: nodes in creation order and the values they read and write.
class Tape {
 public:
  Tape();   // empty, with a process-unique id
  ~Tape();
  // Not copyable: tensors carry the tape's id.
  Tape(const Tape&) = delete;
  Tape& operator=(const Tape&) = delete;

  // The tape being recorded on this thread, or nullptr (then ops record nothing).
  static Tape* current();

  // Declares `t` a graph input called `name` ("input<k>" when empty); returns a copy that
  // ops will track. ValueError for an undefined tensor or a name already in use.
  Tensor input(const Tensor& t, std::string name);
  // The tensor declared as graph input `v` (for gradient x input); undefined if unknown.
  const Tensor& input_tensor(ValueId v) const;
  // Value id of `t` if it was produced on this tape, else -1 (a constant).
  ValueId value_of(const Tensor& t) const;
  // Appends `node` (whose `inputs` are set) producing `out`; names it (a unique module
  // path from `name` and the current name scope) and tags `out` with the new value.
  Node& record(std::unique_ptr<Node> node, Tensor& out, std::string_view name);

  std::uint64_t id() const { return id_; }             // stamped on the tensors it tracks
  std::size_t size() const { return nodes_.size(); }  // number of nodes
  Node& node(std::size_t i) { return *nodes_[i]; }    // i-th node in creation order
  const Node& node(std::size_t i) const { return *nodes_[i]; }
  const std::vector<Value>& values() const { return values_; }  // indexed by ValueId
  const std::vector<ValueId>& graph_inputs() const { return inputs_; }  // in declaration order
  // Index of the node called `name`, or -1.
  std::int32_t find_node(std::string_view name) const;

  // Set by the engine once saved tensors were released; a consumed tape cannot be
  // propagated again.
  bool consumed() const { return consumed_; }
  void mark_consumed() { consumed_ = true; }  // called by the engine

  // Name-scope stack (module paths): "layer1" + "0" + "conv1" -> "layer1.0.conv1".
  void push_scope(std::string part);  // appends `part` to the current path
  void pop_scope();                   // removes the last part (NameScope does both)

 private:
  std::string unique_name(std::string_view requested, std::string_view op);
  std::uint64_t id_;
  std::vector<std::unique_ptr<Node>> nodes_;
  std::vector<Value> values_;
  std::vector<ValueId> inputs_;
  std::vector<Tensor> input_tensors_;  // parallel to inputs_
  std::vector<std::string> scope_;
  std::vector<std::string> names_;  // sorted, for uniqueness checks
  bool consumed_ = false;
};

// RAII: records on `tape` on this thread for the scope's lifetime; scopes nest (the
// previous tape is restored on exit). Threads record independently.
class Recording {
 public:
  explicit Recording(Tape& tape);  // makes `tape` this thread's current tape
  ~Recording();                    // restores the previous one
  Recording(const Recording&) = delete;
  Recording& operator=(const Recording&) = delete;

 private:
  Tape* previous_;
};

// RAII: while alive, nodes recorded on the current tape get `part` in their module path.
// A no-op when nothing is recording.
class NameScope {
 public:
  explicit NameScope(std::string part);  // pushes `part` on the current tape, if any
  ~NameScope();                          // pops it
  NameScope(const NameScope&) = delete;
  NameScope& operator=(const NameScope&) = delete;

 private:
  Tape* tape_;
};

}  // namespace relprop
