// `relprop explain`: one input or many (a folder or a list), batched, with progress,
// resume and sharding; results as safetensors, heatmaps, feature charts and layer tables.

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "apps/app.hpp"
#include "relprop/cuda/context.hpp"
#include "relprop/config.hpp"
#if RELPROP_HAVE_CUDA
#include "relprop/cuda/linear.hpp"
#endif
#include "relprop/text/tokenizer.hpp"

namespace relprop::app {

namespace fs = std::filesystem;

// ---- shared pieces ----------------------------------------------------------------------

std::string fmt_fixed(double v, int digits) {
  std::ostringstream os;
  os << std::fixed << std::setprecision(digits) << v;
  return os.str();
}

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
  return "shape " + t.str_shape() + ", min " + fmt_fixed(lo) + ", max " + fmt_fixed(hi) + ", sum " + fmt_fixed(sum);
}

bool is_image_path(const fs::path& p) {
  std::string e = p.extension().string();
  std::transform(e.begin(), e.end(), e.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return e == ".png" || e == ".jpg" || e == ".jpeg" || e == ".bmp" || e == ".tga" || e == ".gif" || e == ".ppm" ||
         e == ".pgm";
}

std::vector<std::string> read_feature_names(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw IoError("cannot read feature names from '" + path + "'");
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string text = ss.str();
  std::vector<std::string> names;
  if (fs::path(path).extension() == ".json") {
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(text);
    } catch (const std::exception& e) {
      throw FormatError("'" + path + "' is not JSON: " + std::string(e.what()));
    }
    const nlohmann::json& list = j.is_array() ? j : (j.contains("features") ? j["features"] : nlohmann::json());
    if (!list.is_array()) throw FormatError("'" + path + "': expected a list of names or an object with \"features\"");
    for (const auto& n : list) {
      if (!n.is_string()) throw FormatError("'" + path + "': feature names must be strings");
      names.push_back(n.get<std::string>());
    }
    return names;
  }
  std::stringstream lines(text);
  std::string line;
  const bool csv = fs::path(path).extension() == ".csv";
  while (std::getline(lines, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (csv) {  // the header row
      std::stringstream fields(line);
      for (std::string f; std::getline(fields, f, ',');) names.push_back(f);
      break;
    }
    if (!line.empty()) names.push_back(line);
  }
  if (names.empty()) throw FormatError("'" + path + "' holds no feature names");
  return names;
}

namespace {
std::vector<double> row_values(const Tensor& t, const std::vector<std::string>& names, const char* what) {
  const auto v = t.to_vector_f64();
  if (v.size() != names.size())
    throw ShapeError(std::string(what) + " " + t.str_shape() + " has " + std::to_string(v.size()) + " values but " +
                     std::to_string(names.size()) + " feature names were given");
  return v;
}
std::string fmt_g(double v) {
  std::ostringstream os;
  os << std::setprecision(5) << v;
  return os.str();
}
}  // namespace

std::vector<viz::Bar> feature_bars(const std::vector<std::string>& names, const Tensor& relevance, const Tensor* values) {
  const auto r = row_values(relevance, names, "relevance");
  const auto x = values ? row_values(*values, names, "input") : std::vector<double>();
  std::vector<viz::Bar> bars;
  for (std::size_t i = 0; i < names.size(); ++i)
    bars.push_back({names[i], r[i], values ? "(= " + fmt_g(x[i]) + ")" : ""});
  return bars;
}

std::string feature_csv(const std::vector<std::string>& names, const Tensor& relevance, const Tensor* values) {
  const auto r = row_values(relevance, names, "relevance");
  const auto x = values ? row_values(*values, names, "input") : std::vector<double>();
  std::vector<std::size_t> order(names.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](auto a, auto b) { return std::abs(r[a]) > std::abs(r[b]); });
  std::vector<std::vector<std::string>> rows;
  for (std::size_t k = 0; k < order.size(); ++k) {
    const auto i = order[k];
    rows.push_back({std::to_string(k + 1), names[i], values ? fmt_g(x[i]) : "", fmt_g(r[i])});
  }
  return viz::csv({"rank", "feature", "value", "relevance"}, rows);
}

std::string layers_csv(const RelevanceMap& R) {
  std::vector<std::vector<std::string>> rows;
  for (const auto& rep : R.report())
    rows.push_back({rep.name, rep.op, rep.rule, fmt_g(rep.relevance_out), fmt_g(rep.relevance_in),
                    fmt_g(100.0 * rep.absorbed_share())});
  return viz::csv({"node", "op", "rule", "relevance_out", "relevance_in", "absorbed_percent"}, rows);
}

viz::Image layers_chart(const RelevanceMap& R, const std::string& title) {
  std::vector<viz::Bar> bars;
  for (const auto& rep : R.report())
    bars.push_back({rep.name + " (" + rep.op + ")", rep.relevance_out,
                    "in " + fmt_g(rep.relevance_in) + ", absorbed " + fmt_fixed(100.0 * rep.absorbed_share(), 1) + "%"});
  viz::BarChartOptions o;
  o.title = title;
  o.sort_by_magnitude = false;
  o.bar_height = 18;
  return viz::bar_chart(bars, o);
}

// ---- the explainer --------------------------------------------------------------------

namespace {

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

// One input to explain: its tensors by graph input name, and how it came to be.
struct Item {
  fs::path source;
  std::string stem;
  std::map<std::string, Tensor> inputs;
  std::optional<viz::Image> picture;  // the preprocessed photograph (image inputs)
  std::vector<std::string> tokens;    // text inputs: the token strings
};

class Explainer {
 public:
  explicit Explainer(const ExplainArgs& a) : a_(a) {
    if (a.graph.empty() == a.model.empty()) throw ValueError("give one of --graph and --model");
    if (!a.model.empty() && is_transformer_dir(a.model)) {
      // A Hugging Face folder: the graph, its weights and the tokenizer all come from it.
      if (!a.weights.empty()) throw ValueError("--weights: a model folder brings its own model.safetensors");
      TransformerModel tm = load_transformer(a.model);
      head_ = tm.head;
      labels_ = tm.config.labels;
      graph_ = std::move(tm.graph);
      for (const auto& in : graph_.inputs()) text_model_ = text_model_ || in.name == "input_ids";
      hf_mean_ = tm.image_mean;
      hf_std_ = tm.image_std;
      hf_vision_ = !text_model_;
    } else if (a.weights.empty()) {
      throw ValueError("--weights is required (except for a Hugging Face model folder)");
    } else {
      graph_ = a.model.empty() ? Graph::load(a.graph) : model_graph(a.model);
      const SafetensorsFile weights = SafetensorsFile::open(a.weights);  // bound tensors keep the mapping
      graph_.bind(weights);
      if (!a.model.empty()) {
        // A checkpoint for a built-in model must be that model's: extra tensors mean another one.
        const auto unused = graph_.unused_weights(weights);
        if (!unused.empty()) {
          std::string list;
          for (std::size_t k = 0; k < unused.size() && k < 10; ++k) list += (k ? ", " : "") + unused[k];
          if (unused.size() > 10) list += ", ... (" + std::to_string(unused.size()) + " in all)";
          throw GraphError("'" + a.weights + "' holds tensors that " + a.model + " does not have: " + list);
        }
      }
    }
    if (a.device != "cpu" && a.device != "cuda")
      throw ValueError("--device must be 'cpu' or 'cuda', got '" + a.device + "'");
    if (a.precision != "fp32" && a.precision != "tf32" && a.precision != "bf16")
      throw ValueError("--precision must be fp32, tf32 or bf16, got '" + a.precision + "'");
    if (a.precision == "tf32" && a.device != "cuda") throw ValueError("--precision tf32 needs --device cuda");
    if (a.device == "cuda" && cuda::device_count() == 0)
      throw UnsupportedError(std::string("--device cuda: ") +
                             (cuda::built() ? "no CUDA GPU is visible to this process"
                                            : "this relprop was built without the CUDA backend"));
#if RELPROP_HAVE_CUDA
    cuda::set_tf32(a.precision == "tf32");
#endif
    graph_.to(a.device == "cuda" ? Device::CUDA : Device::CPU, a.precision == "bf16" ? DType::BF16 : DType::F32);
    if (!a.text.empty() && !text_model_) throw ValueError("--text needs a Hugging Face text model folder as --model");
    if (!a.compare.empty() && !embedding_head())
      throw ValueError("--compare needs a sentence-embedding model folder as --model");
    for (const auto& in : graph_.inputs())
      if (in.name == "output")
        throw ValueError("graph input named 'output' collides with the result key 'output'; rename it");

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
    composite_ = Composite::by_name(a.composite, copts);
    for (const auto& spec : a.rules) {
      const auto eq = spec.find('=');
      if (eq == std::string::npos || eq == 0 || eq + 1 == spec.size())
        throw ValueError("--rule '" + spec + "': expected NODE=RULE[:PARAM]");
      const std::string pattern = spec.substr(0, eq);
      bool any = false;
      for (const auto& n : graph_.nodes()) any = any || glob_match(pattern, n.name);
      if (!any) throw NotFoundError("--rule '" + spec + "': no node matches '" + pattern + "'");
      composite_.for_name(pattern, parse_rule(spec.substr(eq + 1)));
    }
    form_ = composite_.seed_form;
    if (a.seed == "value") form_ = SeedForm::Value;
    else if (a.seed == "one-hot") form_ = SeedForm::OneHot;
    else if (!a.seed.empty()) throw ValueError("--seed must be 'value' or 'one-hot', got '" + a.seed + "'");
    multiplier_ = a.multiplier.value_or(composite_.multiplier);
    if (a.task != "classification" && a.task != "regression" && a.task != "segmentation")
      throw ValueError("--task must be classification, regression or segmentation, got '" + a.task + "'");
    if (!a.output.empty()) {
      auto it = std::find(graph_.outputs().begin(), graph_.outputs().end(), a.output);
      if (it == graph_.outputs().end()) throw NotFoundError("--output '" + a.output + "' is not a graph output");
      out_index_ = static_cast<std::size_t>(it - graph_.outputs().begin());
    }
    for (const auto& k : a.keep) {
      if (k == "all") popts_.keep_all = true;
      else popts_.keep.push_back(k);
    }
    if (!a.features.empty()) feature_names_ = read_feature_names(a.features);
    pre_.crop_fraction = a.crop;
    crop_given_ = a.crop_given;
  }

  const Graph& graph() const { return graph_; }
  const Composite& composite() const { return composite_; }
  SeedForm form() const { return form_; }
  double multiplier() const { return multiplier_; }
  std::size_t out_index() const { return out_index_; }

  // The input tensors of one file: a safetensors file by input name, or an image for
  // the graph's one image input.
  Item load(const fs::path& path) const {
    Item item;
    item.source = path;
    item.stem = path.stem().string();
    if (is_image_path(path)) {
      if (graph_.inputs().size() != 1)
        throw ValueError("image input '" + path.string() + "': the graph has " + std::to_string(graph_.inputs().size()) +
                         " inputs; give a .safetensors file by input name");
      const GraphInput& gi = graph_.inputs()[0];
      if (gi.shape.size() != 4)
        throw ShapeError("image input '" + path.string() + "': the graph input '" + gi.name + "' is " +
                         shape_str(gi.shape) + ", not (N, C, H, W)");
      auto dim = [&](int d) {
        if (gi.shape[d] > 0) return gi.shape[d];
        if (gi.example.size() == 4 && gi.example[d] > 0) return gi.example[d];
        return std::int64_t{224};
      };
      const int C = static_cast<int>(dim(1)), H = static_cast<int>(dim(2)), W = static_cast<int>(dim(3));
      viz::Preprocess pre = preprocess(C);
      const viz::Image im = viz::read_image(path.string());
      Tensor x = viz::image_to_tensor(im, C, H, W, pre);
      item.picture = viz::tensor_to_image(x, &pre);
      graph_.check_input(gi.name, x);
      item.inputs[gi.name] = x;
      return item;
    }
    const SafetensorsFile f = SafetensorsFile::open(path);
    for (const auto& name : f.names()) {
      const Tensor t = f.get(name).contiguous().clone();  // owned: the file closes
      graph_.check_input(name, t);  // unknown names and wrong shapes are errors
      item.inputs[name] = t;
    }
    if (text_model_) {
      item.inputs = complete_text_inputs(std::move(item.inputs), &graph_);
      const Tensor& ids = item.inputs.at("input_ids");
      if (ids.size(0) == 1)
        for (double id : ids.to_vector_f64()) item.tokens.push_back(tokenizer().id_to_token(static_cast<std::int64_t>(id)));
    }
    for (const auto& in : graph_.inputs())
      if (!item.inputs.count(in.name))
        throw NotFoundError("the input file '" + path.string() + "' has no tensor '" + in.name +
                            "' (the graph's input " + shape_str(in.shape) + ")");
    return item;
  }

  bool text_model() const { return text_model_; }
  // A sentence-embedding or pooled output (explained as a length or a similarity).
  bool embedding_head() const { return text_model_ && (head_ == "sentence_embedding" || head_ == "pooler_output"); }
  const std::string& head() const { return head_; }
  const std::vector<std::string>& labels() const { return labels_; }

  const text::Tokenizer& tokenizer() const {
    if (!tok_) tok_ = text::load_tokenizer(a_.model);
    return *tok_;
  }

  // --text: tokenized with the folder's tokenizer.
  Item load_text(const std::string& text) const {
    const text::Encoding e = tokenizer().encode(text);
    const auto T = static_cast<std::int64_t>(e.ids.size());
    Item item;
    item.stem = "text";
    item.tokens = e.tokens;
    std::vector<std::int64_t> mask(e.ids.size(), 1);
    item.inputs = complete_text_inputs({{"input_ids", Tensor::from_vector(std::span<const std::int64_t>(e.ids), {1, T})},
                                        {"attention_mask", Tensor::from_vector(std::span<const std::int64_t>(mask), {1, T})},
                                        {"token_type_ids", Tensor::from_vector(std::span<const std::int64_t>(e.type_ids), {1, T})}},
                                       &graph_);
    return item;
  }

  viz::Preprocess preprocess(int channels) const {
    viz::Preprocess pre = pre_;
    if (channels == 1) {
      pre.mean = {0.0};
      pre.std = {1.0};
    }
    // A Hugging Face vision folder declares its normalisation and resizes straight to the
    // model's size (ViTImageProcessor), unless --crop asks for a crop.
    if (hf_vision_) {
      if (hf_mean_.size() == static_cast<std::size_t>(channels)) pre.mean = hf_mean_;
      if (hf_std_.size() == static_cast<std::size_t>(channels)) pre.std = hf_std_;
      pre.stretch = !crop_given_;
    }
    if (!a_.mean.empty()) pre.mean = a_.mean;
    if (!a_.std.empty()) pre.std = a_.std;
    return pre;
  }

  struct Result {
    Tensor y;
    std::vector<std::int64_t> targets;
    Tensor seed;
    RelevanceMap R;
  };

  Result run(const std::map<std::string, Tensor>& inputs) const {
    Tape tape;
    Result res;
    {
      Recording rec(tape);
      res.y = graph_.forward(inputs)[out_index_];
    }
    if (embedding_head()) {
      res.seed = similarity_seed(res.y, inputs);
    } else if (!a_.targets.empty()) {
      // Several targets: each row seeded at every listed output (value or 1, x multiplier).
      if (a_.target) throw ValueError("give --target or --targets, not both");
      const std::int64_t C = res.y.shape().back(), rows = res.y.numel() / std::max<std::int64_t>(C, 1);
      Tensor seed = Tensor::zeros(res.y.shape());
      const Tensor yc = res.y.to(Device::CPU).contiguous();
      for (std::int64_t t : a_.targets)
        if (t < 0 || t >= C)
          throw IndexError("--targets: " + std::to_string(t) + " is outside [0, " + std::to_string(C) + ")");
      for (std::int64_t r = 0; r < rows; ++r)
        for (std::int64_t t : a_.targets) {
          const std::int64_t i = r * C + t;
          seed.set_flat(i, seed.get_flat(i) + multiplier_ * (form_ == SeedForm::Value ? yc.get_flat(i) : 1.0));
        }
      res.seed = seed;
      res.targets = a_.targets;
    } else if (a_.task == "classification") {
      auto s = classification_seed(res.y, a_.target, form_, multiplier_);
      res.seed = s.seed;
      res.targets = s.targets;
    } else if (a_.task == "regression") {
      res.seed = regression_seed(res.y, a_.outputs, form_, multiplier_);
    } else {
      res.seed = segmentation_seed(res.y, a_.threshold, form_, multiplier_);
    }
    res.R = composite_.contrastive
                ? propagate_contrastive(tape, res.y, res.seed,
                                        contrastive_negative_seed(res.y, res.seed, form_, multiplier_), composite_,
                                        popts_)
                : propagate(tape, res.y, res.seed, composite_, popts_);
    if (res.y.device() != Device::CPU) {
      // Everything after this (writing, heatmaps, summaries) reads host memory.
      res.y = res.y.to(Device::CPU);
      res.seed = res.seed.to(Device::CPU);
      res.R = res.R.to(Device::CPU);
    }
    return res;
  }

  // Sentence embeddings e: the cosine similarity to the --compare text's embedding f,
  // cos = Σ_i e_i f_i / (|e| |f|), split over the dimensions (R_i = e_i f_i / (|e| |f|));
  // without --compare, the embedding's length |e| = Σ_i e_i e_i / |e|. Per row; x multiplier.
  Tensor similarity_seed(const Tensor& y, const std::map<std::string, Tensor>&) const {
    const std::int64_t N = y.size(0), D = y.numel() / std::max<std::int64_t>(N, 1);
    std::vector<double> f;
    if (!a_.compare.empty()) {
      const Item other = load_text(a_.compare);
      f = graph_.forward(other.inputs)[out_index_].to_vector_f64();  // not recorded: no tape is active
      double n = 0;
      for (double v : f) n += v * v;
      n = std::sqrt(n);
      for (double& v : f) v = n > 0 ? v / n : 0.0;
    }
    const auto e = y.to_vector_f64();
    std::vector<double> seed(e.size());
    for (std::int64_t r = 0; r < N; ++r) {
      double n = 0;
      for (std::int64_t i = 0; i < D; ++i) n += e[r * D + i] * e[r * D + i];
      n = std::sqrt(n);
      for (std::int64_t i = 0; i < D; ++i) {
        // R_i = e_i f_i / |e| (f: the other text's unit embedding), or e_i e_i / |e| (sums to |e|).
        const double other = f.empty() ? e[r * D + i] : f[i];
        seed[r * D + i] = multiplier_ * (n > 0 ? e[r * D + i] * other / n : 0.0);
      }
    }
    return Tensor::from_vector(std::span<const double>(seed), y.shape()).to(DType::F32);
  }

  // Writes one sample's result to `out` (+ pictures and tables beside it, named after
  // `out` without its extension). Returns the paths written.
  std::vector<std::string> write(const fs::path& out, const Item& item, const Tensor& y, RelevanceMap R) const {
    R.rescale(a_.scaler, a_.max_unit);
    std::vector<std::pair<std::string, Tensor>> result;
    for (const auto& [name, r] : R.inputs())
      if (!text_model_ || name.rfind("input_ids", 0) == 0) result.emplace_back(name, r);
    result.emplace_back("output", y);
    for (const auto& [name, r] : R.nodes()) {
      if (name == "output" || item.inputs.count(name))
        throw ValueError("node '" + name + "' collides with a result key; rename it in the graph");
      result.emplace_back(name, r);
    }
    std::vector<std::string> written;
    fs::path base = out;
    base.replace_extension();
    const std::string b = base.string();

    if (text_model_) {
      for (const auto& [name, r] : R.inputs()) {
        if (name.rfind("input_ids", 0) != 0 || item.tokens.empty()) continue;
        const std::string suffix = name.substr(std::string("input_ids").size());
        const std::string p = b + suffix + ".html";
        viz::write_text_file(p, viz::tokens_html(item.tokens, r.to_vector_f64(),
                                                 "relevance of each token (" + composite_.name() + ")"));
        written.push_back(p);
      }
    }
    for (const auto& [name, r] : R.inputs()) {
      if (text_model_) break;
      // "x", or "x.positive" / "x.negative" in contrastive mode
      const std::string in_name = name.substr(0, name.find('.'));
      const std::string suffix = name.size() > in_name.size() ? name.substr(in_name.size()) : "";
      const auto it = item.inputs.find(in_name);
      const bool image = r.dim() == 4 || r.dim() == 3;
      if (a_.heatmap || a_.overlay) {
        if (!image)
          throw ShapeError("--heatmap: the relevance of input '" + in_name + "' is " + r.str_shape() +
                           ", not an image (N, C, H, W)");
        viz::HeatmapOptions ho;
        ho.cmap = a_.cmap;
        ho.level = a_.level;
        ho.normalization = viz::parse_normalization(a_.norm);
        const std::int64_t side = std::min(r.shape()[r.dim() - 1], r.shape()[r.dim() - 2]);
        ho.scale = a_.scale > 0 ? a_.scale : side >= 128 ? 1 : static_cast<int>((128 + side - 1) / side);
        const std::string tag = R.inputs().size() > (composite_.contrastive ? 2u : 1u) ? "." + in_name : "";
        // A batch in one file: each sample normalised on its own, side by side in a grid.
        const std::int64_t n = r.dim() == 4 ? r.shape()[0] : 1;
        auto per_sample = [&](auto&& draw) {
          std::vector<viz::Image> cells;
          for (std::int64_t k = 0; k < n; ++k) cells.push_back(draw(n == 1 ? r : r.slice(0, k, k + 1), k));
          return n == 1 ? cells[0] : viz::grid(cells, 0, 4);
        };
        if (a_.heatmap) {
          const std::string p = b + tag + suffix + ".png";
          viz::write_png(p, per_sample([&](const Tensor& rk, std::int64_t) { return viz::heatmap(rk, ho); }));
          written.push_back(p);
        }
        if (a_.overlay) {
          const std::string p = b + tag + suffix + ".overlay.png";
          viz::write_png(p, per_sample([&](const Tensor& rk, std::int64_t k) {
            const viz::Image pic = item.picture ? *item.picture
                                                : viz::tensor_to_image(n == 1 ? it->second : it->second.slice(0, k, k + 1));
            return viz::overlay(rk, pic, ho);
          }));
          written.push_back(p);
        }
      }
      if (!feature_names_.empty()) {
        if (r.numel() != static_cast<std::int64_t>(feature_names_.size()))
          throw ShapeError("--features: the relevance of input '" + in_name + "' has " + std::to_string(r.numel()) +
                           " values but '" + a_.features + "' names " + std::to_string(feature_names_.size()));
        const Tensor* values = it != item.inputs.end() ? &it->second : nullptr;
        const std::string p = b + suffix + ".features";
        viz::write_text_file(p + ".csv", feature_csv(feature_names_, r, values));
        viz::BarChartOptions bo;
        bo.title = "relevance of each feature (" + composite_.name() + ")";
        bo.max_bars = 20;
        viz::write_png(p + ".png", viz::bar_chart(feature_bars(feature_names_, r, values), bo));
        written.push_back(p + ".csv");
        written.push_back(p + ".png");
      }
    }
    if (a_.summary) {
      viz::write_text_file(b + ".layers.csv", layers_csv(R));
      viz::write_png(b + ".layers.png", layers_chart(R, "relevance per node (" + composite_.name() + ")"));
      written.push_back(b + ".layers.csv");
      written.push_back(b + ".layers.png");
    }
    // The result file last: a run stopped half-way redoes this input when resumed.
    save_safetensors(out, result, {{"composite", composite_.name()}, {"producer", "relprop " RELPROP_VERSION}});
    written.insert(written.begin(), out.string());
    return written;
  }

  const std::vector<std::string>& feature_names() const { return feature_names_; }

 private:
  const ExplainArgs& a_;
  Graph graph_;
  Composite composite_;
  SeedForm form_ = SeedForm::Value;
  double multiplier_ = 1.0;
  std::size_t out_index_ = 0;
  PropagateOptions popts_;
  std::vector<std::string> feature_names_;
  viz::Preprocess pre_;
  bool text_model_ = false, hf_vision_ = false, crop_given_ = false;
  std::vector<double> hf_mean_, hf_std_;
  std::string head_;
  std::vector<std::string> labels_;
  mutable std::unique_ptr<text::Tokenizer> tok_;
};

void print_single(const ExplainArgs& a, const Explainer& ex, const Item& item, const Explainer::Result& res,
                  const std::vector<std::string>& written, std::ostream& out, bool color) {
  const Graph& graph = ex.graph();
  std::string targets;
  for (std::size_t i = 0; i < res.targets.size() && i < 8; ++i) targets += (i ? ", " : "") + std::to_string(res.targets[i]);
  if (res.targets.size() > 8) targets += ", ...";
  out << "model     " << (a.model.empty() ? a.graph : a.model) << " (" << graph.nodes().size() << " nodes"
      << (graph.folded().empty() ? "" : ", " + std::to_string(graph.folded().size()) + " batch norms folded") << ")\n";
  out << "output    " << graph.outputs()[ex.out_index()] << " " << describe(res.y) << "\n";
  if (ex.embedding_head())
    out << "target    " << (a.compare.empty() ? "the embedding's length |e|" : "cosine similarity to \"" + a.compare + "\"")
        << " = " << fmt_fixed(sum_all(res.seed), 4) << "\n";
  else if (!a.targets.empty())
    out << "target    " << targets << " (their sum)\n";
  else if (a.task == "classification")
    out << "target    " << targets << (a.target ? "" : " (arg-max)")
        << (res.targets.size() == 1 && static_cast<std::size_t>(res.targets[0]) < ex.labels().size()
                ? " = " + ex.labels()[res.targets[0]]
            : res.targets.size() == 1 && ex.head() == "next_token_logits"
                ? " = next token '" + ex.tokenizer().id_to_token(res.targets[0]) + "'"
                : "")
        << "\n";
  else out << "task      " << a.task << ", seed sum " << fmt_fixed(sum_all(res.seed)) << "\n";
  out << "seed      " << (ex.form() == SeedForm::Value ? "value" : "one-hot") << " x " << ex.multiplier()
      << ", composite " << ex.composite().name() << "\n";
  RelevanceMap R = res.R;
  R.rescale(a.scaler, a.max_unit);
  if (!item.tokens.empty()) {
    for (const auto& [name, r] : R.inputs()) {
      if (name.rfind("input_ids", 0) != 0) continue;
      const auto v = r.to_vector_f64();
      out << "token relevance" << name.substr(9) << " (sum " << fmt_fixed(sum_all(r), 4) << ")\n";
      if (color) out << "  " << viz::tokens_ansi(item.tokens, v) << "\n";
      for (std::size_t i = 0; i < item.tokens.size() && i < v.size(); ++i) {
        // Byte-level BPE marks a leading space with "Ġ": shown as the space itself.
        std::string shown = item.tokens[i];
        if (shown.rfind("\xC4\xA0", 0) == 0) shown = " " + shown.substr(2);
        out << "  " << std::left << std::setw(16) << shown << std::right << std::setw(10) << fmt_fixed(v[i], 4) << "\n";
      }
    }
  } else {
    out << "input relevance\n";
    for (const auto& [name, r] : R.inputs()) out << "  " << name << "  " << describe(r) << "\n";
  }
  if (!ex.feature_names().empty()) {
    for (const auto& [name, r] : R.inputs()) {
      if (r.numel() != static_cast<std::int64_t>(ex.feature_names().size())) continue;
      auto bars = feature_bars(ex.feature_names(), r, nullptr);
      std::stable_sort(bars.begin(), bars.end(), [](auto& p, auto& q) { return std::abs(p.value) > std::abs(q.value); });
      out << "top features of " << name << "\n";
      for (std::size_t k = 0; k < bars.size() && k < 5; ++k)
        out << "  " << std::left << std::setw(28) << bars[k].label << std::right << std::setw(10)
            << fmt_fixed(bars[k].value, 4) << "\n";
    }
  }
  out << "conservation (sum of relevance per node)\n";
  std::size_t w = 4, wr = 8, wo = 6;
  for (const auto& rep : R.report()) {
    w = std::max(w, rep.name.size());
    wr = std::max(wr, rep.rule.size());
    wo = std::max(wo, rep.op.size());
  }
  for (const auto& rep : R.report())
    out << "  " << std::left << std::setw(static_cast<int>(w)) << rep.name << "  " << std::setw(static_cast<int>(wo + 2))
        << rep.op << std::setw(static_cast<int>(wr)) << rep.rule << " out " << std::right << std::setw(10)
        << fmt_fixed(rep.relevance_out) << "  in " << std::setw(10) << fmt_fixed(rep.relevance_in) << "  absorbed "
        << fmt_fixed(100.0 * rep.absorbed_share(), 1) << "%\n"
        << std::left;
  for (const auto& p : written) out << "wrote     " << p << "\n";
}

// ---- many inputs ----------------------------------------------------------------------

std::vector<fs::path> list_inputs(const fs::path& spec) {
  std::vector<fs::path> files;
  if (fs::is_directory(spec)) {
    for (const auto& e : fs::directory_iterator(spec)) {
      if (!e.is_regular_file()) continue;
      const auto& p = e.path();
      if (p.extension() == ".safetensors" || is_image_path(p)) files.push_back(p);
    }
    std::sort(files.begin(), files.end());
    if (files.empty()) throw NotFoundError("--input '" + spec.string() + "': no .safetensors or image files in it");
    return files;
  }
  std::ifstream in(spec);
  if (!in) throw IoError("cannot read the input list '" + spec.string() + "'");
  std::string line;
  int lineno = 0;
  while (std::getline(in, line)) {
    ++lineno;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    const auto first = line.find_first_not_of(" \t");
    if (first == std::string::npos || line[first] == '#') continue;
    fs::path p = line.substr(first);
    if (p.is_relative()) p = spec.parent_path() / p;
    if (!fs::is_regular_file(p))
      throw NotFoundError("input list '" + spec.string() + "' line " + std::to_string(lineno) + ": no file '" +
                          p.string() + "'");
    files.push_back(p);
  }
  if (files.empty()) throw NotFoundError("input list '" + spec.string() + "' names no files");
  return files;
}

std::pair<int, int> parse_shard(const std::string& s) {
  const auto slash = s.find('/');
  int i = -1, n = -1;
  try {
    if (slash != std::string::npos) {
      std::size_t used = 0;
      i = std::stoi(s.substr(0, slash), &used);
      if (used != slash) i = -1;
      n = std::stoi(s.substr(slash + 1), &used);
      if (used != s.size() - slash - 1) n = -1;
    }
  } catch (const std::exception&) {
    i = n = -1;
  }
  if (i < 0 || n < 1 || i >= n) throw ValueError("--shard '" + s + "': expected I/N with 0 <= I < N");
  return {i, n};
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

int explain_many(const ExplainArgs& a, std::ostream& out, std::ostream& err) {
  const fs::path spec = a.input;
  std::vector<fs::path> files = list_inputs(spec);
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
  fs::create_directories(dir);
  for (const auto& f : files)
    if (same_file(dir / (f.stem().string() + ".safetensors"), f))
      throw ValueError("--out '" + a.out + "' would overwrite the input '" + f.string() + "'");

  std::vector<fs::path> todo;
  for (const auto& f : files)
    if (!fs::exists(dir / (f.stem().string() + ".safetensors"))) todo.push_back(f);
  const std::size_t skipped = files.size() - todo.size();

  Explainer ex(a);
  const bool show = a.progress && !a.quiet && ::isatty(2);
  Progress progress(todo.size(), show);
  const auto t0 = std::chrono::steady_clock::now();
  std::size_t done = 0;
  const std::size_t bs = static_cast<std::size_t>(std::max(1, a.batch_size));
  progress.step(0);
  for (std::size_t k = 0; k < todo.size();) {
    // A batch: consecutive inputs whose tensors all have batch 1 and the same shapes.
    std::vector<Item> batch;
    batch.push_back(ex.load(todo[k++]));
    auto batchable = [](const Item& it) {
      for (const auto& [n, t] : it.inputs)
        if (t.dim() < 1 || t.shape()[0] != 1) return false;
      return true;
    };
    if (batchable(batch[0]))
      while (batch.size() < bs && k < todo.size()) {
        Item next = ex.load(todo[k]);
        bool same = batchable(next);
        for (const auto& [n, t] : batch[0].inputs) same = same && next.inputs.at(n).shape() == t.shape();
        if (!same) break;
        batch.push_back(std::move(next));
        ++k;
      }
    std::map<std::string, Tensor> inputs;
    const auto B = static_cast<std::int64_t>(batch.size());
    for (const auto& [n, t0_] : batch[0].inputs) {
      if (B == 1) {
        inputs[n] = t0_;
        continue;
      }
      Shape s = t0_.shape();
      s[0] = B;
      Tensor stacked = Tensor::empty(s, t0_.dtype());
      for (std::int64_t b = 0; b < B; ++b) stacked.slice(0, b, b + 1).copy_from(batch[b].inputs.at(n));
      inputs[n] = stacked;
    }
    const auto res = ex.run(inputs);
    for (std::int64_t b = 0; b < B; ++b) {
      const Item& item = batch[b];
      const Tensor y = B == 1 ? res.y : res.y.slice(0, b, b + 1).contiguous();
      const fs::path target = dir / (item.stem + ".safetensors");
      RelevanceMap R = B == 1 ? res.R : res.R.sample(b, B);
      const auto written = ex.write(target, item, y, R);
      if (!show && !a.quiet) {
        out << item.source.filename().string() << ": ";
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
    out << "explained " << done << " input" << (done == 1 ? "" : "s") << (skipped ? " (" + std::to_string(skipped) + " already done, skipped)" : "")
        << " in " << fmt_fixed(secs, 2) << " s" << (a.shard.empty() ? "" : ", shard " + a.shard) << " -> " << a.out
        << "\n";
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
  viz::ColorMap::named(a.cmap);       // unknown names fail before any work
  viz::parse_normalization(a.norm);
  const fs::path in = a.input;
  const bool many = !a.input.empty() && (fs::is_directory(in) || in.extension() == ".txt");
  if (many) return explain_many(a, out, err);
  if (!a.shard.empty()) throw ValueError("--shard applies to a folder or list of inputs");
  for (const auto* given : {&a.graph, &a.weights, &a.input})
    if (!given->empty() && same_file(a.out, *given))
      throw ValueError("--out '" + a.out + "' is one of the input files; refusing to overwrite it");
  Explainer ex(a);
  const Item item = a.text.empty() ? ex.load(in) : ex.load_text(a.text);
  const auto res = ex.run(item.inputs);
  const auto written = ex.write(a.out, item, res.y, res.R);
  const bool color = &out == &std::cout && ::isatty(1);
  if (!a.quiet) print_single(a, ex, item, res, written, out, color);
  return 0;
}

}  // namespace relprop::app
