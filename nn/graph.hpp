#pragma once
// The graph format: any model as graph.json + weights.safetensors, run without writing C++.
//
//   {"format": "relprop-graph", "version": 1,
//    "inputs":  [{"name": "x", "shape": [1, 3]}],            -1 in a shape: any size
//    "nodes":   [{"name": "fc1", "op": "linear", "inputs": ["x"],
//                 "params": {"weight": "fc1.weight", "bias": "fc1.bias"},
//                 "attrs": {...}}, ...],                     PyTorch's argument names
//    "outputs": ["fc1"]}
//
// A node's output is named by the node's name; params name safetensors keys. Every error
// names the node and what was wrong.

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "relprop/ops/registry.hpp"
#include "relprop/tensor/tensor.hpp"

namespace relprop {

class SafetensorsFile;

// What running a bound graph on inputs of given shapes takes, known before any kernel
// runs (Graph::plan).
struct GraphPlan {
  std::vector<Shape> shapes;         // per node, in file order: its output shape
  std::vector<std::uint64_t> bytes;  // per node: the bytes its output adds (0: a view of its input)
  std::uint64_t input_bytes = 0;     // the graph inputs' bytes
  std::uint64_t peak = 0;            // estimated bytes the run holds at its most (see Graph::plan)
  std::size_t peak_node = 0;         // the node where the estimate peaks
};

struct PlanOptions {
  bool recording = true;        // a tape records the run (an explanation follows)
  bool keep_relevance = false;  // and every node's relevance is kept (PropagateOptions::keep_all)
  // Refuse with a ResourceError, naming the first node whose estimate passes it: 0 for
  // the default (max_memory(); on a GPU, what the GPU has available unless
  // set_max_memory gave a limit), UINT64_MAX for no check.
  std::uint64_t limit = 0;
};

// A declared graph input.
struct GraphInput {
  std::string name;
  Shape shape;    // -1: any size
  Shape example;  // the shape bind() checks the graph with ("example_shape"; default:
                  // `shape` with every -1 taken as 1)
};

// One node as the graph file declares it.
struct GraphNode {
  std::string name;  // also the name of the value it produces
  OpKind op;
  std::vector<std::string> inputs;  // graph inputs or earlier nodes, by name
  std::map<std::string, std::string> params;  // role ("weight") -> safetensors key
  Attrs attrs;
};

// A model as data: declared inputs, nodes, outputs, and once bound, their weights.
class Graph {
 public:
  // Parses and checks the structure (ops, names, definitions before use). `origin` names
  // the source in messages. GraphError / FormatError otherwise.
  static Graph parse(std::string_view json_text, const std::string& origin = "graph");
  // parse() of a file's contents; IoError when it cannot be read.
  static Graph load(const std::filesystem::path& json_path);

  // Resolves every param from `weights` and checks all shapes through the graph, from the
  // inputs' example shapes. GraphError listing every missing weight, or naming the node of
  // a mis-shaped one; ValueError naming the weight and the first index of a NaN or
  // infinity (each weight read once; see set_allow_nonfinite).
  void bind(const SafetensorsFile& weights);
  // Same, from named tensors (for graphs built in code).
  void bind(const std::map<std::string, Tensor>& weights);
  bool bound() const { return bound_; }  // bind() succeeded

  // Batch norms that directly follow a linear (with a 2-d output) or a convolution whose
  // output nothing else reads are folded into it at bind time (W' = W * gamma /
  // sqrt(var + eps), b' = (b - mean) * gamma / sqrt(var + eps) + beta; new tensors, the
  // loaded weights are left as they are); the batch norm node then passes values and
  // relevance through unchanged. On by default; call before bind().
  void set_fold_batch_norm(bool fold) { fold_batch_norm_ = fold; }
  // Accept NaN and infinite weights at bind time (off by default: refused with a
  // ValueError). Call before bind().
  void set_allow_nonfinite(bool allow) { allow_nonfinite_ = allow; }
  // Tensors of `weights` that no node reads (batch norms' num_batches_tracked aside).
  std::vector<std::string> unused_weights(const SafetensorsFile& weights) const;
  // Every safetensors key the graph's nodes read.
  std::vector<std::string> weight_names() const;
  // Names of the batch-norm nodes that bind() folded.
  std::vector<std::string> folded() const;

  // Moves every bound weight to `device` (uploaded once, here; the file mapping is not
  // touched). forward() then runs every node there: inputs given on another device are
  // copied to it first. `weights`: the dtype floating weights are stored in — F32, or
  // BF16 / F16 to halve their memory (weights rounded once; every kernel still computes in
  // float32, so the results are float32 results of the rounded model: ~1e-2 relative from
  // the F32 ones). GraphError when not bound; ValueError for another dtype;
  // UnsupportedError without a GPU.
  void to(Device device, DType weights = DType::F32);
  Device device() const { return device_; }  // where the weights live (CPU until to())
  DType weight_dtype() const { return weight_dtype_; }  // how they are stored (F32 until to())

  // Every node's output shape and byte size from the inputs' shapes (by name; each must fit
  // its declared shape), through the ops' shape hooks (OpSpec::infer) without running a
  // kernel, and the memory the run would hold at its most (nn/graph_plan.cpp says how it
  // is estimated). ShapeError / GraphError naming the node whose shapes do not fit;
  // ResourceError naming the node at which the estimate passes the limit (`options`).
  GraphPlan plan(const std::map<std::string, Shape>& inputs, const PlanOptions& options = {}) const;

  // Runs the graph. `inputs` holds one tensor per graph input, by name; their shapes must
  // match the declared ones. Inside a Recording scope the inputs are declared on the tape
  // and every node is recorded under its graph name. Returns the outputs in order.
  // Planned first (plan(), with `recording` as a tape is current): nothing runs when the
  // shapes do not fit or the memory would not suffice. GraphError when not bound, or
  // naming the node that failed; ResourceError as plan() or when an allocation fails.
  std::vector<Tensor> forward(const std::map<std::string, Tensor>& inputs) const;

  const std::vector<GraphInput>& inputs() const { return inputs_; }   // as declared
  const std::vector<GraphNode>& nodes() const { return nodes_; }       // in file order
  const std::vector<std::string>& outputs() const { return outputs_; }  // node names
  // Checks `t` against input `name`'s declared shape; ShapeError / NotFoundError otherwise.
  void check_input(const std::string& name, const Tensor& t) const;

 private:
  template <class Lookup>
  void bind_with(Lookup&& lookup, const std::string& source);

  std::string origin_;
  std::vector<GraphInput> inputs_;
  std::vector<GraphNode> nodes_;
  std::vector<std::string> outputs_;
  void fold_batch_norms(const std::map<std::string, Shape>& shapes);

  std::vector<std::map<std::string, Tensor>> params_;  // per node, role -> tensor
  std::vector<std::uint8_t> folded_;                   // per node: a batch norm folded away
  bool fold_batch_norm_ = true;
  bool allow_nonfinite_ = false;
  bool bound_ = false;
  Device device_ = Device::CPU;
  DType weight_dtype_ = DType::F32;
};

}  // namespace relprop
