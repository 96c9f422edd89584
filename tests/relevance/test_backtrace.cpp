// DLBacktrace's rule beyond the default mode: the saturation gate (read from the
// activation that follows) and the contrastive mode (two maps through the whole
// network), against the float64 oracles; contrastive seeding; conservation of each map.

#include <doctest/doctest.h>

#include <limits>

#include "relprop/ops/activation.hpp"
#include "relprop/ops/conv.hpp"
#include "relprop/ops/elementwise.hpp"
#include "relprop/ops/linear.hpp"
#include "relprop/ops/pool.hpp"
#include "relprop/ops/shape.hpp"
#include "relprop/relevance/engine.hpp"
#include "relprop/relevance/seed.hpp"
#include "reference/oracle.hpp"

using namespace relprop;
namespace o = relprop::oracle;

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

struct Case {
  std::int64_t M, I, O;
  bool bias, nonneg;
  std::uint32_t seed;
};
const Case kCases[] = {
    {1, 3, 2, true, false, 1}, {2, 16, 7, false, false, 2}, {4, 33, 17, true, false, 3},
    {3, 24, 12, true, true, 4}, {1, 64, 40, false, true, 5},
};

Composite gated_backtrace() {
  Composite c = Composite::by_name("backtrace");
  c.for_class(OpClass::LinearType, parse_rule("backtrace:gate"));
  return c;
}

}  // namespace

TEST_SUITE("relevance.backtrace") {
  TEST_CASE("contrastive mode on linear equals the DLBacktrace-style oracle (both maps)") {
    for (const auto& tc : kCases) {
      CAPTURE(tc.seed);
      const Tensor x = o::random_tensor({tc.M, tc.I}, tc.seed, tc.nonneg ? 0.0 : -1.0, 1.0);
      const Tensor W = o::random_tensor({tc.O, tc.I}, tc.seed + 100);
      const Tensor b = tc.bias ? o::random_tensor({tc.O}, tc.seed + 200) : Tensor();
      const Tensor Rp = o::random_tensor({tc.M, tc.O}, tc.seed + 300, 0.0, 1.0);
      const Tensor Rn = o::random_tensor({tc.M, tc.O}, tc.seed + 400, 0.0, 1.0);
      Tape tape;
      Tensor y;
      {
        Recording rec(tape);
        y = linear(tape.input(x, "x"), W, b, "fc");
      }
      const RelevanceMap R = propagate_contrastive(tape, y, Rp, Rn, Composite::by_name("backtrace-contrastive"));
      const auto [P, N] = o::linear_backtrace_contrastive(o::from_tensor(x, tc.M, tc.I), o::from_tensor(W, tc.O, tc.I),
                                                          tc.bias ? b.to_vector_f64() : std::vector<double>{},
                                                          o::from_tensor(Rp, tc.M, tc.O), o::from_tensor(Rn, tc.M, tc.O));
      CHECK(o::rel_err(R.input("x.positive"), o::to_tensor(P, {tc.M, tc.I})) < 1e-5);
      CHECK(o::rel_err(R.input("x.negative"), o::to_tensor(N, {tc.M, tc.I})) < 1e-5);
      // No bias sink: each map is conserved.
      CHECK(sum_all(R.input("x.positive")) == doctest::Approx(sum_all(Rp)).epsilon(1e-5));
      CHECK(sum_all(R.input("x.negative")) == doctest::Approx(sum_all(Rn)).epsilon(1e-5));
    }
  }

  TEST_CASE("the winner takes max(R+ / R-): hand-worked output with mixed contributions") {
    // x = [1, 2], w = [[1, -0.5]]: contributions 1 and -1, b = 0.5 so z = 0.5 > 0 and the
    // positive side wins. R+ = 3 > R- = 1: R+ to x0 (positive map), R- to x1 (negative).
    const Tensor x = Tensor::from_vector({1.0f, 2.0f}, {1, 2});
    const Tensor W = Tensor::from_vector({1.0f, -0.5f}, {1, 2});
    const Tensor b = Tensor::from_vector({0.5f}, {1});
    auto run = [&](float rp, float rn) {
      Tape tape;
      Tensor y;
      {
        Recording rec(tape);
        y = linear(tape.input(x, "x"), W, b);
      }
      return propagate_contrastive(tape, y, Tensor::from_vector({rp}, {1, 1}), Tensor::from_vector({rn}, {1, 1}),
                                   Composite::by_name("backtrace-contrastive"));
    };
    const RelevanceMap a = run(3.0f, 1.0f);
    CHECK(a.input("x.positive").to_vector_f64() == std::vector<double>{3.0, 0.0});
    CHECK(a.input("x.negative").to_vector_f64() == std::vector<double>{0.0, 1.0});
    // R+ = 1 < R- = 3: crossed — the winning positive side takes R- (negative map).
    const RelevanceMap c = run(1.0f, 3.0f);
    CHECK(c.input("x.positive").to_vector_f64() == std::vector<double>{0.0, 1.0});
    CHECK(c.input("x.negative").to_vector_f64() == std::vector<double>{3.0, 0.0});
  }

  TEST_CASE("contrastive through a CNN with max pooling and a residual add: each map conserved") {
    for (std::uint32_t seed = 1; seed <= 3; ++seed) {
      const Tensor x = o::random_tensor({1, 3, 8, 8}, seed);
      const Tensor w1 = o::random_tensor({4, 3, 3, 3}, seed + 10), b1 = o::random_tensor({4}, seed + 20, -0.1, 0.1);
      const Tensor w2 = o::random_tensor({4, 4, 3, 3}, seed + 30);
      const Tensor W3 = o::random_tensor({5, 64}, seed + 40), b3 = o::random_tensor({5}, seed + 50, -0.1, 0.1);
      Tape tape;
      Tensor y;
      {
        Recording rec(tape);
        const Tensor h = relu(conv2d(tape.input(x, "x"), w1, b1, {{1, 1}, {1, 1}}), "r1");
        const Tensor g = add(h, conv2d(h, w2, {}, {{1, 1}, {1, 1}}), "res");
        // Probabilities, so that the negative seed (the other classes) sums to > 0.
        y = softmax(linear(flatten(max_pool2d(relu(g), {}), 1), W3, b3, "fc"), 1);
      }
      const auto pos = classification_seed(y, std::nullopt, SeedForm::OneHot, 100.0);
      const Tensor neg = contrastive_negative_seed(y, pos.seed, SeedForm::OneHot, 100.0);
      CHECK(sum_all(neg) == doctest::Approx(100.0).epsilon(1e-5));
      PropagateOptions keep;
      keep.keep_all = true;
      const RelevanceMap R = propagate_contrastive(tape, y, pos.seed, neg, Composite::by_name("backtrace-contrastive"), keep);
      CHECK(sum_all(R.input("x.positive")) == doctest::Approx(100.0).epsilon(1e-4));
      CHECK(sum_all(R.input("x.negative")) == doctest::Approx(100.0).epsilon(1e-4));
      CHECK(R.nodes().count("res.positive") == 1);
      CHECK(R.nodes().count("res.negative") == 1);
      // The report lists each map of each node, positive first, every one conserving.
      REQUIRE(R.report().size() % 2 == 0);
      for (std::size_t k = 0; k < R.report().size(); k += 2) {
        CHECK(R.report()[k].name.ends_with(".positive"));
        CHECK(R.report()[k + 1].name.ends_with(".negative"));
      }
      for (const auto& rep : R.report()) {
        CAPTURE(rep.name);
        CHECK(std::fabs(rep.absorbed()) < 1e-3);
      }
    }
  }

  TEST_CASE("ordinary propagate refuses the contrastive rule with a clear error") {
    const Tensor x = o::random_tensor({1, 4}, 1), W = o::random_tensor({2, 4}, 2);
    Tape tape;
    Tensor y;
    {
      Recording rec(tape);
      y = linear(tape.input(x, "x"), W);
    }
    CHECK_THROWS_AS(propagate(tape, y, y, Composite::by_name("backtrace-contrastive")), UnsupportedError);
  }

  TEST_CASE("the saturation gate reads the activation after a linear node (relu / sigmoid / tanh / silu)") {
    struct Act {
      Tensor (*f)(const Tensor&, std::string_view);
      double l, u;
    };
    const Act acts[] = {{&relprop::relu, 0.0, kInf}, {&relprop::sigmoid, -4.0, 4.0}, {&relprop::tanh, -2.0, 2.0},
                        {&relprop::silu, -6.0, kInf}};
    for (const auto& tc : kCases)
      for (const auto& act : acts) {
        CAPTURE(tc.seed);
        CAPTURE(act.l);
        // Scaled-up inputs so that some pre-activations pass the bounds on either side.
        const Tensor x = o::random_tensor({tc.M, tc.I}, tc.seed, tc.nonneg ? 0.0 : -3.0, 3.0);
        const Tensor W = o::random_tensor({tc.O, tc.I}, tc.seed + 100);
        const Tensor b = tc.bias ? o::random_tensor({tc.O}, tc.seed + 200) : Tensor();
        const Tensor R = o::random_tensor({tc.M, tc.O}, tc.seed + 300);
        Tape tape;
        Tensor y;
        {
          Recording rec(tape);
          y = act.f(linear(tape.input(x, "x"), W, b, "fc"), "act");
        }
        const auto bv = tc.bias ? b.to_vector_f64() : std::vector<double>{};
        const o::Mat X = o::from_tensor(x, tc.M, tc.I), Wm = o::from_tensor(W, tc.O, tc.I),
                     Rm = o::from_tensor(R, tc.M, tc.O);
        const Tensor got = propagate(tape, y, R, gated_backtrace()).input("x");
        CHECK(o::rel_err(got, o::to_tensor(o::linear_backtrace_gated(X, Wm, bv, Rm, act.l, act.u), {tc.M, tc.I})) <
              1e-5);
      }
  }

  TEST_CASE("the gate changes the result only where a bound is crossed / no activation means no gate") {
    // z = [3, -3] with contributions of both signs; ReLU's l = 0 drops P on the second.
    const Tensor x = Tensor::from_vector({2.0f, 1.0f}, {1, 2});
    const Tensor W = Tensor::from_vector({2.0f, -1.0f, -1.0f, -1.0f}, {2, 2});  // z0 = 4 - 1 = 3, z1 = -2 - 1 = -3
    const Tensor R = Tensor::from_vector({6.0f, 6.0f}, {1, 2});
    auto run = [&](bool with_relu, const Composite& c) {
      Tape tape;
      Tensor y;
      {
        Recording rec(tape);
        y = linear(tape.input(x, "x"), W, {}, "fc");
        if (with_relu) y = relu(y);
      }
      return propagate(tape, y, R, c).input("x").to_vector_f64();
    };
    // Ungated: output 0 sends 6 * (4, 1) / 5, output 1 sends 6 * (2, 1) / 3.
    const std::vector<double> plain{4.8 + 4.0, 1.2 + 2.0};
    const auto ungated = run(true, Composite::by_name("backtrace"));
    CHECK(ungated[0] == doctest::Approx(plain[0]));
    CHECK(ungated[1] == doctest::Approx(plain[1]));
    // Gated: output 1 (z = -3 < 0) has no positive contributions anyway; output 0 keeps both.
    const auto gated = run(true, gated_backtrace());
    CHECK(gated[0] == doctest::Approx(plain[0]));
    CHECK(gated[1] == doctest::Approx(plain[1]));
    // Without a following activation the gate has nothing to read.
    const auto alone = run(false, gated_backtrace());
    CHECK(alone[0] == doctest::Approx(plain[0]));
  }

  TEST_CASE("a node read by two consumers is not gated") {
    const Tensor x = o::random_tensor({2, 6}, 7, -3.0, 3.0), W = o::random_tensor({5, 6}, 8), b = o::random_tensor({5}, 9);
    auto run = [&](const Composite& c) {
      Tape tape;
      Tensor y;
      {
        Recording rec(tape);
        const Tensor z = linear(tape.input(x, "x"), W, b, "fc");
        y = add(relu(z), z);
      }
      return propagate(tape, y, o::random_tensor({2, 5}, 10), c).input("x");
    };
    CHECK(o::rel_err(run(gated_backtrace()), run(Composite::by_name("backtrace"))) == 0.0);
  }

  TEST_CASE("contrastive seeds: the other outputs' values / one-hot scaled to the multiplier / binary 1 - p") {
    const Tensor y = Tensor::from_vector({1.0f, 3.0f, 2.0f, 4.0f, 0.5f, 0.5f}, {2, 3});
    const auto pos = classification_seed(y, std::nullopt, SeedForm::Value, 1.0);
    CHECK(contrastive_negative_seed(y, pos.seed, SeedForm::Value, 1.0).to_vector_f64() ==
          std::vector<double>{1.0, 0.0, 2.0, 0.0, 0.5, 0.5});
    const auto hot = classification_seed(y, std::nullopt, SeedForm::OneHot, 100.0);
    const auto n = contrastive_negative_seed(y, hot.seed, SeedForm::OneHot, 100.0).to_vector_f64();
    CHECK(n[0] == doctest::Approx(100.0 / 3));
    CHECK(n[2] == doctest::Approx(200.0 / 3));
    CHECK(n[4] == doctest::Approx(50.0));
    const Tensor p = Tensor::from_vector({0.8f}, {1, 1});
    const auto bin = classification_seed(p, std::nullopt, SeedForm::Value, 1.0);
    CHECK(contrastive_negative_seed(p, bin.seed, SeedForm::Value, 1.0).get({0, 0}) == doctest::Approx(0.2));
    CHECK_THROWS_AS(contrastive_negative_seed(y, p, SeedForm::Value, 1.0), ShapeError);
  }

  TEST_CASE("rule names: backtrace:gate / backtrace-contrastive round-trip and bad parameters") {
    CHECK(rule_str(parse_rule("backtrace:gate")) == "backtrace:gate");
    CHECK(rule_str(parse_rule("backtrace-contrastive")) == "backtrace-contrastive");
    CHECK_THROWS_AS(parse_rule("backtrace-contrastive:gate"), ValueError);  // no gate in the contrastive mode
    CHECK_THROWS_AS(parse_rule("backtrace:1"), ValueError);
    const Rule both = parse_rule("backtrace:gate,equal");
    CHECK(std::get<BacktraceRule>(both).equal_split);
    CHECK(rule_str(both) == "backtrace:gate,equal");
    CHECK(rule_str(parse_rule("backtrace:equal")) == "backtrace:equal");
    CHECK(backtrace_gate_bounds(OpKind::Softmax) == std::pair{-1.0, 2.0});
    CHECK_FALSE(backtrace_gate_bounds(OpKind::Gelu));
  }
}

TEST_SUITE("relevance.gradient_x_input") {
  TEST_CASE("gradient-x-input equals LRP-0 with a value seed on a ReLU network / x times the gradient") {
    for (std::uint32_t seed = 1; seed <= 3; ++seed) {
      const Tensor x = o::random_tensor({2, 10}, seed);
      const Tensor W1 = o::random_tensor({16, 10}, seed + 10), b1 = o::random_tensor({16}, seed + 20);
      const Tensor W2 = o::random_tensor({4, 16}, seed + 30), b2 = o::random_tensor({4}, seed + 40);
      auto net = [&](Tape& tape) {
        Recording rec(tape);
        return linear(relu(linear(tape.input(x, "x"), W1, b1)), W2, b2);
      };
      Tape t1, t2;
      const Tensor y1 = net(t1), y2 = net(t2);
      const Composite gxi = Composite::by_name("gradient-x-input");
      CHECK(gxi.times_input);
      const auto hot = classification_seed(y1, 2, gxi.seed_form, gxi.multiplier);
      const Tensor g = propagate(t1, y1, hot.seed, gxi).input("x");
      const auto value = classification_seed(y2, 2, SeedForm::Value, 1.0);
      const Tensor lrp = propagate(t2, y2, value.seed, Composite::by_name("zero")).input("x");
      CHECK(o::rel_err(g, lrp) < 1e-4);
      // And it is x times the plain gradient.
      Tape t3;
      const Tensor y3 = net(t3);
      const Tensor grad = propagate(t3, y3, hot.seed, Composite::by_name("gradient")).input("x");
      for (std::int64_t k = 0; k < 20; ++k) CHECK(g.get_flat(k) == doctest::Approx(grad.get_flat(k) * x.get_flat(k)));
    }
  }
}

TEST_SUITE("relevance.determinism") {
  TEST_CASE("an explanation is bit-identical run to run (threaded kernels / chunked sums)") {
    // Large enough that the OpenMP paths (conv, pooling, element-wise, sums) run threaded.
    const Tensor x = o::random_tensor({2, 16, 64, 64}, 3);
    const Tensor w1 = o::random_tensor({32, 16, 3, 3}, 4, -0.2, 0.2), b1 = o::random_tensor({32}, 5, -0.1, 0.1);
    const Tensor W2 = o::random_tensor({10, 32 * 32 * 32}, 6, -0.01, 0.01);
    auto explain = [&](const char* composite) {
      Tape tape;
      Tensor y;
      {
        Recording rec(tape);
        const Tensor h = max_pool2d(relu(conv2d(tape.input(x, "x"), w1, b1, {{1, 1}, {1, 1}})), {});
        y = linear(flatten(h, 1), W2);
      }
      const Composite c = Composite::by_name(composite);
      const auto seed = classification_seed(y, std::nullopt, c.seed_form, c.multiplier);
      return propagate(tape, y, seed.seed, c).input("x");
    };
    for (const char* c : {"epsilon", "epsilon-gamma-box", "epsilon-alpha2-beta1", "backtrace"}) {
      CAPTURE(c);
      const Tensor a = explain(c), b = explain(c);
      CHECK(max_abs_diff(a, b) == 0.0);
      CHECK(sum_all(a) == sum_all(b));
    }
  }
}
