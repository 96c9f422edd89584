// GPU benchmark rows of the CUDA backend: ResNet-50, VGG-16, BERT-base and a
// MiniLM-L6-sized BERT, random weights, batch 1 and 64: the forward pass alone and forward
// + relevance under each composite, median ms over --repeat runs after --warmup, each run
// ended by a device synchronisation. GFLOP/s count the multiply-adds x 2 of the forward's
// linear, convolution and attention-product nodes (read off the recorded tape) per second
// of the whole call, beside the card's FP32 peak. --cpu runs the same rows on the CPU (the
// same program, for a ratio); --tf32 lets cuBLAS / cuDNN use TF32 tensor cores; --graphs
// adds, per composite, a row through GraphExplainer (the explanation captured once as a
// CUDA Graph, then replayed: what batch-1 latency needs).
//
//   relprop_bench_cuda [--models resnet50,vgg16,bert-base,minilm] [--batches 1,64]
//                      [--composites LIST] [--repeat 20] [--warmup 3] [--cpu] [--tf32] [--graphs]
//
// Prints one table row per (model, batch, mode) and a JSON line per row (for RESULTS.md).

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "relprop/cuda/context.hpp"
#include "random_models.hpp"
#include "relprop/relprop.hpp"
#include "relprop/config.hpp"
#include "relprop/tensor/device.hpp"
#if RELPROP_HAVE_CUDA
#include "relprop/cuda/linear.hpp"
#endif

using namespace relprop;
using namespace relprop::bench;

namespace {

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  for (std::string part; std::getline(ss, part, ',');)
    if (!part.empty()) out.push_back(part);
  return out;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n == 0 ? 0.0 : n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

struct Model {
  std::string name;
  Graph graph;
  std::map<std::string, Tensor> weights;  // CNNs: by safetensors key (for kernel sizes)
  bool text = false;
  std::int64_t vocab = 0;
};

Model make_model(const std::string& name) {
  Model m;
  m.name = name;
  if (name == "resnet50" || name == "vgg16" || name == "resnet18") {
    m.weights = random_torchvision(name, RELPROP_SOURCE_DIR);
    m.graph = build_model(name);
    m.graph.bind(m.weights);
    return m;
  }
  Sizes s;
  if (name == "bert-base") s = Sizes{768, 12, 12, 3072, 30522};
  else if (name == "minilm") s = Sizes{384, 6, 12, 1536, 30522};
  else throw NotFoundError("unknown model '" + name + "' (resnet18, resnet50, vgg16, bert-base, minilm)");
  m.graph = load_transformer(random_bert(name, s)).graph;
  m.text = true;
  m.vocab = s.vocab;
  return m;
}

std::map<std::string, Tensor> make_inputs(const Model& m, std::int64_t batch) {
  std::mt19937 gen(5);
  if (m.text) {
    constexpr std::int64_t T = 128;
    std::uniform_int_distribution<std::int64_t> d(1000, 28999);
    std::vector<std::int64_t> ids(static_cast<std::size_t>(batch * T));
    for (auto& v : ids) v = d(gen);
    return complete_text_inputs({{"input_ids", Tensor::from_vector(std::span<const std::int64_t>(ids), {batch, T})}},
                                &m.graph);
  }
  Tensor x = Tensor::empty({batch, 3, 224, 224});
  std::normal_distribution<float> d(0.f, 1.f);
  float* p = x.data<float>();
  for (std::int64_t i = 0; i < x.numel(); ++i) p[i] = d(gen);
  return {{"x", x}};
}

// Multiply-adds x 2 of the recorded forward: linear (out x in), matmul (out x inner),
// convolutions (out x in-channels / groups x kernel area, from the weight).
double tape_flops(const Tape& tape, const Model& m) {
  std::map<std::string, const GraphNode*> by_name;
  for (const auto& n : m.graph.nodes()) by_name[n.name] = &n;
  double f = 0;
  const auto& values = tape.values();
  for (std::size_t i = 0; i < tape.size(); ++i) {
    const Node& n = tape.node(i);
    if (n.output < 0) continue;
    const double out = static_cast<double>(shape_numel(values[n.output].shape));
    const OpKind op = n.op();
    if (op == OpKind::Linear || op == OpKind::Matmul) {
      const ValueId a = n.inputs.empty() ? -1 : n.inputs[0];
      if (a >= 0 && !values[a].shape.empty()) f += 2.0 * out * static_cast<double>(values[a].shape.back());
    } else if (op == OpKind::Conv2d || op == OpKind::Conv1d) {
      auto g = by_name.find(n.name);
      if (g == by_name.end()) continue;
      auto w = g->second->params.find("weight");
      if (w == g->second->params.end()) continue;
      auto t = m.weights.find(w->second);
      if (t == m.weights.end()) continue;
      f += 2.0 * out * static_cast<double>(t->second.numel() / t->second.size(0));
    }
  }
  return f;
}

void sync(Device d) {
  if (d == Device::CUDA) device::synchronize();
}

}  // namespace

int main(int argc, char** argv) try {
  std::vector<std::string> models{"resnet50", "vgg16", "bert-base", "minilm"};
  std::vector<std::int64_t> batches{1, 64};
  std::string composites_arg;
  int repeat = 20, warmup = 3;
  bool cpu = false, tf32 = false, graphs = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) throw ValueError(a + " needs a value");
      return argv[++i];
    };
    if (a == "--models") models = split(next());
    else if (a == "--batches") {
      batches.clear();
      for (const auto& b : split(next())) batches.push_back(std::stoll(b));
    } else if (a == "--composites") composites_arg = next();
    else if (a == "--repeat") repeat = std::stoi(next());
    else if (a == "--warmup") warmup = std::stoi(next());
    else if (a == "--cpu") cpu = true;
    else if (a == "--tf32") tf32 = true;
    else if (a == "--graphs") graphs = true;
    else throw ValueError("unknown argument '" + a + "'");
  }
  const Device dev = cpu ? Device::CPU : Device::CUDA;
  double peak = 0;
  if (!cpu) {
    if (cuda::device_count() == 0) {
      std::cout << "relprop_bench_cuda: skipped: no CUDA GPU (" << (cuda::built() ? "backend built" : "backend not built")
                << ")\n";
      return 0;
    }
    const cuda::DeviceInfo info = cuda::device_info(0);
    peak = info.fp32_tflops * 1e3;
    std::printf("device: %s, sm_%d%d, %d SMs at %.2f GHz, %.0f GiB; FP32 peak %.1f TFLOP/s, DRAM %.0f GB/s%s\n",
                info.name.c_str(), info.major, info.minor, info.sms, info.clock_ghz, info.memory_gib,
                info.fp32_tflops, info.bandwidth_gbs, tf32 ? "; TF32 on" : "");
#if RELPROP_HAVE_CUDA
    cuda::set_tf32(tf32);
#endif
  } else {
    std::printf("device: CPU\n");
  }
  std::printf("%-10s %5s %-26s %10s %10s %9s\n", "model", "batch", "mode", "median ms", "GFLOP/s", "x forward");
  for (const auto& name : models) {
    Model m = make_model(name);
    m.graph.to(dev);
    const std::vector<std::string> comps =
        !composites_arg.empty() ? split(composites_arg)
        : m.text ? std::vector<std::string>{"attnlrp", "cp-lrp", "backtrace", "gradient"}
                 : std::vector<std::string>{"epsilon-plus-flat", "epsilon-gamma-box", "epsilon-alpha2-beta1-flat",
                                            "epsilon", "backtrace", "gradient"};
    for (std::int64_t batch : batches) {
      std::map<std::string, Tensor> inputs = make_inputs(m, batch);
      for (auto& [k, t] : inputs) t = t.to(dev);
      double flops = 0, forward_ms = 0;
      {
        Tape tape;
        Recording rec(tape);
        (void)m.graph.forward(inputs);
        flops = tape_flops(tape, m);
      }
      std::vector<std::string> modes{"forward"};
      modes.insert(modes.end(), comps.begin(), comps.end());
      if (graphs && !cpu)
        for (const auto& c : comps) modes.push_back(c + "+graph");
      for (const auto& mode : modes) {
        const bool captured = mode.size() > 6 && mode.substr(mode.size() - 6) == "+graph";
        const std::string cname = captured ? mode.substr(0, mode.size() - 6) : mode;
        const Composite c = mode == "forward" ? Composite("none") : Composite::by_name(cname);
        std::unique_ptr<GraphExplainer> explainer;
        if (captured) {
          ExplainSettings es;
          es.composite = c;
          explainer = std::make_unique<GraphExplainer>(m.graph, es);
        }
        std::vector<double> ms;
        for (int it = 0; it < warmup + repeat; ++it) {
          sync(dev);
          const auto t0 = std::chrono::steady_clock::now();
          if (mode == "forward") {
            (void)m.graph.forward(inputs);
          } else if (explainer) {
            (void)explainer->explain(inputs);
          } else {
            Tape tape;
            Tensor y;
            {
              Recording rec(tape);
              y = m.graph.forward(inputs)[0];
            }
            const Tensor seed = classification_seed(y, std::nullopt, SeedForm::Value, 1.0).seed;
            const RelevanceMap R = propagate(tape, y, seed, c);
          }
          sync(dev);
          const double t = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
          if (it >= warmup) ms.push_back(t);
        }
        if (explainer && !explainer->replaying())
          std::printf("  (%s: not capturable, ran eagerly)\n", mode.c_str());
        const double med = median(ms);
        if (mode == "forward") forward_ms = med;
        const double gflops = flops / (med * 1e-3) / 1e9;
        std::printf("%-10s %5lld %-26s %10.3f %10.1f %9.2f\n", name.c_str(), static_cast<long long>(batch),
                    mode.c_str(), med, gflops, forward_ms > 0 ? med / forward_ms : 0.0);
        std::printf("JSON {\"model\": \"%s\", \"batch\": %lld, \"mode\": \"%s\", \"median_ms\": %.4f, "
                    "\"forward_gflop\": %.3f, \"gflops\": %.1f, \"peak_gflops\": %.1f, \"device\": \"%s\"}\n",
                    name.c_str(), static_cast<long long>(batch), mode.c_str(), med, flops / 1e9, gflops, peak,
                    cpu ? "cpu" : "cuda");
        std::fflush(stdout);
      }
    }
  }
  return 0;
} catch (const std::exception& e) {
  std::cerr << "relprop_bench_cuda: " << e.what() << "\n";
  return 1;
}
