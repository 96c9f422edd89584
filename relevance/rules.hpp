#pragma once
// Rules are data: small validated descriptors. The one list of rules is
// relevance/rules.def; the equations they stand for are in docs/RULES.md; the kernels that
// apply them live with each op in ops/, and relevance/ops.def says which op takes which.

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

namespace relprop {

// How a denominator z is kept away from zero (docs/RULES.md, "Stabiliser").
enum class Stabilizer {
  Sign,    // z + eps * sgn0(z)
  Clip,    // sgn0(z) * max(|z|, eps)
  Scaled,  // as Sign, eps multiplied by sqrt(mean(z^2)) over the non-batch dimensions
};

// Default stabiliser epsilon of the rules below.
inline constexpr double kDefaultStabilizerEps = 1e-6;

// LRP-0: x_j w_jk R_k / z_k (a zero z_k sends nothing).
struct ZeroRule {
  bool zero_bias = false;
};

// LRP-epsilon: x_j w_jk R_k / stab_eps(z_k).
struct EpsilonRule {
  double epsilon = 1e-6;
  Stabilizer stabilizer = Stabilizer::Sign;
  bool zero_bias = false;
};

// R_in = R_out (shapes must match).
struct PassRule {};

// Not LRP: the plain vector-Jacobian product (saliency).
struct GradientRule {};

// The epsilon rule for parameterless linear maps (sums, residual adds, average pooling).
struct NormRule {
  double epsilon = kDefaultStabilizerEps;
  Stabilizer stabilizer = Stabilizer::Sign;
};

// DLBacktrace. Default mode: R_j = sum_k R_k |z_jk| / (P_k + N_k + |b_k|). Residual adds
// split by |a| / (|a| + |b|), or equally when `equal_split`.
struct BacktraceRule {
  // Default: one map (propagate); Contrastive: positive and negative maps together
  // (propagate_contrastive).
  enum class Mode { Default, Contrastive };
  Mode mode = Mode::Default;
  bool gate = false;         // saturation gate from the following activation
  bool equal_split = false;  // residual adds: R/2 to each side (DLBacktrace v2)
};

// z+ (LRP-alpha1-beta0 on positive parts): x+ w+ and x- w- contributions only.
struct ZPlusRule {
  double epsilon = kDefaultStabilizerEps;
  Stabilizer stabilizer = Stabilizer::Sign;
  bool zero_bias = false;
};

// LRP-alpha-beta: alpha times the positive contributions minus beta times the negative
// ones; alpha - beta = 1, alpha, beta >= 0.
struct AlphaBetaRule {
  double alpha = 2.0;
  double beta = 1.0;
  double epsilon = kDefaultStabilizerEps;
  Stabilizer stabilizer = Stabilizer::Sign;
  bool zero_bias = false;
};

// Generalised gamma (Andeol et al. 2021): positive outputs favour w + gamma w+, negative
// outputs w + gamma w-.
struct GammaRule {
  double gamma = 0.25;
  double epsilon = kDefaultStabilizerEps;
  Stabilizer stabilizer = Stabilizer::Sign;
  bool zero_bias = false;
};

// z^B for the input layer: inputs bounded by [low, high], each a scalar (one value) or
// one value per channel (dimension 1 of the input). No bias.
struct ZBoxRule {
  std::vector<double> low{-1.0};
  std::vector<double> high{1.0};
  double epsilon = kDefaultStabilizerEps;
  Stabilizer stabilizer = Stabilizer::Sign;
};

// w^2: relevance by squared weights, independent of the input.
struct WSquareRule {
  double epsilon = kDefaultStabilizerEps;
  Stabilizer stabilizer = Stabilizer::Sign;
  bool zero_bias = false;
};

// Flat: every input in the receptive field gets an equal share.
struct FlatRule {
  double epsilon = kDefaultStabilizerEps;
  Stabilizer stabilizer = Stabilizer::Sign;
};

// A product of two computed tensors with input `input` held constant (CP-LRP: attention
// weights are constants): all relevance goes to the other factor by the epsilon rule.
struct ConstantRule {
  int input = 0;
  double epsilon = kDefaultStabilizerEps;
};

// Pooling: each output's relevance shared equally by the input positions of its window
// that lie inside the input (DLBacktrace 0.1.x's treatment of pooling where the windows
// tile the input); overlapping windows add their shares.
struct UniformRule {};

// Any one rule; a Composite assigns one to each node. The alternatives stand in
// relevance/rules.def's order (checked below).
using Rule = std::variant<ZeroRule, EpsilonRule, PassRule, GradientRule, NormRule, BacktraceRule, ZPlusRule,
                          AlphaBetaRule, GammaRule, ZBoxRule, WSquareRule, FlatRule, ConstantRule, UniformRule>;

// One enumerator per rule, in relevance/rules.def's order: the Rule variant's index.
enum class RuleKind : std::uint8_t {
#define RELPROP_RULE(e, name, params, T) e,
#include "relprop/relevance/rules.def"
#undef RELPROP_RULE
};

// Number of rules.
inline constexpr int kNumRules = 0
#define RELPROP_RULE(e, name, params, T) +1
#include "relprop/relevance/rules.def"
#undef RELPROP_RULE
    ;

static_assert(std::variant_size_v<Rule> == kNumRules, "Rule and relevance/rules.def list different rules");
#define RELPROP_RULE(e, name, params, T)                                                              \
  static_assert(std::is_same_v<std::variant_alternative_t<static_cast<std::size_t>(RuleKind::e), Rule>, T>, \
                "Rule's alternatives are not in relevance/rules.def's order at " #T);
#include "relprop/relevance/rules.def"
#undef RELPROP_RULE

// The kind of `rule` (which alternative it holds).
constexpr RuleKind rule_kind(const Rule& rule) { return static_cast<RuleKind>(rule.index()); }
// The rule's name as the CLI spells it ("alpha-beta").
std::string_view rule_name(RuleKind kind);

// A set of rule kinds (what an op supports), built from kinds and other sets.
class RuleSet {
 public:
  constexpr RuleSet() = default;
  template <class... A>
  constexpr explicit RuleSet(A... parts) {
    (add(parts), ...);
  }
  // Every rule.
  static constexpr RuleSet all() {
    RuleSet s;
    s.bits_ = (std::uint32_t{1} << kNumRules) - 1;
    return s;
  }
  constexpr bool has(RuleKind k) const { return (bits_ >> static_cast<int>(k)) & 1u; }
  constexpr bool empty() const { return bits_ == 0; }
  constexpr bool operator==(const RuleSet&) const = default;
  // The names, in relevance/rules.def's order, comma separated ("zero, epsilon, ...").
  std::string str() const;

 private:
  constexpr void add(RuleKind k) { bits_ |= std::uint32_t{1} << static_cast<int>(k); }
  constexpr void add(RuleSet s) { bits_ |= s.bits_; }
  std::uint32_t bits_ = 0;
};
static_assert(kNumRules <= 32, "RuleSet holds up to 32 rules");

// Throws ValueError when a parameter is out of range (negative epsilon, ...).
void validate(const Rule& rule);
// "epsilon:1e-06", "backtrace", ... — the form `parse_rule` reads back.
std::string rule_str(const Rule& rule);
// Parses the CLI form NAME[:PARAMS] (the names and parameters of relevance/rules.def;
// backtrace-contrastive (no parameters) is the Backtrace rule's contrastive mode; zbox's
// LOW / HIGH: one value or per-channel values joined by '/'; constant's I: 0 or 1).
// Throws NotFoundError listing the known names, ValueError on bad parameters.
Rule parse_rule(std::string_view spec);
// The rule names parse_rule knows with their parameters, comma separated.
std::string rule_names();

}  // namespace relprop
