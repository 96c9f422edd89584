#include "relprop/nn/explainer.hpp"

#include <new>

#include "relprop/cuda/graph.hpp"
#include "relprop/io/mmap.hpp"
#include "relprop/config.hpp"
#if RELPROP_HAVE_CUDA
#include "relprop/cuda/primitives.hpp"
#endif

namespace relprop {

RelevanceMap Explanation::sample(std::int64_t index, std::int64_t batch) const {
  RelevanceMap r = relevance.sample(index, batch);
  r.rescale(scaler, max_unit);
  return r;
}

namespace {

// What one run leaves: on the graph's device, not copied.
struct Outcome {
  Tensor y, seed;
  Tensor device_targets;              // the GPU seed's targets (I64 on the GPU), or undefined
  std::vector<std::int64_t> targets;  // the host seed's
  RelevanceMap relevance;
  std::shared_ptr<Tape> tape;
};

// A copy of `r` whose maps are fresh tensors: the captured ones are rewritten by every
// replay. RelevanceMap has no way to be filled from outside relevance/engine, so the
// copy's handles are replaced where they are (the copy is not const).
RelevanceMap fresh_copy(const RelevanceMap& r) {
  RelevanceMap out = r;
  for (auto& [k, t] : const_cast<std::map<std::string, Tensor>&>(out.inputs())) t = t.clone();
  for (auto& [k, t] : const_cast<std::map<std::string, Tensor>&>(out.nodes())) t = t.clone();
  return out;
}

}  // namespace

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
  Outcome captured;

  void drop_capture() {
    captured = Outcome();
    in_buf.clear();
    graph_exec.reset();
  }

  // Whether the settings ask for nothing a captured CUDA Graph cannot give (host reads).
  bool capturable() const { return s.cuda_graph && !s.propagation.report && !s.propagation.retain; }

  // The seed for `y`: on the GPU for a classification / next-token seed of (N, C)
  // outputs, else on the host (which a capture cannot do: UnsupportedError then).
  void seed(Outcome& o, bool capturing) const {
    const SeedSpec& spec = s.seed;
#if RELPROP_HAVE_CUDA
    const bool by_class = spec.task == SeedTask::Classification ||
                          (spec.task == SeedTask::NextToken && o.y.dim() == 2);
    // A target outside the classes is left to the host seed, which throws its IndexError.
    const bool target_ok = !spec.target || (*spec.target >= 0 && o.y.dim() > 0 && *spec.target < o.y.size(-1));
    if (o.y.device() == Device::CUDA && by_class && target_ok && !s.composite.contrastive) {
      o.seed = cuda::classification_seed(o.y, spec.target.value_or(-1), spec.form == SeedForm::OneHot,
                                         spec.multiplier, o.device_targets);
      return;
    }
#endif
    if (capturing) throw UnsupportedError("explain: this seed is made on the host, which a CUDA Graph cannot capture");
    Seed made = make_seed(o.y, spec);
    o.seed = made.seed;
    o.targets = std::move(made.targets);
  }

  // Forward, seed and relevance queued on the graph's device; results not copied.
  void run(const std::map<std::string, Tensor>& inputs, Outcome& o, bool capturing) {
    auto tape = std::make_shared<Tape>();
    {
      Recording rec(*tape);
      const auto outs = graph->forward(inputs);
      if (s.output >= outs.size())
        throw IndexError("explain: output " + std::to_string(s.output) + " of a graph with " +
                         std::to_string(outs.size()) + " outputs");
      o.y = outs[s.output];
    }
    seed(o, capturing);
    o.relevance = s.composite.contrastive
                      ? propagate_contrastive(*tape, o.y, o.seed,
                                              contrastive_negative_seed(o.y, o.seed, s.seed.form, s.seed.multiplier),
                                              s.composite, s.propagation)
                      : propagate(*tape, o.y, o.seed, s.composite, s.propagation);
    if (s.propagation.retain) o.tape = std::move(tape);
  }

  Explanation result(Outcome o) const {
    Explanation e;
    e.output = std::move(o.y);
    e.seed = std::move(o.seed);
    e.targets = std::move(o.targets);
    if (o.device_targets.defined()) {
      const Tensor h = o.device_targets.to(Device::CPU);  // waits for the GPU
      e.targets.assign(h.data<std::int64_t>(), h.data<std::int64_t>() + h.numel());
    }
    e.relevance = std::move(o.relevance);
    e.tape = std::move(o.tape);
    e.scaler = s.scaler;
    e.max_unit = s.max_unit;
    return e;
  }

  Explanation eager(const std::map<std::string, Tensor>& inputs) {
    Outcome o;
    run(inputs, o, false);
    return result(std::move(o));
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
        run(in_buf, captured, true);
        graph_exec->end();
      } catch (...) {
        graph_exec->abort();
        throw;
      }
      return true;
    } catch (const Error&) {
      // Not capturable (a host seed, a host synchronisation or pageable copy inside some
      // op): eager.
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
    Outcome o;
    o.y = captured.y.clone();
    o.seed = captured.seed.clone();
    o.relevance = fresh_copy(captured.relevance);
    o.device_targets = captured.device_targets;  // read back (after the replay) by result()
    return result(std::move(o));
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

const ExplainSettings& GraphExplainer::settings() const { return impl_->s; }

Explanation GraphExplainer::explain(const std::map<std::string, Tensor>& inputs) {
  try {
    Explanation e = explain_checked(inputs);
    // A weights or input file that shrank while mapped read as zeros (io/mmap.hpp): refused.
    MappedFile::check_all_intact();
    return e;
  } catch (const std::bad_alloc&) {
    throw ResourceError("explain: out of memory");
  }
}

Explanation GraphExplainer::explain_checked(const std::map<std::string, Tensor>& inputs) {
  Impl& m = *impl_;
  if (m.s.propagation.keep_all) {
    // Kept relevance of every node adds to the tape: planned here (forward plans the rest).
    std::map<std::string, Shape> shapes;
    for (const auto& [name, t] : inputs) shapes[name] = t.shape();
    for (const auto& [name, t] : inputs) m.graph->check_input(name, t);
    m.graph->plan(shapes, PlanOptions{.recording = true, .keep_relevance = true});
  }
  m.replaying = false;
  if (m.s.check_finite_inputs)
    for (const auto& [name, t] : inputs)
      if (t.defined() && t.device() == Device::CPU) check_finite(t, "input '" + name + "'");
  if (m.graph->device() != Device::CUDA || !m.capturable()) return m.eager(inputs);
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
