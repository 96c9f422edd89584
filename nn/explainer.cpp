#include "relprop/nn/explainer.hpp"

#include "relprop/cuda/graph.hpp"
#include "relprop/relevance/engine.hpp"
#include "relprop/relevance/seed.hpp"
#include "relprop/config.hpp"
#if RELPROP_HAVE_CUDA
#include "relprop/cuda/primitives.hpp"
#endif

namespace relprop {

struct GraphExplainer::Impl {
  const Graph* graph = nullptr;
  ExplainSettings s;
  std::string signature;  // input names, dtypes and shapes of the captured / counted shape
  int seen = 0;           // calls with `signature` so far
  bool failed = false;    // capturing `signature` failed: eager from now on
  bool replaying = false;
  // Declared before the tensors below: they hold blocks of the graph's pool and are
  // destroyed first.
  std::unique_ptr<cuda::CapturedGraph> graph_exec;
  std::map<std::string, Tensor> in_buf;  // the captured inputs (outside the pool)
  Tensor out, targets;
  std::map<std::string, Tensor> rel;

  void drop_capture() {
    rel.clear();
    out = Tensor();
    targets = Tensor();
    in_buf.clear();
    graph_exec.reset();
  }

  // Forward, seed and relevance queued on the graph's device; results not copied.
  void run(const std::map<std::string, Tensor>& inputs, Tensor& y, Tensor& tgt, std::map<std::string, Tensor>& r,
           std::vector<std::int64_t>* host_targets) {
    Tape tape;
    {
      Recording rec(tape);
      const auto outs = graph->forward(inputs);
      if (s.output >= outs.size())
        throw IndexError("explain: output " + std::to_string(s.output) + " of a graph with " +
                         std::to_string(outs.size()) + " outputs");
      y = outs[s.output];
    }
    Tensor seed;
    (void)tgt;  // filled by the GPU seed only
#if RELPROP_HAVE_CUDA
    // A negative target is left to the host seed, which throws the IndexError.
    if (y.device() == Device::CUDA && !(s.target && *s.target < 0)) {
      seed = cuda::classification_seed(y, s.target.value_or(-1), s.form == SeedForm::OneHot, s.multiplier, tgt);
    }
#endif
    if (!seed.defined()) {
      ClassificationSeed cs = classification_seed(y, s.target, s.form, s.multiplier);
      seed = cs.seed;
      if (host_targets) *host_targets = cs.targets;
    }
    PropagateOptions o;
    o.report = false;
    r = propagate(tape, y, seed, s.composite, o).inputs();
  }

  Explanation eager(const std::map<std::string, Tensor>& inputs) {
    Explanation e;
    Tensor tgt;
    run(inputs, e.output, tgt, e.relevance, &e.targets);
    if (tgt.defined()) {
      const Tensor h = tgt.to(Device::CPU);
      e.targets.assign(h.data<std::int64_t>(), h.data<std::int64_t>() + h.numel());
    }
    return e;
  }

  bool capture(const std::map<std::string, Tensor>& inputs) {
    try {
      for (const auto& [k, t] : inputs) {
        in_buf[k] = Tensor::empty(t.shape(), t.dtype(), Device::CUDA);
        in_buf[k].copy_from(t);
      }
      graph_exec = std::make_unique<cuda::CapturedGraph>();
      graph_exec->begin();
      try {
        run(in_buf, out, targets, rel, nullptr);
        graph_exec->end();
      } catch (...) {
        graph_exec->abort();
        throw;
      }
      return true;
    } catch (const Error&) {
      // Not capturable (a host synchronisation or pageable copy inside some op): eager.
      drop_capture();
      return false;
    } catch (...) {
      drop_capture();  // no half-made graph left behind for the next call to replay
      throw;
    }
  }

  Explanation replay(const std::map<std::string, Tensor>& inputs) {
    for (const auto& [k, t] : inputs) in_buf.at(k).copy_from(t);
    graph_exec->replay();
    Explanation e;
    e.output = out.clone();
    for (const auto& [k, t] : rel) e.relevance[k] = t.clone();
    const Tensor h = targets.to(Device::CPU);  // waits for the replay
    e.targets.assign(h.data<std::int64_t>(), h.data<std::int64_t>() + h.numel());
    return e;
  }
};

GraphExplainer::GraphExplainer(const Graph& graph, ExplainSettings settings) : impl_(std::make_unique<Impl>()) {
  if (!graph.bound()) throw GraphError("GraphExplainer: bind the graph's weights first");
  impl_->graph = &graph;
  impl_->s = std::move(settings);
}

GraphExplainer::~GraphExplainer() {
  if (impl_) impl_->drop_capture();
}

bool GraphExplainer::replaying() const { return impl_->replaying; }

Explanation GraphExplainer::explain(const std::map<std::string, Tensor>& inputs) {
  Impl& m = *impl_;
  m.replaying = false;
  if (m.graph->device() != Device::CUDA || !m.s.cuda_graph) return m.eager(inputs);
  std::string sig;
  for (const auto& [k, t] : inputs) sig += k + ":" + std::string(dtype_name(t.dtype())) + t.str_shape() + ";";
  if (sig != m.signature) {
    m.drop_capture();
    m.signature = sig;
    m.seen = 0;
    m.failed = false;
  }
  ++m.seen;
  if (!m.graph_exec && m.seen >= 2 && !m.failed && !m.capture(inputs)) m.failed = true;
  if (m.graph_exec) {
    m.replaying = true;
    return m.replay(inputs);
  }
  return m.eager(inputs);
}

}  // namespace relprop
