// `relprop explain`: one input or many (a folder or a list), batched, with progress,
// resume and sharding; results as safetensors, heatmaps, feature charts and layer tables.
// Every explanation runs through one GraphExplainer (nn/explainer.hpp): the arguments
// become its settings (composite, seed, kept nodes, report, rescaling), and on a GPU
// repeated batches of one shape replay a captured CUDA Graph.

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <limits>

#include "apps/explain.hpp"
#include "apps/numbers.hpp"

namespace relprop::app {

namespace fs = std::filesystem;

namespace {

// --composite with --epsilon, --gamma, --low / --high, then each --rule NODE=RULE.
Composite composite_of(const ExplainArgs& a, const Graph& graph) {
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
  // An option the composite has no use for is refused, as a --rule that matches no node.
  auto unused = [&](bool given, CompositeOption o, const char* what, const char* which) {
    if (given && !composite.takes(o))
      throw ValueError(std::string(what) + ": the composite '" + a.composite + "' has no " + which);
  };
  unused(a.epsilon.has_value(), CompositeOption::Epsilon, "--epsilon", "epsilon rules");
  unused(a.gamma.has_value(), CompositeOption::Gamma, "--gamma", "gamma rule (epsilon-gamma-box has)");
  unused(!a.low.empty() || !a.high.empty(), CompositeOption::Bounds, a.low.empty() ? "--high" : "--low",
         "box bounds (epsilon-gamma-box has; --rule NODE=zbox:LOW,HIGH gives them to any linear node)");
  for (const auto& spec : a.rules) {
    const auto eq = spec.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == spec.size())
      throw ValueError("--rule '" + spec + "': expected NODE=RULE[:PARAM]");
    const std::string pattern = spec.substr(0, eq);
    const Rule rule = parse_rule(spec.substr(eq + 1));
    bool any = false;
    for (const auto& n : graph.nodes()) {
      if (!glob_match(pattern, n.name)) continue;
      any = true;
      // Up front, from relevance/ops.def: every matched node's op must take the rule (an
      // op without rules of its own, such as scaled_dot_product_attention, records other
      // ops that the pattern may reach by their names).
      const OpInfo& op = op_info(n.op);
      if (!op.rules.empty() && !op.rules.has(rule_kind(rule)))
        throw UnsupportedError("--rule '" + spec + "': node '" + n.name + "' (" + std::string(op.name) +
                               ") does not support rule '" + rule_str(rule) + "' (supported: " + op.rules.str() + ")");
    }
    if (!any) throw NotFoundError("--rule '" + spec + "': no node matches '" + pattern + "'");
    composite.for_name(pattern, rule);
  }
  return composite;
}

// The seed the arguments ask for (form and multiplier set by the caller). Sentence
// embeddings: the cosine similarity to --compare's embedding, else the embedding's length;
// --targets: several outputs at once; else --task (a language model's classification is
// its next token).
SeedSpec seed_of(const ExplainArgs& a, const ExplainModel& m, const InputReader& reader, std::size_t output) {
  SeedSpec spec;
  if (m.embedding_head()) {
    spec.task = a.compare.empty() ? SeedTask::EmbeddingLength : SeedTask::CosineSimilarity;
    // The reference is computed once, unrecorded (no tape is active).
    if (!a.compare.empty()) spec.reference = m.graph.forward(reader.load_text(a.compare).inputs)[output];
  } else if (!a.targets.empty()) {
    if (a.target) throw ValueError("give --target or --targets, not both");
    spec.task = SeedTask::Targets;
    spec.outputs = a.targets;
  } else if (a.task == "classification") {
    spec.task = m.next_token() ? SeedTask::NextToken : SeedTask::Classification;
    spec.target = a.target;
  } else if (a.target) {
    throw ValueError("--target applies to --task classification (the task is '" + a.task + "')");
  } else if (a.task == "regression") {
    spec.task = SeedTask::Regression;
    spec.outputs = a.outputs;
  } else {
    spec.task = SeedTask::Segmentation;
    spec.threshold = a.threshold;
  }
  return spec;
}

}  // namespace

Explainer::Explainer(const ExplainArgs& a, bool many)
    : a_(a),
      model_(load_explain_model(a)),
      reader_(a, model_),
      writer_(a, model_, settings_.composite,
              a.features.empty() ? std::vector<std::string>() : read_feature_names(a.features)) {
  const Graph& graph = model_.graph;
  if (!a.text.empty() && !model_.text) throw ValueError("--text needs a Hugging Face text model folder as --model");
  if (!a.compare.empty() && !model_.embedding_head())
    throw ValueError("--compare needs a sentence-embedding model folder as --model");
  for (const auto& in : graph.inputs())
    if (in.name == "output")
      throw ValueError("graph input named 'output' collides with the result key 'output'; rename it");
  ExplainSettings& s = settings_;
  s.composite = composite_of(a, graph);
  SeedForm form = s.composite.seed_form;
  if (a.seed == "value") form = SeedForm::Value;
  else if (a.seed == "one-hot") form = SeedForm::OneHot;
  else if (!a.seed.empty()) throw ValueError("--seed must be 'value' or 'one-hot', got '" + a.seed + "'");
  const double multiplier = a.multiplier.value_or(s.composite.multiplier);
  if (a.task != "classification" && a.task != "regression" && a.task != "segmentation")
    throw ValueError("--task must be classification, regression or segmentation, got '" + a.task + "'");
  if (!a.output.empty()) {
    auto it = std::find(graph.outputs().begin(), graph.outputs().end(), a.output);
    if (it == graph.outputs().end()) throw NotFoundError("--output '" + a.output + "' is not a graph output");
    s.output = static_cast<std::size_t>(it - graph.outputs().begin());
  }
  for (const auto& k : a.keep) {
    if (k == "all") s.propagation.keep_all = true;
    else s.propagation.keep.push_back(k);
  }
  // The per-node report: printed for a single input, written by --summary.
  s.propagation.report = a.summary || (!many && !a.quiet);
  s.scaler = a.scaler;
  s.max_unit = a.max_unit;
  s.cuda_graph = a.cuda_graphs;
  s.check_finite_inputs = false;  // the reader checks each input file's tensors by name
  s.seed = seed_of(a, model_, reader_, s.output);
  s.seed.form = form;
  s.seed.multiplier = multiplier;
  explainer_ = std::make_unique<GraphExplainer>(graph, s);
  writer_.set_metadata({{"settings", settings_json(a, s, model_)}});
}

Explainer::~Explainer() = default;

Explanation Explainer::explain(const std::map<std::string, Tensor>& inputs) {
  Explanation e = explainer_->explain(inputs);
  if (e.output.device() != Device::CPU) {
    // Everything after this (writing, heatmaps, summaries) reads host memory.
    e.output = e.output.to(Device::CPU);
    e.seed = e.seed.to(Device::CPU);
    e.relevance = e.relevance.to(Device::CPU);
  }
  return e;
}

namespace {

std::pair<int, int> parse_shard(const std::string& s) {
  const auto slash = s.find('/');
  if (slash == std::string::npos) throw ValueError("--shard '" + s + "': expected I/N with 0 <= I < N");
  const std::string what = "--shard '" + s + "': ";
  const auto n = parse_integer(what + "N", std::string_view(s).substr(slash + 1), 1, std::numeric_limits<int>::max());
  const auto i = parse_integer(what + "I", std::string_view(s).substr(0, slash), 0, n - 1);
  return {static_cast<int>(i), static_cast<int>(n)};
}

class Progress {
 public:
  Progress(std::size_t total, bool show) : total_(total), show_(show), start_(clock::now()) {}
  void step(std::size_t done) {
    if (!show_) return;
    const double t = std::chrono::duration<double>(clock::now() - start_).count();
    const double rate = t > 0 ? done / t : 0;
    const int width = 30;
    const int fill = total_ ? static_cast<int>(width * done / total_) : width;
    std::string bar(fill, '=');
    if (fill < width) bar += '>' + std::string(width - fill - 1, ' ');
    std::fprintf(stderr, "\r[%s] %zu/%zu  %.2f/s  ETA %s   ", bar.c_str(), done, total_, rate,
                 rate > 0 ? eta((total_ - done) / rate).c_str() : "?");
    if (done == total_) std::fputc('\n', stderr);
    std::fflush(stderr);
  }

 private:
  using clock = std::chrono::steady_clock;
  static std::string eta(double s) {
    char buf[32];
    if (s < 60) std::snprintf(buf, sizeof buf, "%.0fs", s);
    else if (s < 3600) std::snprintf(buf, sizeof buf, "%dm%02ds", int(s) / 60, int(s) % 60);
    else std::snprintf(buf, sizeof buf, "%dh%02dm", int(s) / 3600, (int(s) % 3600) / 60);
    return buf;
  }
  std::size_t total_;
  bool show_;
  clock::time_point start_;
};

// The outputs of a run, checked against its inputs and against each other before anything
// is written; `ex` protects the same inputs when it writes.
void guard_outputs(Explainer& ex, const RunInputs& inputs, const std::vector<std::pair<fs::path, fs::path>>& results) {
  std::vector<fs::path> outputs;
  std::vector<std::string> sources;
  for (const auto& [result, source] : results)
    for (const auto& f : ex.writer().planned(result)) {
      outputs.push_back(f.path);
      sources.push_back(source.string());
    }
  check_outputs(outputs, sources, inputs);
  ex.writer().protect(&inputs);
}

// Removes the temporaries that killed runs left in `dir`, and says so.
void clean_temporaries(const fs::path& dir, const ExplainArgs& a, std::ostream& out) {
  const auto removed = remove_stale_temporaries(dir);
  if (!removed.empty() && !a.quiet)
    out << "removed " << removed.size() << " temporary file" << (removed.size() == 1 ? "" : "s")
        << " of an interrupted run from " << shown(dir.string()) << "\n";
}

int explain_many(const ExplainArgs& a, std::ostream& out, std::ostream& err) {
  const fs::path spec = a.input;
  const std::vector<fs::path> listed = list_inputs(spec);
  std::vector<fs::path> files = listed;
  if (!a.shard.empty()) {
    const auto [i, n] = parse_shard(a.shard);
    std::vector<fs::path> mine;
    for (std::size_t k = 0; k < files.size(); ++k)
      if (static_cast<int>(k % n) == i) mine.push_back(files[k]);
    files = std::move(mine);
  }
  // One result per input, named after it; two inputs with one name would overwrite.
  std::map<std::string, fs::path> by_stem;
  for (const auto& f : files) {
    auto [it, fresh] = by_stem.emplace(f.stem().string(), f);
    if (!fresh)
      throw ValueError("inputs '" + it->second.string() + "' and '" + f.string() + "' would both write '" +
                       f.stem().string() + ".safetensors'; rename one");
  }
  const fs::path dir = a.out;
  if (fs::exists(dir) && !fs::is_directory(dir))
    throw ValueError("--out '" + a.out + "' must be a folder when --input is a folder or a list");

  Explainer ex(a, true);
  // Every input of the run (all of the list, not only this shard's) and every file the run
  // would write, before anything is written.
  const RunInputs inputs(a, listed);
  std::vector<std::pair<fs::path, fs::path>> results;
  for (const auto& f : files) results.emplace_back(dir / (f.stem().string() + ".safetensors"), f);
  guard_outputs(ex, inputs, results);

  const bool created = !fs::exists(dir);
  fs::create_directories(dir);
  try {
    clean_temporaries(dir, a, out);
    // Resume: an existing result stands when it is complete, has this run's settings and
    // its pictures and tables are there; anything else is redone.
    struct Todo {
      fs::path file;
      std::string redo;  // why an existing result is redone
    };
    std::vector<Todo> todo;
    std::size_t redone = 0;
    for (const auto& [result, f] : results) {
      if (!fs::exists(fs::symlink_status(result))) {
        todo.push_back({f, ""});
        continue;
      }
      std::string why = stale_reason(result, ex.writer().planned(result), ex.settings_record());
      if (why.empty()) continue;
      ++redone;
      todo.push_back({f, std::move(why)});
    }
    const std::size_t skipped = files.size() - todo.size();

    const bool show = a.progress && !a.quiet && ::isatty(2);
    if (show)
      for (const auto& t : todo)
        if (!t.redo.empty()) out << shown(t.file.filename().string()) << ": redone, " << shown(t.redo) << "\n";
    Progress progress(todo.size(), show);
    const auto t0 = std::chrono::steady_clock::now();
    std::size_t done = 0;
    const std::size_t bs = static_cast<std::size_t>(std::max(1, a.batch_size));
    progress.step(0);
    for (std::size_t k = 0; k < todo.size();) {
      // A batch: consecutive inputs whose tensors all have batch 1 and the same shapes.
      std::vector<Item> batch;
      std::vector<const Todo*> whys{&todo[k]};
      batch.push_back(ex.reader().load(todo[k++].file));
      auto batchable = [](const Item& it) {
        for (const auto& [n, t] : it.inputs)
          if (t.dim() < 1 || t.shape()[0] != 1) return false;
        return true;
      };
      if (batchable(batch[0]))
        while (batch.size() < bs && k < todo.size()) {
          Item next = ex.reader().load(todo[k].file);
          bool same = batchable(next);
          for (const auto& [n, t] : batch[0].inputs) same = same && next.inputs.at(n).shape() == t.shape();
          if (!same) break;
          batch.push_back(std::move(next));
          whys.push_back(&todo[k]);
          ++k;
        }
      std::map<std::string, Tensor> batch_inputs;
      const auto B = static_cast<std::int64_t>(batch.size());
      for (const auto& [n, t0_] : batch[0].inputs) {
        if (B == 1) {
          batch_inputs[n] = t0_;
          continue;
        }
        Shape s = t0_.shape();
        s[0] = B;
        Tensor stacked = Tensor::empty(s, t0_.dtype());
        for (std::int64_t b = 0; b < B; ++b) stacked.slice(0, b, b + 1).copy_from(batch[b].inputs.at(n));
        batch_inputs[n] = stacked;
      }
      const Explanation res = ex.explain(batch_inputs);
      for (std::int64_t b = 0; b < B; ++b) {
        const Item& item = batch[b];
        const Tensor y = B == 1 ? res.output : res.output.slice(0, b, b + 1).contiguous();
        const fs::path target = dir / (item.stem + ".safetensors");
        const auto written = ex.writer().write(target, item, y, res.sample(b, B));
        if (!show && !a.quiet) {
          out << shown(item.source.filename().string()) << ": ";
          if (!whys[b]->redo.empty()) out << "redone (" << shown(whys[b]->redo) << "), ";
          if (res.targets.size() == static_cast<std::size_t>(B) && a.targets.empty())
            out << "target " << res.targets[b] << ", ";
          else if (!a.targets.empty())
            out << "targets " << a.targets.size() << " summed, ";
          out << "wrote " << written.size() << " file" << (written.size() == 1 ? "" : "s") << "\n";
        }
        ++done;
      }
      progress.step(done);
    }
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (!a.quiet)
      out << "explained " << done << " input" << (done == 1 ? "" : "s")
          << (skipped ? " (" + std::to_string(skipped) + " already done, skipped)" : "")
          << (redone ? " (" + std::to_string(redone) + " redone: their results were incomplete or from other settings)" : "")
          << " in " << fmt_fixed(secs, 2) << " s" << (a.shard.empty() ? "" : ", shard " + a.shard) << " -> "
          << shown(a.out) << "\n";
  } catch (...) {
    // A folder this run made and left empty goes again.
    std::error_code ec;
    if (created && fs::is_empty(dir, ec)) fs::remove(dir, ec);
    throw;
  }
  (void)err;
  return 0;
}

}  // namespace

int cmd_explain(const ExplainArgs& a, std::ostream& out, std::ostream& err) {
  // --conv-algorithm holds for this command only: the setting is process-wide, and the
  // command may run inside a program that has its own.
  struct ConvScope {
    ConvAlgorithm saved = conv_algorithm();
    ~ConvScope() { set_conv_algorithm(saved); }
  } conv_scope;
  if (!a.conv_algorithm.empty()) {
    if (a.conv_algorithm != "direct" && a.conv_algorithm != "winograd")
      throw ValueError("--conv-algorithm must be 'direct' or 'winograd', got '" + a.conv_algorithm + "'");
    set_conv_algorithm(a.conv_algorithm == "winograd" ? ConvAlgorithm::Winograd : ConvAlgorithm::Direct);
  }
  if (a.input.empty() == a.text.empty()) throw ValueError("give one of --input and --text");
  if (a.batch_size < 1) throw ValueError("--batch-size must be >= 1");
  if (!(a.crop > 0 && a.crop <= 1)) throw ValueError("--crop must lie in (0, 1]");
  if (a.scale < 0 || a.scale > viz::kMaxMagnification)
    throw ValueError("--scale must be 0 (automatic) or 1.." + std::to_string(viz::kMaxMagnification) + ", got " +
                     std::to_string(a.scale));
  viz::ColorMap::named(a.cmap);       // unknown names fail before any work
  viz::parse_normalization(a.norm);
  const fs::path in = a.input;
  const bool many = !a.input.empty() && (fs::is_directory(in) || in.extension() == ".txt");
  if (many) return explain_many(a, out, err);
  if (!a.shard.empty()) throw ValueError("--shard applies to a folder or list of inputs");
  Explainer ex(a, false);
  const RunInputs inputs(a, {});
  guard_outputs(ex, inputs, {{fs::path(a.out), fs::path(a.input.empty() ? a.out : a.input)}});
  const fs::path out_dir = fs::path(a.out).has_parent_path() ? fs::path(a.out).parent_path() : fs::path(".");
  clean_temporaries(out_dir, a, out);
  const Item item = a.text.empty() ? ex.reader().load(in) : ex.reader().load_text(a.text);
  const Explanation res = ex.explain(item.inputs);
  const RelevanceMap R = res.sample(0, 1);
  const auto written = ex.writer().write(a.out, item, res.output, R);
  const bool color = &out == &std::cout && ::isatty(1);
  if (!a.quiet) print_single(ex, item, res, R, written, out, color);
  return 0;
}

}  // namespace relprop::app
