// Pooling: windows as PyTorch defines them (known sizes), forward and relevance against
// slow oracles (average pooling is the linear map A with A_kj = 1/d_k on window k).

#include <doctest/doctest.h>

#include "relprop/ops/pool.hpp"
#include "relprop/relevance/engine.hpp"
#include "reference/oracle.hpp"

using namespace relprop;
namespace o = relprop::oracle;

namespace {

Tensor relevance_of(const Tensor& x, const std::function<Tensor(const Tensor&)>& f, const Tensor& R, const Rule& rule) {
  Tape tape;
  Tensor y;
  {
    Recording rec(tape);
    y = f(tape.input(x, "x"));
  }
  Composite c("test");
  c.set_fallback(rule);
  return propagate(tape, y, R, c).input("x");
}

// Window membership written independently from PyTorch's definitions, one plane (H, W).
struct Win {
  std::vector<std::pair<std::int64_t, std::int64_t>> cells;
  double divisor;
};

std::vector<Win> windows_avg(std::int64_t H, std::int64_t W, const Pool2dParams& p, std::int64_t HO, std::int64_t WO) {
  std::vector<Win> out;
  for (std::int64_t oh = 0; oh < HO; ++oh)
    for (std::int64_t ow = 0; ow < WO; ++ow) {
      Win w{};
      const std::int64_t hs = oh * p.stride[0] - p.padding[0], ws = ow * p.stride[1] - p.padding[1];
      const std::int64_t he = std::min(hs + p.kernel[0], H + p.padding[0]);
      const std::int64_t we = std::min(ws + p.kernel[1], W + p.padding[1]);
      for (std::int64_t h = hs; h < he; ++h)
        for (std::int64_t c = ws; c < we; ++c)
          if (h >= 0 && h < H && c >= 0 && c < W) w.cells.push_back({h, c});
      w.divisor = p.count_include_pad ? static_cast<double>((he - hs) * (we - ws)) : static_cast<double>(w.cells.size());
      out.push_back(w);
    }
  return out;
}

std::vector<Win> windows_max(std::int64_t H, std::int64_t W, const Pool2dParams& p, std::int64_t HO, std::int64_t WO) {
  std::vector<Win> out;
  for (std::int64_t oh = 0; oh < HO; ++oh)
    for (std::int64_t ow = 0; ow < WO; ++ow) {
      Win w{{}, 1.0};
      for (std::int64_t i = 0; i < p.kernel[0]; ++i)
        for (std::int64_t j = 0; j < p.kernel[1]; ++j) {
          const std::int64_t h = oh * p.stride[0] - p.padding[0] + i * p.dilation[0];
          const std::int64_t c = ow * p.stride[1] - p.padding[1] + j * p.dilation[1];
          if (h >= 0 && h < H && c >= 0 && c < W) w.cells.push_back({h, c});
        }
      out.push_back(w);
    }
  return out;
}

std::vector<Win> windows_adaptive(std::int64_t H, std::int64_t W, std::int64_t HO, std::int64_t WO) {
  std::vector<Win> out;
  for (std::int64_t oh = 0; oh < HO; ++oh)
    for (std::int64_t ow = 0; ow < WO; ++ow) {
      Win w{};
      const auto h0 = static_cast<std::int64_t>(std::floor(double(oh) * H / HO));
      const auto h1 = static_cast<std::int64_t>(std::ceil(double(oh + 1) * H / HO));
      const auto w0 = static_cast<std::int64_t>(std::floor(double(ow) * W / WO));
      const auto w1 = static_cast<std::int64_t>(std::ceil(double(ow + 1) * W / WO));
      for (std::int64_t h = h0; h < h1; ++h)
        for (std::int64_t c = w0; c < w1; ++c) w.cells.push_back({h, c});
      w.divisor = static_cast<double>(w.cells.size());
      out.push_back(w);
    }
  return out;
}

// The pooling of all planes as a dense matrix (rows N C HO WO, cols N C H W), weight `val`.
o::Mat dense(const std::vector<Win>& wins, std::int64_t planes, std::int64_t H, std::int64_t W, bool mean) {
  const auto P = static_cast<std::int64_t>(wins.size());
  o::Mat A(planes * P, planes * H * W);
  for (std::int64_t pl = 0; pl < planes; ++pl)
    for (std::int64_t k = 0; k < P; ++k)
      for (const auto& [h, c] : wins[k].cells) A(pl * P + k, pl * H * W + h * W + c) = mean ? 1.0 / wins[k].divisor : 1.0;
  return A;
}

}  // namespace

TEST_SUITE("ops.pool") {
  TEST_CASE("output sizes as PyTorch: floor / ceil_mode / padding / dilation / adaptive") {
    const Tensor x = o::random_tensor({1, 1, 5, 7}, 1);
    CHECK(max_pool2d(x, {{2, 2}, {2, 2}}).shape() == Shape{1, 1, 2, 3});
    CHECK(max_pool2d(x, {{2, 2}, {2, 2}, {0, 0}, {1, 1}, true}).shape() == Shape{1, 1, 3, 4});
    CHECK(max_pool2d(x, {{3, 3}, {2, 2}, {1, 1}}).shape() == Shape{1, 1, 3, 4});
    CHECK(max_pool2d(x, {{2, 2}, {1, 1}, {0, 0}, {2, 2}}).shape() == Shape{1, 1, 3, 5});
    CHECK(avg_pool2d(x, {{3, 3}, {3, 3}, {1, 1}, {1, 1}, true}).shape() == Shape{1, 1, 2, 3});
    CHECK(adaptive_avg_pool2d(x, {3, 2}).shape() == Shape{1, 1, 3, 2});
    // Known values: adaptive 5 -> 3 reads rows [0,2), [1,4), [3,5).
    const Tensor col = Tensor::from_vector({1.f, 2.f, 3.f, 4.f, 5.f}, {1, 1, 5, 1});
    CHECK(adaptive_avg_pool2d(col, {3, 1}).to_vector() == std::vector<float>{1.5f, 3.f, 4.5f});
    // ceil_mode with count_include_pad: the last window [4, 6) is cut at the edge, divisor 1.
    CHECK(avg_pool2d(col, {{2, 1}, {2, 1}, {0, 0}, {1, 1}, true}).to_vector() == std::vector<float>{1.5f, 3.5f, 5.f});
    // padding counts in the divisor unless count_include_pad is off.
    CHECK(avg_pool2d(col, {{3, 1}, {3, 1}, {1, 0}}).get({0, 0, 0, 0}) == doctest::Approx(1.0));
    CHECK(avg_pool2d(col, {{3, 1}, {3, 1}, {1, 0}, {1, 1}, false, false}).get({0, 0, 0, 0}) == doctest::Approx(1.5));
    CHECK_THROWS_AS(max_pool2d(x, {{2, 2}, {2, 2}, {2, 2}}), ValueError);  // padding above half the kernel
    CHECK_THROWS_AS(max_pool2d(x.squeeze(0), {}), ShapeError);
    CHECK_THROWS_AS(max_pool2d(Tensor::zeros({1, 1, 1, 1}), {{2, 2}, {2, 2}}), ShapeError);
  }

  TEST_CASE("average and adaptive pooling: forward / norm / backtrace / gradient against the dense map") {
    struct Case {
      bool adaptive;
      Pool2dParams p;
      std::array<std::int64_t, 2> out;
    };
    const Case cases[] = {{false, {{2, 2}, {2, 2}}, {}},
                          {false, {{3, 3}, {2, 2}, {1, 1}, {1, 1}, true, true}, {}},
                          {false, {{3, 2}, {1, 2}, {1, 1}, {1, 1}, false, false}, {}},
                          {true, {}, {3, 4}},
                          {true, {}, {1, 1}}};
    for (const auto& c : cases) {
      const std::int64_t N = 2, C = 3, H = 7, W = 6;
      const Tensor x = o::random_tensor({N, C, H, W}, 7, 0.1, 1.0);
      auto f = [&](const Tensor& t) { return c.adaptive ? adaptive_avg_pool2d(t, c.out) : avg_pool2d(t, c.p); };
      const Tensor y = f(x);
      const std::int64_t HO = y.size(2), WO = y.size(3);
      const auto wins = c.adaptive ? windows_adaptive(H, W, HO, WO) : windows_avg(H, W, c.p, HO, WO);
      const o::Mat A = dense(wins, N * C, H, W, true);
      const o::Mat X = o::from_tensor(x.reshape({1, N * C * H * W}), 1, N * C * H * W);
      CHECK(o::rel_err(y.reshape({1, A.rows}), o::to_tensor(o::linear_forward(X, A, {}), {1, A.rows})) < 1e-6);
      const Tensor R = o::random_tensor(y.shape(), 8);
      const o::Mat Rm = o::from_tensor(R, 1, A.rows);
      const Shape flat{1, N * C * H * W};
      CHECK(o::rel_err(relevance_of(x, f, R, NormRule{0.01}).reshape(flat),
                       o::to_tensor(o::linear_epsilon(X, A, {}, Rm, 0.01), flat)) < 1e-5);
      CHECK(o::rel_err(relevance_of(x, f, R, BacktraceRule{}).reshape(flat),
                       o::to_tensor(o::linear_backtrace(X, A, {}, Rm), flat)) < 1e-5);
      CHECK(o::rel_err(relevance_of(x, f, R, GradientRule{}).reshape(flat),
                       o::to_tensor(o::linear_gradient(A, Rm), flat)) < 1e-5);
    }
  }

  TEST_CASE("max pooling: winner-take-all with equal ties / first arg-max for gradient / proportional") {
    const Tensor x = Tensor::from_vector({1.f, 5.f, 5.f, 2.f,  //
                                          0.f, 3.f, 4.f, 4.f,  //
                                          7.f, 1.f, 2.f, 9.f,  //
                                          1.f, 7.f, 9.f, 3.f},
                                         {1, 1, 4, 4});
    auto f = [](const Tensor& t) { return max_pool2d(t, {{2, 2}, {2, 2}}); };
    CHECK(f(x).to_vector() == std::vector<float>{5.f, 5.f, 7.f, 9.f});
    const Tensor R = Tensor::from_vector({2.f, 4.f, 6.f, 8.f}, {1, 1, 2, 2});
    // Ties share: window 0 has one 5 at (0,1); window 1 has 5 at (0,2) only; window 2 has
    // 7 twice ((2,0) and (3,1)); window 3 has 9 twice ((2,3) and (3,2)).
    CHECK(relevance_of(x, f, R, PassRule{}).to_vector() ==
          std::vector<float>{0, 2, 4, 0, 0, 0, 0, 0, 3, 0, 0, 4, 0, 3, 4, 0});
    CHECK(relevance_of(x, f, R, BacktraceRule{}).to_vector() == relevance_of(x, f, R, PassRule{}).to_vector());
    CHECK(relevance_of(x, f, R, GradientRule{}).to_vector() ==
          std::vector<float>{0, 2, 4, 0, 0, 0, 0, 0, 6, 0, 0, 8, 0, 0, 0, 0});
    // Proportional: window 0 sums 1 + 5 + 0 + 3 = 9, so x = 5 takes 2 * 5 / 9.
    const Tensor p = relevance_of(x, f, R, NormRule{0.0});
    CHECK(p.get({0, 0, 0, 1}) == doctest::Approx(2.0 * 5 / 9));
    CHECK(sum_all(p) == doctest::Approx(sum_all(R)));
  }

  TEST_CASE("max pooling with padding, dilation and ceil_mode against the slow windows") {
    const Pool2dParams params[] = {{{3, 3}, {2, 2}, {1, 1}}, {{2, 3}, {1, 2}, {0, 1}, {2, 1}}, {{2, 2}, {2, 2}, {0, 0}, {1, 1}, true}};
    for (const auto& p : params) {
      const Tensor x = o::random_tensor({2, 2, 7, 5}, 3);
      auto f = [&](const Tensor& t) { return max_pool2d(t, p); };
      const Tensor y = f(x);
      const auto wins = windows_max(7, 5, p, y.size(2), y.size(3));
      const Tensor R = o::random_tensor(y.shape(), 4);
      const Tensor r = relevance_of(x, f, R, PassRule{});
      std::vector<double> expect(x.numel(), 0.0);
      for (std::int64_t pl = 0; pl < 4; ++pl)
        for (std::size_t k = 0; k < wins.size(); ++k) {
          double m = -INFINITY;
          for (const auto& [h, c] : wins[k].cells) m = std::max(m, x.get_flat(pl * 35 + h * 5 + c));
          CHECK(y.get_flat(pl * wins.size() + k) == m);
          for (const auto& [h, c] : wins[k].cells)
            if (x.get_flat(pl * 35 + h * 5 + c) == m) expect[pl * 35 + h * 5 + c] += R.get_flat(pl * wins.size() + k);
        }
      CHECK(o::rel_err(r, Tensor::from_vector(std::span<const double>(expect), x.shape())) < 1e-6);
    }
  }
}

TEST_SUITE("ops.pool1d") {
  TEST_CASE("max_pool1d / avg_pool1d equal the 2-d pools over (N / C / 1 / L): forward and every rule") {
    const Tensor x = relprop::oracle::random_tensor({2, 3, 11}, 5);
    const Tensor x4 = x.reshape({2, 3, 1, 11});
    struct Case {
      Pool1dParams p;
      bool is_max;
    };
    for (const Case& c : {Case{{3, 2, 1, 1, false, true}, true}, Case{{2, 0, 0, 2, true, true}, true},
                          Case{{3, 2, 1, 1, false, false}, false}, Case{{4, 3, 0, 1, true, true}, false}}) {
      Pool2dParams q;
      q.kernel = {1, c.p.kernel};
      q.stride = {1, c.p.stride > 0 ? c.p.stride : c.p.kernel};
      q.padding = {0, c.p.padding};
      q.dilation = {1, c.p.dilation};
      q.ceil_mode = c.p.ceil_mode;
      q.count_include_pad = c.p.count_include_pad;
      for (const Rule& rule : {Rule{NormRule{}}, Rule{BacktraceRule{}}, Rule{GradientRule{}}}) {
        CAPTURE(rule_str(rule));
        auto run = [&](bool one_d) {
          Tape tape;
          Tensor y;
          {
            Recording rec(tape);
            const Tensor in = tape.input(one_d ? x : x4, "x");
            y = one_d ? (c.is_max ? max_pool1d(in, c.p) : avg_pool1d(in, c.p)) : (c.is_max ? max_pool2d(in, q) : avg_pool2d(in, q));
          }
          Composite comp("t");
          comp.set_fallback(rule);
          return std::pair{y, propagate(tape, y, y, comp).input("x")};
        };
        const auto [y1, r1] = run(true);
        const auto [y2, r2] = run(false);
        CAPTURE(c.p.kernel);
        CAPTURE(c.p.dilation);
        CAPTURE(c.is_max);
        CHECK(y1.dim() == 3);
        CHECK(max_abs_diff(y1, y2.reshape(y1.shape())) == 0.0);
        CHECK(max_abs_diff(r1, r2.reshape(r1.shape())) == 0.0);
      }
    }
    CHECK_THROWS_AS(max_pool1d(x4, {}), ShapeError);
  }
}
