// Microbenchmarks for the memory-bound ops: pooling, batch norm, activations, softmax,
// sums and shape ops, forward and relevance under each rule family that applies, on
// ResNet-50 activation shapes at batch 1 and 32. GB/s count the bytes an ideal kernel
// moves (forward: read x, write y; relevance: read what the rule reads, write R_in), to
// set beside the machine's ~28 GB/s from DRAM (the 1-batch tensors fit in L2/L3, so
// higher rates are possible there).

#include <benchmark/benchmark.h>

#include <functional>
#include <random>

#include "relprop/relprop.hpp"

using namespace relprop;

namespace {

Tensor random(Shape shape, unsigned seed, float lo = -1.f, float hi = 1.f) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> d(lo, hi);
  Tensor t = Tensor::empty(std::move(shape));
  float* p = t.data<float>();
  for (std::int64_t i = 0; i < t.numel(); ++i) p[i] = d(gen);
  return t;
}

void set_bytes(benchmark::State& state, double bytes) {
  state.counters["GB/s"] =
      benchmark::Counter(bytes, benchmark::Counter::kIsIterationInvariantRate, benchmark::Counter::kIs1000);
}

using OpFn = std::function<Tensor(const Tensor&)>;

// Forward of `op` on x; `bytes` moved per call.
void forward(benchmark::State& state, Shape shape, OpFn op, double bytes_per_elem) {
  const Tensor x = random(shape, 1);
  for (auto _ : state) benchmark::DoNotOptimize(op(x).raw_data());
  set_bytes(state, bytes_per_elem * static_cast<double>(x.numel()));
}

// Relevance of the one node `op` records, under `rule` (tape recorded once, retained).
void relevance(benchmark::State& state, Shape shape, OpFn op, Rule rule, double bytes_per_elem) {
  const Tensor x = random(shape, 1);
  Tape tape;
  Tensor y;
  {
    Recording rec(tape);
    y = op(tape.input(x, "x"));
  }
  Composite c("bench");
  c.set_fallback(rule);
  PropagateOptions keep;
  keep.retain = true;
  const Tensor seed = random(y.shape(), 2, 0.f, 1.f);
  for (auto _ : state) benchmark::DoNotOptimize(propagate(tape, y, seed, c, keep).input("x").raw_data());
  set_bytes(state, bytes_per_elem * static_cast<double>(x.numel()));
}

struct Registrar {
  Registrar() {
    const std::vector<std::pair<std::string, Shape>> shapes{{"1x256x56x56", {1, 256, 56, 56}},
                                                            {"32x64x56x56", {32, 64, 56, 56}}};
    const Tensor mean = random({256}, 3), var = random({256}, 4, 0.5f, 1.5f), gam = random({256}, 5),
                 bet = random({256}, 6);
    const Tensor mean64 = random({64}, 3), var64 = random({64}, 4, 0.5f, 1.5f), gam64 = random({64}, 5),
                 bet64 = random({64}, 6);
    for (const auto& [label, shape] : shapes) {
      const bool wide = shape[1] == 256;
      const Tensor m = wide ? mean : mean64, v = wide ? var : var64, g = wide ? gam : gam64, b = wide ? bet : bet64;
      struct Case {
        std::string name;
        OpFn op;
        std::vector<std::pair<std::string, Rule>> rules;
        double fwd_bytes, rel_bytes;  // per input element
      };
      const Pool2dParams p3{{3, 3}, {2, 2}, {1, 1}};
      const std::vector<Case> cases{
          {"relu", [](const Tensor& x) { return relu(x); }, {{"pass", PassRule{}}, {"gradient", GradientRule{}}}, 8, 8},
          {"gelu", [](const Tensor& x) { return gelu(x); }, {{"pass", PassRule{}}, {"gradient", GradientRule{}}}, 8, 12},
          {"sigmoid", [](const Tensor& x) { return sigmoid(x); }, {{"gradient", GradientRule{}}}, 8, 12},
          {"softmax_c", [](const Tensor& x) { return softmax(x, 1); }, {{"gradient", GradientRule{}}}, 8, 12},
          {"batch_norm2d",
           [m, v, g, b](const Tensor& x) { return batch_norm(x, m, v, g, b); },
           {{"pass", PassRule{}}, {"gradient", GradientRule{}}},
           8,
           8},
          {"max_pool2d_3x3s2", [p3](const Tensor& x) { return max_pool2d(x, p3); },
           {{"wta", PassRule{}}, {"epsilon", EpsilonRule{}}, {"gradient", GradientRule{}}}, 5, 9},
          {"avg_pool2d_2x2", [](const Tensor& x) { return avg_pool2d(x, {}); },
           {{"norm", NormRule{}}, {"backtrace", BacktraceRule{}}}, 5, 9},
          {"adaptive_avg_pool2d_1", [](const Tensor& x) { return adaptive_avg_pool2d(x, {1, 1}); },
           {{"norm", NormRule{}}}, 4, 8},
          {"add_residual", [](const Tensor& x) { return add(x, x.clone()); },
           {{"norm", NormRule{}}, {"backtrace", BacktraceRule{}}}, 12, 20},
          {"flatten", [](const Tensor& x) { return flatten(x, 1); }, {{"pass", PassRule{}}}, 0, 0},
          {"permute_nhwc", [](const Tensor& x) { return permute(x, {0, 2, 3, 1}).contiguous(); },
           {{"pass", PassRule{}}}, 8, 8},
          {"cat_c", [](const Tensor& x) { return cat({x, x.clone()}, 1); }, {{"pass", PassRule{}}}, 16, 16},
          {"pad_1", [](const Tensor& x) { return pad(x, {1, 1, 1, 1}); }, {{"pass", PassRule{}}}, 8, 8},
          {"upsample_nearest2d_x2", [](const Tensor& x) { return upsample_nearest2d(x, x.size(2) * 2, x.size(3) * 2); },
           {{"pass", PassRule{}}}, 20, 20},
      };
      for (const auto& c : cases) {
        benchmark::RegisterBenchmark(("ops/" + c.name + "/forward/" + label).c_str(),
                                     [=](benchmark::State& s) { forward(s, shape, c.op, c.fwd_bytes); })
            ->Unit(benchmark::kMicrosecond)
            ->UseRealTime();
        for (const auto& [rname, rule] : c.rules)
          benchmark::RegisterBenchmark(("ops/" + c.name + "/relevance_" + rname + "/" + label).c_str(),
                                       [=, rule = rule](benchmark::State& s) {
                                         relevance(s, shape, c.op, rule, c.rel_bytes);
                                       })
              ->Unit(benchmark::kMicrosecond)
              ->UseRealTime();
      }
    }
  }
};
const Registrar registrar;

}  // namespace
