#include "relprop/relevance/engine.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>

#include "relprop/tensor/parallel.hpp"
#include "relprop/config.hpp"
#if RELPROP_HAVE_CUDA
#include "relprop/cuda/primitives.hpp"
#endif

namespace relprop {

double NodeReport::absorbed_share() const {
  return relevance_out == 0.0 ? 0.0 : absorbed() / relevance_out;
}

const Tensor& RelevanceMap::input(const std::string& name) const {
  auto it = inputs_.find(name);
  if (it == inputs_.end()) {
    std::string known;
    for (const auto& [k, v] : inputs_) known += (known.empty() ? "" : ", ") + k;
    throw NotFoundError("no relevance for input '" + name + "' (inputs: " + known + ")");
  }
  return it->second;
}

const Tensor& RelevanceMap::node(const std::string& name) const {
  auto it = nodes_.find(name);
  if (it == nodes_.end())
    throw NotFoundError("no relevance kept for node '" + name +
                        "' (ask for it with PropagateOptions::keep or keep_all)");
  return it->second;
}

void RelevanceMap::rescale(double scaler, double max_unit) {
  if (scaler < 0 || max_unit < 0) throw ValueError("rescale: scaler and max_unit must be >= 0");
  auto apply = [&](Tensor& t) {
    double factor = 1.0;
    if (scaler > 0) {
      const double s = sum_all(t);
      if (s != 0.0) factor = scaler / s;
    }
    if (max_unit > 0) {
      double m = 0;
      for (double v : t.to_vector_f64()) m = std::max(m, std::fabs(v * factor));
      if (m > 0) factor *= max_unit / m;
    }
    if (factor == 1.0) return;
#if RELPROP_HAVE_CUDA
    if (t.device() == Device::CUDA) {
      t = cuda::scale(t, static_cast<float>(factor));
      return;
    }
#endif
    Tensor out = Tensor::empty(t.shape());
    const Tensor c = t.to(DType::F32).contiguous();
    const float* p = c.data<float>();
    float* o = out.data<float>();
    for (std::int64_t i = 0; i < c.numel(); ++i) o[i] = static_cast<float>(p[i] * factor);
    t = out;
  };
  for (auto& [name, t] : inputs_) apply(t);
  for (auto& [name, t] : nodes_) apply(t);
}

RelevanceMap RelevanceMap::sample(std::int64_t index, std::int64_t batch) const {
  if (batch < 1 || index < 0 || index >= batch)
    throw IndexError("sample " + std::to_string(index) + " of a batch of " + std::to_string(batch));
  RelevanceMap out;
  auto cut = [&](const Tensor& t) {
    return t.dim() >= 1 && t.shape()[0] == batch ? t.slice(0, index, index + 1).contiguous() : t;
  };
  for (const auto& [k, t] : inputs_) out.inputs_[k] = cut(t);
  for (const auto& [k, t] : nodes_) out.nodes_[k] = cut(t);
  out.report_ = report_;
  return out;
}

RelevanceMap RelevanceMap::to(Device device) const {
  RelevanceMap out;
  for (const auto& [k, t] : inputs_) out.inputs_[k] = t.to(device);
  for (const auto& [k, t] : nodes_) out.nodes_[k] = t.to(device);
  out.report_ = report_;
  return out;
}

namespace {

// The `=` versus `+=` rule of a value's relevance buffer: the first contribution is
// stored as is (no copy); a later one is added in place, after copying the buffer if its
// storage is shared with anything else (a Pass rule hands its input the very tensor it
// got, which may also be kept in the result).
void accumulate(Tensor& buffer, const Tensor& contribution) {
  if (!buffer.defined()) {
    buffer = contribution;
    return;
  }
  if (!buffer.is_contiguous() || buffer.storage().use_count() > 1) buffer = buffer.clone();
#if RELPROP_HAVE_CUDA
  if (buffer.device() == Device::CUDA) {
    cuda::axpy(buffer, contribution.to(Device::CUDA));
    return;
  }
#endif
  const Tensor c = contribution.contiguous();
  float* b = buffer.data<float>();
  const float* a = c.data<float>();
  const std::int64_t n = buffer.numel();
  detail::parallel_for(n, n > detail::kParallelMin, [&](std::int64_t i) { b[i] += a[i]; });
}

bool wants_kept(const PropagateOptions& o, const std::string& name) {
  if (o.keep_all) return true;
  for (const auto& p : o.keep)
    if (glob_match(p, name)) return true;
  return false;
}

}  // namespace

// One backward pass moving `seeds.size()` maps (1: ordinary; 2: contrastive, positive
// then negative). Results carry `suffixes[m]` after each name.
RelevanceMap propagate_maps(Tape& tape, const Tensor& output, const std::vector<Tensor>& seeds, const Composite& composite,
                 const PropagateOptions& options, const std::vector<std::string>& suffixes) {
  if (tape.consumed())
    throw ValueError("propagate: the tape's saved tensors were released by an earlier propagate; "
                     "pass PropagateOptions::retain to propagate a tape more than once");
  const ValueId out_id = tape.value_of(output);
  if (out_id < 0)
    throw ValueError("propagate: the output tensor was not recorded on this tape "
                     "(run the forward pass inside a Recording scope of the same tape)");
  for (const Tensor& seed : seeds)
    if (!seed.defined() || seed.shape() != output.shape())
      throw ShapeError("propagate: seed shape " + (seed.defined() ? seed.str_shape() : "<undefined>") +
                       " differs from output shape " + output.str_shape());

  // A pattern to keep that names no node would keep nothing without a word.
  for (const auto& pattern : options.keep) {
    bool any = false;
    for (std::size_t i = 0; i < tape.size() && !any; ++i) any = glob_match(pattern, tape.node(i).name);
    if (!any) {
      std::string names;
      for (std::size_t i = 0; i < tape.size() && i < 8; ++i) names += (i ? ", " : "") + tape.node(i).name;
      if (tape.size() > 8) names += ", ... (" + std::to_string(tape.size()) + " nodes)";
      throw NotFoundError("keep '" + pattern + "': no node matches it (nodes: " + names + ")");
    }
  }

  const std::size_t maps = seeds.size();
  const auto& values = tape.values();
  // Everything happens on the output's device; seeds made on the host are moved there.
  const Device dev = output.device();
  std::vector<std::vector<Tensor>> R(maps, std::vector<Tensor>(values.size()));
  for (std::size_t m = 0; m < maps; ++m) R[m][out_id] = seeds[m].to(DType::F32).to(dev).contiguous();

  // The conservation sums: on the CPU summed at once; on a GPU each goes into a slot of
  // one device buffer, read back once at the end (no host round trip per node).
  struct PendingSum {
    std::size_t report;
    bool out;  // relevance_out (else added to relevance_in)
  };
  std::vector<PendingSum> pending;
  Tensor sums;
  std::vector<NodeReport> reports;
  // On the CPU a value reached by one contribution is summed once: as its reader's
  // relevance_in, and again as its producer's relevance_out (the very same tensor: the
  // first contribution is stored as is), so the first sum is kept and reused.
  std::vector<std::vector<double>> in_sum(maps, std::vector<double>(values.size(), 0.0));
  std::vector<std::vector<int>> contributions(maps, std::vector<int>(values.size(), 0));
  // Adds t's sum to a report; on the CPU also returns it (a `known` sum is used as is).
  auto add_sum = [&](const Tensor& t, std::size_t report, bool out, const double* known = nullptr) -> double {
    if (!options.report) return 0.0;
    if (dev == Device::CPU) {
      const double v = known != nullptr ? *known : sum_all(t);
      (out ? reports[report].relevance_out : reports[report].relevance_in) += v;
      return v;
    }
#if RELPROP_HAVE_CUDA
    if (!sums.defined()) {
      std::size_t slots = 0;
      for (std::size_t i = 0; i < tape.size(); ++i) slots += maps * (1 + tape.node(i).inputs.size());
      sums = Tensor::zeros({static_cast<std::int64_t>(std::max<std::size_t>(slots, 1))}, DType::F64, dev);
    }
    RELPROP_ASSERT(pending.size() < static_cast<std::size_t>(sums.numel()), "conservation slots exhausted");
    cuda::sum_into(t, sums, static_cast<std::int64_t>(pending.size()));
    pending.push_back({report, out});
#else
    (void)t;
#endif
    return 0.0;
  };

  // Positions among linear-type nodes, for first/last-layer composites; readers of each
  // value, for the saturation gate (the activation that alone reads a node's output).
  std::vector<int> linear_index(tape.size(), -1);
  std::vector<OpKind> linear_ops;
  std::vector<int> readers(values.size(), 0);
  std::vector<std::int32_t> reader(values.size(), -1);
  int linear_count = 0;
  for (std::size_t i = 0; i < tape.size(); ++i) {
    const Node& n = tape.node(i);
    if (n.op_class() == OpClass::LinearType) {
      linear_index[i] = linear_count++;
      linear_ops.push_back(n.op());
    }
    for (ValueId v : n.inputs)
      if (v >= 0) {
        ++readers[v];
        reader[v] = static_cast<std::int32_t>(i);
      }
  }

  RelevanceMap result;
  std::vector<std::uint8_t> needs;
  for (std::size_t i = tape.size(); i-- > 0;) {
    Node& node = tape.node(i);
    std::vector<Tensor> r_out(maps);
    std::vector<std::uint8_t> single(maps, 0);  // r_out[m] is one contribution, its sum known
    bool any = false;
    for (std::size_t m = 0; m < maps; ++m) {
      single[m] = contributions[m][node.output] == 1 ? 1 : 0;
      r_out[m] = std::move(R[m][node.output]);
      R[m][node.output] = Tensor();
      any = any || r_out[m].defined();
    }
    if (!any) {  // no relevance reached this node (e.g. a dead branch)
      if (!options.retain) node.release();
      continue;
    }
    for (std::size_t m = 0; m < maps; ++m)
      if (!r_out[m].defined()) r_out[m] = Tensor::zeros(values[node.output].shape, DType::F32, dev);
    if (wants_kept(options, node.name))
      for (std::size_t m = 0; m < maps; ++m) result.nodes_[node.name + suffixes[m]] = r_out[m];

    const NodeInfo info{node.name, node.op(), node.op_class(), linear_index[i], linear_count, linear_ops};
    const Rule rule = composite.rule_for(info);
    // The op's row of relevance/ops.def decides: a rule outside it is refused before any
    // kernel runs, with the rules the op does take.
    if (!op_supports(node.op(), rule)) node.unsupported(rule);
    needs.assign(node.inputs.size(), 0);
    for (std::size_t k = 0; k < node.inputs.size(); ++k) needs[k] = node.inputs[k] >= 0 ? 1 : 0;
    RelevanceContext ctx{needs, std::nullopt};
    if (const auto* bt = std::get_if<BacktraceRule>(&rule); bt && bt->gate && readers[node.output] == 1)
      ctx.activation_bounds = backtrace_gate_bounds(tape.node(reader[node.output]).op());

    std::vector<std::vector<Tensor>> r_in(maps);
    const auto started = std::chrono::steady_clock::now();
    if (maps == 1) {
      r_in[0] = node.relevance(rule, r_out[0], ctx);
    } else {
      RelevancePair pair = node.relevance_contrastive(rule, r_out[0], r_out[1], ctx);
      r_in[0] = std::move(pair.positive);
      r_in[1] = std::move(pair.negative);
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    for (std::size_t m = 0; m < maps; ++m) {
      RELPROP_ASSERT(r_in[m].size() == node.inputs.size(), "relevance kernel returned a wrong count");
      reports.push_back(NodeReport{node.name + suffixes[m], std::string(node.op_name()), rule_str(rule), 0.0, 0.0, seconds});
      const std::size_t rep = reports.size() - 1;
      add_sum(r_out[m], rep, true, single[m] != 0 ? &in_sum[m][node.output] : nullptr);
      for (std::size_t k = 0; k < node.inputs.size(); ++k) {
        const ValueId v = node.inputs[k];
        if (v < 0 || !r_in[m][k].defined()) continue;
        if (r_in[m][k].shape() != values[v].shape)
          throw ShapeError("node '" + node.name + "': relevance for input " + std::to_string(k) + " has shape " +
                           r_in[m][k].str_shape() + ", the input has " + shape_str(values[v].shape));
        const double sum_v = add_sum(r_in[m][k], rep, false);
        if (contributions[m][v]++ == 0) in_sum[m][v] = sum_v;
        accumulate(R[m][v], r_in[m][k]);
      }
    }
    if (!options.retain) node.release();
  }
  if (!pending.empty()) {
    const std::vector<double> got = sums.to_vector_f64();  // the one read-back
    for (std::size_t k = 0; k < pending.size(); ++k)
      (pending[k].out ? reports[pending[k].report].relevance_out : reports[pending[k].report].relevance_in) += got[k];
  }
  result.report_ = std::move(reports);
  // Reports in tape order read top-down like the model (positive before negative).
  std::reverse(result.report_.begin(), result.report_.end());
  if (maps == 2)
    for (std::size_t k = 0; k + 1 < result.report_.size(); k += 2) std::swap(result.report_[k], result.report_[k + 1]);

  for (ValueId v : tape.graph_inputs()) {
    for (std::size_t m = 0; m < maps; ++m) {
      Tensor r = R[m][v];
      if (!r.defined()) r = Tensor::zeros(values[v].shape, DType::F32, dev);  // the input received nothing
      if (composite.times_input) {
        // Gradient x input: the relevance so far is the gradient.
        const Tensor& x = tape.input_tensor(v);
        RELPROP_ASSERT(x.defined(), "graph input tensor missing on the tape");
#if RELPROP_HAVE_CUDA
        if (dev == Device::CUDA) {
          result.inputs_[values[v].name + suffixes[m]] = cuda::mul(x.to(dev), r);
          continue;
        }
#endif
        const Tensor xf = x.to(DType::F32).contiguous(), g = r.to(DType::F32).contiguous();
        Tensor prod = Tensor::empty(values[v].shape);
        const float *xp = xf.data<float>(), *gp = g.data<float>();
        float* o = prod.data<float>();
        for (std::int64_t k = 0; k < prod.numel(); ++k) o[k] = xp[k] * gp[k];
        r = prod;
      }
      result.inputs_[values[v].name + suffixes[m]] = r;
    }
  }
  if (!options.retain) tape.mark_consumed();
  return result;
}

RelevanceMap propagate(Tape& tape, const Tensor& output, const Tensor& seed, const Composite& composite,
                       const PropagateOptions& options) {
  return propagate_maps(tape, output, {seed}, composite, options, {""});
}

RelevanceMap propagate_contrastive(Tape& tape, const Tensor& output, const Tensor& seed_positive,
                                   const Tensor& seed_negative, const Composite& composite,
                                   const PropagateOptions& options) {
  return propagate_maps(tape, output, {seed_positive, seed_negative}, composite, options, {".positive", ".negative"});
}

}  // namespace relprop
