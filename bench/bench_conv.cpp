// Convolution microbenchmarks (forward vs each rule family's relevance) on ResNet-50 and
// VGG-16 layer shapes, and a whole VGG-16 (random weights) explained end to end.
// GFLOP/s count 2 N O HO WO (C/G) KH KW per convolution pass (forward or backward-data);
// epsilon's relevance is one backward-data pass (the forward's z is reused).

#include <benchmark/benchmark.h>

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

struct ConvShape {
  std::int64_t N, C, H, O, K, stride, pad;
};

ConvShape shape_of(const benchmark::State& s) {
  return {s.range(0), s.range(1), s.range(2), s.range(3), s.range(4), s.range(5), s.range(6)};
}

double conv_flop(const ConvShape& c) {
  const std::int64_t HO = (c.H + 2 * c.pad - c.K) / c.stride + 1;
  return 2.0 * c.N * c.O * HO * HO * c.C * c.K * c.K;
}

void set_rate(benchmark::State& state, double flop) {
  state.counters["GFLOP/s"] =
      benchmark::Counter(flop, benchmark::Counter::kIsIterationInvariantRate, benchmark::Counter::kIs1000);
}

void BM_conv2d_forward(benchmark::State& state) {
  const ConvShape c = shape_of(state);
  const Tensor x = random({c.N, c.C, c.H, c.H}, 1, 0.f, 1.f), w = random({c.O, c.C, c.K, c.K}, 2), b = random({c.O}, 3);
  const Conv2dParams p{{c.stride, c.stride}, {c.pad, c.pad}, {1, 1}, 1};
  for (auto _ : state) benchmark::DoNotOptimize(conv2d(x, w, b, p).raw_data());
  set_rate(state, conv_flop(c));
}

// Relevance of one conv under `rule`; `passes` = convolution passes the rule costs.
void conv_relevance(benchmark::State& state, const Rule& rule, double passes) {
  const ConvShape c = shape_of(state);
  const Tensor x = random({c.N, c.C, c.H, c.H}, 1, 0.f, 1.f), w = random({c.O, c.C, c.K, c.K}, 2), b = random({c.O}, 3);
  const Conv2dParams p{{c.stride, c.stride}, {c.pad, c.pad}, {1, 1}, 1};
  Composite comp("bench");
  comp.set_fallback(rule);
  Tape tape;
  Tensor y;
  {
    Recording rec(tape);
    y = conv2d(tape.input(x, "x"), w, b, p);
  }
  PropagateOptions keep;
  keep.retain = true;
  if (!std::isfinite(sum_all(propagate(tape, y, y, comp, keep).input("x")))) state.SkipWithError("non-finite");
  for (auto _ : state) benchmark::DoNotOptimize(propagate(tape, y, y, comp, keep).input("x").raw_data());
  set_rate(state, passes * conv_flop(c));
}

// Inputs are >= 0 (as after a ReLU), so z+ costs 2 passes (x W+, T(s, W+)) and gamma 3
// (x W+, then one transpose with [W; W+] stacked: u and v come from the forward's z);
// epsilon 1 (the forward's z is reused).
void BM_conv2d_epsilon(benchmark::State& s) { conv_relevance(s, EpsilonRule{}, 1); }
void BM_conv2d_zplus(benchmark::State& s) { conv_relevance(s, ZPlusRule{}, 2); }
void BM_conv2d_gamma(benchmark::State& s) { conv_relevance(s, GammaRule{}, 3); }

// N, C, H, O, K, stride, pad: ResNet-50 layer1 3x3 and 1x1, layer4 3x3; VGG-16 conv1_2,
// conv4_2; VGG-16 conv2_2, conv3_2, conv5_2 (RELPROP_CONV_ALGORITHM=winograd switches the
// 3x3 ones from 14 x 14 up to Winograd).
void conv_shapes(benchmark::internal::Benchmark* b) {
  b->Args({1, 64, 56, 64, 3, 1, 1})->Args({1, 256, 56, 64, 1, 1, 0})->Args({1, 512, 7, 512, 3, 1, 1});
  b->Args({1, 64, 224, 64, 3, 1, 1})->Args({1, 512, 28, 512, 3, 1, 1})->Args({32, 64, 56, 64, 3, 1, 1});
  b->Args({1, 128, 112, 128, 3, 1, 1})->Args({1, 256, 56, 256, 3, 1, 1})->Args({1, 512, 14, 512, 3, 1, 1});
  b->Unit(benchmark::kMillisecond)->UseRealTime();
}

// ---- VGG-16 (torchvision layout, random weights), batch 1 at 224 x 224 -------------------

struct Vgg16 {
  std::vector<Tensor> w, b;
  std::vector<Tensor> fw, fb;
  Vgg16() {
    const int cfg[] = {64, 64, 0, 128, 128, 0, 256, 256, 256, 0, 512, 512, 512, 0, 512, 512, 512, 0};
    std::int64_t c = 3;
    unsigned s = 10;
    for (int v : cfg) {
      if (!v) continue;
      const float scale = std::sqrt(2.0f / (9.0f * c));
      w.push_back(random({v, c, 3, 3}, s++, -scale, scale));
      b.push_back(random({v}, s++, 0.f, 0.01f));
      c = v;
    }
    const std::int64_t dims[] = {512 * 7 * 7, 4096, 4096, 1000};
    for (int i = 0; i < 3; ++i) {
      const float scale = std::sqrt(2.0f / dims[i]);
      fw.push_back(random({dims[i + 1], dims[i]}, s++, -scale, scale));
      fb.push_back(random({dims[i + 1]}, s++, 0.f, 0.01f));
    }
  }
  Tensor forward(Tensor x) const {
    const int cfg[] = {64, 64, 0, 128, 128, 0, 256, 256, 256, 0, 512, 512, 512, 0, 512, 512, 512, 0};
    std::size_t k = 0;
    for (int v : cfg) {
      if (!v) {
        x = max_pool2d(x, {{2, 2}, {2, 2}});
      } else {
        x = relu(conv2d(x, w[k], b[k], {{1, 1}, {1, 1}, {1, 1}, 1}));
        ++k;
      }
    }
    x = flatten(adaptive_avg_pool2d(x, {7, 7}));
    x = relu(linear(x, fw[0], fb[0]));
    x = relu(linear(x, fw[1], fb[1]));
    return linear(x, fw[2], fb[2]);
  }
};

const Vgg16& vgg() {
  static const Vgg16 model;
  return model;
}

void BM_vgg16_forward(benchmark::State& state) {
  const Tensor x = random({1, 3, 224, 224}, 1);
  for (auto _ : state) benchmark::DoNotOptimize(vgg().forward(x).raw_data());
  set_rate(state, 30.9e9);
}

void vgg16_explain(benchmark::State& state, const char* composite) {
  const Tensor x = random({1, 3, 224, 224}, 1);
  const Composite c = Composite::by_name(composite);
  for (auto _ : state) {
    Tape tape;
    Tensor y;
    {
      Recording rec(tape);
      y = vgg().forward(tape.input(x, "x"));
    }
    const auto seed = classification_seed(y, std::nullopt, c.seed_form, c.multiplier);
    benchmark::DoNotOptimize(propagate(tape, y, seed.seed, c).input("x").raw_data());
  }
}
void BM_vgg16_forward_and_epsilon(benchmark::State& s) { vgg16_explain(s, "epsilon"); }
void BM_vgg16_forward_and_epsilon_gamma_box(benchmark::State& s) { vgg16_explain(s, "epsilon-gamma-box"); }

}  // namespace

BENCHMARK(BM_conv2d_forward)->Apply(conv_shapes);
BENCHMARK(BM_conv2d_epsilon)->Apply(conv_shapes);
BENCHMARK(BM_conv2d_zplus)->Apply(conv_shapes);
BENCHMARK(BM_conv2d_gamma)->Apply(conv_shapes);
BENCHMARK(BM_vgg16_forward)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_vgg16_forward_and_epsilon)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_vgg16_forward_and_epsilon_gamma_box)->Unit(benchmark::kMillisecond)->UseRealTime();
