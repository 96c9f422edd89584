// Microbenchmarks of linear: forward, and relevance under each rule of this build.
// FLOP counts: forward 2*M*I*O; epsilon/zero one transposed GEMM (2*M*I*O) plus
// element-wise work; backtrace two GEMMs with |W| (4*M*I*O).
//   build/bench/relprop_bench --benchmark_repetitions=5 --benchmark_report_aggregates_only=true

#include <benchmark/benchmark.h>

#include <random>

#include "relprop.hpp"

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

void shapes(benchmark::internal::Benchmark* b) {
  b->Args({1, 4096, 4096})->Args({32, 4096, 4096})->Args({1, 784, 512})->Args({256, 784, 512});
  b->Unit(benchmark::kMillisecond)->UseRealTime();
}

}  // namespace

BENCHMARK(BM_linear_forward)->Apply(shapes);
BENCHMARK(BM_linear_relevance<EpsilonRule>)->Apply(shapes);
BENCHMARK(BM_linear_relevance<BacktraceRule>)->Apply(shapes);
BENCHMARK_MAIN();
