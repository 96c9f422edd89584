#pragma once
// Small models and golden fixtures shared by several test suites.

#include <map>
#include <string>

#include "reference/oracle.hpp"
#include "relprop/io/safetensors.hpp"
#include "relprop/nn/graph.hpp"
#include "relprop/nn/models.hpp"

namespace relprop::test {

// A fixture folder as tools/make_*_fixtures.py write them: graph.json, weights.safetensors,
// input.safetensors (`x`) and expected.safetensors.
struct GraphFixture {
  Graph graph;  // bound to its weights
  Tensor x;
  SafetensorsFile expected;
};

// `dir` relative to the source tree, e.g. "tests/data/dlbacktrace/mlp".
inline GraphFixture load_graph_fixture(const std::string& dir) {
  const std::string d = std::string(RELPROP_SOURCE_DIR) + "/" + dir + "/";
  Graph g = Graph::load(d + "graph.json");
  g.bind(SafetensorsFile::open(d + "weights.safetensors"));
  return {std::move(g), SafetensorsFile::open(d + "input.safetensors").get("x"),
          SafetensorsFile::open(d + "expected.safetensors")};
}

// A bound two-layer MLP 6 -> 5 -> 3 with fixed random weights.
inline Graph small_mlp() {
  ModelOptions o;
  o.mlp_sizes = {6, 5, 3};
  Graph g = build_model("mlp", o);
  g.bind(std::map<std::string, Tensor>{{"layers.0.weight", oracle::random_tensor({5, 6}, 1)},
                                       {"layers.0.bias", oracle::random_tensor({5}, 2)},
                                       {"layers.2.weight", oracle::random_tensor({3, 5}, 3)},
                                       {"layers.2.bias", oracle::random_tensor({3}, 4)}});
  return g;
}

}  // namespace relprop::test
