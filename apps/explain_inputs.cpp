// `relprop explain`: the model it loads and the inputs it reads (apps/explain.hpp).

#include <algorithm>
#include <fstream>
#include <sstream>

#include "apps/explain.hpp"
#include "apps/numbers.hpp"
#include "relprop/config.hpp"
#include "relprop/cuda/context.hpp"
#if RELPROP_HAVE_CUDA
#include "relprop/cuda/linear.hpp"
#endif

namespace relprop::app {

namespace fs = std::filesystem;

namespace {

// A picture is told by its first bytes, whatever its name: a safetensors file (an 8-byte
// header length, then '{') is never one; a known picture signature always is (also the
// formats relprop does not read, so that they are named as such); a file with neither is
// a picture when its name says so (TGA has no signature).
bool is_picture_file(const fs::path& path) {
  std::uint8_t head[32] = {};
  std::size_t n = 0;
  std::error_code ec;
  if (fs::is_regular_file(path, ec)) {
    std::ifstream in(path, std::ios::binary);
    in.read(reinterpret_cast<char*>(head), sizeof head);
    n = static_cast<std::size_t>(std::max<std::streamsize>(0, in.gcount()));
  }
  if (n >= 9 && head[8] == '{') return false;
  if (viz::image_format({head, n}) != viz::ImageFormat::Unknown) return true;
  return is_image_path(path);
}

// The sizes of --model mlp:IN,HIDDEN,...,OUT (none for other names): integers >= 1.
std::vector<std::int64_t> mlp_sizes(const std::string& spec) {
  const auto colon = spec.find(':');
  std::vector<std::int64_t> sizes;
  if (colon != std::string::npos)
    for (auto part : split_list(std::string_view(spec).substr(colon + 1), ','))
      sizes.push_back(parse_integer("--model '" + spec + "': size", part, 1));
  return sizes;
}

// --model NAME or mlp:IN,HIDDEN,...,OUT.
Graph model_graph(const std::string& spec) {
  const auto colon = spec.find(':');
  ModelOptions o;
  o.mlp_sizes = mlp_sizes(spec);
  return build_model(spec.substr(0, colon), o);
}

// The graph checks each layer's input width from the one before; the width each layer of
// an MLP puts out is the one --model gives: layers.{2i}.weight (OUT_i, IN_i), its bias (OUT_i).
void check_mlp_weights(const std::string& spec, const SafetensorsFile& weights) {
  const auto sizes = mlp_sizes(spec);
  for (std::size_t i = 0; i + 1 < sizes.size(); ++i) {
    const std::string layer = "layers." + std::to_string(2 * i);
    const Shape want_w = {sizes[i + 1], sizes[i]}, want_b = {sizes[i + 1]};
    for (const auto& [key, want] : {std::pair{layer + ".weight", want_w}, std::pair{layer + ".bias", want_b}}) {
      if (!weights.contains(key)) continue;  // bind names every missing weight
      const Shape got = weights.get(key).shape();
      if (got != want)
        throw ShapeError("--model '" + spec + "': '" + key + "' is " + shape_str(got) + ", the sizes given make it " +
                         shape_str(want));
    }
  }
}

}  // namespace

ExplainModel load_explain_model(const ExplainArgs& a) {
  ExplainModel m;
  if (a.graph.empty() == a.model.empty()) throw ValueError("give one of --graph and --model");
  if (!a.model.empty() && is_transformer_dir(a.model)) {
    // A Hugging Face folder: the graph, its weights and the tokenizer all come from it.
    if (!a.weights.empty()) throw ValueError("--weights: a model folder brings its own model.safetensors");
    TransformerModel tm = load_transformer(a.model, a.allow_nonfinite);
    m.head = tm.head;
    m.labels = tm.config.labels;
    m.graph = std::move(tm.graph);
    for (const auto& in : m.graph.inputs()) m.text = m.text || in.name == "input_ids";
    m.image_mean = tm.image_mean;
    m.image_std = tm.image_std;
    m.hf_vision = !m.text;
  } else if (a.weights.empty()) {
    throw ValueError("--weights is required (except for a Hugging Face model folder)");
  } else {
    m.graph = a.model.empty() ? Graph::load(a.graph) : model_graph(a.model);
    const SafetensorsFile weights = SafetensorsFile::open(a.weights);  // bound tensors keep the mapping
    if (!a.model.empty()) check_mlp_weights(a.model, weights);
    m.graph.set_allow_nonfinite(a.allow_nonfinite);
    m.graph.bind(weights);
    if (!a.model.empty()) {
      // A checkpoint for a built-in model must be that model's: extra tensors mean another one.
      const auto unused = m.graph.unused_weights(weights);
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
  m.graph.to(a.device == "cuda" ? Device::CUDA : Device::CPU, a.precision == "bf16" ? DType::BF16 : DType::F32);
  return m;
}

InputReader::InputReader(const ExplainArgs& a, const ExplainModel& model) : a_(a), m_(model) {}

const text::Tokenizer& InputReader::tokenizer() const {
  if (!tok_) tok_ = text::load_tokenizer(a_.model);
  return *tok_;
}

Item InputReader::load(const fs::path& path) const {
  const Graph& graph = m_.graph;
  Item item;
  item.source = path;
  item.stem = path.stem().string();
  if (is_picture_file(path)) {
    if (graph.inputs().size() != 1)
      throw ValueError("image input '" + path.string() + "': the graph has " + std::to_string(graph.inputs().size()) +
                       " inputs; give a .safetensors file by input name");
    const GraphInput& gi = graph.inputs()[0];
    if (gi.shape.size() != 4)
      throw ShapeError("image input '" + path.string() + "': the graph input '" + gi.name + "' is " +
                       shape_str(gi.shape) + ", not (N, C, H, W)");
    auto dim = [&](int d) {
      std::int64_t n = 224;
      if (gi.shape[d] > 0) n = gi.shape[d];
      else if (gi.example.size() == 4 && gi.example[d] > 0) n = gi.example[d];
      if (n > viz::kMaxImageSide)
        throw ShapeError("image input '" + path.string() + "': the graph input '" + gi.name + "' is " +
                         shape_str(gi.shape) + ", larger than a picture can be");
      return n;
    };
    const int C = static_cast<int>(dim(1)), H = static_cast<int>(dim(2)), W = static_cast<int>(dim(3));
    viz::Preprocess pre = preprocess(C);
    pre.source = path.string();
    const viz::Image im = viz::read_image(path.string());
    Tensor x = viz::image_to_tensor(im, C, H, W, pre);
    item.picture = viz::tensor_to_image(x, &pre);
    graph.check_input(gi.name, x);
    item.inputs[gi.name] = x;
    return item;
  }
  const SafetensorsFile f = SafetensorsFile::open(path);
  for (const auto& name : f.names()) {
    const Tensor t = f.get(name).contiguous().clone();  // owned: the file closes
    graph.check_input(name, t);  // unknown names and wrong shapes are errors
    if (!a_.allow_nonfinite) check_finite(t, "input '" + path.string() + "': tensor '" + name + "'");
    item.inputs[name] = t;
  }
  if (m_.text) {
    item.inputs = complete_text_inputs(std::move(item.inputs), &graph);
    const Tensor& ids = item.inputs.at("input_ids");
    if (ids.size(0) == 1)
      for (double id : ids.to_vector_f64()) item.tokens.push_back(tokenizer().id_to_token(static_cast<std::int64_t>(id)));
  }
  for (const auto& in : graph.inputs())
    if (!item.inputs.count(in.name))
      throw NotFoundError("the input file '" + path.string() + "' has no tensor '" + in.name +
                          "' (the graph's input " + shape_str(in.shape) + ")");
  return item;
}

Item InputReader::load_text(const std::string& text) const {
  const text::Encoding e = tokenizer().encode(text);
  const auto T = static_cast<std::int64_t>(e.ids.size());
  Item item;
  item.stem = "text";
  item.tokens = e.tokens;
  std::vector<std::int64_t> mask(e.ids.size(), 1);
  item.inputs = complete_text_inputs({{"input_ids", Tensor::from_vector(std::span<const std::int64_t>(e.ids), {1, T})},
                                      {"attention_mask", Tensor::from_vector(std::span<const std::int64_t>(mask), {1, T})},
                                      {"token_type_ids", Tensor::from_vector(std::span<const std::int64_t>(e.type_ids), {1, T})}},
                                     &m_.graph);
  return item;
}

viz::Preprocess InputReader::preprocess(int channels) const {
  viz::Preprocess pre;
  pre.crop_fraction = a_.crop;
  if (channels == 1) {
    pre.mean = {0.0};
    pre.std = {1.0};
  }
  // A Hugging Face vision folder declares its normalisation and resizes straight to the
  // model's size (ViTImageProcessor), unless --crop asks for a crop.
  if (m_.hf_vision) {
    if (m_.image_mean.size() == static_cast<std::size_t>(channels)) pre.mean = m_.image_mean;
    if (m_.image_std.size() == static_cast<std::size_t>(channels)) pre.std = m_.image_std;
    pre.stretch = !a_.crop_given;
  }
  if (!a_.mean.empty()) pre.mean = a_.mean;
  if (!a_.std.empty()) pre.std = a_.std;
  return pre;
}

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
  std::istringstream in(read_regular_file(spec, "the input list"));
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

}  // namespace relprop::app
