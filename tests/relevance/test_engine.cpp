// The tape and the engine on hand-built graphs: chains, forks, residuals, a value read
// twice by one node, release of saved tensors, threads, conservation figures.

#include <doctest/doctest.h>

#include <chrono>
#include <thread>

#include "relprop/ops/activation.hpp"
#include "relprop/ops/elementwise.hpp"
#include "relprop/ops/linear.hpp"
#include "relprop/relevance/engine.hpp"
#include "relprop/relevance/seed.hpp"
#include "reference/oracle.hpp"

using namespace relprop;
namespace o = relprop::oracle;

namespace {

Composite only(const Rule& rule) {
  Composite c("only");
  c.set_fallback(rule);
  return c;
}

Tensor T(std::initializer_list<float> v, Shape s) { return Tensor::from_vector(v, std::move(s)); }

}  // namespace

TEST_SUITE("relevance.engine") {
  TEST_CASE("outside a recording scope ops record nothing and tag nothing") {
    Tape tape;
    const Tensor y = relu(linear(o::random_tensor({1, 3}, 1), o::random_tensor({2, 3}, 2)));
    CHECK(tape.size() == 0);
    CHECK(y.trace().tape == 0);
  }

  TEST_CASE("ops on constants only are not recorded / named nodes keep module paths") {
    Tape tape;
    Recording rec(tape);
    const Tensor c = linear(o::random_tensor({1, 3}, 1), o::random_tensor({2, 3}, 2));  // constant
    CHECK(tape.size() == 0);
    const Tensor x = tape.input(o::random_tensor({1, 2}, 3), "x");
    {
      NameScope outer("layer1");
      NameScope inner("0");
      add(x, c, "add");
      relu(x);
      relu(x);
    }
    REQUIRE(tape.size() == 3);
    CHECK(tape.node(0).name == "layer1.0.add");
    CHECK(tape.node(1).name == "layer1.0.relu_0");
    CHECK(tape.node(2).name == "layer1.0.relu_1");
    CHECK(tape.node(0).inputs == std::vector<ValueId>{0, -1});  // x tracked, c constant
  }

  TEST_CASE("a keep glob that matches no node of the tape is a NotFoundError naming it; one that matches keeps") {
    const Tensor x = o::random_tensor({1, 4}, 21), W = o::random_tensor({2, 4}, 22), b = o::random_tensor({2}, 23);
    Tape tape;
    Tensor y;
    {
      Recording rec(tape);
      y = relu(linear(tape.input(x, "x"), W, b, "fc1"), "act");
    }
    PropagateOptions opts;
    opts.retain = true;
    opts.keep = {"fc*", "nothing*"};
    try {
      propagate(tape, y, y, Composite::by_name("zero"), opts);
      FAIL("no NotFoundError");
    } catch (const NotFoundError& e) {
      CHECK(std::string(e.what()).find("keep 'nothing*': no node matches it (nodes: ") == 0);
      CHECK(std::string(e.what()).find("fc1") != std::string::npos);
    }
    opts.keep = {"fc*"};
    CHECK(propagate(tape, y, y, Composite::by_name("zero"), opts).node("fc1").shape() == Shape{1, 2});
  }

  TEST_CASE("a chain: linear -> relu -> linear under zero equals the oracle / step by step") {
    const Tensor x = o::random_tensor({2, 6}, 11), W1 = o::random_tensor({5, 6}, 12), b1 = o::random_tensor({5}, 13);
    const Tensor W2 = o::random_tensor({3, 5}, 14), b2 = o::random_tensor({3}, 15);
    Tape tape;
    Tensor y;
    {
      Recording rec(tape);
      y = linear(relu(linear(tape.input(x, "x"), W1, b1, "fc1"), "act"), W2, b2, "fc2");
    }
    const Tensor R = o::random_tensor({2, 3}, 16);
    PropagateOptions opts;
    opts.keep_all = true;
    const RelevanceMap rm = propagate(tape, y, R, Composite::by_name("zero"), opts);
    // Oracle: fc2 then relu (identity) then fc1.
    const o::Mat X = o::from_tensor(x, 2, 6);
    o::Mat h = o::linear_forward(X, o::from_tensor(W1, 5, 6), b1.to_vector_f64());
    for (auto& v : h.v) v = std::max(v, 0.0);
    const o::Mat R2 = o::linear_epsilon(h, o::from_tensor(W2, 3, 5), b2.to_vector_f64(), o::from_tensor(R, 2, 3), 0);
    const o::Mat R1 = o::linear_epsilon(X, o::from_tensor(W1, 5, 6), b1.to_vector_f64(), R2, 0);
    CHECK(o::rel_err(rm.node("fc2"), R) == 0.0);
    CHECK(o::rel_err(rm.node("act"), o::to_tensor(R2, {2, 5})) < 1e-5);
    CHECK(o::rel_err(rm.node("fc1"), o::to_tensor(R2, {2, 5})) < 1e-5);
    CHECK(o::rel_err(rm.input("x"), o::to_tensor(R1, {2, 6})) < 1e-4);
    REQUIRE(rm.report().size() == 3);
    CHECK(rm.report()[0].name == "fc1");
    CHECK(rm.report()[2].name == "fc2");
  }

  TEST_CASE("a fork: x read by two linears whose outputs are added / contributions sum") {
    // y = A x + B x (no biases). Under zero at the linears and norm at the add, by hand:
    // R_a = a R / (a + b), R_b = b R / (a + b); R_x = x * (A^T (R_a / a) + B^T (R_b / b))
    //     = x * (A + B)^T R / (a + b).
    const Tensor x = T({1.f, 2.f}, {1, 2});
    const Tensor A = T({1.f, 0.5f}, {1, 2});   // a = 2
    const Tensor B = T({3.f, -0.25f}, {1, 2});  // b = 2.5
    Tape tape;
    Tensor y;
    {
      Recording rec(tape);
      const Tensor xi = tape.input(x, "x");
      y = add(linear(xi, A, {}, "a"), linear(xi, B, {}, "b"), "sum");
    }
    const Tensor R = T({9.f}, {1, 1});
    Composite c = only(ZeroRule{});
    c.for_op("add", NormRule{0.0});
    const RelevanceMap rm = propagate(tape, y, R, c);
    // (A + B) = [4, 0.25]; R / (a + b) = 9 / 4.5 = 2; R_x = x * [8, 0.5] = [8, 1].
    CHECK(rm.input("x").get({0, 0}) == doctest::Approx(8.0).epsilon(1e-6));
    CHECK(rm.input("x").get({0, 1}) == doctest::Approx(1.0).epsilon(1e-6));
    CHECK(sum_all(rm.input("x")) == doctest::Approx(9.0).epsilon(1e-6));
  }

  TEST_CASE("a residual block: y = relu(W x + b) + x / the skip and the branch both reach x") {
    const Tensor x = T({1.f, 2.f}, {1, 2});
    const Tensor W = T({1.f, 1.f, 0.f, 2.f}, {2, 2});
    const Tensor b = T({1.f, -1.f}, {2});
    // h = W x + b = [4, 3]; y = h + x = [5, 5].
    Tape tape;
    Tensor y;
    {
      Recording rec(tape);
      const Tensor xi = tape.input(x, "x");
      y = add(relu(linear(xi, W, b, "fc"), "act"), xi, "res");
    }
    CHECK(y.to_vector() == std::vector<float>{5.f, 5.f});
    const Tensor R = T({10.f, 5.f}, {1, 2});
    const RelevanceMap rm = propagate(tape, y, R, Composite::by_name("zero"));
    // Add (norm, eps 1e-6 ~ 0): R_h = h R / y = [8, 3], R_skip = x R / y = [2, 2].
    // Linear (zero): s = R_h / z = [2, 1]; R_x = x * W^T s = [1*(1*2 + 0*1), 2*(1*2 + 2*1)] = [2, 8].
    // Total R_x = [4, 10]; the bias absorbs 2*1 + 1*(-1) = 1.
    CHECK(rm.input("x").get({0, 0}) == doctest::Approx(4.0).epsilon(1e-5));
    CHECK(rm.input("x").get({0, 1}) == doctest::Approx(10.0).epsilon(1e-5));
    bool found = false;
    for (const auto& rep : rm.report())
      if (rep.name == "fc") {
        found = true;
        CHECK(rep.relevance_out == doctest::Approx(11.0).epsilon(1e-5));
        CHECK(rep.relevance_in == doctest::Approx(10.0).epsilon(1e-5));
        CHECK(rep.absorbed() == doctest::Approx(1.0).epsilon(1e-5));
      }
    CHECK(found);
  }

  TEST_CASE("a value used twice by one node: add(x / x) gets both halves back") {
    const Tensor x = T({1.f, -3.f, 2.f}, {3});
    Tape tape;
    Tensor y;
    {
      Recording rec(tape);
      const Tensor xi = tape.input(x, "x");
      y = add(xi, xi, "double");
    }
    CHECK(tape.size() == 1);
    CHECK(tape.node(0).inputs == std::vector<ValueId>{0, 0});
    const Tensor R = T({4.f, 6.f, -2.f}, {3});
    for (const Rule& rule : {Rule{NormRule{0.0}}, Rule{BacktraceRule{}}, Rule{GradientRule{}}}) {
      CAPTURE(rule_str(rule));
      Tape t2;
      Tensor y2;
      {
        Recording rec(t2);
        const Tensor xi = t2.input(x, "x");
        y2 = add(xi, xi, "double");
      }
      const RelevanceMap rm = propagate(t2, y2, R, only(rule));
      const double scale = std::holds_alternative<GradientRule>(rule) ? 2.0 : 1.0;
      for (int i = 0; i < 3; ++i) CHECK(rm.input("x").get({i}) == doctest::Approx(scale * R.get({i})));
    }
  }

  TEST_CASE("zero with a value seed equals gradient x input on a ReLU network with biases") {
    for (std::uint32_t seed = 1; seed <= 5; ++seed) {
      const Tensor x = o::random_tensor({3, 10}, seed);
      const Tensor W1 = o::random_tensor({16, 10}, seed + 10), b1 = o::random_tensor({16}, seed + 20);
      const Tensor W2 = o::random_tensor({8, 16}, seed + 30), b2 = o::random_tensor({8}, seed + 40);
      const Tensor W3 = o::random_tensor({4, 8}, seed + 50), b3 = o::random_tensor({4}, seed + 60);
      auto net = [&](Tape& tape) {
        Recording rec(tape);
        const Tensor h = relu(linear(tape.input(x, "x"), W1, b1));
        return linear(relu(add(linear(h, W2, b2), Tensor::full({8}, 0.1))), W3, b3);
      };
      Tape t1, t2;
      const Tensor y1 = net(t1), y2 = net(t2);
      const auto value = classification_seed(y1, std::nullopt, SeedForm::Value, 1.0);
      const auto onehot = classification_seed(y2, std::nullopt, SeedForm::OneHot, 1.0);
      Composite zero = Composite::by_name("zero");
      zero.for_op("add", NormRule{0.0});  // the constant shift absorbs its share, like a bias
      const Tensor lrp = propagate(t1, y1, value.seed, zero).input("x");
      const Tensor grad = propagate(t2, y2, onehot.seed, Composite::by_name("gradient")).input("x");
      Tensor gxi = Tensor::empty({3, 10});  // gradient x input
      for (std::int64_t r = 0; r < 3; ++r)
        for (std::int64_t j = 0; j < 10; ++j) gxi.set_flat(r * 10 + j, grad.get({r, j}) * x.get({r, j}));
      CHECK(o::rel_err(lrp, gxi) < 1e-4);
    }
  }

  TEST_CASE("conservation: zero without bias conserves at every node / with bias the bias keeps its share") {
    const Tensor x = o::random_tensor({1, 8}, 3, 0.0, 1.0);
    const Tensor W1 = o::random_tensor({6, 8}, 4), W2 = o::random_tensor({3, 6}, 5), b2 = o::random_tensor({3}, 6);
    Tape tape;
    Tensor y;
    {
      Recording rec(tape);
      y = linear(relu(linear(tape.input(x, "x"), W1, {}, "fc1")), W2, b2, "fc2");
    }
    const auto seed = classification_seed(y, 0, SeedForm::OneHot, 1.0);
    const RelevanceMap rm = propagate(tape, y, seed.seed, Composite::by_name("zero"));
    for (const auto& rep : rm.report()) {
      CAPTURE(rep.name);
      if (rep.name == "fc2") {
        // The bias share of output 0: b_0 / z_0.
        CHECK(rep.absorbed() == doctest::Approx(b2.get({0}) / y.get({0, 0})).epsilon(1e-4));
      } else if (rep.relevance_out != 0.0) {
        CHECK(rep.absorbed() == doctest::Approx(0.0).epsilon(1e-5));
      }
    }
  }

  TEST_CASE("conservation report: each node's relevance_out is the sum of what reached it, forks included") {
    // act's output feeds fc2 and the residual add (two contributions); every other value
    // one. The
    // sums of single contributions are reused (computed once, as the reader's
    // relevance_in): they must equal the sum of the node's kept relevance exactly.
    const Tensor x = o::random_tensor({2, 8}, 3, 0.0, 1.0);
    const Tensor W1 = o::random_tensor({8, 8}, 4), W2 = o::random_tensor({8, 8}, 5), W3 = o::random_tensor({3, 8}, 6);
    const Tensor b3 = o::random_tensor({3}, 7);
    Tape tape;
    Tensor y;
    {
      Recording rec(tape);
      const Tensor h = relu(linear(tape.input(x, "x"), W1, {}, "fc1"), "act");
      y = linear(relu(add(linear(h, W2, {}, "fc2"), h, "res"), "act2"), W3, b3, "head");
    }
    PropagateOptions opts;
    opts.keep_all = true;
    opts.retain = true;
    for (const char* comp : {"epsilon", "zero"}) {
      CAPTURE(comp);
      const RelevanceMap rm = propagate(tape, y, y, Composite::by_name(comp), opts);
      std::map<std::string, NodeReport> by_name;
      for (const auto& rep : rm.report()) by_name[rep.name] = rep;
      REQUIRE(by_name.size() == 6);
      for (const auto& [name, rep] : by_name) {
        CAPTURE(name);
        CHECK(rep.relevance_out == sum_all(rm.node(name)));
      }
      // A producer's relevance_out is its one reader's share, to the bit.
      CHECK(by_name["fc1"].relevance_out == by_name["act"].relevance_in);
      CHECK(by_name["res"].relevance_out == by_name["act2"].relevance_in);
      CHECK(by_name["act2"].relevance_out == by_name["head"].relevance_in);
      // act got two shares, fc2's and the add's (the add's other share went to fc2).
      CHECK(by_name["act"].relevance_out == doctest::Approx(by_name["fc2"].relevance_in + by_name["res"].relevance_in -
                                                            by_name["fc2"].relevance_out).epsilon(1e-5));
    }
  }

  TEST_CASE("the report times each node's relevance kernel: within the call's wall time, the big layer dominant") {
    // A 1024 x 1024 linear layer's relevance (a 512-row GEMM) next to a ReLU's pass-through.
    const Tensor x = o::random_tensor({512, 1024}, 3, 0.0, 1.0);
    const Tensor W = o::random_tensor({1024, 1024}, 4);
    Tape tape;
    Tensor y;
    {
      Recording rec(tape);
      y = relu(linear(tape.input(x, "x"), W, {}, "big"), "act");
    }
    const auto started = std::chrono::steady_clock::now();
    const RelevanceMap rm = propagate(tape, y, y, Composite::by_name("epsilon"));
    const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    double total = 0, big = -1, act = -1;
    for (const auto& rep : rm.report()) {
      CHECK(rep.seconds >= 0.0);
      total += rep.seconds;
      if (rep.name == "big") big = rep.seconds;
      if (rep.name == "act") act = rep.seconds;
    }
    CHECK(total <= wall);
    CHECK(big > 0.0);
    CHECK(big > act);
  }

  TEST_CASE("saved tensors are released once their node ran / unless retained") {
    const Tensor W = o::random_tensor({2, 3}, 1);
    const Tensor x = o::random_tensor({1, 3}, 2);
    {
      Tape tape;
      Tensor y;
      {
        Recording rec(tape);
        y = linear(tape.input(x, "x"), W, {}, "fc");
      }
      CHECK(W.storage().use_count() == 2);  // W and the node's handle
      propagate(tape, y, Tensor::full({1, 2}, 1.0), Composite::by_name("epsilon"));
      CHECK(W.storage().use_count() == 1);
      CHECK(tape.consumed());
      CHECK_THROWS_AS(propagate(tape, y, Tensor::full({1, 2}, 1.0), Composite::by_name("epsilon")), ValueError);
    }
    {
      Tape tape;
      Tensor y;
      {
        Recording rec(tape);
        y = linear(tape.input(x, "x"), W, {}, "fc");
      }
      PropagateOptions keep;
      keep.retain = true;
      const Tensor r1 = propagate(tape, y, T({1.f, 0.f}, {1, 2}), Composite::by_name("zero"), keep).input("x");
      const Tensor r2 = propagate(tape, y, T({0.f, 1.f}, {1, 2}), Composite::by_name("zero"), keep).input("x");
      const Tensor both = propagate(tape, y, T({1.f, 1.f}, {1, 2}), Composite::by_name("zero"), keep).input("x");
      for (int j = 0; j < 3; ++j) CHECK(both.get({0, j}) == doctest::Approx(r1.get({0, j}) + r2.get({0, j})));
      CHECK(W.storage().use_count() == 2);
    }
  }

  TEST_CASE("post-scaling: scaler makes every map sum to it / max_unit bounds its largest magnitude") {
    Tape tape;
    Tensor y;
    {
      Recording rec(tape);
      y = linear(relu(tape.input(T({1.f, 2.f, -1.f}, {1, 3}), "x"), "act"), T({1.f, 1.f, 1.f}, {1, 3}), {}, "fc");
    }
    PropagateOptions keep;
    keep.keep_all = true;
    keep.retain = true;
    RelevanceMap a = propagate(tape, y, y, Composite::by_name("zero"), keep);  // x relevance [1, 2, 0]
    a.rescale(100.0, 0.0);
    CHECK(a.input("x").to_vector() == std::vector<float>{100.f / 3, 200.f / 3, 0.f});
    CHECK(sum_all(a.node("fc")) == doctest::Approx(100.0));
    RelevanceMap b = propagate(tape, y, y, Composite::by_name("zero"), keep);
    b.rescale(0.0, 1.0);
    CHECK(b.input("x").to_vector() == std::vector<float>{0.5f, 1.f, 0.f});
    CHECK_THROWS_AS(b.rescale(-1.0, 0.0), ValueError);
  }

  TEST_CASE("two threads record and propagate two tapes at once") {
    const Tensor W = o::random_tensor({4, 5}, 1);
    auto explain = [&](std::uint32_t seed, Tensor* out) {
      Tape tape;
      Tensor y;
      const Tensor x = o::random_tensor({1, 5}, seed);
      {
        Recording rec(tape);
        y = relu(linear(tape.input(x, "x"), W));
      }
      *out = propagate(tape, y, y, Composite::by_name("zero")).input("x");
    };
    Tensor a, b, a_ref, b_ref;
    std::thread ta(explain, 7u, &a), tb(explain, 8u, &b);
    ta.join();
    tb.join();
    explain(7u, &a_ref);
    explain(8u, &b_ref);
    CHECK(max_abs_diff(a, a_ref) == 0.0);
    CHECK(max_abs_diff(b, b_ref) == 0.0);
    CHECK(Tape::current() == nullptr);
  }

  TEST_CASE("an input that receives nothing gets zeros / dead branches are skipped") {
    Tape tape;
    Tensor y;
    {
      Recording rec(tape);
      const Tensor x = tape.input(T({1.f, 2.f}, {1, 2}), "x");
      tape.input(T({3.f}, {1}), "unused");
      relu(x, "dead");  // never reaches the output
      y = linear(x, T({1.f, 1.f}, {1, 2}), {}, "fc");
    }
    const RelevanceMap rm = propagate(tape, y, T({3.f}, {1, 1}), Composite::by_name("zero"));
    CHECK(rm.input("unused").get({0}) == 0.0);
    CHECK(rm.input("x").get({0, 1}) == doctest::Approx(2.0));
    CHECK(rm.report().size() == 1);
  }

  TEST_CASE("errors: foreign output / wrong seed shape / unsupported rule / unknown names") {
    Tape tape, other;
    Tensor y;
    {
      Recording rec(tape);
      y = relu(tape.input(T({1.f, -1.f}, {2}), "x"), "act");
    }
    CHECK_THROWS_AS(propagate(other, y, y, Composite::by_name("zero")), ValueError);
    CHECK_THROWS_AS(propagate(tape, y, T({1.f}, {1}), Composite::by_name("zero")), ShapeError);
    try {
      propagate(tape, y, y, only(EpsilonRule{0.1}));
      FAIL("expected UnsupportedError");
    } catch (const UnsupportedError& e) {
      CHECK(std::string(e.what()).find("'act' (relu)") != std::string::npos);
    }
    CHECK_THROWS_AS(Composite::by_name("no-such"), NotFoundError);
    CHECK_THROWS_AS(tape.input(T({1.f}, {1}), "x"), ValueError);
  }
}
