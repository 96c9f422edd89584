// Graph::plan: every node's output shape and byte size from the inputs' shapes, through
// the ops' shape hooks, and the memory the run would hold, before any kernel runs.
//
// How the memory is estimated (bytes; float32 values, 4 bytes an element, token ids
// included):
//   - A node adds its output, except the ops that return a view of their input (flatten,
//     reshape, identity, dropout, and batch norms folded into the layer before them).
//   - Recorded (an explanation): every value stays on the tape until the backward pass has
//     run the nodes that read it. Most relevance rules read their node's input (linear
//     types, pooling, norms, products, activations), so nearly every value is kept; the
//     estimate keeps them all. At node i the tape holds the inputs and the outputs of
//     nodes 0..i. The backward pass at node i holds the tape up to node i (later nodes
//     have released what they saved) and works with about three times the node's
//     output and inputs: the relevance arriving on the output, the rule's intermediates
//     of the output's shape (z, R / z), and the relevance and intermediates of the
//     inputs. With every node's relevance kept, the maps of the nodes after i are held
//     as well. The estimate at node i is the sum; the run's is the largest.
//   - Not recorded (a plain forward): a value is freed after its last reader ran, so the
//     estimate at node i is the values alive then plus the node's output again for its
//     kernel's scratch.
// Not counted: the weights (already in memory, or mapped from their file), kernels'
// scratch beyond the above (a convolution's column matrix where one is made), and a
// contrastive composite's second map.

#include <algorithm>
#include <limits>

#include "relprop/nn/graph.hpp"
#include "relprop/tensor/device.hpp"
#include "relprop/tensor/memory.hpp"

namespace relprop {

namespace {

constexpr std::uint64_t kBytesPerElement = 4;
constexpr std::uint64_t kMax = std::numeric_limits<std::uint64_t>::max();

std::uint64_t add(std::uint64_t a, std::uint64_t b) { return a > kMax - b ? kMax : a + b; }
std::uint64_t times(std::uint64_t a, std::uint64_t k) { return a > kMax / k ? kMax : a * k; }

// Bytes of a value of `shape`, kMax when its element count overflows.
std::uint64_t value_bytes(const Shape& shape) {
  std::uint64_t n = 1;
  for (const std::int64_t d : shape) {
    if (d < 0) return kMax;
    if (d != 0 && n > kMax / static_cast<std::uint64_t>(d)) return kMax;
    n *= static_cast<std::uint64_t>(d);
  }
  return times(n, kBytesPerElement);
}

bool is_view(OpKind op) {
  return op == OpKind::Flatten || op == OpKind::Reshape || op == OpKind::Identity || op == OpKind::Dropout;
}

}  // namespace

GraphPlan Graph::plan(const std::map<std::string, Shape>& inputs, const PlanOptions& options) const {
  if (!bound_) throw GraphError(origin_ + ": bind the weights before planning a run");
  GraphPlan p;
  // Every value by name: its shape, its bytes, and its slot for liveness.
  std::map<std::string, std::size_t> slot;
  std::vector<const Shape*> shape_of;
  std::vector<std::uint64_t> full;  // each value's size, views included
  std::vector<std::uint64_t> owned;  // what it adds (0 for a view)
  for (const auto& in : inputs_) {
    const auto it = inputs.find(in.name);
    if (it == inputs.end()) throw NotFoundError("graph input '" + in.name + "' was not given");
    bool fits = it->second.size() == in.shape.size();
    for (std::size_t d = 0; fits && d < in.shape.size(); ++d) fits = in.shape[d] < 0 || in.shape[d] == it->second[d];
    if (!fits)
      throw ShapeError("input '" + in.name + "' has shape " + shape_str(it->second) + ", the graph declares " +
                       shape_str(in.shape) + " (-1: any size)");
    slot[in.name] = shape_of.size();
    shape_of.push_back(&it->second);
    full.push_back(value_bytes(it->second));
    owned.push_back(full.back());
    p.input_bytes = add(p.input_bytes, full.back());
  }
  p.shapes.resize(nodes_.size());
  p.bytes.resize(nodes_.size());
  std::vector<Shape> ishapes;
  std::map<std::string, Shape> pshapes;
  for (std::size_t i = 0; i < nodes_.size(); ++i) {
    const GraphNode& n = nodes_[i];
    ishapes.clear();
    for (const auto& in : n.inputs) ishapes.push_back(*shape_of[slot.at(in)]);
    pshapes.clear();
    for (const auto& [role, t] : params_[i]) pshapes[role] = t.shape();
    try {
      p.shapes[i] = op_spec(n.op).infer(OpShapeCall{n.name, n.attrs, ishapes, pshapes});
    } catch (const Error& e) {
      throw GraphError(origin_ + ": node '" + n.name + "' (" + std::string(op_name(n.op)) + "): " + e.what());
    }
    const std::uint64_t bytes = value_bytes(p.shapes[i]);
    if (bytes == kMax)
      throw ResourceError(origin_ + ": node '" + n.name + "' (" + std::string(op_name(n.op)) + "): its output " +
                          shape_str(p.shapes[i]) + " has more elements than memory can hold");
    p.bytes[i] = is_view(n.op) || folded_[i] ? 0 : bytes;
    slot[n.name] = shape_of.size();
    shape_of.push_back(&p.shapes[i]);
    full.push_back(bytes);
    owned.push_back(p.bytes[i]);
  }

  // The estimate at each node (see the top of this file).
  std::vector<std::size_t> last_use(shape_of.size(), 0);
  for (std::size_t i = 0; i < nodes_.size(); ++i)
    for (const auto& in : nodes_[i].inputs) last_use[slot.at(in)] = i;
  for (const auto& o : outputs_) last_use[slot.at(o)] = nodes_.size();
  std::uint64_t later_relevance = 0;  // relevance maps of the nodes after i (keep_relevance)
  if (options.keep_relevance)
    for (std::size_t i = 0; i < nodes_.size(); ++i) later_relevance = add(later_relevance, full[inputs_.size() + i]);
  std::uint64_t kept = p.input_bytes;  // recorded: the tape up to node i
  std::uint64_t live = p.input_bytes;  // not recorded: the values alive after node i
  std::vector<std::uint64_t> need(nodes_.size());
  for (std::size_t i = 0; i < nodes_.size(); ++i) {
    const GraphNode& n = nodes_[i];
    const std::size_t v = inputs_.size() + i;
    std::uint64_t io = full[v];
    for (const auto& in : n.inputs) io = add(io, full[slot.at(in)]);
    if (options.recording) {
      kept = add(kept, owned[v]);
      later_relevance = later_relevance > full[v] ? later_relevance - full[v] : 0;
      need[i] = add(add(kept, owned[v] ? times(io, 3) : 0), later_relevance);
    } else {
      live = add(live, owned[v]);
      need[i] = add(live, owned[v]);
      for (const auto& in : n.inputs)
        if (last_use[slot.at(in)] == i) {
          const std::uint64_t b = owned[slot.at(in)];
          live = live > b ? live - b : 0;
        }
    }
    if (need[i] > p.peak) {
      p.peak = need[i];
      p.peak_node = i;
    }
  }

  if (options.limit == kMax || nodes_.empty()) return p;
  std::uint64_t limit = options.limit;
  const bool gpu = device_ == Device::CUDA && !max_memory_set();
  if (limit == 0) limit = gpu ? device::available_bytes() : max_memory();
  if (p.peak <= limit) return p;
  const auto first = static_cast<std::size_t>(
      std::find_if(need.begin(), need.end(), [&](std::uint64_t b) { return b > limit; }) - need.begin());
  const GraphNode& n = nodes_[first];
  const std::string source = options.limit != 0 ? "allowed"
                             : max_memory_set() ? "that the memory limit (--max-memory) allows"
                             : gpu              ? "available on the GPU"
                                                : "available";
  throw ResourceError(origin_ + ": node '" + n.name + "' (" + std::string(op_name(n.op)) + ", output " +
                      shape_str(p.shapes[first]) + ", " + format_bytes(full[inputs_.size() + first]) +
                      ") would bring the run to about " + format_bytes(need[first]) + " of memory, more than the " +
                      format_bytes(limit) + " " + source);
}

}  // namespace relprop
