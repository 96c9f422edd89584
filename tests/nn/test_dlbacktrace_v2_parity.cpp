// Golden parity with DLBacktrace 0.1.24 ("v2", fixtures from
// tools/make_dlbacktrace_v2_fixtures.py): an MLP, a tanh / sigmoid MLP (v2 has no
// saturation gate), a CNN with 2 x 2 average pooling and a network with a convolutional and
// a dense residual block. v2 seeds one-hot x 100 at the arg-max of the logits, which is the
// `backtrace` composite's own default; it splits a residual sum 50/50 (`backtrace:equal` on
// the adds) and shares a 2 x 2 pooling window's relevance equally (the gradient rule of an
// average pooling). Its CPU linear code adds 1 to the denominator of a neuron whose
// contributions share one sign; relprop does not (mlp_one_sign). v2 shares a max pooling
// window equally too, which relprop's `uniform` pooling rule does; where windows overlap
// v2 copies blocks as if they tiled the input, and relprop keeps to the windows
// (tests/data/dlbacktrace/README.md).

#include <doctest/doctest.h>

#include <cmath>

#include "relprop/io/safetensors.hpp"
#include "relprop/nn/graph.hpp"
#include "relprop/relevance/engine.hpp"
#include "relprop/relevance/seed.hpp"
#include "reference/fixtures.hpp"
#include "reference/oracle.hpp"

using namespace relprop;

namespace {

using Fixture = test::GraphFixture;

Fixture load(const std::string& model) { return test::load_graph_fixture("tests/data/dlbacktrace/v2/" + model); }

// The input relevance under `c`, seeded as v2 seeds (one-hot x 100 at the arg-max); checks
// the logits and the target on the way.
Tensor explain(Fixture& f, const Composite& c) {
  Tape tape;
  Tensor y;
  {
    Recording rec(tape);
    y = f.graph.forward({{"x", f.x}})[0];
  }
  CHECK(oracle::rel_err(y, f.expected.get("output")) < 1e-5);
  const auto seed = classification_seed(y, std::nullopt, SeedForm::OneHot, 100.0);
  CHECK(seed.targets[0] == std::stoll(f.expected.metadata().at("target")));
  return propagate(tape, y, seed.seed, c).input("x");
}

// max |factor a - b| / max |b|
double rel_err_scaled(const Tensor& a, double factor, const Tensor& b) {
  const auto va = a.to_vector_f64(), vb = b.to_vector_f64();
  REQUIRE(va.size() == vb.size());
  double scale = 0, diff = 0;
  for (std::size_t i = 0; i < va.size(); ++i) {
    scale = std::max(scale, std::fabs(vb[i]));
    diff = std::max(diff, std::fabs(factor * va[i] - vb[i]));
  }
  return diff / scale;
}

}  // namespace

TEST_SUITE("nn.dlbacktrace_v2_parity") {
  TEST_CASE("backtrace equals DLBacktrace v2 on an MLP and, without the gate, on a tanh / sigmoid MLP") {
    for (const char* model : {"mlp", "mlp_tanh"}) {
      CAPTURE(std::string(model));
      Fixture f = load(model);
      const Tensor r = explain(f, Composite::by_name("backtrace"));
      const double err = oracle::rel_err(r, f.expected.get("default"));
      MESSAGE(std::string(model) << ": relative error " << err);
      CHECK(err < 1e-5);
    }
    // v2 has no saturation gate: with relprop's gate (v1's) the tanh / sigmoid map differs.
    Fixture f = load("mlp_tanh");
    Composite gated = Composite::by_name("backtrace");
    gated.for_class(OpClass::LinearType, parse_rule("backtrace:gate"));
    CHECK(oracle::rel_err(explain(f, gated), f.expected.get("default")) > 1e-2);
  }

  TEST_CASE("v2's +1 in a one-signed neuron's denominator is the whole difference (mlp_one_sign)") {
    Fixture f = load("mlp_one_sign");
    const Tensor r = explain(f, Composite::by_name("backtrace"));
    // relprop computes the formula: the float64 value without the +1.
    const double err = oracle::rel_err(r, f.expected.get("corrected"));
    MESSAGE("mlp_one_sign: relative error against the formula " << err);
    CHECK(err < 1e-5);
    // v2 is that times (P + |b|) / (P + |b| + 1) of the target neuron, whose contributions
    // are all >= 0.
    const double factor = std::stod(f.expected.metadata().at("plus_one_factor"));
    CHECK(factor < 0.9);
    CHECK(oracle::rel_err(r, f.expected.get("default")) > 0.1);
    CHECK(rel_err_scaled(r, factor, f.expected.get("default")) < 1e-5);
  }

  TEST_CASE("a CNN with 2 x 2 average pooling equals v2 with the window shared equally") {
    Fixture f = load("cnn_avg");
    // v2 copies each pooled value's relevance into its 2 x 2 block and rescales the map to
    // its total: an equal share per window, which the gradient rule of an average pooling is.
    Composite c = Composite::by_name("backtrace");
    c.for_name("pool1", parse_rule("gradient"));
    const double err = oracle::rel_err(explain(f, c), f.expected.get("default"));
    MESSAGE("cnn_avg (pool1=gradient): relative error " << err);
    CHECK(err < 1e-5);
    // The same under the uniform rule, which shares every window equally by definition.
    Composite u = Composite::by_name("backtrace");
    u.for_name("pool1", parse_rule("uniform"));
    CHECK(oracle::rel_err(explain(f, u), f.expected.get("default")) < 1e-5);
    // The composite's own average pooling shares by |x| and differs.
    CHECK(oracle::rel_err(explain(f, Composite::by_name("backtrace")), f.expected.get("default")) > 1e-2);
  }

  TEST_CASE("max pooling equals v2 under the uniform rule where the windows tile the input") {
    Fixture f = load("cnn_max");
    Composite c = Composite::by_name("backtrace");
    c.for_name("pool1", parse_rule("uniform"));
    const double err = oracle::rel_err(explain(f, c), f.expected.get("default"));
    MESSAGE("cnn_max (pool1=uniform): relative error " << err);
    CHECK(err < 1e-5);
    // The composite's own max pooling gives the winner everything and differs.
    CHECK(oracle::rel_err(explain(f, Composite::by_name("backtrace")), f.expected.get("default")) > 1e-1);
    // Overlapping 3 x 3 windows, stride 2, padding 1: uniform shares each window over its
    // positions inside the input (the fixture's float64 `window_uniform`); v2 does not.
    Fixture o = load("cnn_max_overlap");
    const Tensor r = explain(o, c);
    CHECK(oracle::rel_err(r, o.expected.get("window_uniform")) < 1e-5);
    CHECK(oracle::rel_err(r, o.expected.get("default")) > 1e-1);
  }

  TEST_CASE("residual blocks equal v2 with the sums split 50/50 (backtrace:equal on the adds)") {
    Fixture f = load("residual");
    Composite c = Composite::by_name("backtrace");
    c.for_op("add", parse_rule("backtrace:equal"));
    const double err = oracle::rel_err(explain(f, c), f.expected.get("default"));
    MESSAGE("residual (add=backtrace:equal): relative error " << err);
    CHECK(err < 1e-5);
    // Split by |a| : |b| (the default) the map differs.
    CHECK(oracle::rel_err(explain(f, Composite::by_name("backtrace")), f.expected.get("default")) > 1e-2);
  }
}
