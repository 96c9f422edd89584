// `relprop explain`: the results it writes and what it prints (apps/explain.hpp).

#include <algorithm>
#include <cmath>
#include <iomanip>

#include "apps/explain.hpp"

namespace relprop::app {

namespace fs = std::filesystem;

ResultWriter::ResultWriter(const ExplainArgs& a, const ExplainModel& model, const Composite& composite,
                           std::vector<std::string> feature_names)
    : a_(a), m_(model), composite_(composite), feature_names_(std::move(feature_names)) {}

std::vector<ResultFile> ResultWriter::files(const fs::path& out, const std::vector<std::string>& maps) const {
  using Kind = ResultFile::Kind;
  std::vector<ResultFile> files;
  fs::path base = out;
  base.replace_extension();
  const std::string b = base.string();
  if (m_.text) {
    for (const auto& name : maps)
      if (name.rfind("input_ids", 0) == 0)
        files.push_back({b + name.substr(std::string("input_ids").size()) + ".html", Kind::Html, name});
  } else {
    for (const auto& name : maps) {
      // "x", or "x.positive" / "x.negative" in contrastive mode
      const std::string in_name = name.substr(0, name.find('.'));
      const std::string suffix = name.size() > in_name.size() ? name.substr(in_name.size()) : "";
      const std::string tag = maps.size() > (composite_.contrastive ? 2u : 1u) ? "." + in_name : "";
      if (a_.heatmap) files.push_back({b + tag + suffix + ".png", Kind::Heatmap, name});
      if (a_.overlay) files.push_back({b + tag + suffix + ".overlay.png", Kind::Overlay, name});
      if (!feature_names_.empty()) {
        files.push_back({b + suffix + ".features.csv", Kind::FeaturesCsv, name});
        files.push_back({b + suffix + ".features.png", Kind::FeaturesPng, name});
      }
    }
  }
  if (a_.summary) {
    files.push_back({b + ".layers.csv", Kind::LayersCsv, ""});
    files.push_back({b + ".layers.png", Kind::LayersPng, ""});
  }
  // The result file last: a run stopped half-way redoes this input when resumed.
  files.push_back({out, Kind::Result, ""});
  return files;
}

std::vector<ResultFile> ResultWriter::planned(const fs::path& out) const {
  std::vector<std::string> maps;
  const std::vector<std::string> suffixes =
      composite_.contrastive ? std::vector<std::string>{".negative", ".positive"} : std::vector<std::string>{""};
  for (const auto& in : m_.graph.inputs())
    if (!m_.text || in.name == "input_ids")
      for (const auto& suffix : suffixes) maps.push_back(in.name + suffix);
  std::sort(maps.begin(), maps.end());
  return files(out, maps);
}

std::vector<std::string> ResultWriter::write(const fs::path& out, const Item& item, const Tensor& y,
                                             const RelevanceMap& R) const {
  using Kind = ResultFile::Kind;
  std::vector<std::pair<std::string, Tensor>> result;
  for (const auto& [name, r] : R.inputs())
    if (!m_.text || name.rfind("input_ids", 0) == 0) result.emplace_back(name, r);
  result.emplace_back("output", y);
  for (const auto& [name, r] : R.nodes()) {
    if (name == "output" || item.inputs.count(name))
      throw ValueError("node '" + name + "' collides with a result key; rename it in the graph");
    result.emplace_back(name, r);
  }
  std::vector<std::string> maps;
  for (const auto& [name, r] : R.inputs()) maps.push_back(name);
  std::vector<ResultFile> files = this->files(out, maps);
  // A batch from an ids file has no token strings: no page.
  if (item.tokens.empty())
    files.erase(std::remove_if(files.begin(), files.end(), [](const ResultFile& f) { return f.kind == Kind::Html; }),
                files.end());
  if (inputs_) {
    std::vector<fs::path> paths;
    for (const auto& f : files) paths.push_back(f.path);
    check_outputs(paths, std::vector<std::string>(paths.size(), out.string()), *inputs_);
  }

  viz::HeatmapOptions ho;
  ho.cmap = a_.cmap;
  ho.level = a_.level;
  ho.normalization = viz::parse_normalization(a_.norm);
  // Every file is written to its own temporary first; they are renamed into place together.
  OutputSet set;
  for (const auto& f : files) {
    const Tensor* rp = f.map.empty() ? nullptr : &R.inputs().at(f.map);
    const std::string in_name = f.map.substr(0, f.map.find('.'));
    const auto it = item.inputs.find(in_name);
    if (f.kind == Kind::Html) {
      set.add(f.path).write(viz::tokens_html(item.tokens, rp->to_vector_f64(),
                                             "relevance of each token (" + composite_.name() + ")"));
    } else if (f.kind == Kind::Heatmap || f.kind == Kind::Overlay) {
      const Tensor& r = *rp;
      if (r.dim() != 4 && r.dim() != 3)
        throw ShapeError("--heatmap: the relevance of input '" + in_name + "' is " + r.str_shape() +
                         ", not an image (N, C, H, W)");
      const std::int64_t side = std::min(r.shape()[r.dim() - 1], r.shape()[r.dim() - 2]);
      ho.scale = a_.scale > 0 ? a_.scale : side >= 128 ? 1 : static_cast<int>((128 + side - 1) / side);
      // A batch in one file: each sample normalised on its own, side by side in a grid.
      const std::int64_t n = r.dim() == 4 ? r.shape()[0] : 1;
      auto per_sample = [&](auto&& draw) {
        std::vector<viz::Image> cells;
        for (std::int64_t k = 0; k < n; ++k) cells.push_back(draw(n == 1 ? r : r.slice(0, k, k + 1), k));
        return n == 1 ? cells[0] : viz::grid(cells, 0, 4);
      };
      if (f.kind == Kind::Heatmap) {
        set.add(f.path).write(
            viz::encode_png(per_sample([&](const Tensor& rk, std::int64_t) { return viz::heatmap(rk, ho); })));
      } else {
        set.add(f.path).write(viz::encode_png(per_sample([&](const Tensor& rk, std::int64_t k) {
          const viz::Image pic = item.picture ? *item.picture
                                              : viz::tensor_to_image(n == 1 ? it->second : it->second.slice(0, k, k + 1));
          return viz::overlay(rk, pic, ho);
        })));
      }
    } else if (f.kind == Kind::FeaturesCsv || f.kind == Kind::FeaturesPng) {
      const Tensor& r = *rp;
      if (r.numel() != static_cast<std::int64_t>(feature_names_.size()))
        throw ShapeError("--features: the relevance of input '" + in_name + "' has " + std::to_string(r.numel()) +
                         " values but '" + a_.features + "' names " + std::to_string(feature_names_.size()));
      const Tensor* values = it != item.inputs.end() ? &it->second : nullptr;
      if (f.kind == Kind::FeaturesCsv) {
        set.add(f.path).write(feature_csv(feature_names_, r, values));
      } else {
        viz::BarChartOptions bo;
        bo.title = "relevance of each feature (" + composite_.name() + ")";
        bo.max_bars = 20;
        set.add(f.path).write(viz::encode_png(viz::bar_chart(feature_bars(feature_names_, r, values), bo)));
      }
    } else if (f.kind == Kind::LayersCsv) {
      set.add(f.path).write(layers_csv(R));
    } else if (f.kind == Kind::LayersPng) {
      set.add(f.path).write(viz::encode_png(layers_chart(R, "relevance per node (" + composite_.name() + ")")));
    } else {
      std::map<std::string, std::string> metadata = metadata_;
      metadata["composite"] = composite_.name();
      metadata["producer"] = "relprop " RELPROP_VERSION;
      write_safetensors(set.add(f.path), result, metadata);
    }
  }
  set.commit();
  std::vector<std::string> written{out.string()};
  for (const auto& f : files)
    if (f.kind != Kind::Result) written.push_back(f.path.string());
  return written;
}

void print_single(const Explainer& ex, const Item& item, const Explanation& e, const RelevanceMap& R,
                  const std::vector<std::string>& written, std::ostream& out, bool color) {
  const ExplainArgs& a = ex.args();
  const ExplainModel& m = ex.model();
  const Graph& graph = m.graph;
  const SeedSpec& seed = ex.settings().seed;
  std::string targets;
  for (std::size_t i = 0; i < e.targets.size() && i < 8; ++i) targets += (i ? ", " : "") + std::to_string(e.targets[i]);
  if (e.targets.size() > 8) targets += ", ...";
  out << "model     " << shown(a.model.empty() ? a.graph : a.model) << " (" << graph.nodes().size() << " nodes"
      << (graph.folded().empty() ? "" : ", " + std::to_string(graph.folded().size()) + " batch norms folded") << ")\n";
  out << "output    " << shown(graph.outputs()[ex.settings().output]) << " " << describe(e.output) << "\n";
  if (m.embedding_head())
    out << "target    " << (a.compare.empty() ? "the embedding's length |e|" : "cosine similarity to \"" + shown(a.compare) + "\"")
        << " = " << fmt_fixed(sum_all(e.seed), 4) << "\n";
  else if (!a.targets.empty())
    out << "target    " << targets << " (their sum)\n";
  else if (a.task == "classification")
    out << "target    " << targets << (a.target ? "" : " (arg-max)")
        << (e.targets.size() == 1 && static_cast<std::size_t>(e.targets[0]) < m.labels.size()
                ? " = " + shown(m.labels[e.targets[0]])
            : e.targets.size() == 1 && m.next_token()
                ? " = next token '" + shown(ex.reader().tokenizer().id_to_token(e.targets[0])) + "'"
                : "")
        << "\n";
  else out << "task      " << a.task << ", seed sum " << fmt_fixed(sum_all(e.seed)) << "\n";
  out << "seed      " << (seed.form == SeedForm::Value ? "value" : "one-hot") << " x " << seed.multiplier
      << ", composite " << ex.settings().composite.name() << "\n";
  if (!item.tokens.empty()) {
    for (const auto& [name, r] : R.inputs()) {
      if (name.rfind("input_ids", 0) != 0) continue;
      const auto v = r.to_vector_f64();
      out << "token relevance" << name.substr(9) << " (sum " << fmt_fixed(sum_all(r), 4) << ")\n";
      if (color) out << "  " << viz::tokens_ansi(item.tokens, v) << "\n";
      for (std::size_t i = 0; i < item.tokens.size() && i < v.size(); ++i) {
        // Byte-level BPE marks a leading space with "Ġ": shown as the space itself.
        std::string token = item.tokens[i];
        if (token.rfind("\xC4\xA0", 0) == 0) token = " " + token.substr(2);
        out << "  " << std::left << std::setw(16) << shown(token) << std::right << std::setw(10) << fmt_fixed(v[i], 4) << "\n";
      }
    }
  } else {
    out << "input relevance\n";
    for (const auto& [name, r] : R.inputs()) out << "  " << shown(name) << "  " << describe(r) << "\n";
  }
  const auto& names = ex.writer().feature_names();
  if (!names.empty()) {
    for (const auto& [name, r] : R.inputs()) {
      if (r.numel() != static_cast<std::int64_t>(names.size())) continue;
      auto bars = feature_bars(names, r, nullptr);
      std::stable_sort(bars.begin(), bars.end(), [](auto& p, auto& q) { return std::abs(p.value) > std::abs(q.value); });
      out << "top features of " << shown(name) << "\n";
      for (std::size_t k = 0; k < bars.size() && k < 5; ++k)
        out << "  " << std::left << std::setw(28) << shown(bars[k].label) << std::right << std::setw(10)
            << fmt_fixed(bars[k].value, 4) << "\n";
    }
  }
  out << "conservation (sum of relevance per node)\n";
  std::size_t w = 4, wr = 8, wo = 6;
  for (const auto& rep : R.report()) {
    w = std::max(w, shown(rep.name).size());
    wr = std::max(wr, rep.rule.size());
    wo = std::max(wo, rep.op.size());
  }
  for (const auto& rep : R.report())
    out << "  " << std::left << std::setw(static_cast<int>(w)) << shown(rep.name) << "  " << std::setw(static_cast<int>(wo + 2))
        << rep.op << std::setw(static_cast<int>(wr)) << rep.rule << " out " << std::right << std::setw(10)
        << fmt_fixed(rep.relevance_out) << "  in " << std::setw(10) << fmt_fixed(rep.relevance_in) << "  absorbed "
        << fmt_fixed(100.0 * rep.absorbed_share(), 1) << "%\n"
        << std::left;
  for (const auto& p : written) out << "wrote     " << shown(p) << "\n";
}

}  // namespace relprop::app
