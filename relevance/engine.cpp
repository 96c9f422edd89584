#include "relevance/engine.hpp"

#include <algorithm>
#include <cmath>

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
  const Tensor c = contribution.contiguous();
  float* b = buffer.data<float>();
  const float* a = c.data<float>();
  const std::int64_t n = buffer.numel();
#pragma omp parallel for if (n > (1 << 16)) schedule(static)
  for (std::int64_t i = 0; i < n; ++i) b[i] += a[i];
}

bool wants_kept(const PropagateOptions& o, const std::string& name) {
  if (o.keep_all) return true;
  for (const auto& p : o.keep)
    if (glob_match(p, name)) return true;
  return false;
}

}  // namespace

RelevanceMap propagate(Tape& tape, const Tensor& output, const Tensor& seed,
                       const Composite& composite, const PropagateOptions& options) {
  if (tape.consumed())
    throw ValueError("propagate: the tape's saved tensors were released by an earlier propagate; "
                     "pass PropagateOptions::retain to propagate a tape more than once");
  const ValueId out_id = tape.value_of(output);
  if (out_id < 0)
    throw ValueError("propagate: the output tensor was not recorded on this tape "
                     "(run the forward pass inside a Recording scope of the same tape)");
  if (!seed.defined() || seed.shape() != output.shape())
    throw ShapeError("propagate: seed shape " + (seed.defined() ? seed.str_shape() : "<undefined>") +
                     " differs from output shape " + output.str_shape());

  const auto& values = tape.values();
  std::vector<Tensor> R(values.size());
  R[out_id] = seed.to(DType::F32).contiguous();

  // Positions among linear-type nodes, for first/last-layer composites.
  std::vector<int> linear_index(tape.size(), -1);
  std::vector<std::string_view> linear_ops;
  int linear_count = 0;
  for (std::size_t i = 0; i < tape.size(); ++i)
    if (tape.node(i).op_class() == OpClass::LinearType) {
      linear_index[i] = linear_count++;
      linear_ops.push_back(tape.node(i).op());
    }

  RelevanceMap result;
  std::vector<std::uint8_t> needs;
  for (std::size_t i = tape.size(); i-- > 0;) {
    Node& node = tape.node(i);
    Tensor r_out = std::move(R[node.output]);
    R[node.output] = Tensor();
    if (!r_out.defined()) {  // no relevance reached this node (e.g. a dead branch)
      if (!options.retain) node.release();
      continue;
    }
    if (wants_kept(options, node.name)) result.nodes_[node.name] = r_out;

    const NodeInfo info{node.name, node.op(), node.op_class(), linear_index[i], linear_count, linear_ops};
    const Rule rule = composite.rule_for(info);
    needs.assign(node.inputs.size(), 0);
    for (std::size_t k = 0; k < node.inputs.size(); ++k) needs[k] = node.inputs[k] >= 0 ? 1 : 0;
    const RelevanceContext ctx{needs};

    std::vector<Tensor> r_in = node.relevance(rule, r_out, ctx);
    RELPROP_ASSERT(r_in.size() == node.inputs.size(), "relevance kernel returned a wrong count");

    NodeReport rep{node.name, std::string(node.op()), rule_str(rule), sum_all(r_out), 0.0};
    for (std::size_t k = 0; k < node.inputs.size(); ++k) {
      const ValueId v = node.inputs[k];
      if (v < 0 || !r_in[k].defined()) continue;
      if (r_in[k].shape() != values[v].shape)
        throw ShapeError("node '" + node.name + "': relevance for input " + std::to_string(k) +
                         " has shape " + r_in[k].str_shape() + ", the input has " +
                         shape_str(values[v].shape));
      rep.relevance_in += sum_all(r_in[k]);
      accumulate(R[v], r_in[k]);
    }
    result.report_.push_back(std::move(rep));
    if (!options.retain) node.release();
  }
  // Reports in tape order read top-down like the model.
  std::reverse(result.report_.begin(), result.report_.end());

  for (ValueId v : tape.graph_inputs()) {
    Tensor r = R[v];
    if (!r.defined()) r = Tensor::zeros(values[v].shape);  // the input received nothing
    result.inputs_[values[v].name] = r;
  }
  if (!options.retain) tape.mark_consumed();
  return result;
}

}  // namespace relprop
