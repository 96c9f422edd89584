// Rules as data, composites (which rule for which node) and seeds.

#include <doctest/doctest.h>

#include <limits>
#include <sstream>

#include "relprop/relevance/composite.hpp"
#include "relprop/relevance/seed.hpp"

using namespace relprop;

namespace {
// A tape of three linear-type nodes: linear, conv2d, linear.
const OpKind kOps[] = {OpKind::Linear, OpKind::Conv2d, OpKind::Linear};
// A node of op `op` (by its graph name, so an op that does not exist fails the test).
NodeInfo node(std::string_view name, std::string_view op, OpClass c, int linear_index = -1, int linear_count = 3) {
  return NodeInfo{name, op_kind(op), c, linear_index, linear_count, linear_count == 3 ? kOps : std::span<const OpKind>{}};
}
}  // namespace

TEST_SUITE("relevance.composite") {
  TEST_CASE("parse_rule reads the CLI forms and rejects bad ones by name") {
    CHECK(rule_str(parse_rule("zero")) == "zero");
    CHECK(std::get<EpsilonRule>(parse_rule("epsilon:0.25")).epsilon == 0.25);
    CHECK(std::get<EpsilonRule>(parse_rule("epsilon")).epsilon == 1e-6);
    CHECK(std::get<NormRule>(parse_rule("norm:0")).epsilon == 0.0);
    CHECK(std::holds_alternative<PassRule>(parse_rule("pass")));
    CHECK(std::holds_alternative<GradientRule>(parse_rule("gradient")));
    CHECK(std::holds_alternative<BacktraceRule>(parse_rule("backtrace")));
    CHECK_THROWS_AS(parse_rule("fancy:0.25"), NotFoundError);
    CHECK(std::get<GammaRule>(parse_rule("gamma:0.5")).gamma == 0.5);
    CHECK(std::get<AlphaBetaRule>(parse_rule("alpha-beta:1,0")).alpha == 1.0);
    CHECK_THROWS_AS(parse_rule("alpha-beta:2,2"), ValueError);
    CHECK_THROWS_AS(parse_rule("gamma:-1"), ValueError);
    CHECK(std::get<ZBoxRule>(parse_rule("zbox:-1/-2/-3,1/2/3")).high == std::vector<double>{1, 2, 3});
    CHECK_THROWS_AS(parse_rule("zbox:2,1"), ValueError);
    CHECK_THROWS_AS(parse_rule("zbox:1"), ValueError);
    CHECK(rule_str(parse_rule("zbox:-1/-2,1/2")) == "zbox:-1/-2,1/2");
    CHECK(std::holds_alternative<FlatRule>(parse_rule("flat")));
    CHECK(std::holds_alternative<WSquareRule>(parse_rule("wsquare")));
    CHECK(std::holds_alternative<ZPlusRule>(parse_rule("zplus")));
    CHECK_THROWS_AS(parse_rule("epsilon:abc"), ValueError);
    CHECK_THROWS_AS(parse_rule("epsilon:-1"), ValueError);
    CHECK_THROWS_AS(parse_rule("zero:1"), ValueError);
    CHECK_THROWS_AS(parse_rule(""), NotFoundError);
    CHECK(rule_str(parse_rule(rule_str(EpsilonRule{0.5}))) == "epsilon:0.5");
  }

  TEST_CASE("rule parameters are finite in float32 and zbox needs low < high") {
    for (const char* bad : {"epsilon:inf", "epsilon:nan", "norm:1e39", "gamma:-inf", "gamma:3.5e38", "alpha-beta:inf,1",
                            "alpha-beta:2,nan", "zbox:-inf,inf", "zbox:0/nan,1", "zbox:-1e39,1"}) {
      CAPTURE(bad);
      try {
        parse_rule(bad);
        FAIL("accepted");
      } catch (const ValueError& e) {
        CHECK(std::string(e.what()).find("is not a finite number (float32: |v| <= 3.40282e+38)") != std::string::npos);
      }
    }
    CHECK(std::get<GammaRule>(parse_rule("gamma:3.4e38")).gamma == 3.4e38);
    CHECK(std::get<EpsilonRule>(parse_rule("epsilon:1e-45")).epsilon == 1e-45);
    CHECK_THROWS_WITH_AS(parse_rule("zbox:1,1"), "zbox: low 1 equals high 1 (the box needs low < high)", ValueError);
    CHECK_THROWS_WITH_AS(parse_rule("zbox:0/2,1/2"), "zbox: low 2 equals high 2 (the box needs low < high)", ValueError);
    // Rules built in code are validated as they join a composite.
    Composite c("test");
    CHECK_THROWS_AS(c.for_class(OpClass::LinearType, EpsilonRule{std::numeric_limits<double>::infinity()}), ValueError);
    CHECK_THROWS_AS(c.for_class(OpClass::LinearType, ZBoxRule{{0.0}, {1e39}}), ValueError);
  }

  TEST_CASE("Composite::takes: the options each built-in composite uses") {
    auto takes = [](const char* name) {
      const Composite c = Composite::by_name(name);
      return std::string(c.takes(CompositeOption::Epsilon) ? "e" : "") + (c.takes(CompositeOption::Gamma) ? "g" : "") +
             (c.takes(CompositeOption::Bounds) ? "b" : "");
    };
    CHECK(takes("zero") == "");
    CHECK(takes("epsilon") == "e");
    CHECK(takes("epsilon-plus-flat") == "e");
    CHECK(takes("epsilon-alpha2-beta1") == "e");
    CHECK(takes("epsilon-gamma-box") == "egb");
    CHECK(takes("attnlrp") == "e");
    CHECK(takes("cp-lrp") == "e");
    CHECK(takes("backtrace") == "");
    CHECK(takes("backtrace-contrastive") == "");
    CHECK(takes("gradient") == "");
    CHECK(takes("gradient-x-input") == "");
    CHECK_FALSE(Composite("custom").takes(CompositeOption::Epsilon));
  }

  TEST_CASE("rule_str writes numbers as a C++ stream does (six significant digits)") {
    const double inf = std::numeric_limits<double>::infinity();
    for (double v : {0.0, -0.0, 1e-6, -1e-6, 1e-9, 0.25, 0.1, 1.0 / 3.0, 2.0, 100000.0, 1234567.0, 999999.5, 1e-5,
                     9.999995e-5, 123.456789, 1e300, 5e-324, inf, -inf}) {
      std::ostringstream os;
      os << v;
      CAPTURE(v);
      CHECK(rule_str(EpsilonRule{v}) == "epsilon:" + os.str());
      CHECK(rule_str(GammaRule{v}) == "gamma:" + os.str());
    }
    CHECK(rule_str(EpsilonRule{1e-6}) == "epsilon:1e-06");
    CHECK(rule_str(AlphaBetaRule{2.0, 1.0}) == "alpha-beta:2,1");
  }

  TEST_CASE("matchers: name glob beats position beats op beats class beats fallback") {
    Composite c("test");
    c.set_fallback(PassRule{});
    c.for_class(OpClass::LinearType, ZeroRule{});
    c.for_op("linear", EpsilonRule{0.5});
    c.for_first_linear(GradientRule{});
    c.for_name("features.*", BacktraceRule{});
    CHECK(rule_str(c.rule_for(node("act", "relu", OpClass::Activation))) == "pass");
    CHECK(rule_str(c.rule_for(node("conv", "conv2d", OpClass::LinearType, 1))) == "zero");
    CHECK(rule_str(c.rule_for(node("fc", "linear", OpClass::LinearType, 1))) == "epsilon:0.5");
    CHECK(rule_str(c.rule_for(node("fc0", "linear", OpClass::LinearType, 0))) == "gradient");
    CHECK(rule_str(c.rule_for(node("features.0", "linear", OpClass::LinearType, 0))) == "backtrace");
    c.for_last_linear(NormRule{0.1});
    CHECK(rule_str(c.rule_for(node("head", "linear", OpClass::LinearType, 2))) == "norm:0.1");
    // Later matchers of one kind win.
    c.for_name("features.0", ZeroRule{});
    CHECK(rule_str(c.rule_for(node("features.0", "linear", OpClass::LinearType, 0))) == "zero");
    CHECK(rule_str(c.rule_for(node("features.1", "linear", OpClass::LinearType, 1))) == "backtrace");
  }

  TEST_CASE("a composite without a matching rule says which node") {
    Composite c("partial");
    c.for_class(OpClass::LinearType, ZeroRule{});
    try {
      c.rule_for(node("act", "relu", OpClass::Activation));
      FAIL("expected NotFoundError");
    } catch (const NotFoundError& e) {
      CHECK(std::string(e.what()).find("'act'") != std::string::npos);
    }
    CHECK_THROWS_AS(c.for_name("x", EpsilonRule{-1.0}), ValueError);
  }

  TEST_CASE("built-in composites and their seed defaults") {
    CHECK(Composite::names().size() == 13);
    for (const auto& n : Composite::names()) CHECK(Composite::by_name(n).name() == n);
    const Composite bc = Composite::by_name("backtrace-contrastive");
    CHECK(bc.contrastive);
    CHECK(bc.seed_form == SeedForm::OneHot);
    CHECK(bc.multiplier == 100.0);
    CHECK(rule_str(bc.rule_for(node("fc", "linear", OpClass::LinearType, 0))) == "backtrace-contrastive");
    CHECK(Composite::by_name("gradient-x-input").times_input);
    CHECK_FALSE(Composite::by_name("gradient").times_input);
    const Composite e = Composite::by_name("epsilon", {0.125});
    CHECK(rule_str(e.rule_for(node("fc", "linear", OpClass::LinearType, 0))) == "epsilon:0.125");
    CHECK(rule_str(e.rule_for(node("res", "add", OpClass::Elementwise))) == "norm:1e-06");
    CHECK(rule_str(e.rule_for(node("act", "relu", OpClass::Activation))) == "pass");
    CHECK(e.seed_form == SeedForm::Value);
    CHECK(e.multiplier == 1.0);
    const Composite b = Composite::by_name("backtrace");
    CHECK(rule_str(b.rule_for(node("fc", "linear", OpClass::LinearType, 0))) == "backtrace");
    CHECK(rule_str(b.rule_for(node("res", "add", OpClass::Elementwise))) == "backtrace");
    CHECK(b.seed_form == SeedForm::OneHot);
    CHECK(b.multiplier == 100.0);
  }

  TEST_CASE("Zennit's layer-type composites: epsilon for dense / their rule for convolutions / first layer") {
    CompositeOptions opts;
    opts.low = {-1.0, -2.0, -3.0};
    opts.high = {1.0, 2.0, 3.0};
    opts.gamma = 0.5;
    const Composite box = Composite::by_name("epsilon-gamma-box", opts);
    // z^B goes to the first convolution even after a dense layer, as in Zennit.
    CHECK(rule_str(box.rule_for(node("fc0", "linear", OpClass::LinearType, 0))) == "epsilon:1e-06");
    CHECK(rule_str(box.rule_for(node("conv1", "conv2d", OpClass::LinearType, 1))) == "zbox:-1/-2/-3,1/2/3");
    CHECK(rule_str(box.rule_for(node("fc", "linear", OpClass::LinearType, 2))) == "epsilon:1e-06");
    static const OpKind two_convs[] = {OpKind::Conv2d, OpKind::Conv2d, OpKind::Linear};
    CHECK(rule_str(box.rule_for(NodeInfo{"c1", OpKind::Conv2d, OpClass::LinearType, 0, 3, two_convs})) ==
          "zbox:-1/-2/-3,1/2/3");
    CHECK(rule_str(box.rule_for(NodeInfo{"c2", OpKind::Conv2d, OpClass::LinearType, 1, 3, two_convs})) == "gamma:0.5");
    const Composite flat = Composite::by_name("epsilon-plus-flat");
    CHECK(rule_str(flat.rule_for(node("fc0", "linear", OpClass::LinearType, 0))) == "flat");
    CHECK(rule_str(flat.rule_for(node("conv", "conv2d", OpClass::LinearType, 1))) == "zplus");
    CHECK(rule_str(flat.rule_for(node("fc1", "linear", OpClass::LinearType, 2))) == "epsilon:1e-06");
    CHECK(rule_str(Composite::by_name("epsilon-alpha2-beta1").rule_for(node("c", "conv1d", OpClass::LinearType, 0))) ==
          "alpha-beta:2,1");
    CHECK(rule_str(Composite::by_name("epsilon-alpha2-beta1-flat").rule_for(node("c", "conv1d", OpClass::LinearType, 0))) ==
          "flat");
  }

  TEST_CASE("glob matching") {
    CHECK(glob_match("*", ""));
    CHECK(glob_match("layer?.*.conv1", "layer1.0.conv1"));
    CHECK(!glob_match("layer?.*.conv1", "layer10.0.conv1"));
    CHECK(glob_match("*conv*", "features.conv.3"));
    CHECK(!glob_match("fc", "fc1"));
    CHECK(glob_match("a*b*c", "aXXbYYc"));
    CHECK(!glob_match("a*b*c", "aXXbYY"));
  }
}

TEST_SUITE("relevance.seed") {
  TEST_CASE("classification: arg-max per row or a given target / value or one-hot / multiplier") {
    const Tensor y = Tensor::from_vector({1.f, 3.f, 2.f, -1.f, -4.f, -2.f}, {2, 3});
    auto s = classification_seed(y, std::nullopt, SeedForm::Value, 1.0);
    CHECK(s.targets == std::vector<std::int64_t>{1, 0});
    CHECK(s.seed.to_vector() == std::vector<float>{0, 3, 0, -1, 0, 0});
    s = classification_seed(y, 2, SeedForm::OneHot, 100.0);
    CHECK(s.targets == std::vector<std::int64_t>{2, 2});
    CHECK(s.seed.to_vector() == std::vector<float>{0, 0, 100, 0, 0, 100});
    // Ties go to the first maximum, as torch.argmax.
    CHECK(classification_seed(Tensor::from_vector({5.f, 5.f}, {2}), std::nullopt, SeedForm::OneHot, 1).targets[0] == 0);
    CHECK_THROWS_AS(classification_seed(y, 3, SeedForm::Value, 1), IndexError);
    CHECK_THROWS_AS(classification_seed(y, -1, SeedForm::Value, 1), IndexError);
    CHECK_THROWS_AS(classification_seed(Tensor::scalar(1.0), std::nullopt, SeedForm::Value, 1), ShapeError);
  }

  TEST_CASE("regression: chosen outputs of every row / segmentation: outputs above a threshold") {
    const Tensor y = Tensor::from_vector({1.f, 3.f, 2.f, -1.f, -4.f, -2.f}, {2, 3});
    CHECK(regression_seed(y, {0, 2}, SeedForm::Value, 2.0).to_vector() == std::vector<float>{2, 0, 4, -2, 0, -4});
    CHECK(regression_seed(y, {}, SeedForm::OneHot, 1.0).to_vector() == std::vector<float>{1, 1, 1, 1, 1, 1});
    CHECK_THROWS_AS(regression_seed(y, {3}, SeedForm::Value, 1.0), IndexError);
    CHECK(segmentation_seed(y, 1.5, SeedForm::Value, 1.0).to_vector() == std::vector<float>{0, 3, 2, 0, 0, 0});
    CHECK(segmentation_seed(y, -1.5, SeedForm::OneHot, 10.0).to_vector() == std::vector<float>{10, 10, 10, 10, 0, 0});
  }
}
