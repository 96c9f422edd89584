// Golden parity with DLBacktrace 0.0.25 (fixtures from tools/make_dlbacktrace_fixtures.py):
// an MLP (ReLU), an MLP with tanh / sigmoid (the saturation gate), a CNN with max pooling
// and a CNN with average pooling; default mode everywhere, contrastive mode on the MLP
// and the CNN. Seeds as DLBacktrace's eval() makes them: the arg-max output's own value
// x 100 (and, contrastive, every other output's value x 100 for the negative map).
// Deliberate differences, see tests/data/dlbacktrace/README.md.

#include <doctest/doctest.h>

#include "relprop/io/safetensors.hpp"
#include "relprop/nn/graph.hpp"
#include "relprop/relevance/engine.hpp"
#include "relprop/relevance/seed.hpp"
#include "reference/fixtures.hpp"
#include "reference/oracle.hpp"

using namespace relprop;

namespace {

using Fixture = test::GraphFixture;

Fixture load(const std::string& model) { return test::load_graph_fixture("tests/data/dlbacktrace/" + model); }

}  // namespace

TEST_SUITE("nn.dlbacktrace_parity") {
  TEST_CASE("default mode equals DLBacktrace's on an MLP / a gated tanh-sigmoid MLP / CNNs with max and average pooling") {
    for (const char* model : {"mlp", "mlp_tanh", "cnn", "cnn_avg"}) {
      CAPTURE(std::string(model));
      Fixture f = load(model);
      Tape tape;
      Tensor y;
      {
        Recording rec(tape);
        y = f.graph.forward({{"x", f.x}})[0];
      }
      CHECK(oracle::rel_err(y, f.expected.get("output")) < 1e-5);
      const auto seed = classification_seed(y, std::nullopt, SeedForm::Value, 100.0);
      CHECK(seed.targets[0] == std::stoll(f.expected.metadata().at("target")));
      Composite c = Composite::by_name("backtrace");
      // DLBacktrace gates a dense layer by the activation after it; its ReLU gate never
      // fires (a lower bound of 0 is falsy in its test), tanh's, sigmoid's and softmax's do.
      // Every fixture ends in linear -> softmax (DLBacktrace 0.0.25 drops a last layer that
      // no activation follows).
      const Rule gate = parse_rule("backtrace:gate");
      if (std::string(model) == "mlp_tanh") c.for_class(OpClass::LinearType, gate);
      else c.for_last_linear(gate);
      const Tensor r = propagate(tape, y, seed.seed, c).input("x");
      const double err = oracle::rel_err(r, f.expected.get("default"));
      MESSAGE(std::string(model) << " default: relative error " << err);
      CHECK(err < 1e-5);
      if (std::string(model) == "mlp_tanh") {
        // The fixture exercises the gate: without it the maps differ.
        Tape t2;
        Tensor y2;
        {
          Recording rec(t2);
          y2 = f.graph.forward({{"x", f.x}})[0];
        }
        const Tensor ungated = propagate(t2, y2, seed.seed, Composite::by_name("backtrace")).input("x");
        CHECK(oracle::rel_err(ungated, f.expected.get("default")) > 1e-2);
      }
    }
  }

  TEST_CASE("contrastive mode equals DLBacktrace's positive and negative maps (MLP / CNN)") {
    for (const char* model : {"mlp", "cnn"}) {
      CAPTURE(std::string(model));
      Fixture f = load(model);
      Tape tape;
      Tensor y;
      {
        Recording rec(tape);
        y = f.graph.forward({{"x", f.x}})[0];
      }
      const auto pos = classification_seed(y, std::nullopt, SeedForm::Value, 100.0);
      const Tensor neg = contrastive_negative_seed(y, pos.seed, SeedForm::Value, 100.0);
      const RelevanceMap R =
          propagate_contrastive(tape, y, pos.seed, neg, Composite::by_name("backtrace-contrastive"));
      const double ep = oracle::rel_err(R.input("x.positive"), f.expected.get("positive"));
      const double en = oracle::rel_err(R.input("x.negative"), f.expected.get("negative"));
      MESSAGE(std::string(model) << " contrastive: relative error positive " << ep << ", negative " << en);
      CHECK(ep < 1e-5);
      CHECK(en < 1e-5);
    }
  }
}
