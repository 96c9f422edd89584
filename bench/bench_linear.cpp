// Microbenchmarks of linear: forward, and relevance under each rule of this build.
// FLOP counts: forward 2*M*I*O; epsilon/zero one transposed GEMM (2*M*I*O) plus
// element-wise work; backtrace two GEMMs with |W| (4*M*I*O).
// BM_mlp_explain / BM_mlp_gemms: a whole ε explanation of the 784-512-512-10 MLP (record
// the forward, seed, propagate) against its six products run back to back through the
// same GEMM and nothing else (the floor any fusion could reach), and BM_sgemm_square the
// machine's large-GEMM rate (1024^3): the target "within 2x of the GEMM limit" is the ratio
// of the explanation's time to its FLOPs at that rate, measured in the same run.
//   build/bench/relprop_bench --benchmark_repetitions=5 --benchmark_report_aggregates_only=true

#include <benchmark/benchmark.h>

#include <cmath>
#include <random>
#include <vector>

#include "relprop/ops/gemm.hpp"
#include "relprop/ops/kernels.hpp"
#include "relprop/relprop.hpp"

using namespace relprop;

namespace {

Tensor random(Shape shape, unsigned seed) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> d(-1.f, 1.f);
  Tensor t = Tensor::empty(std::move(shape));
  float* p = t.data<float>();
  for (std::int64_t i = 0; i < t.numel(); ++i) p[i] = d(gen);
  return t;
}

void set_flops(benchmark::State& state, double flop_per_iter) {
  state.counters["GFLOP/s"] =
      benchmark::Counter(flop_per_iter, benchmark::Counter::kIsIterationInvariantRate, benchmark::Counter::kIs1000);
}

void BM_linear_forward(benchmark::State& state) {
  const std::int64_t M = state.range(0), I = state.range(1), O = state.range(2);
  const Tensor x = random({M, I}, 1), W = random({O, I}, 2), b = random({O}, 3);
  for (auto _ : state) benchmark::DoNotOptimize(linear(x, W, b).raw_data());
  set_flops(state, 2.0 * M * I * O);
}

template <class RuleT>
void BM_linear_relevance(benchmark::State& state) {
  const std::int64_t M = state.range(0), I = state.range(1), O = state.range(2);
  const Tensor x = random({M, I}, 1), W = random({O, I}, 2), b = random({O}, 3);
  Composite c("bench");
  c.set_fallback(RuleT{});
  // Validate before timing: relevance must be finite.
  {
    Tape tape;
    Tensor y;
    {
      Recording rec(tape);
      y = linear(tape.input(x, "x"), W, b);
    }
    const double s = sum_all(propagate(tape, y, y, c).input("x"));
    if (!std::isfinite(s)) state.SkipWithError("non-finite relevance");
  }
  Tape tape;
  Tensor y;
  {
    Recording rec(tape);
    y = linear(tape.input(x, "x"), W, b);
  }
  PropagateOptions keep;
  keep.retain = true;
  for (auto _ : state) benchmark::DoNotOptimize(propagate(tape, y, y, c, keep).input("x").raw_data());
  const double gemms = std::is_same_v<RuleT, BacktraceRule> ? 2.0 : 1.0;
  set_flops(state, gemms * 2.0 * M * I * O);
}

// The MLP's layer sizes and the FLOPs of its forward pass per sample.
constexpr std::int64_t kMlp[4] = {784, 512, 512, 10};
constexpr double kMlpForwardFlop = 2.0 * (784 * 512 + 512 * 512 + 512 * 10);

// An ε explanation of a 3-layer MLP with layer sizes `dims` at batch M.
void mlp_explain(benchmark::State& state, const std::int64_t (&dims)[4]) {
  const std::int64_t M = state.range(0);
  const Tensor x = random({M, dims[0]}, 1);
  std::vector<Tensor> W, b;
  for (int l = 0; l < 3; ++l) {
    // He-style scale keeps the activations O(1) through the layers.
    Tensor w = random({dims[l + 1], dims[l]}, 10 + l);
    const float scale = std::sqrt(6.0f / static_cast<float>(dims[l]));
    for (std::int64_t i = 0; i < w.numel(); ++i) w.data<float>()[i] *= scale;
    W.push_back(w);
    b.push_back(random({dims[l + 1]}, 20 + l));
  }
  const Composite c = Composite::by_name("epsilon", CompositeOptions{});
  auto explain = [&] {
    Tape tape;
    Tensor y;
    {
      Recording rec(tape);
      Tensor h = tape.input(x, "x");
      for (int l = 0; l < 3; ++l) {
        h = linear(h, W[l], b[l]);
        if (l < 2) h = relu(h);
      }
      y = h;
    }
    const auto seed = classification_seed(y, std::nullopt, SeedForm::Value, 1.0);
    return propagate(tape, y, seed.seed, c).input("x");
  };
  if (!std::isfinite(sum_all(explain()))) state.SkipWithError("non-finite relevance");
  for (auto _ : state) benchmark::DoNotOptimize(explain().raw_data());
  const double forward = 2.0 * static_cast<double>(dims[0] * dims[1] + dims[1] * dims[2] + dims[2] * dims[3]);
  set_flops(state, 2.0 * forward * static_cast<double>(M));
}

void BM_mlp_explain(benchmark::State& state) { mlp_explain(state, kMlp); }

// The same five-node tape with 16-wide layers: products too small to matter, so the time
// is the engine's own per-explanation cost (recording, rule lookup, allocation, the
// conservation report) that a batch-1 explanation of any small model pays.
void BM_mlp_explain_narrow(benchmark::State& state) {
  constexpr std::int64_t kNarrow[4] = {16, 16, 16, 10};
  mlp_explain(state, kNarrow);
}

void BM_mlp_gemms(benchmark::State& state) {
  const std::int64_t M = state.range(0);
  std::vector<Tensor> W, act, grad;
  for (int l = 0; l < 3; ++l) W.push_back(random({kMlp[l + 1], kMlp[l]}, 10 + l));
  for (int l = 0; l < 4; ++l) {
    act.push_back(random({M, kMlp[l]}, 30 + l));
    grad.push_back(random({M, kMlp[l]}, 40 + l));
  }
  // Through detail::gemm, as the kernels call it: at batch 256 the register-tiled SGEMM,
  // at batch 1 its matrix-vector path.
  for (auto _ : state) {
    for (int l = 0; l < 3; ++l) {  // a(l+1) = a(l) · W(l)ᵀ
      const std::int64_t I = kMlp[l], O = kMlp[l + 1];
      detail::gemm(detail::mmat(act[l + 1], M, O), detail::cmat(act[l], M, I), detail::cmat(W[l], O, I).transpose());
    }
    for (int l = 2; l >= 0; --l) {  // c(l) = s(l+1) · W(l)
      const std::int64_t I = kMlp[l], O = kMlp[l + 1];
      detail::gemm(detail::mmat(grad[l], M, I), detail::cmat(grad[l + 1], M, O), detail::cmat(W[l], O, I));
    }
    benchmark::DoNotOptimize(grad[0].raw_data());
  }
  set_flops(state, 2.0 * kMlpForwardFlop * static_cast<double>(M));
}

void BM_sgemm_square(benchmark::State& state) {
  const std::int64_t n = state.range(0);
  const Tensor a = random({n, n}, 1), b = random({n, n}, 2);
  Tensor c = Tensor::empty({n, n});
  for (auto _ : state) {
    detail::sgemm(n, n, n, a.data<float>(), n, 1, b.data<float>(), n, 1, c.data<float>(), n);
    benchmark::DoNotOptimize(c.raw_data());
  }
  set_flops(state, 2.0 * static_cast<double>(n) * n * n);
}

void shapes(benchmark::internal::Benchmark* b) {
  b->Args({1, 4096, 4096})->Args({32, 4096, 4096})->Args({1, 784, 512})->Args({256, 784, 512});
  b->Unit(benchmark::kMillisecond)->UseRealTime();
}

}  // namespace

BENCHMARK(BM_linear_forward)->Apply(shapes);
BENCHMARK(BM_linear_relevance<EpsilonRule>)->Apply(shapes);
BENCHMARK(BM_linear_relevance<BacktraceRule>)->Apply(shapes);
BENCHMARK(BM_mlp_explain)->Arg(1)->Arg(256)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_mlp_explain_narrow)->Arg(1)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK(BM_mlp_gemms)->Arg(1)->Arg(256)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_sgemm_square)->Arg(1024)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_MAIN();
