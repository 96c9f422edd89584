#pragma once
// GraphExplainer: forward + classification seed + relevance of a bound Graph, as one call,
// made fast for repeated calls. On a GPU, the second call with the same input shapes
// captures the whole explanation (forward, seed, propagate) as a CUDA Graph, and later
// calls with those shapes copy their inputs into the captured buffers and replay it: one
// launch instead of thousands, what batch-1 latency needs. A shape that cannot be captured
// (some op synchronises with the host) runs eagerly from then on, with the same results.

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "relprop/nn/graph.hpp"
#include "relprop/relevance/composite.hpp"

namespace relprop {

struct ExplainSettings {
  Composite composite = Composite::by_name("epsilon");
  std::optional<std::int64_t> target;  // every row's class; default: each row's arg-max
  SeedForm form = SeedForm::Value;     // seed with the target's value, or 1
  double multiplier = 1.0;
  std::size_t output = 0;              // which graph output to explain
  bool cuda_graph = true;              // capture repeated GPU explanations
};

struct Explanation {
  Tensor output;                            // the explained graph output, on the graph's device
  std::vector<std::int64_t> targets;        // the class explained in each row
  std::map<std::string, Tensor> relevance;  // each graph input's relevance, by input name
};

class GraphExplainer {
 public:
  // `graph` (bound; moved to its device with Graph::to beforehand) must outlive this and
  // stay where it is: a captured CUDA Graph reads the weights at their addresses then.
  GraphExplainer(const Graph& graph, ExplainSettings settings);
  ~GraphExplainer();
  GraphExplainer(const GraphExplainer&) = delete;
  GraphExplainer& operator=(const GraphExplainer&) = delete;

  // Explains `inputs` (one tensor per graph input, on any device). Results are fresh
  // tensors the caller owns. IndexError for a target outside the classes.
  Explanation explain(const std::map<std::string, Tensor>& inputs);
  // Whether the last call replayed (or just captured) a CUDA Graph.
  bool replaying() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace relprop
