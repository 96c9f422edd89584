// GPU parity of the shape ops (ops/shape.cpp; cuda/shape.cu for upsampling): forward and
// relevance of every op on the rows of tests/ops/test_shape.cpp and more (cat along
// several dimensions, slices with steps, pads on several dimensions, upsampling by 2, by
// odd factors and down). Shape nodes move relevance whatever the rule: each op runs under
// epsilon, backtrace and pass, and in contrastive mode. The values only move (or, for
// upsampling, the copies' relevance is summed in the CPU's order), so the results agree
// exactly; the tolerance 1e-6 only leaves room for the engine's own arithmetic.

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "cuda/parity.hpp"
#include "relprop/ops/shape.hpp"

using namespace relprop;
namespace o = relprop::oracle;

namespace {

struct ShapeRow {
  std::string name;
  std::vector<Shape> inputs;
  parity::Build build;
  double tol = 1e-6;
};

std::vector<ShapeRow> shape_rows() {
  std::vector<ShapeRow> rows;
  auto row = [&](std::string n, std::vector<Shape> in, parity::Build b, double tol = 1e-6) {
    rows.push_back({std::move(n), std::move(in), std::move(b), tol});
  };
  using In = const std::vector<Tensor>&;
  row("flatten", {{2, 3, 4, 5}}, [](In v, Device) { return flatten(v[0]); });
  row("flatten 0..2", {{2, 3, 4, 5}}, [](In v, Device) { return flatten(v[0], 0, 2); });
  row("reshape", {{2, 3, 4, 5}}, [](In v, Device) { return reshape(v[0], {2, 12, 5}); });
  row("identity", {{2, 7}}, [](In v, Device) { return identity(v[0]); });
  row("dropout", {{2, 3, 5}}, [](In v, Device) { return identity(v[0], {}, OpKind::Dropout); });
  row("permute (2, 0, 1)", {{2, 3, 5}}, [](In v, Device) { return permute(v[0], {2, 0, 1}); });
  row("permute (0, 2, 3, 1)", {{2, 3, 5, 7}}, [](In v, Device) { return permute(v[0], {0, 2, 3, 1}); });
  row("transpose (0, -1)", {{2, 3, 5}}, [](In v, Device) { return transpose(v[0], 0, -1); });
  row("transpose (1, 2)", {{2, 3, 5, 7}}, [](In v, Device) { return transpose(v[0], 1, 2); });
  row("slice dim 1 [1, 6) step 2", {{2, 7, 3}}, [](In v, Device) { return slice(v[0], 1, 1, 6, 2); });
  row("slice dim -1 [-2, end)", {{2, 6}}, [](In v, Device) { return slice(v[0], -1, -2, 100); });
  row("slice dim 0 step 3", {{7, 4, 3}}, [](In v, Device) { return slice(v[0], 0, 0, 7, 3); });
  row("slice dim 3 [1, 8) step 3", {{2, 3, 4, 9}}, [](In v, Device) { return slice(v[0], 3, 1, 8, 3); });
  row("cat dim 0", {{2, 3, 4}, {1, 3, 4}, {3, 3, 4}}, [](In v, Device) { return cat(v, 0); });
  row("cat dim 1", {{2, 2}, {2, 3}}, [](In v, Device) { return cat(v, 1); });
  row("cat dim -1 of three", {{2, 3, 4}, {2, 3, 1}, {2, 3, 5}}, [](In v, Device) { return cat(v, -1); });
  row("cat dim 2 (N, C, H, W)", {{2, 3, 5, 4}, {2, 3, 2, 4}}, [](In v, Device) { return cat(v, 2); });
  row("cat with a constant", {{2, 3, 4}},
      [](In v, Device d) { return cat({v[0], o::random_tensor({2, 1, 4}, 99).to(d)}, 1); });
  row("cat of one input with itself", {{2, 3}}, [](In v, Device) { return cat({v[0], v[0]}, 0); });
  row("pad (1, 0, 0, 2) value -1", {{1, 2, 2}}, [](In v, Device) { return pad(v[0], {1, 0, 0, 2}, -1.0); });
  row("pad three dims", {{2, 3, 4, 5}}, [](In v, Device) { return pad(v[0], {1, 2, 0, 1, 2, 0}, 0.5); });
  row("upsample x2", {{2, 3, 4, 5}}, [](In v, Device) { return upsample_nearest2d(v[0], 8, 10); });
  row("upsample 2x3 -> 4x5", {{1, 2, 2, 3}}, [](In v, Device) { return upsample_nearest2d(v[0], 4, 5); });
  row("upsample 3x4 -> 7x13", {{2, 2, 3, 4}}, [](In v, Device) { return upsample_nearest2d(v[0], 7, 13); });
  row("downsample 7x9 -> 3x4", {{2, 2, 7, 9}}, [](In v, Device) { return upsample_nearest2d(v[0], 3, 4); });
  row("upsample large x2", {{2, 16, 31, 33}}, [](In v, Device) { return upsample_nearest2d(v[0], 62, 66); });
  // The chain of ops/test_shape.cpp's graph test: every node on the GPU in turn.
  row("upsample -> pad -> permute -> slice -> cat", {{1, 2, 2, 3}},
      [](In v, Device) {
        const Tensor u = upsample_nearest2d(v[0], 4, 6);
        const Tensor p = pad(u, {1, 1}, 0.5);
        const Tensor t = permute(p, {0, 1, 3, 2});
        const Tensor s = slice(t, 2, 1, -1);
        return cat({s, s}, 1);
      });
  return rows;
}

parity::Case shape_case(const ShapeRow& r, std::uint32_t seed) {
  std::vector<Tensor> xs;
  for (const Shape& s : r.inputs) xs.push_back(o::random_tensor(s, seed++));
  return parity::Case{r.name, xs, r.build};
}

}  // namespace

TEST_SUITE("cuda.parity.shape") {
  TEST_CASE("shape ops: forward and relevance under every rule") {
    std::uint32_t seed = 400;
    for (const ShapeRow& r : shape_rows()) {
      CAPTURE(r.name);
      parity::check_all(shape_case(r, seed), {EpsilonRule{}, BacktraceRule{}, PassRule{}}, r.tol);
      seed += 10;
    }
  }

  TEST_CASE("shape ops in contrastive mode: both maps moved") {
    std::uint32_t seed = 500;
    for (const ShapeRow& r : shape_rows()) {
      CAPTURE(r.name);
      parity::check(shape_case(r, seed), BacktraceRule{BacktraceRule::Mode::Contrastive}, r.tol, true);
      seed += 10;
    }
  }

  TEST_CASE("cat of tensors on different devices is a ValueError") {
    if (!parity::have_gpu()) return;
    const Tensor a = o::random_tensor({2, 3}, 1), b = o::random_tensor({2, 3}, 2).to(Device::CUDA);
    CHECK_THROWS_AS(cat({a, b}, 0), ValueError);
    CHECK(cat({b, b}, 1).device() == Device::CUDA);
  }
}
