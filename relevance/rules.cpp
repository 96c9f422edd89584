#include "relevance/rules.hpp"

#include <charconv>
#include <cmath>
#include <sstream>

#include "tensor/error.hpp"

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

std::string fmt(double v) {
  std::ostringstream os;
  os << v;
  return os.str();
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

}  // namespace

void validate(const Rule& rule) {
  std::visit(Overload{[](const ZeroRule&) {}, [](const PassRule&) {}, [](const GradientRule&) {},
                      [](const BacktraceRule&) {},
                      [](const EpsilonRule& r) { check_eps(r.epsilon, "epsilon"); },
                      [](const NormRule& r) { check_eps(r.epsilon, "norm"); }},
             rule);
}

std::string rule_str(const Rule& rule) {
  return std::visit(
      Overload{[](const ZeroRule&) { return std::string("zero"); },
               [](const PassRule&) { return std::string("pass"); },
               [](const GradientRule&) { return std::string("gradient"); },
               [](const EpsilonRule& r) { return "epsilon:" + fmt(r.epsilon); },
               [](const NormRule& r) { return "norm:" + fmt(r.epsilon); },
               [](const BacktraceRule& r) {
                 std::string s = r.mode == BacktraceRule::Mode::Contrastive ? "backtrace-contrastive"
                                                                           : "backtrace";
                 if (r.gate) s += ":gate";
                 return s;
               }},
      rule);
}

std::string rule_names() { return "zero, epsilon[:E], pass, gradient, norm[:E], backtrace"; }

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
  } else if (name == "backtrace") {
    no_param();
    rule = BacktraceRule{};
  } else {
    throw NotFoundError("unknown rule '" + std::string(name) + "' (known: " + rule_names() + ")");
  }
  validate(rule);
  return rule;
}

}  // namespace relprop
