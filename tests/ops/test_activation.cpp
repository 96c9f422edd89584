// Activations: known values, gradients against central finite differences, pass-through.

#include <doctest/doctest.h>

#include <cmath>
#include <functional>
#include <vector>

#include "relprop/ops/activation.hpp"
#include "relprop/relevance/engine.hpp"
#include "reference/oracle.hpp"

using namespace relprop;
namespace o = relprop::oracle;

namespace {

using Fn = std::function<Tensor(const Tensor&)>;

struct Named {
  const char* name;
  Fn f;
};

std::vector<Named> activations() {
  return {{"relu", [](const Tensor& x) { return relu(x); }},
          {"leaky_relu", [](const Tensor& x) { return leaky_relu(x, 0.2); }},
          {"relu6", [](const Tensor& x) { return relu6(x); }},
          {"elu", [](const Tensor& x) { return elu(x, 0.7); }},
          {"gelu", [](const Tensor& x) { return gelu(x); }},
          {"gelu-tanh", [](const Tensor& x) { return gelu(x, "tanh"); }},
          {"silu", [](const Tensor& x) { return silu(x); }},
          {"sigmoid", [](const Tensor& x) { return sigmoid(x); }},
          {"tanh", [](const Tensor& x) { return relprop::tanh(x); }},
          {"softmax", [](const Tensor& x) { return softmax(x, 1); }},
          {"log_softmax", [](const Tensor& x) { return log_softmax(x, -1); }}};
}

Tensor explain(const Fn& f, const Tensor& x, const Tensor& R, const char* composite) {
  Tape tape;
  Tensor y;
  {
    Recording rec(tape);
    y = f(tape.input(x, "x"));
  }
  return propagate(tape, y, R, Composite::by_name(composite)).input("x");
}

}  // namespace

TEST_SUITE("ops.activation") {
  TEST_CASE("known values") {
    const Tensor x = Tensor::from_vector({-1.f, 0.f, 1.f, 7.f}, {4});
    CHECK(gelu(x).get({2}) == doctest::Approx(0.8413447).epsilon(1e-6));
    CHECK(gelu(x, "tanh").get({2}) == doctest::Approx(0.8411920).epsilon(1e-6));
    CHECK(silu(x).get({2}) == doctest::Approx(0.7310586).epsilon(1e-6));
    CHECK(elu(x).get({0}) == doctest::Approx(-0.6321206).epsilon(1e-6));
    CHECK(sigmoid(x).get({1}) == 0.5);
    CHECK(relu6(x).get({3}) == 6.0);
    CHECK(leaky_relu(x).get({0}) == doctest::Approx(-0.01));
    CHECK(relprop::tanh(x).get({2}) == doctest::Approx(std::tanh(1.0)).epsilon(1e-6));
    const Tensor s = softmax(Tensor::from_vector({1.f, 2.f, 3.f, 1000.f, 1000.f, 1000.f}, {2, 3}), 1);
    CHECK(s.get({0, 2}) == doctest::Approx(std::exp(3.0) / (std::exp(1.0) + std::exp(2.0) + std::exp(3.0))));
    CHECK(s.get({1, 0}) == doctest::Approx(1.0 / 3));  // no overflow for large inputs
    CHECK(log_softmax(Tensor::from_vector({0.f, 0.f}, {1, 2}), 1).get({0, 0}) == doctest::Approx(std::log(0.5)));
    CHECK_THROWS_AS(gelu(x, "fast"), ValueError);
    CHECK_THROWS_AS(softmax(x, 1), IndexError);
  }

  TEST_CASE("vectorised activations stay within 1e-6 relative of double precision, tails included") {
    // Blocks of several SIMD widths plus a ragged end; arguments from -100 to 100.
    std::vector<float> v;
    for (int i = 0; i <= 2000; ++i) v.push_back(-100.0f + 0.1f * static_cast<float>(i));
    const Tensor x = Tensor::from_vector(std::span<const float>(v), {static_cast<std::int64_t>(v.size())});
    // Tolerance 2e-6 |f| + floor. GELU's 1 + erf(x/√2) (and 1 + tanh) cancels in float for
    // x < -3 — the float formula's own error, PyTorch's and libm's erff alike — so its floor
    // is 5e-7; sigmoid and tanh must stay relatively accurate down to 1e-37, SiLU to 1e-36
    // (below x = -88.7 it is -0 instead of ~-1e-37).
    struct Case {
      const char* name;
      Tensor y;
      std::function<double(double)> f;
      double floor;
    };
    const std::vector<Case> cases = {
        {"gelu", gelu(x), [](double t) { return 0.5 * t * (1.0 + std::erf(t / std::sqrt(2.0))); }, 5e-7},
        {"gelu-tanh", gelu(x, "tanh"),
         [](double t) { return 0.5 * t * (1.0 + std::tanh(std::sqrt(2.0 / M_PI) * (t + 0.044715 * t * t * t))); },
         5e-7},
        {"silu", silu(x), [](double t) { return t / (1.0 + std::exp(-t)); }, 1e-36},
        {"sigmoid", sigmoid(x), [](double t) { return 1.0 / (1.0 + std::exp(-t)); }, 1e-37},
        {"tanh", relprop::tanh(x), [](double t) { return std::tanh(t); }, 1e-37}};
    for (const auto& c : cases) {
      CAPTURE(std::string(c.name));
      const auto y = c.y.to_vector_f64();
      double worst = 0;  // error / tolerance
      for (std::size_t i = 0; i < v.size(); ++i) {
        const double want = c.f(v[i]);
        const double e = std::abs(y[i] - want) / (2e-6 * std::abs(want) + c.floor);
        worst = std::max(worst, e);
      }
      CHECK(worst <= 1.0);
    }
  }

  TEST_CASE("gradient rule equals central finite differences of the forward") {
    const Tensor x = o::random_tensor({3, 5}, 4, -3.0, 3.0);
    const Tensor R = o::random_tensor({3, 5}, 5);
    for (const auto& a : activations()) {
      CAPTURE(std::string(a.name));
      const Tensor g = explain(a.f, x, R, "gradient");
      // d/dx_i of sum_k R_k f(x)_k, one coordinate at a time.
      const double h = 1e-3;
      for (std::int64_t i = 0; i < x.numel(); ++i) {
        Tensor xp = x.clone(), xm = x.clone();
        xp.set_flat(i, x.get_flat(i) + h);
        xm.set_flat(i, x.get_flat(i) - h);
        const Tensor yp = a.f(xp), ym = a.f(xm);
        double fd = 0;
        for (std::int64_t k = 0; k < x.numel(); ++k) fd += R.get_flat(k) * (yp.get_flat(k) - ym.get_flat(k)) / (2 * h);
        CHECK(g.get_flat(i) == doctest::Approx(fd).epsilon(2e-3).scale(1.0));
      }
    }
  }

  TEST_CASE("LRP composites pass relevance through every activation unchanged") {
    const Tensor x = o::random_tensor({2, 4}, 6);
    const Tensor R = o::random_tensor({2, 4}, 7);
    for (const auto& a : activations()) {
      CAPTURE(std::string(a.name));
      CHECK(max_abs_diff(explain(a.f, x, R, "epsilon"), R) == 0.0);
      CHECK(max_abs_diff(explain(a.f, x, R, "backtrace"), R) == 0.0);
    }
  }
}
