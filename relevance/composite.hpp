#pragma once
// A Composite maps each node to a rule: by node-name glob, by position (first / last
// linear-type node), by op, by op class, with a default — the way Zennit's
// EpsilonPlusFlat does. DLBacktrace is one composite among others. Ops and classes are
// the typed OpKind / OpClass of relevance/op_kind.hpp; names given as text are resolved
// against relevance/ops.def when the matcher is added.

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "relprop/relevance/op_kind.hpp"
#include "relprop/relevance/rules.hpp"
#include "relprop/relevance/tape.hpp"

namespace relprop {

// How the output relevance starts (docs/RULES.md, "Seeding").
enum class SeedForm {
  Value,   // the target output's own value
  OneHot,  // 1 at the target
};

// What a composite needs to know about a node to choose its rule.
struct NodeInfo {
  std::string_view name;  // module path, e.g. "features.0"
  OpKind op = OpKind::Identity;
  OpClass op_class = OpClass::Other;
  int linear_index = -1;  // position among linear-type nodes (0 = first), -1 if not one
  int linear_count = 0;   // number of linear-type nodes on the tape
  // The ops of all linear-type nodes in tape order (for "the first convolution").
  std::span<const OpKind> linear_ops;
};

// One setting of CompositeOptions (below), for Composite::takes.
enum class CompositeOption : std::uint8_t {
  Epsilon,  // epsilon
  Gamma,    // gamma
  Bounds,   // low and high
};

// Settings shared by the built-in composites.
struct CompositeOptions {
  double epsilon = 1e-6;  // the epsilon of Epsilon rules
  double gamma = 0.25;    // epsilon-gamma-box: the convolutions' gamma
  // epsilon-gamma-box: the input layer's z^B bounds (one value, or one per channel).
  std::vector<double> low{-3.0};
  std::vector<double> high{3.0};
};

// Chooses the rule of every node of a tape (see the top of this file). Matchers validate
// their rule (ValueError) and return *this, so they chain.
class Composite {
 public:
  // An empty composite called `name`: add matchers and / or a fallback.
  explicit Composite(std::string name = "custom");

  // Built-in composites: zero, epsilon, epsilon-plus, epsilon-plus-flat, epsilon-gamma-box,
  // epsilon-alpha2-beta1, epsilon-alpha2-beta1-flat, backtrace, backtrace-contrastive,
  // gradient, gradient-x-input, and for transformers attnlrp and cp-lrp (AttnLRP; CP-LRP
  // with the attention weights held constant). As in Zennit, dense layers (linear) take
  // epsilon and convolutions the composite's other rule; the -flat variants give the first
  // linear-type node flat, epsilon-gamma-box gives the first convolution z^B.
  // NotFoundError lists the names.
  static Composite by_name(std::string_view name, const CompositeOptions& options = {});
  // The names by_name knows.
  static std::vector<std::string> names();

  // Matchers, from weakest to strongest: class < op < position < name glob; among
  // matchers of one kind the one added last wins (of the positions, last beats first).
  // Every node of op class `c`.
  Composite& for_class(OpClass c, Rule rule);
  // Every node of op `op`; by name ("conv2d"): NotFoundError for a name that is no op.
  Composite& for_op(OpKind op, Rule rule);
  Composite& for_op(std::string_view op, Rule rule);
  // The first / last linear-type node; with `ops`, the first / last among nodes of those
  // ops only (Zennit's z^B goes to the first convolution, not a dense layer).
  Composite& for_first_linear(Rule rule, std::vector<OpKind> ops = {});
  Composite& for_last_linear(Rule rule, std::vector<OpKind> ops = {});
  // `pattern` is a glob over node names: `*` any run, `?` one character.
  Composite& for_name(std::string pattern, Rule rule);
  // The rule for a node that no matcher takes.
  Composite& set_fallback(Rule rule);

  // The rule for a node. Throws NotFoundError when nothing matches and there is no fallback.
  Rule rule_for(const NodeInfo& node) const;

  // Whether by_name made this composite with `option`: epsilon for the composites with
  // epsilon rules, gamma and the bounds for epsilon-gamma-box; false for every option of
  // a composite not made by by_name. (The command line refuses an option the composite
  // does not take.)
  bool takes(CompositeOption option) const { return (takes_ >> static_cast<int>(option)) & 1u; }

  const std::string& name() const { return name_; }  // e.g. "epsilon-plus"
  // Seed defaults: LRP composites use the output value x 1, Backtrace one-hot x 100,
  // gradient one-hot x 1.
  SeedForm seed_form = SeedForm::Value;
  double multiplier = 1.0;
  // Gradient x input: the engine multiplies the input relevance by the input.
  bool times_input = false;
  // Backtrace contrastive: two maps (propagate_contrastive, contrastive_seed).
  bool contrastive = false;

 private:
  std::string name_;
  std::vector<std::pair<OpClass, Rule>> by_class_;
  std::vector<std::pair<OpKind, Rule>> by_op_;
  struct Position {
    Rule rule;
    std::vector<OpKind> ops;  // empty: any linear-type op
  };
  bool at_position(const Position& p, const NodeInfo& node, bool first) const;
  std::optional<Position> first_linear_, last_linear_;
  std::vector<std::pair<std::string, Rule>> by_name_;
  std::optional<Rule> fallback_;
  std::uint8_t takes_ = 0;  // bit i: CompositeOption i
  void take(CompositeOption o) { takes_ |= static_cast<std::uint8_t>(1u << static_cast<int>(o)); }
};

// Shell-style glob: `*` any run (also empty), `?` any one character.
bool glob_match(std::string_view pattern, std::string_view text);

}  // namespace relprop
