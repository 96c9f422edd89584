#pragma once
// The engine: walks a tape backwards, moving relevance instead of gradients.

#include <map>
#include <string>
#include <vector>

#include "relprop/relevance/composite.hpp"
#include "relprop/relevance/tape.hpp"

namespace relprop {

// What propagate keeps: saved tensors, and which nodes' relevance.
struct PropagateOptions {
  // Keep every node's saved tensors, so the tape can be propagated again (another
  // target, another composite). Otherwise they are released as each node runs.
  bool retain = false;
  // Keep the relevance of every node's output in the result, by node name.
  bool keep_all = false;
  // Node names (globs) whose output relevance to keep, in addition; a glob that matches
  // no node of the tape is a NotFoundError.
  std::vector<std::string> keep;
  // Sum each node's relevance for the conservation report. Off: the report lists the
  // nodes with zero sums, and on a GPU nothing at all is read back to the host (what a
  // captured CUDA Graph needs).
  bool report = true;
};

// Conservation figures of one node: what arrived on its output, what it sent to its
// inputs, and what it absorbed (bias share, relevance sent to constants).
struct NodeReport {
  std::string name;  // node name (with ".positive" / ".negative" in contrastive mode)
  std::string op;    // op name
  std::string rule;  // the rule applied, as rule_str writes it
  double relevance_out = 0;  // sum of R on the node's output
  double relevance_in = 0;   // sum of R over the relevance it passed to its inputs
  // Wall time of the node's relevance kernel, host clock (on a GPU: the time to enqueue
  // it, not to run it). In contrastive mode both maps' entries carry the pair's time.
  double seconds = 0;
  double absorbed() const { return relevance_out - relevance_in; }  // out - in
  // Share of the arriving relevance that was absorbed (0 when nothing arrived).
  double absorbed_share() const;
};

class RelevanceMap;
// The engine's one backward pass over any number of maps (propagate: 1, contrastive: 2).
RelevanceMap propagate_maps(Tape& tape, const Tensor& output, const std::vector<Tensor>& seeds,
                            const Composite& composite, const PropagateOptions& options,
                            const std::vector<std::string>& suffixes);

// The result of a propagation: relevance of the graph inputs, of the kept nodes, and the
// per-node conservation report.
class RelevanceMap {
 public:
  // Relevance of the graph input `name`; NotFoundError naming the known inputs.
  const Tensor& input(const std::string& name) const;
  // Relevance of node `name`'s output (kept on request); NotFoundError otherwise.
  const Tensor& node(const std::string& name) const;
  const std::map<std::string, Tensor>& inputs() const { return inputs_; }  // by input name
  const std::map<std::string, Tensor>& nodes() const { return nodes_; }    // kept, by node name
  // One report per node that received relevance, in tape order.
  const std::vector<NodeReport>& report() const { return report_; }

  // Post-scaling of every map (inputs and kept nodes), each on its own (docs/RULES.md, "Post-scaling"):
  // `scaler` > 0 rescales a map to sum to `scaler`; `max_unit` > 0 then scales it so its
  // largest magnitude is `max_unit`. A map that sums to 0 skips the `scaler` step; an
  // all-zero map is left as it is. ValueError for a negative argument.
  void rescale(double scaler, double max_unit);

  // Sample `index` of a batch of `batch`: every map whose first dimension is `batch`
  // sliced to that sample (keeping the dimension, size 1); others kept whole. The
  // report stays the whole batch's.
  RelevanceMap sample(std::int64_t index, std::int64_t batch) const;
  // Every map copied to `device` (the report as it is); maps already there are shared.
  RelevanceMap to(Device device) const;

 private:
  friend RelevanceMap propagate_maps(Tape&, const Tensor&, const std::vector<Tensor>&, const Composite&,
                          const PropagateOptions&, const std::vector<std::string>&);
  std::map<std::string, Tensor> inputs_;
  std::map<std::string, Tensor> nodes_;
  std::vector<NodeReport> report_;
};

// Propagates `seed` (shape of `output`, a value recorded on `tape`) back to the graph
// inputs, choosing each node's rule from `composite`.
//
// A value read by several nodes (a fork, a residual, `add(x, x)`) owns one relevance
// buffer: the first contribution is stored, later ones are added to it, and its producer
// runs only after every reader has contributed (reverse creation order guarantees it).
RelevanceMap propagate(Tape& tape, const Tensor& output, const Tensor& seed,
                       const Composite& composite, const PropagateOptions& options = {});

// DLBacktrace's contrastive mode: the positive and negative maps travel back together
// (seeds from contrastive_seed), each node's rule applied to the pair
// (Node::relevance_contrastive). Inputs and kept nodes come out as "NAME.positive" and
// "NAME.negative"; the report has one row per map per node, positive first.
RelevanceMap propagate_contrastive(Tape& tape, const Tensor& output, const Tensor& seed_positive,
                                   const Tensor& seed_negative, const Composite& composite,
                                   const PropagateOptions& options = {});

}  // namespace relprop
