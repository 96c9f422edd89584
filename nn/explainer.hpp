#pragma once
// GraphExplainer: one explanation of a bound Graph as one call (forward on a tape, the
// seed, propagation), made fast for repeated calls. Every explanation relprop makes of a
// Graph, the command-line tool's included, goes through it.
//
// On a GPU, the second call with the same input shapes captures the whole explanation
// (forward, seed, propagate) as a CUDA Graph, and later calls with those shapes copy their
// inputs into the captured buffers and replay it: one launch instead of thousands, what
// batch-1 latency needs. Only what needs no host read can be captured: a classification
// or next-token seed of (N, C) outputs (made on the GPU), no contrastive negative seed, no
// per-node report and no retained tape; anything else, and a shape whose capture fails
// (some op synchronises with the host), runs eagerly, with the same results.
//
// Threads: a bound Graph (a TransformerModel's too) is only read while it is explained, so
// several host threads may explain one graph on the CPU at once, each through its own
// GraphExplainer (an explainer keeps its calls' capture state and is not to be shared);
// results equal those of the same calls made one after another
// (tests/nn/test_determinism.cpp, also run under ThreadSanitizer). Shared between the
// threads: the weights (read only), the host block cache (behind a mutex), and the
// process-wide settings (set_conv_algorithm, the GEMM kernel, cuda::set_tf32: to be
// changed only while nothing runs). Each thread's own: its tape (Recording is per thread)
// with the modified weights a rule caches on its nodes, and the packing and scratch
// buffers of the CPU kernels (thread_local). Not promised on a GPU: the process has one
// CUDA stream and one cuBLAS / cuDNN handle, which concurrent explanations would share.
// On the CPU an explanation gives the same bits at any OpenMP thread count and for a
// sample alone or in any batch; on a GPU the same bits run to run.

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "relprop/nn/graph.hpp"
#include "relprop/relevance/composite.hpp"
#include "relprop/relevance/engine.hpp"
#include "relprop/relevance/seed.hpp"

namespace relprop {

struct ExplainSettings {
  Composite composite = Composite::by_name("epsilon");
  // The seed: task (classification by default), target(s), form and multiplier. A
  // contrastive composite adds the negative seed (contrastive_negative_seed, same form
  // and multiplier) and propagates both maps.
  SeedSpec seed;
  std::size_t output = 0;  // which graph output to explain
  // Kept nodes (keep / keep_all), the per-node conservation report, the retained tape.
  // The report is off here (on a GPU it reads sums back to the host, which a captured
  // CUDA Graph cannot); turn it on to get Explanation::relevance.report().
  PropagateOptions propagation{.retain = false, .keep_all = false, .keep = {}, .report = false};
  // Post-scaling of each sample's maps, applied by Explanation::sample (docs/RULES.md, "Post-scaling"; 0: off).
  double scaler = 0.0, max_unit = 0.0;
  bool cuda_graph = true;  // capture repeated GPU explanations
  // ValueError for a NaN or infinity in a floating input given in host memory, naming the
  // input and the first index (one pass over each); inputs already on a GPU are not read
  // back. Off: accepted (the command line checks each file as it reads it, by name).
  bool check_finite_inputs = true;
};

struct Explanation {
  Tensor output;                      // the explained graph output, on the graph's device
  Tensor seed;                        // the seed placed on it (contrastive: the positive one)
  std::vector<std::int64_t> targets;  // make_seed's targets: the class / token of each row, the listed outputs
  // Each graph input's relevance by input name ("NAME.positive" / "NAME.negative" in
  // contrastive mode), the kept nodes' by node name, and the per-node report when asked
  // for; as propagated, not rescaled; on the graph's device.
  RelevanceMap relevance;
  // With propagation.retain: the recorded tape (`output` is a value on it), to propagate
  // again with another seed or composite. Null otherwise.
  std::shared_ptr<Tape> tape;
  double scaler = 0.0, max_unit = 0.0;  // the settings' post-scaling (sample applies it)

  // Sample `index` of a batch of `batch` (RelevanceMap::sample: maps whose first dimension
  // is `batch` cut to that sample; sample(0, 1) is the whole result), each of its maps then
  // rescaled on its own by `scaler` and `max_unit` (RelevanceMap::rescale).
  RelevanceMap sample(std::int64_t index, std::int64_t batch) const;
};

class GraphExplainer {
 public:
  // `graph` (bound; moved to its device with Graph::to beforehand) must outlive this and
  // stay where it is: a captured CUDA Graph reads the weights at their addresses then.
  // GraphError when the graph is not bound.
  GraphExplainer(const Graph& graph, ExplainSettings settings);
  ~GraphExplainer();
  GraphExplainer(const GraphExplainer&) = delete;
  GraphExplainer& operator=(const GraphExplainer&) = delete;

  // Explains `inputs` (one tensor per graph input, on any device). Results are fresh
  // tensors the caller owns. IndexError for an output index, target or token outside
  // the graph's; ValueError for a NaN or infinite input (check_finite_inputs); the seed
  // function's errors otherwise.
  // ResourceError when the memory cannot be had (planned before anything runs, see
  // Graph::plan; or an allocation failed).
  Explanation explain(const std::map<std::string, Tensor>& inputs);
  // Whether the last call replayed (or just captured) a CUDA Graph.
  bool replaying() const;
  const ExplainSettings& settings() const;

 private:
  Explanation explain_checked(const std::map<std::string, Tensor>& inputs);
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace relprop
