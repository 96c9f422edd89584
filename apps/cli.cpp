// relprop — the command-line tool: `inspect` a safetensors file, `explain` a model.

#include "apps/cli.hpp"

#include <CLI/CLI.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iomanip>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "relprop.hpp"

namespace relprop {

namespace {

namespace fs = std::filesystem;

std::string one_line(std::string s) {
  std::replace(s.begin(), s.end(), '\n', ' ');
  return s;
}

std::string fmt_fixed(double v, int digits = 3) {
  std::ostringstream os;
  os << std::fixed << std::setprecision(digits) << v;
  return os.str();
}

// Small tensors in full, "[a, b, c]"; larger ones summarised.
std::string describe(const Tensor& t) {
  const auto v = t.to_vector_f64();
  std::string s;
  if (v.size() <= 16) {
    s = "[";
    for (std::size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + fmt_fixed(v[i]);
    return s + "]";
  }
  double sum = 0, lo = v[0], hi = v[0];
  for (double x : v) {
    sum += x;
    lo = std::min(lo, x);
    hi = std::max(hi, x);
  }
  return "shape " + t.str_shape() + ", min " + fmt_fixed(lo) + ", max " + fmt_fixed(hi) +
         ", sum " + fmt_fixed(sum);
}

// ---- inspect --------------------------------------------------------------------------

int cmd_inspect(const std::string& path, std::ostream& out) {
  const SafetensorsFile f = SafetensorsFile::open(path);
  const auto& h = f.header();
  std::size_t width = 4;
  for (const auto& t : h.tensors) width = std::max(width, t.name.size());
  out << path << ": " << h.tensors.size() << " tensors, header " << h.header_size << " bytes\n";
  std::uint64_t total = 0;
  std::vector<const SafetensorsTensorInfo*> sorted;
  for (const auto& t : h.tensors) sorted.push_back(&t);
  std::sort(sorted.begin(), sorted.end(), [](auto* a, auto* b) { return a->name < b->name; });
  for (const auto* t : sorted) {
    out << "  " << std::left << std::setw(static_cast<int>(width)) << t->name << "  " << std::setw(8)
        << st_dtype_name(t->dtype) << std::setw(20) << shape_str(t->shape) << (t->end - t->begin)
        << " bytes\n";
    total += t->end - t->begin;
  }
  out << "  total " << total << " bytes of tensor data\n";
  for (const auto& [k, v] : f.metadata()) out << "  metadata " << k << " = " << v << "\n";
  return 0;
}

// ---- explain --------------------------------------------------------------------------

struct ExplainArgs {
  std::string graph, model, weights, input, out, composite = "epsilon", seed, output;
  std::optional<std::int64_t> target;
  std::optional<double> multiplier, epsilon, gamma;
  std::string low, high;
  std::vector<std::string> rules, keep;
  std::string task = "classification";
  std::vector<std::int64_t> outputs;
  double threshold = 0.0, scaler = 0.0, max_unit = 0.0;
  bool quiet = false;
};

// "resnet50", or "mlp:784,512,10" (the MLP's layer widths).
Graph model_graph(const std::string& spec) {
  const auto colon = spec.find(':');
  ModelOptions o;
  if (colon != std::string::npos) {
    std::stringstream ss(spec.substr(colon + 1));
    for (std::string part; std::getline(ss, part, ',');) {
      try {
        o.mlp_sizes.push_back(std::stoll(part));
      } catch (const std::exception&) {
        throw ValueError("--model '" + spec + "': sizes must be integers");
      }
    }
  }
  return build_model(spec.substr(0, colon), o);
}

bool same_file(const fs::path& a, const fs::path& b) {
  std::error_code ec;
  if (fs::exists(a, ec) && fs::exists(b, ec)) return fs::equivalent(a, b, ec);
  return fs::weakly_canonical(a, ec) == fs::weakly_canonical(b, ec);
}

int cmd_explain(const ExplainArgs& a, std::ostream& out) {
  for (const auto* given : {&a.graph, &a.weights, &a.input})
    if (!given->empty() && same_file(a.out, *given))
      throw ValueError("--out '" + a.out + "' is one of the input files; refusing to overwrite it");

  if (a.graph.empty() == a.model.empty()) throw ValueError("give one of --graph and --model");
  Graph graph = a.model.empty() ? Graph::load(a.graph) : model_graph(a.model);
  const SafetensorsFile weights = SafetensorsFile::open(a.weights);
  graph.bind(weights);
  if (!a.model.empty()) {
    // A checkpoint for a built-in model must be that model's: extra tensors mean another one.
    const auto unused = graph.unused_weights(weights);
    if (!unused.empty()) {
      std::string list;
      for (std::size_t k = 0; k < unused.size() && k < 10; ++k) list += (k ? ", " : "") + unused[k];
      if (unused.size() > 10) list += ", ... (" + std::to_string(unused.size()) + " in all)";
      throw GraphError("'" + a.weights + "' holds tensors that " + a.model + " does not have: " + list);
    }
  }
  const SafetensorsFile input_file = SafetensorsFile::open(a.input);

  std::map<std::string, Tensor> inputs;
  for (const auto& name : input_file.names()) {
    const Tensor t = input_file.get(name);
    graph.check_input(name, t);  // unknown names and wrong shapes are errors
    inputs[name] = t;
  }
  for (const auto& in : graph.inputs())
    if (!inputs.count(in.name))
      throw NotFoundError("the input file '" + a.input + "' has no tensor '" + in.name +
                          "' (the graph's input " + shape_str(in.shape) + ")");
  for (const auto& in : graph.inputs())
    if (in.name == "output")
      throw ValueError("graph input named 'output' collides with the result key 'output'; rename it");

  // Composite, then per-node overrides (a node name or glob = rule).
  CompositeOptions copts;
  if (a.epsilon) copts.epsilon = *a.epsilon;
  if (a.gamma) copts.gamma = *a.gamma;
  if (!a.low.empty() || !a.high.empty()) {
    // Read through the rule parser so the checks (low <= high, counts) are the rule's own.
    const Rule box = parse_rule("zbox:" + (a.low.empty() ? std::string("-3") : a.low) + "," +
                                (a.high.empty() ? std::string("3") : a.high));
    copts.low = std::get<ZBoxRule>(box).low;
    copts.high = std::get<ZBoxRule>(box).high;
  }
  Composite composite = Composite::by_name(a.composite, copts);
  for (const auto& spec : a.rules) {
    const auto eq = spec.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == spec.size())
      throw ValueError("--rule '" + spec + "': expected NODE=RULE[:PARAM]");
    const std::string pattern = spec.substr(0, eq);
    bool any = false;
    for (const auto& n : graph.nodes()) any = any || glob_match(pattern, n.name);
    if (!any) throw NotFoundError("--rule '" + spec + "': no node matches '" + pattern + "'");
    composite.for_name(pattern, parse_rule(spec.substr(eq + 1)));
  }

  SeedForm form = composite.seed_form;
  if (a.seed == "value") form = SeedForm::Value;
  else if (a.seed == "one-hot") form = SeedForm::OneHot;
  else if (!a.seed.empty()) throw ValueError("--seed must be 'value' or 'one-hot', got '" + a.seed + "'");
  const double multiplier = a.multiplier.value_or(composite.multiplier);

  // Forward, recorded.
  std::size_t out_index = 0;
  if (!a.output.empty()) {
    auto it = std::find(graph.outputs().begin(), graph.outputs().end(), a.output);
    if (it == graph.outputs().end()) throw NotFoundError("--output '" + a.output + "' is not a graph output");
    out_index = static_cast<std::size_t>(it - graph.outputs().begin());
  }
  Tape tape;
  Tensor y;
  {
    Recording rec(tape);
    y = graph.forward(inputs)[out_index];
  }
  ClassificationSeed seed;
  if (a.task == "classification") {
    seed = classification_seed(y, a.target, form, multiplier);
  } else if (a.task == "regression") {
    seed.seed = regression_seed(y, a.outputs, form, multiplier);
  } else if (a.task == "segmentation") {
    seed.seed = segmentation_seed(y, a.threshold, form, multiplier);
  } else {
    throw ValueError("--task must be classification, regression or segmentation, got '" + a.task + "'");
  }

  PropagateOptions popts;
  for (const auto& k : a.keep) {
    if (k == "all") popts.keep_all = true;
    else popts.keep.push_back(k);
  }
  RelevanceMap R = composite.contrastive
                       ? propagate_contrastive(tape, y, seed.seed,
                                               contrastive_negative_seed(y, seed.seed, form, multiplier), composite,
                                               popts)
                       : propagate(tape, y, seed.seed, composite, popts);
  R.rescale(a.scaler, a.max_unit);

  // Result file: inputs by name, the model output, kept nodes by name.
  std::vector<std::pair<std::string, Tensor>> result;
  for (const auto& [name, r] : R.inputs()) result.emplace_back(name, r);
  result.emplace_back("output", y);
  for (const auto& [name, r] : R.nodes()) {
    if (name == "output" || inputs.count(name))
      throw ValueError("node '" + name + "' collides with a result key; rename it in the graph");
    result.emplace_back(name, r);
  }
  save_safetensors(a.out, result, {{"composite", composite.name()}, {"producer", "relprop " RELPROP_VERSION}});

  if (a.quiet) return 0;
  std::string targets;
  for (std::size_t i = 0; i < seed.targets.size() && i < 8; ++i)
    targets += (i ? ", " : "") + std::to_string(seed.targets[i]);
  if (seed.targets.size() > 8) targets += ", ...";
  out << "model     " << (a.model.empty() ? a.graph : a.model) << " (" << graph.nodes().size() << " nodes"
      << (graph.folded().empty() ? "" : ", " + std::to_string(graph.folded().size()) + " batch norms folded") << ")\n";
  out << "output    " << graph.outputs()[out_index] << " " << describe(y) << "\n";
  if (a.task == "classification") out << "target    " << targets << (a.target ? "" : " (arg-max)") << "\n";
  else out << "task      " << a.task << ", seed sum " << fmt_fixed(sum_all(seed.seed)) << "\n";
  out << "seed      " << (form == SeedForm::Value ? "value" : "one-hot") << " x " << multiplier
      << ", composite " << composite.name() << "\n";
  out << "input relevance\n";
  for (const auto& [name, r] : R.inputs()) out << "  " << name << "  " << describe(r) << "\n";
  out << "conservation (sum of relevance per node)\n";
  std::size_t w = 4;
  std::size_t wr = 8;
  for (const auto& rep : R.report()) {
    w = std::max(w, rep.name.size());
    wr = std::max(wr, rep.rule.size());
  }
  for (const auto& rep : R.report())
    out << "  " << std::left << std::setw(static_cast<int>(w)) << rep.name << "  " << std::setw(8) << rep.op
        << std::setw(static_cast<int>(wr)) << rep.rule << " out " << std::right << std::setw(10) << fmt_fixed(rep.relevance_out)
        << "  in " << std::setw(10) << fmt_fixed(rep.relevance_in) << "  absorbed "
        << fmt_fixed(100.0 * rep.absorbed_share(), 1) << "%\n"
        << std::left;
  out << "wrote     " << a.out << "\n";
  return 0;
}

}  // namespace

int run_cli(int argc, const char* const* argv, std::ostream& out, std::ostream& err) {
  CLI::App app{"relprop: explain neural-network predictions by layer-wise relevance propagation"};
  app.set_version_flag("--version", std::string("relprop ") + RELPROP_VERSION);
  app.require_subcommand(1);

  std::string inspect_path;
  auto* inspect = app.add_subcommand("inspect", "List a safetensors file's tensors (names, dtypes, shapes, sizes)");
  inspect->add_option("file", inspect_path, "The .safetensors file")->required();

  ExplainArgs ex;
  auto* explain = app.add_subcommand("explain", "Explain a model's prediction on an input");
  explain->add_option("--graph", ex.graph, "Model graph (graph.json)");
  explain->add_option("--model", ex.model,
                      "Built-in model instead of --graph: vgg11, vgg11_bn, vgg16, vgg16_bn, resnet18, resnet50, "
                      "mlp:IN,HIDDEN,...,OUT (weights by torchvision's names)");
  explain->add_option("--weights", ex.weights, "Model weights (.safetensors)")->required();
  explain->add_option("--input", ex.input, "Input tensors by graph input name (.safetensors)")->required();
  explain->add_option("--out", ex.out, "Where to write the relevance (.safetensors)")->required();
  explain->add_option("--composite", ex.composite,
                      "Rule set: zero, epsilon, epsilon-plus, epsilon-plus-flat, epsilon-gamma-box, "
                      "epsilon-alpha2-beta1, epsilon-alpha2-beta1-flat, backtrace, backtrace-contrastive (results NAME.positive "
                      "and NAME.negative), gradient, gradient-x-input (default epsilon)");
  explain->add_option("--target", ex.target, "Output index to explain (default: arg-max)");
  explain->add_option("--seed", ex.seed, "value | one-hot (default: the composite's)");
  explain->add_option("--multiplier", ex.multiplier, "Seed multiplier (default 1; backtrace 100)");
  explain->add_option("--epsilon", ex.epsilon, "Epsilon of the composite's epsilon rules");
  explain->add_option("--gamma", ex.gamma, "Gamma of epsilon-gamma-box's convolutions (default 0.25)");
  explain->add_option("--low", ex.low, "epsilon-gamma-box input bound: one value or per channel, '/'-separated (default -3)");
  explain->add_option("--high", ex.high, "epsilon-gamma-box input bound: one value or per channel (default 3)");
  explain->add_option("--rule", ex.rules, "NODE=RULE[:PARAM] override; NODE a name or glob (repeatable)");
  explain->add_option("--keep", ex.keep, "Keep node relevance: 'all' or node-name globs (repeatable)");
  explain->add_option("--output", ex.output, "Which graph output to explain (default: the first)");
  explain->add_option("--task", ex.task, "classification (default), regression or segmentation");
  explain->add_option("--outputs", ex.outputs, "Regression: the outputs to explain (default: all)")->delimiter(',');
  explain->add_option("--threshold", ex.threshold, "Segmentation: explain the outputs above this value (default 0)");
  explain->add_option("--scaler", ex.scaler, "Rescale every relevance map to sum to this (0: off)");
  explain->add_option("--max-unit", ex.max_unit, "Scale every map so its largest magnitude is this (0: off)");
  explain->add_flag("--quiet,-q", ex.quiet, "Print nothing on success");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e, out, err);
  }
  try {
    if (*inspect) return cmd_inspect(inspect_path, out);
    if (*explain) return cmd_explain(ex, out);
  } catch (const Error& e) {
    err << "relprop: error: " << one_line(e.what()) << "\n";
    return 1;
  } catch (const std::exception& e) {
    err << "relprop: internal error: " << one_line(e.what()) << "\n";
    return 3;
  }
  return 2;
}

}  // namespace relprop
