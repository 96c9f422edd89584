// Golden parity with Zennit 0.5.1 (fixtures from tools/make_zennit_fixtures.py): an MLP, a
// CNN with batch norm and max / average pooling, and a ResNet-style block, under six
// composites each. Zennit merges batch norms with its canonizers; relprop folds them by
// graph adjacency. Max pooling: Zennit takes the gradient (first arg-max), relprop
// winner-take-all with ties split; the random inputs have no ties, so both agree.

#include <doctest/doctest.h>

#include <sstream>

#include "relprop/io/safetensors.hpp"
#include "relprop/nn/graph.hpp"
#include "relprop/relevance/engine.hpp"
#include "relprop/relevance/seed.hpp"
#include "reference/oracle.hpp"

using namespace relprop;

TEST_SUITE("nn.zennit_parity") {
  TEST_CASE("relevance equals Zennit's to 1e-5 relative for every model and composite") {
    const std::string root = std::string(RELPROP_SOURCE_DIR) + "/tests/data/zennit/";
    for (const char* model : {"mlp", "cnn", "resblock"}) {
      CAPTURE(std::string(model));
      const std::string dir = root + model + "/";
      Graph graph = Graph::load(dir + "graph.json");
      graph.bind(SafetensorsFile::open(dir + "weights.safetensors"));
      const Tensor x = SafetensorsFile::open(dir + "input.safetensors").get("x");
      const SafetensorsFile expected = SafetensorsFile::open(dir + "expected.safetensors");
      std::vector<std::int64_t> targets;
      std::stringstream ts(expected.metadata().at("targets"));
      for (std::string t; std::getline(ts, t, ',');) targets.push_back(std::stoll(t));
      for (const std::string composite : {"epsilon", "epsilon-plus", "epsilon-plus-flat", "epsilon-alpha2-beta1",
                                          "epsilon-alpha2-beta1-flat", "epsilon-gamma-box"}) {
        CAPTURE(composite);
        Tape tape;
        Tensor y;
        {
          Recording rec(tape);
          y = graph.forward({{"x", x}})[0];
        }
        CHECK(oracle::rel_err(y, expected.get("output")) < 1e-5);
        const auto seed = classification_seed(y, std::nullopt, SeedForm::OneHot, 1.0);
        CHECK(seed.targets == targets);
        const Tensor r = propagate(tape, y, seed.seed, Composite::by_name(composite)).input("x");
        const double err = oracle::rel_err(r, expected.get(composite));
        CAPTURE(err);
        CHECK(err < 1e-5);
      }
    }
  }
}
