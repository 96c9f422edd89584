#pragma once
// The GPU parity harness: one op graph built twice, on the CPU and on the GPU, from the
// same inputs, parameters and output relevance; forward outputs and the relevance of
// every graph input must agree to a relative tolerance (max |gpu - cpu| / max |cpu|).
// Without a GPU every check returns at once and the suite prints why, once.

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "relprop/cuda/context.hpp"
#include "reference/oracle.hpp"
#include "relprop/relevance/composite.hpp"
#include "relprop/relevance/engine.hpp"
#include "relprop/relevance/rules.hpp"
#include "relprop/relevance/tape.hpp"

namespace relprop::parity {

// Set by a test case that checks the CPU and adds the GPU where there is one: without a
// GPU it is then reported as run in part ("GPU part not run: ..."), not as skipped.
inline bool gpu_part_only = false;

// Whether a GPU is present; says so the first time there is none: "skipped: ..." for a
// GPU-only case (ctest reports it as skipped; tests/CMakeLists.txt), "GPU part not run:
// ..." when gpu_part_only is set.
inline bool have_gpu() {
  static const bool have = [] {
    const bool h = cuda::device_count() > 0;
    if (!h)
      MESSAGE(std::string(gpu_part_only ? "GPU part not run: " : "skipped: ")
              << "GPU parity tests need a CUDA device (" << std::string(cuda::built() ? "backend built" : "backend not built")
              << ", " << cuda::device_count() << " GPUs)");
    return h;
  }();
  return have;
}

// max |a - b| / max |reference|, over tensors on any device (0 when both are empty).
inline double rel_diff(const Tensor& got, const Tensor& reference) {
  REQUIRE(got.shape() == reference.shape());
  const auto g = got.to_vector_f64(), r = reference.to_vector_f64();
  double d = 0, m = 0;
  for (std::size_t i = 0; i < r.size(); ++i) {
    m = std::max(m, std::fabs(r[i]));
    if (g[i] == r[i] || (std::isnan(g[i]) && std::isnan(r[i]))) continue;  // equal (infinities too)
    const double e = std::fabs(g[i] - r[i]);
    if (std::isnan(e)) return e;  // one side NaN, or infinities apart (std::max would drop it)
    d = std::max(d, e);
  }
  return m > 0 ? d / m : d;
}

// Uniform in [lo, hi], rounded to a multiple of 1/16 (float32): with such inputs and
// weights every forward sum of a small layer is exact in float32 on both devices, so
// near-zero denominators cannot magnify a difference in summation order.
inline Tensor dyadic(const Shape& shape, std::uint32_t seed, double lo = -1.0, double hi = 1.0) {
  std::vector<double> v = oracle::random_tensor(shape, seed, lo, hi).to_vector_f64();
  for (double& e : v) e = std::round(e * 16.0) / 16.0;
  return Tensor::from_vector(std::span<const double>(v), shape).to(DType::F32);
}

// Builds the op graph on `inputs` (already tracked graph inputs on `device`); moves its
// own parameters with `.to(device)`. Returns the output.
using Build = std::function<Tensor(const std::vector<Tensor>& inputs, Device device)>;

struct Case {
  std::string name;            // printed on failure
  std::vector<Tensor> inputs;  // CPU tensors, declared as graph inputs in0, in1, ...
  Build build;
};

struct Result {
  Tensor output;              // forward output
  std::vector<Tensor> relevance;  // per input (positive map first in contrastive mode)
};

inline Result run(const Case& c, const Composite& composite, Device device, bool contrastive, std::uint32_t seed) {
  Tape tape;
  Tensor y;
  {
    Recording rec(tape);
    std::vector<Tensor> in;
    for (std::size_t i = 0; i < c.inputs.size(); ++i)
      in.push_back(tape.input(c.inputs[i].to(device), "in" + std::to_string(i)));
    y = c.build(in, device);
  }
  const Tensor R = oracle::random_tensor(y.shape(), seed).to(device);
  Result out;
  out.output = y;
  if (contrastive) {
    const Tensor Rn = oracle::random_tensor(y.shape(), seed + 1, 0.0, 1.0).to(device);
    const RelevanceMap m = propagate_contrastive(tape, y, R, Rn, composite);
    for (std::size_t i = 0; i < c.inputs.size(); ++i) {
      out.relevance.push_back(m.input("in" + std::to_string(i) + ".positive"));
      out.relevance.push_back(m.input("in" + std::to_string(i) + ".negative"));
    }
  } else {
    const RelevanceMap m = propagate(tape, y, R, composite);
    for (std::size_t i = 0; i < c.inputs.size(); ++i) out.relevance.push_back(m.input("in" + std::to_string(i)));
  }
  return out;
}

// Checks one case under `rule` (every node takes it): forward and relevance on the GPU
// within `tol` of the CPU's, the GPU results living on the GPU.
inline void check(const Case& c, const Rule& rule, double tol = 1e-5, bool contrastive = false,
                  std::uint32_t seed = 7) {
  if (!have_gpu()) return;
  Composite composite("parity");
  composite.set_fallback(rule);
  INFO(c.name << " under " << rule_str(rule));
  const Result cpu = run(c, composite, Device::CPU, contrastive, seed);
  const Result gpu = run(c, composite, Device::CUDA, contrastive, seed);
  CHECK(gpu.output.device() == Device::CUDA);
  CHECK(rel_diff(gpu.output, cpu.output) <= tol);
  REQUIRE(gpu.relevance.size() == cpu.relevance.size());
  for (std::size_t i = 0; i < cpu.relevance.size(); ++i) {
    INFO("relevance of input " << i);
    CHECK(gpu.relevance[i].device() == Device::CUDA);
    CHECK(rel_diff(gpu.relevance[i], cpu.relevance[i]) <= tol);
  }
}

// The same case under each of `rules`.
inline void check_all(const Case& c, const std::vector<Rule>& rules, double tol = 1e-5) {
  for (const Rule& r : rules) check(c, r, tol);
}

}  // namespace relprop::parity
