#include "relprop/relevance/rules.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
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

void check_eps(double eps, const char* rule) {
  if (!(eps >= 0.0) || !std::isfinite(eps))
    throw ValueError(std::string(rule) + ": epsilon must be a finite number >= 0, got " +
                     std::to_string(eps));
}

// As `std::ostream << v` writes it (printf's %g: six significant digits), without a
// stream or printf: the engine names every node's rule in its report, per explanation.
std::string fmt(double v) {
  char buf[32];
  const auto r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::general, 6);
  return std::string(buf, r.ptr);
}

double parse_number(std::string_view text, std::string_view rule) {
  double v = 0;
  const auto* end = text.data() + text.size();
  auto [p, ec] = std::from_chars(text.data(), end, v);
  if (ec != std::errc() || p != end || text.empty())
    throw ValueError("rule '" + std::string(rule) + "': parameter '" + std::string(text) +
                     "' is not a number");
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
                      [](const BacktraceRule&) {},
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
                        if (!(r.alpha >= 0 && r.beta >= 0) || std::fabs(r.alpha - r.beta - 1.0) > 1e-9)
                          throw ValueError("alpha-beta: need alpha - beta = 1 and alpha, beta >= 0, got alpha " +
                                           fmt(r.alpha) + ", beta " + fmt(r.beta));
                      },
                      [](const GammaRule& r) {
                        check_eps(r.epsilon, "gamma");
                        if (!(r.gamma >= 0) || !std::isfinite(r.gamma))
                          throw ValueError("gamma: gamma must be a finite number >= 0, got " + fmt(r.gamma));
                      },
                      [](const ZBoxRule& r) {
                        check_eps(r.epsilon, "zbox");
                        if (r.low.empty() || r.high.empty())
                          throw ValueError("zbox: low and high need at least one value");
                        if (r.low.size() != r.high.size() && r.low.size() != 1 && r.high.size() != 1)
                          throw ValueError("zbox: low has " + std::to_string(r.low.size()) + " values, high " +
                                           std::to_string(r.high.size()) + "; give one or one per channel");
                        const std::size_t n = std::max(r.low.size(), r.high.size());
                        for (std::size_t i = 0; i < n; ++i) {
                          const double lo = r.low[r.low.size() == 1 ? 0 : i], hi = r.high[r.high.size() == 1 ? 0 : i];
                          if (!(lo <= hi)) throw ValueError("zbox: low " + fmt(lo) + " is above high " + fmt(hi));
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

std::optional<std::pair<double, double>> backtrace_gate_bounds(std::string_view op) {
  constexpr double inf = std::numeric_limits<double>::infinity();
  if (op == "relu") return std::pair{0.0, inf};
  if (op == "sigmoid") return std::pair{-4.0, 4.0};
  if (op == "tanh") return std::pair{-2.0, 2.0};
  if (op == "softmax") return std::pair{-1.0, 2.0};
  if (op == "silu") return std::pair{-6.0, inf};
  return std::nullopt;
}

std::string rule_names() {
  return "zero, epsilon[:E], pass, gradient, norm[:E], backtrace[:gate,equal], backtrace-contrastive[:gate,equal], zplus, alpha-beta[:A,B], gamma[:G], "
         "zbox[:LOW,HIGH] (LOW/HIGH: one value or per-channel values separated by '/'), wsquare, flat";
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
  Rule rule;
  if (name == "zero") {
    no_param();
    rule = ZeroRule{};
  } else if (name == "epsilon") {
    EpsilonRule r;
    if (has_param) r.epsilon = parse_number(param, name);
    rule = r;
  } else if (name == "norm") {
    NormRule r;
    if (has_param) r.epsilon = parse_number(param, name);
    rule = r;
  } else if (name == "pass") {
    no_param();
    rule = PassRule{};
  } else if (name == "gradient") {
    no_param();
    rule = GradientRule{};
  } else if (name == "backtrace" || name == "backtrace-contrastive") {
    BacktraceRule r;
    if (name == "backtrace-contrastive") r.mode = BacktraceRule::Mode::Contrastive;
    // Flags, comma separated: gate (the saturation gate), equal (residual adds split 50/50).
    if (has_param)
      for (auto flag : split(param, ',')) {
        if (flag == "gate") r.gate = true;
        else if (flag == "equal") r.equal_split = true;
        else
          throw ValueError("rule '" + std::string(name) + "': parameters are 'gate' and 'equal' (comma separated), got '" +
                           std::string(spec) + "'");
      }
    rule = r;
  } else if (name == "constant") {
    ConstantRule r;
    if (has_param) {
      const double v = parse_number(param, name);
      if (v != 0.0 && v != 1.0) throw ValueError("rule 'constant': the constant input is 0 or 1, got '" + std::string(spec) + "'");
      r.input = static_cast<int>(v);
    }
    rule = r;
  } else if (name == "zplus") {
    no_param();
    rule = ZPlusRule{};
  } else if (name == "alpha-beta") {
    AlphaBetaRule r;
    if (has_param) {
      const auto parts = split(param, ',');
      if (parts.size() != 2) throw ValueError("rule 'alpha-beta': expected alpha-beta:A,B, got '" + std::string(spec) + "'");
      r.alpha = parse_number(parts[0], name);
      r.beta = parse_number(parts[1], name);
    }
    rule = r;
  } else if (name == "gamma") {
    GammaRule r;
    if (has_param) r.gamma = parse_number(param, name);
    rule = r;
  } else if (name == "zbox") {
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
  } else if (name == "wsquare") {
    no_param();
    rule = WSquareRule{};
  } else if (name == "flat") {
    no_param();
    rule = FlatRule{};
  } else {
    throw NotFoundError("unknown rule '" + std::string(name) + "' (known: " + rule_names() + ")");
  }
  validate(rule);
  return rule;
}

}  // namespace relprop
