#include "relprop/relevance/rules.hpp"

#include <algorithm>
#include <array>
#include <cfloat>
#include <charconv>
#include <cmath>
#include <vector>

#include "relprop/tensor/error.hpp"

namespace relprop {

namespace {

template <class... F>
struct Overload : F... {
  using F::operator()...;
};
template <class... F>
Overload(F...) -> Overload<F...>;

// As `std::ostream << v` writes it (printf's %g: six significant digits), without a
// stream or printf: the engine names every node's rule in its report, per explanation.
std::string fmt(double v) {
  char buf[32];
  const auto r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::general, 6);
  return std::string(buf, r.ptr);
}

// Finite as the kernels use it: a float32 (a double beyond ~3.4e38 rounds to infinity).
bool finite32(double v) { return std::isfinite(v) && std::fabs(v) <= FLT_MAX; }

// ValueError unless `v` is finite in float32 (and >= 0 with `nonnegative`).
void check_number(double v, const char* rule, const char* what, bool nonnegative) {
  if (!finite32(v) || (nonnegative && !(v >= 0.0)))
    throw ValueError(std::string(rule) + ": " + what + " must be a finite number" + (nonnegative ? " >= 0" : "") +
                     " (float32: |v| <= 3.40282e+38), got " + fmt(v));
}

void check_eps(double eps, const char* rule) { check_number(eps, rule, "epsilon", true); }

// The whole of `text` as a decimal number (from_chars: no sign '+', no hexadecimal, no
// spaces), finite.
double parse_number(std::string_view text, std::string_view rule) {
  double v = 0;
  const auto* end = text.data() + text.size();
  auto [p, ec] = std::from_chars(text.data(), end, v);
  if (ec != std::errc() || p != end || text.empty())
    throw ValueError("rule '" + std::string(rule) + "': parameter '" + std::string(text) +
                     "' is not a number");
  if (!finite32(v))
    throw ValueError("rule '" + std::string(rule) + "': parameter '" + std::string(text) +
                     "' is not a finite number (float32: |v| <= 3.40282e+38)");
  return v;
}

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> parts;
  std::size_t start = 0;
  while (true) {
    const auto pos = s.find(sep, start);
    parts.push_back(s.substr(start, pos == std::string_view::npos ? std::string_view::npos : pos - start));
    if (pos == std::string_view::npos) return parts;
    start = pos + 1;
  }
}

}  // namespace

void validate(const Rule& rule) {
  std::visit(Overload{[](const ZeroRule&) {}, [](const PassRule&) {}, [](const GradientRule&) {},
                      [](const BacktraceRule&) {}, [](const UniformRule&) {},
                      [](const ConstantRule& r) {
                        check_eps(r.epsilon, "constant");
                        if (r.input != 0 && r.input != 1)
                          throw ValueError("constant: the constant input is 0 or 1, got " + std::to_string(r.input));
                      },
                      [](const EpsilonRule& r) { check_eps(r.epsilon, "epsilon"); },
                      [](const NormRule& r) { check_eps(r.epsilon, "norm"); },
                      [](const ZPlusRule& r) { check_eps(r.epsilon, "zplus"); },
                      [](const WSquareRule& r) { check_eps(r.epsilon, "wsquare"); },
                      [](const FlatRule& r) { check_eps(r.epsilon, "flat"); },
                      [](const AlphaBetaRule& r) {
                        check_eps(r.epsilon, "alpha-beta");
                        check_number(r.alpha, "alpha-beta", "alpha", true);
                        check_number(r.beta, "alpha-beta", "beta", true);
                        if (std::fabs(r.alpha - r.beta - 1.0) > 1e-9)
                          throw ValueError("alpha-beta: need alpha - beta = 1 and alpha, beta >= 0, got alpha " +
                                           fmt(r.alpha) + ", beta " + fmt(r.beta));
                      },
                      [](const GammaRule& r) {
                        check_eps(r.epsilon, "gamma");
                        check_number(r.gamma, "gamma", "gamma", true);
                      },
                      [](const ZBoxRule& r) {
                        check_eps(r.epsilon, "zbox");
                        if (r.low.empty() || r.high.empty())
                          throw ValueError("zbox: low and high need at least one value");
                        if (r.low.size() != r.high.size() && r.low.size() != 1 && r.high.size() != 1)
                          throw ValueError("zbox: low has " + std::to_string(r.low.size()) + " values, high " +
                                           std::to_string(r.high.size()) + "; give one or one per channel");
                        for (double v : r.low) check_number(v, "zbox", "low", false);
                        for (double v : r.high) check_number(v, "zbox", "high", false);
                        const std::size_t n = std::max(r.low.size(), r.high.size());
                        for (std::size_t i = 0; i < n; ++i) {
                          const double lo = r.low[r.low.size() == 1 ? 0 : i], hi = r.high[r.high.size() == 1 ? 0 : i];
                          // low = high: every z^B denominator is 0 (the box is one point).
                          if (!(lo < hi))
                            throw ValueError("zbox: low " + fmt(lo) + (lo == hi ? " equals" : " is above") + " high " +
                                             fmt(hi) + " (the box needs low < high)");
                        }
                      }},
             rule);
}

std::string rule_str(const Rule& rule) {
  auto list = [](const std::vector<double>& v) {
    std::string s;
    for (std::size_t i = 0; i < v.size(); ++i) s += (i ? "/" : "") + fmt(v[i]);
    return s;
  };
  return std::visit(
      Overload{[](const ZeroRule&) { return std::string("zero"); },
               [](const PassRule&) { return std::string("pass"); },
               [](const GradientRule&) { return std::string("gradient"); },
               [](const EpsilonRule& r) { return "epsilon:" + fmt(r.epsilon); },
               [](const NormRule& r) { return "norm:" + fmt(r.epsilon); },
               [](const ZPlusRule&) { return std::string("zplus"); },
               [](const AlphaBetaRule& r) { return "alpha-beta:" + fmt(r.alpha) + "," + fmt(r.beta); },
               [](const GammaRule& r) { return "gamma:" + fmt(r.gamma); },
               [&](const ZBoxRule& r) { return "zbox:" + list(r.low) + "," + list(r.high); },
               [](const WSquareRule&) { return std::string("wsquare"); },
               [](const FlatRule&) { return std::string("flat"); },
               [](const UniformRule&) { return std::string("uniform"); },
               [](const ConstantRule& r) { return "constant:" + std::to_string(r.input); },
               [](const BacktraceRule& r) {
                 std::string s = r.mode == BacktraceRule::Mode::Contrastive ? "backtrace-contrastive"
                                                                           : "backtrace";
                 if (r.gate || r.equal_split) s += ":";
                 if (r.gate) s += "gate";
                 if (r.equal_split) s += r.gate ? ",equal" : "equal";
                 return s;
               }},
      rule);
}

namespace {

constexpr std::array<std::string_view, kNumRules> kRuleNames = {
#define RELPROP_RULE(e, name, params, T) name,
#include "relprop/relevance/rules.def"
#undef RELPROP_RULE
};
constexpr std::array<std::string_view, kNumRules> kRuleParams = {
#define RELPROP_RULE(e, name, params, T) params,
#include "relprop/relevance/rules.def"
#undef RELPROP_RULE
};

}  // namespace

std::string_view rule_name(RuleKind kind) { return kRuleNames[static_cast<std::size_t>(kind)]; }

std::string RuleSet::str() const {
  std::string s;
  for (int i = 0; i < kNumRules; ++i)
    if (has(static_cast<RuleKind>(i))) s += (s.empty() ? "" : ", ") + std::string(kRuleNames[i]);
  return s;
}

std::string rule_names() {
  std::string s;
  for (int i = 0; i < kNumRules; ++i) {
    s += (s.empty() ? "" : ", ") + std::string(kRuleNames[i]) + std::string(kRuleParams[i]);
    if (static_cast<RuleKind>(i) == RuleKind::Backtrace) s += ", backtrace-contrastive";
  }
  return s + " (zbox's LOW / HIGH: one value, or per-channel values separated by '/')";
}

Rule parse_rule(std::string_view spec) {
  const auto colon = spec.find(':');
  const std::string_view name = spec.substr(0, colon);
  const std::string_view param =
      colon == std::string_view::npos ? std::string_view{} : spec.substr(colon + 1);
  const bool has_param = colon != std::string_view::npos;
  auto no_param = [&] {
    if (has_param)
      throw ValueError("rule '" + std::string(name) + "' takes no parameter, got '" +
                       std::string(spec) + "'");
  };
  // The kind by name (backtrace-contrastive: the Backtrace rule's contrastive mode).
  const bool contrastive = name == "backtrace-contrastive";
  std::optional<RuleKind> kind;
  if (contrastive) kind = RuleKind::Backtrace;
  for (int i = 0; i < kNumRules && !kind; ++i)
    if (kRuleNames[i] == name) kind = static_cast<RuleKind>(i);
  if (!kind) throw NotFoundError("unknown rule '" + std::string(name) + "' (known: " + rule_names() + ")");
  Rule rule;
  switch (*kind) {
    case RuleKind::Zero: {
      no_param();
      rule = ZeroRule{};
      break;
    }
    case RuleKind::Epsilon: {
      EpsilonRule r;
      if (has_param) r.epsilon = parse_number(param, name);
      rule = r;
      break;
    }
    case RuleKind::Norm: {
      NormRule r;
      if (has_param) r.epsilon = parse_number(param, name);
      rule = r;
      break;
    }
    case RuleKind::Pass: {
      no_param();
      rule = PassRule{};
      break;
    }
    case RuleKind::Gradient: {
      no_param();
      rule = GradientRule{};
      break;
    }
    case RuleKind::Backtrace: {
      BacktraceRule r;
      if (contrastive) r.mode = BacktraceRule::Mode::Contrastive;
      // Flags, comma separated: gate (the saturation gate), equal (residual adds split 50/50).
      // The contrastive mode has neither: its winner/loser split replaces both.
      if (contrastive && has_param)
        throw ValueError("rule 'backtrace-contrastive' takes no parameters (the saturation gate and the equal "
                         "split belong to the default mode), got '" + std::string(spec) + "'");
      if (has_param)
        for (auto flag : split(param, ',')) {
          if (flag == "gate") r.gate = true;
          else if (flag == "equal") r.equal_split = true;
          else
            throw ValueError("rule '" + std::string(name) + "': parameters are 'gate' and 'equal' (comma separated), got '" +
                             std::string(spec) + "'");
        }
      rule = r;
      break;
    }
    case RuleKind::Constant: {
      ConstantRule r;
      if (has_param) {
        const double v = parse_number(param, name);
        if (v != 0.0 && v != 1.0)
          throw ValueError("rule 'constant': the constant input is 0 or 1, got '" + std::string(spec) + "'");
        r.input = static_cast<int>(v);
      }
      rule = r;
      break;
    }
    case RuleKind::ZPlus: {
      no_param();
      rule = ZPlusRule{};
      break;
    }
    case RuleKind::AlphaBeta: {
      AlphaBetaRule r;
      if (has_param) {
        const auto parts = split(param, ',');
        if (parts.size() != 2) throw ValueError("rule 'alpha-beta': expected alpha-beta:A,B, got '" + std::string(spec) + "'");
        r.alpha = parse_number(parts[0], name);
        r.beta = parse_number(parts[1], name);
      }
      rule = r;
      break;
    }
    case RuleKind::Gamma: {
      GammaRule r;
      if (has_param) r.gamma = parse_number(param, name);
      rule = r;
      break;
    }
    case RuleKind::ZBox: {
      ZBoxRule r;
      if (has_param) {
        const auto parts = split(param, ',');
        if (parts.size() != 2) throw ValueError("rule 'zbox': expected zbox:LOW,HIGH, got '" + std::string(spec) + "'");
        r.low.clear();
        r.high.clear();
        for (auto v : split(parts[0], '/')) r.low.push_back(parse_number(v, name));
        for (auto v : split(parts[1], '/')) r.high.push_back(parse_number(v, name));
      }
      rule = r;
      break;
    }
    case RuleKind::WSquare: {
      no_param();
      rule = WSquareRule{};
      break;
    }
    case RuleKind::Flat: {
      no_param();
      rule = FlatRule{};
      break;
    }
    case RuleKind::Uniform: {
      no_param();
      rule = UniformRule{};
      break;
    }
  }
  validate(rule);
  return rule;
}

}  // namespace relprop
