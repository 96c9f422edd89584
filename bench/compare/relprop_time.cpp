// relprop's side of the side-by-side comparisons (bench/compare/compare.py): loads one
// model and input, times the forward alone and forward + explanation `--repeat` times in
// this process (after `--warmup` untimed runs), writes the last relevance to --out and
// prints one JSON line: median and every time in ms, peak RSS in MB.
//
//   relprop_time --model resnet50 --weights W.safetensors --input X.safetensors
//                --composite epsilon-plus-flat [--target K] [--epsilon E] [--repeat 10]
//   relprop_time --graph G.json --weights W.safetensors --input X.safetensors ...
//   relprop_time --hf DIR --input ids.safetensors --composite attnlrp ...
//
// The input file's tensors are the graph's inputs by name (a single tensor of another
// name feeds a single-input graph). The seed is the target's (default: the arg-max's)
// value (x --multiplier), at the last position for language-model heads; --seed-one seeds 1
// instead. --rule NODE=RULE overrides the composite for nodes matching NODE (a glob).
// --device cuda runs everything on the GPU (weights uploaded before timing; each timed
// call ends with a device synchronisation). --precision tf32 lets cuBLAS / cuDNN use TF32
// tensor cores there. --graphs times the explanation through GraphExplainer: on a GPU the
// explanation is captured as a CUDA Graph during the warm-up and replayed (one launch
// instead of thousands); on the CPU it is the same forward + seed + propagate.
// --profile also prints to stderr where the timed explanations spent their time: the
// recorded forward, the seed and the backward pass, and the backward pass's relevance
// kernels summed by op and rule (medians per explanation), largest first.

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "relprop/relprop.hpp"
#include "relprop/config.hpp"
#include "relprop/tensor/device.hpp"
#if RELPROP_HAVE_CUDA
#include "relprop/cuda/linear.hpp"
#endif

using namespace relprop;

namespace {

double peak_rss_mb() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_maxrss) / 1024.0;  // Linux: kilobytes
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n == 0 ? 0.0 : n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// The relevance written to --out: the token ids' or the image's, else the first input's.
Tensor pick_input(const std::map<std::string, Tensor>& maps) {
  if (maps.empty()) throw ValueError("relprop_time: the explanation has no input relevance");
  Tensor r = maps.begin()->second;
  for (const auto& [name, t] : maps)
    if (name == "input_ids" || name == "x" || name == "pixel_values") r = t;
  return r;
}

std::string join(const std::vector<double>& v) {
  std::string s;
  for (double x : v) s += (s.empty() ? "" : ", ") + std::to_string(x);
  return s;
}

[[noreturn]] void usage(const std::string& why) {
  std::cerr << "relprop_time: " << why
            << "\nusage: relprop_time (--model NAME | --graph G.json | --hf DIR) [--weights W] --input X.safetensors"
               " --composite C [--target K] [--epsilon E] [--repeat N] [--warmup N] [--out R.safetensors]"
               " [--seed-one] [--multiplier M] [--rule NODE=RULE]... [--device cpu|cuda] [--precision fp32|tf32] [--graphs]"
               " [--conv-algorithm direct|winograd] [--profile]\n";
  std::exit(2);
}

}  // namespace

int main(int argc, char** argv) try {
  std::string model, graph_path, hf, weights, input, composite = "epsilon", out, device_name = "cpu",
                                                               precision = "fp32";
  std::optional<std::int64_t> target;
  std::optional<double> epsilon;
  int repeat = 10, warmup = 2;
  bool seed_one = false;
  bool profile = false, graphs = false;
  double multiplier = 1.0;
  std::vector<std::pair<std::string, std::string>> rules;  // --rule NAME=RULE
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) usage(a + " needs a value");
      return argv[++i];
    };
    if (a == "--model") model = next();
    else if (a == "--graph") graph_path = next();
    else if (a == "--hf") hf = next();
    else if (a == "--weights") weights = next();
    else if (a == "--input") input = next();
    else if (a == "--composite") composite = next();
    else if (a == "--out") out = next();
    else if (a == "--device") device_name = next();
    else if (a == "--conv-algorithm") {
      const std::string v = next();
      if (v != "direct" && v != "winograd") usage("--conv-algorithm is direct or winograd");
      set_conv_algorithm(v == "winograd" ? ConvAlgorithm::Winograd : ConvAlgorithm::Direct);
    }
    else if (a == "--target") target = std::stoll(next());
    else if (a == "--epsilon") epsilon = std::stod(next());
    else if (a == "--repeat") repeat = std::stoi(next());
    else if (a == "--warmup") warmup = std::stoi(next());
    else if (a == "--seed-one") seed_one = true;
    else if (a == "--profile") profile = true;
    else if (a == "--graphs") graphs = true;
    else if (a == "--precision") precision = next();
    else if (a == "--multiplier") multiplier = std::stod(next());
    else if (a == "--rule") {
      const std::string v = next();
      const auto eq = v.find('=');
      if (eq == std::string::npos) usage("--rule takes NAME=RULE");
      rules.emplace_back(v.substr(0, eq), v.substr(eq + 1));
    }
    else usage("unknown argument " + a);
  }
  if (input.empty() || (model.empty() + graph_path.empty() + hf.empty()) != 2) usage("give one model and --input");

  Graph graph;
  std::optional<SafetensorsFile> weight_file;
  if (!hf.empty()) {
    graph = load_transformer(hf).graph;  // language-model heads read the last position
  } else {
    graph = model.empty() ? Graph::load(graph_path) : build_model(model);
    if (weights.empty()) usage("--weights is needed with --model / --graph");
    weight_file.emplace(SafetensorsFile::open(weights));
    graph.bind(*weight_file);
  }
  const SafetensorsFile in = SafetensorsFile::open(input);
  std::map<std::string, Tensor> inputs;
  for (const auto& name : in.names()) inputs[name] = in.get(name);
  if (inputs.size() == 1 && graph.inputs().size() == 1 && !inputs.count(graph.inputs()[0].name)) {
    Tensor t = inputs.begin()->second;
    inputs = {{graph.inputs()[0].name, t}};
  }
  if (!hf.empty()) inputs = complete_text_inputs(inputs, &graph);
  if (device_name != "cpu" && device_name != "cuda") usage("--device is cpu or cuda");
  const Device dev = device_name == "cuda" ? Device::CUDA : Device::CPU;
  if (precision != "fp32" && precision != "tf32") usage("--precision is fp32 or tf32");
  if (precision == "tf32") {
    if (dev != Device::CUDA) usage("--precision tf32 needs --device cuda");
#if RELPROP_HAVE_CUDA
    cuda::set_tf32(true);
#endif
  }
  if (graphs && profile) usage("--profile reads the eager pass's per-node report: leave out --graphs");
  if (graphs && dev == Device::CUDA && warmup < 2)
    usage("--graphs on the GPU needs --warmup 2 or more: the second explanation is the one captured");
  graph.to(dev);
  for (auto& [k, t] : inputs) t = t.to(dev);
  CompositeOptions options;
  if (epsilon) options.epsilon = *epsilon;
  Composite comp = Composite::by_name(composite, options);
  for (const auto& [node, rule] : rules) comp.for_name(node, parse_rule(rule));
  const double rss_loaded = peak_rss_mb();

  std::vector<double> forward_ms, explain_ms;
  // --graphs: one GraphExplainer for every timed explanation (it captures on the second).
  std::unique_ptr<GraphExplainer> explainer;
  if (graphs) {
    ExplainSettings settings;
    settings.composite = comp;
    settings.seed.target = target;
    settings.seed.form = seed_one ? SeedForm::OneHot : SeedForm::Value;
    settings.seed.multiplier = multiplier;
    explainer = std::make_unique<GraphExplainer>(graph, settings);
  }
  bool replayed = false;
  // --profile: per timed explanation, the recorded forward, seed, backward pass, and the
  // relevance kernels' time by "op rule".
  std::vector<double> rec_ms, seed_ms, back_ms;
  std::map<std::string, std::vector<double>> by_op;
  std::map<std::string, int> op_nodes;
  Tensor relevance;
  std::int64_t chosen = -1;
  using clock = std::chrono::steady_clock;
  for (int it = 0; it < warmup + repeat; ++it) {
    auto t0 = clock::now();
    const Tensor y0 = graph.forward(inputs)[0];
    if (dev != Device::CPU) device::synchronize();
    const double f = std::chrono::duration<double, std::milli>(clock::now() - t0).count();
    t0 = clock::now();
    if (explainer) {
      Explanation ex = explainer->explain(inputs);
      if (dev != Device::CPU) device::synchronize();
      const double e = std::chrono::duration<double, std::milli>(clock::now() - t0).count();
      if (it >= warmup) {
        forward_ms.push_back(f);
        explain_ms.push_back(e);
      }
      if (it + 1 == warmup + repeat) {
        relevance = pick_input(ex.relevance.inputs());
        chosen = ex.targets.empty() ? -1 : ex.targets[0];
        replayed = explainer->replaying();
      }
      continue;
    }
    Tape tape;
    Tensor y;
    {
      Recording rec(tape);
      y = graph.forward(inputs)[0];
    }
    const auto t1 = clock::now();
    const auto seed = classification_seed(y, target, seed_one ? SeedForm::OneHot : SeedForm::Value, multiplier);
    const auto t2 = clock::now();
    const RelevanceMap R = propagate(tape, y, seed.seed, comp);
    if (dev != Device::CPU) device::synchronize();
    const auto t3 = clock::now();
    const double e = std::chrono::duration<double, std::milli>(t3 - t0).count();
    if (it >= warmup) {
      forward_ms.push_back(f);
      explain_ms.push_back(e);
      if (profile) {
        rec_ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
        seed_ms.push_back(std::chrono::duration<double, std::milli>(t2 - t1).count());
        back_ms.push_back(std::chrono::duration<double, std::milli>(t3 - t2).count());
        std::map<std::string, double> sum;
        std::map<std::string, int> count;
        for (const NodeReport& n : R.report()) {
          sum[n.op + " " + n.rule] += n.seconds * 1e3;
          ++count[n.op + " " + n.rule];
        }
        for (const auto& [k, v] : sum) by_op[k].push_back(v);
        op_nodes = count;
      }
    }
    if (it + 1 == warmup + repeat) {
      relevance = pick_input(R.inputs());
      chosen = seed.targets.empty() ? -1 : seed.targets[0];
      (void)y0;
    }
  }
  if (profile) {
    std::fprintf(stderr, "profile (medians over %d explanations, ms): recorded forward %.3f, seed %.3f, backward %.3f\n",
                 repeat, median(rec_ms), median(seed_ms), median(back_ms));
    std::vector<std::pair<double, std::string>> rows;
    for (auto& [k, v] : by_op) rows.emplace_back(median(v), k);
    std::sort(rows.rbegin(), rows.rend());
    double kernels = 0;
    for (const auto& [ms, k] : rows) kernels += ms;
    for (const auto& [ms, k] : rows)
      std::fprintf(stderr, "  %9.3f ms %5.1f%%  %4d x  %s\n", ms, kernels > 0 ? 100.0 * ms / kernels : 0.0,
                   op_nodes[k], k.c_str());
    std::fprintf(stderr, "  %9.3f ms in relevance kernels; the rest of the backward pass (sums, accumulation): %.3f\n",
                 kernels, median(back_ms) - kernels);
  }
  if (!out.empty()) save_safetensors(out, {{"relevance", relevance.to(Device::CPU)}});
  std::printf(
      "{\"forward_ms\": %.4f, \"explain_ms\": %.4f, \"forward_all\": [%s], \"explain_all\": [%s], "
      "\"peak_rss_mb\": %.1f, \"rss_after_load_mb\": %.1f, \"target\": %lld, \"conv_algorithm\": \"%s\", "
      "\"precision\": \"%s\", \"graphs\": \"%s\"}\n",
      median(forward_ms), median(explain_ms), join(forward_ms).c_str(), join(explain_ms).c_str(), peak_rss_mb(),
      rss_loaded, static_cast<long long>(chosen), conv_algorithm() == ConvAlgorithm::Winograd ? "winograd" : "direct",
      precision.c_str(), !graphs ? "off" : replayed ? "replayed" : "eager");
  return 0;
} catch (const std::exception& e) {
  std::cerr << "relprop_time: " << e.what() << "\n";
  return 1;
}
