// tools/export_torch.py's round trips (tools/test_export_torch.py writes them into
// tests/data/models/export/ when scripts/models.sh runs; skipped otherwise): relprop's
// forward output equals PyTorch's to 1e-5 relative, and every export explains.

#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>

#include "relprop/io/safetensors.hpp"
#include "relprop/nn/graph.hpp"
#include "relprop/relevance/composite.hpp"
#include "relprop/relevance/engine.hpp"
#include "relprop/relevance/seed.hpp"
#include "relprop/relevance/tape.hpp"
#include "reference/build_kind.hpp"
#include "relprop/tensor/tensor.hpp"

using namespace relprop;
namespace fs = std::filesystem;

TEST_SUITE("nn.export") {
  TEST_CASE("graphs exported from PyTorch by torch.fx reproduce PyTorch's outputs and explain") {
    const fs::path root = fs::path(RELPROP_SOURCE_DIR) / "tests" / "data" / "models" / "export";
    if (!fs::exists(root)) {
      MESSAGE("skipped: no exports in " << root.string() << " (scripts/models.sh runs tools/test_export_torch.py)");
      return;
    }
    std::vector<fs::path> dirs;
    for (const auto& e : fs::directory_iterator(root))
      if (fs::exists(e.path() / "expected.safetensors")) dirs.push_back(e.path());
    std::sort(dirs.begin(), dirs.end());
    CHECK(dirs.size() >= 3);
    for (const auto& dir : dirs) {
      const std::string name = dir.filename().string();
      CAPTURE(name);
      if (test::kSanitized && (name == "vgg11_bn" || name == "vit_b_16")) {
        MESSAGE("skipped " << name << " in the sanitized build (the release build runs it)");
        continue;
      }
      Graph g = Graph::load((dir / "graph.json").string());
      g.bind(SafetensorsFile::open(dir / "weights.safetensors"));
      const Tensor x = SafetensorsFile::open(dir / "input.safetensors").get("x");
      const Tensor want = SafetensorsFile::open(dir / "expected.safetensors").get("output");
      Tape tape;
      Tensor y;
      {
        Recording rec(tape);
        y = g.forward({{"x", x}})[0];
      }
      const auto a = y.to_vector_f64(), b = want.to_vector_f64();
      REQUIRE(a.size() == b.size());
      double diff = 0, scale = 0;
      for (std::size_t i = 0; i < a.size(); ++i) {
        diff = std::max(diff, std::abs(a[i] - b[i]));
        scale = std::max(scale, std::abs(b[i]));
      }
      MESSAGE(name << ": " << g.nodes().size() << " nodes, max |relprop - PyTorch| / max |PyTorch| = " << diff / scale);
      CHECK(scale > 0);  // an all-zero output would compare nothing
      CHECK(diff <= 1e-5 * scale);
      // The export explains: epsilon, seeded at the arg-max, finite relevance of x's shape.
      const auto seed = classification_seed(y, std::nullopt, SeedForm::Value, 1.0);
      const RelevanceMap R = propagate(tape, y, seed.seed, Composite::by_name("epsilon"));
      const Tensor& r = R.input("x");
      CHECK(r.shape() == x.shape());
      bool finite = true;
      for (double v : r.to_vector_f64()) finite = finite && std::isfinite(v);
      CHECK(finite);
    }
  }
}
