#include "relprop/relevance/composite.hpp"

#include <algorithm>
#include <array>

#include "relprop/tensor/error.hpp"

namespace relprop {

bool glob_match(std::string_view p, std::string_view t) {
  // Iterative matcher with one backtrack point for the last `*`.
  std::size_t pi = 0, ti = 0, star = std::string_view::npos, mark = 0;
  while (ti < t.size()) {
    if (pi < p.size() && (p[pi] == '?' || p[pi] == t[ti])) {
      ++pi;
      ++ti;
    } else if (pi < p.size() && p[pi] == '*') {
      star = pi++;
      mark = ti;
    } else if (star != std::string_view::npos) {
      pi = star + 1;
      ti = ++mark;
    } else {
      return false;
    }
  }
  while (pi < p.size() && p[pi] == '*') ++pi;
  return pi == p.size();
}

Composite::Composite(std::string name) : name_(std::move(name)) {}

Composite& Composite::for_class(OpClass c, Rule rule) {
  validate(rule);
  by_class_.emplace_back(c, std::move(rule));
  return *this;
}
Composite& Composite::for_op(OpKind op, Rule rule) {
  validate(rule);
  by_op_.emplace_back(op, std::move(rule));
  return *this;
}
Composite& Composite::for_op(std::string_view op, Rule rule) { return for_op(op_kind(op), std::move(rule)); }
Composite& Composite::for_first_linear(Rule rule, std::vector<OpKind> ops) {
  validate(rule);
  first_linear_ = Position{std::move(rule), std::move(ops)};
  return *this;
}
Composite& Composite::for_last_linear(Rule rule, std::vector<OpKind> ops) {
  validate(rule);
  last_linear_ = Position{std::move(rule), std::move(ops)};
  return *this;
}

bool Composite::at_position(const Position& p, const NodeInfo& node, bool first) const {
  if (node.linear_index < 0) return false;
  if (p.ops.empty()) return first ? node.linear_index == 0 : node.linear_index == node.linear_count - 1;
  auto wanted = [&](OpKind op) { return std::find(p.ops.begin(), p.ops.end(), op) != p.ops.end(); };
  if (!wanted(node.op)) return false;
  // Without the tape's list of ops the position cannot be judged: no match.
  if (node.linear_ops.size() != static_cast<std::size_t>(node.linear_count)) return false;
  const auto idx = static_cast<std::size_t>(node.linear_index);
  if (first) {
    for (std::size_t i = 0; i < idx; ++i)
      if (wanted(node.linear_ops[i])) return false;
  } else {
    for (std::size_t i = idx + 1; i < node.linear_ops.size(); ++i)
      if (wanted(node.linear_ops[i])) return false;
  }
  return true;
}
Composite& Composite::for_name(std::string pattern, Rule rule) {
  validate(rule);
  by_name_.emplace_back(std::move(pattern), std::move(rule));
  return *this;
}
Composite& Composite::set_fallback(Rule rule) {
  validate(rule);
  fallback_ = std::move(rule);
  return *this;
}

Rule Composite::rule_for(const NodeInfo& node) const {
  for (auto it = by_name_.rbegin(); it != by_name_.rend(); ++it)
    if (glob_match(it->first, node.name)) return it->second;
  if (last_linear_ && at_position(*last_linear_, node, false)) return last_linear_->rule;
  if (first_linear_ && at_position(*first_linear_, node, true)) return first_linear_->rule;
  for (auto it = by_op_.rbegin(); it != by_op_.rend(); ++it)
    if (it->first == node.op) return it->second;
  for (auto it = by_class_.rbegin(); it != by_class_.rend(); ++it)
    if (it->first == node.op_class) return it->second;
  if (fallback_) return *fallback_;
  throw NotFoundError("composite '" + name_ + "' has no rule for node '" + std::string(node.name) +
                      "' (op " + std::string(op_name(node.op)) + ", " +
                      std::string(op_class_name(node.op_class)) + ")");
}

std::vector<std::string> Composite::names() {
  return {"zero",           "epsilon",           "epsilon-plus",          "epsilon-plus-flat",
          "epsilon-gamma-box", "epsilon-alpha2-beta1", "epsilon-alpha2-beta1-flat", "backtrace",
          "backtrace-contrastive", "gradient", "gradient-x-input", "attnlrp", "cp-lrp"};
}

namespace {
// The convolutions, which Zennit's layer-type composites treat apart from dense layers.
constexpr std::array<OpKind, 2> kConvolutions = {OpKind::Conv1d, OpKind::Conv2d};
}  // namespace

Composite Composite::by_name(std::string_view name, const CompositeOptions& options) {
  // Parameterless ops share these in every LRP composite: activations and shape ops pass
  // relevance through; residual adds use Norm.
  auto lrp_base = [](Composite c) {
    c.for_class(OpClass::Activation, PassRule{});
    c.for_class(OpClass::Shape, PassRule{});
    c.for_class(OpClass::Normalization, PassRule{});  // unfolded batch norm
    c.for_class(OpClass::Elementwise, NormRule{});
    c.for_class(OpClass::Pooling, NormRule{});  // average pooling: the epsilon rule of a mean
    c.for_op(OpKind::MaxPool2d, PassRule{});  // winner-take-all
    c.for_op(OpKind::MaxPool1d, PassRule{});
    // Transformer pieces in the CNN composites: products of computed tensors by the
    // bilinear rule, the attention softmax passed through, embeddings summed.
    c.for_class(OpClass::Attention, EpsilonRule{});
    c.for_op(OpKind::AttentionSoftmax, PassRule{});
    c.for_class(OpClass::Other, PassRule{});
    return c;
  };
  if (name == "zero") {
    Composite c = lrp_base(Composite("zero"));
    c.for_class(OpClass::LinearType, ZeroRule{});
    return c;
  }
  if (name == "epsilon") {
    Composite c = lrp_base(Composite("epsilon"));
    c.for_class(OpClass::LinearType, EpsilonRule{options.epsilon});
    c.take(CompositeOption::Epsilon);
    return c;
  }
  // Zennit's layer-type composites: epsilon for dense layers, `conv_rule` for convolutions.
  auto layered = [&](std::string n, Rule conv_rule) {
    Composite c = lrp_base(Composite(std::move(n)));
    c.for_class(OpClass::LinearType, EpsilonRule{options.epsilon});
    for (const OpKind conv : kConvolutions) c.for_op(conv, conv_rule);
    c.take(CompositeOption::Epsilon);
    return c;
  };
  if (name == "epsilon-plus") return layered("epsilon-plus", ZPlusRule{});
  if (name == "epsilon-alpha2-beta1") return layered("epsilon-alpha2-beta1", AlphaBetaRule{2.0, 1.0});
  if (name == "epsilon-plus-flat") {
    Composite c = layered("epsilon-plus-flat", ZPlusRule{});
    c.for_first_linear(FlatRule{});
    return c;
  }
  if (name == "epsilon-alpha2-beta1-flat") {
    Composite c = layered("epsilon-alpha2-beta1-flat", AlphaBetaRule{2.0, 1.0});
    c.for_first_linear(FlatRule{});
    return c;
  }
  if (name == "epsilon-gamma-box") {
    GammaRule g;
    g.gamma = options.gamma;
    Composite c = layered("epsilon-gamma-box", g);
    ZBoxRule box;
    box.low = options.low;
    box.high = options.high;
    c.for_first_linear(box, {kConvolutions.begin(), kConvolutions.end()});  // Zennit: the first convolution
    c.take(CompositeOption::Gamma);
    c.take(CompositeOption::Bounds);
    return c;
  }
  if (name == "attnlrp" || name == "cp-lrp") {
    // AttnLRP (Achtibat et al. 2024): ε for linear layers and the bilinear products, the
    // softmax rule x (R - s ΣR), layer norm with 1/std constant, RMS norm and element-wise
    // non-linearities identity, gated products uniform, residual adds by Norm.
    // CP-LRP: the attention weights are constants (A·V passes everything to V; nothing
    // flows through the softmax or the q/k path), and so are SwiGLU gates.
    Composite c = lrp_base(Composite(std::string(name)));
    c.for_class(OpClass::LinearType, EpsilonRule{options.epsilon});
    // Residual and position sums, mean pooling: Norm with the composite's epsilon, so that
    // epsilon 0 is LXT's Gradient x Input exactly (tests/nn/test_lxt_parity.cpp).
    c.for_class(OpClass::Elementwise, NormRule{options.epsilon});
    c.for_class(OpClass::Pooling, NormRule{options.epsilon});
    if (name == "attnlrp") {
      c.for_op(OpKind::Matmul, EpsilonRule{options.epsilon});
      c.for_op(OpKind::AttentionSoftmax, EpsilonRule{options.epsilon});
      c.for_op(OpKind::Softmax, EpsilonRule{options.epsilon});
    } else {
      c.for_op(OpKind::Matmul, ConstantRule{0, options.epsilon});
      c.for_op(OpKind::AttentionSoftmax, ConstantRule{0, options.epsilon});
      // Gated MLPs (the LLaMA builder's SwiGLU product `mlp.gated`): the gate
      // act(gate_proj x), its first factor, is a constant as well, as in LXT's CP-LRP: all
      // of the product's relevance goes to up_proj.
      c.for_name("*mlp.gated", ConstantRule{0, options.epsilon});
    }
    c.for_op(OpKind::LayerNorm, EpsilonRule{options.epsilon});
    c.for_op(OpKind::RmsNorm, PassRule{});
    c.for_op(OpKind::RotaryEmbedding, EpsilonRule{options.epsilon});  // a linear map of q / k
    c.take(CompositeOption::Epsilon);
    return c;
  }
  if (name == "backtrace" || name == "backtrace-contrastive") {
    Composite c{std::string(name)};
    BacktraceRule bt;
    if (name == "backtrace-contrastive") {
      bt.mode = BacktraceRule::Mode::Contrastive;
      c.contrastive = true;
    }
    c.set_fallback(bt);
    c.for_class(OpClass::Activation, PassRule{});
    c.for_class(OpClass::Shape, PassRule{});
    c.seed_form = SeedForm::OneHot;
    c.multiplier = 100.0;
    return c;
  }
  if (name == "gradient" || name == "gradient-x-input") {
    Composite c{std::string(name)};
    c.set_fallback(GradientRule{});
    c.seed_form = SeedForm::OneHot;
    c.times_input = name == "gradient-x-input";
    return c;
  }
  std::string known;
  for (const auto& n : names()) known += (known.empty() ? "" : ", ") + n;
  throw NotFoundError("unknown composite '" + std::string(name) + "' (known: " + known + ")");
}

}  // namespace relprop
