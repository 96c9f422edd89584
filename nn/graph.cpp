#include "relprop/nn/graph.hpp"

#include <algorithm>
#include <new>
#include <set>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "relprop/io/mmap.hpp"
#include "relprop/io/safetensors.hpp"
#include "relprop/ops/norm.hpp"
#include "relprop/ops/shape.hpp"
#include "relprop/relevance/tape.hpp"
#include "relprop/tensor/files.hpp"
#include "relprop/tensor/json.hpp"

namespace relprop {

using json = nlohmann::json;

namespace {

[[noreturn]] void fail(const std::string& origin, const std::string& msg) {
  throw GraphError(origin + ": " + msg);
}

std::string node_label(const json& n, std::size_t index) {
  if (n.is_object() && n.contains("name") && n["name"].is_string())
    return "node '" + n["name"].get<std::string>() + "'";
  return "node #" + std::to_string(index);
}

void check_keys(const json& obj, std::initializer_list<const char*> known, const std::string& origin,
                const std::string& where) {
  for (auto it = obj.begin(); it != obj.end(); ++it) {
    bool ok = false;
    for (const char* k : known) ok = ok || it.key() == k;
    if (!ok) {
      std::string list;
      for (const char* k : known) list += (list.empty() ? "" : ", ") + std::string(k);
      fail(origin, where + ": unknown key '" + it.key() + "' (known: " + list + ")");
    }
  }
}

std::string get_string(const json& obj, const char* key, const std::string& origin,
                       const std::string& where) {
  if (!obj.contains(key)) fail(origin, where + ": missing \"" + key + "\"");
  if (!obj[key].is_string() || obj[key].get<std::string>().empty())
    fail(origin, where + ": \"" + key + "\" must be a non-empty string");
  return obj[key].get<std::string>();
}

AttrValue to_attr(const json& v, const std::string& origin, const std::string& where) {
  if (v.is_boolean()) return v.get<bool>();
  if (v.is_number_integer()) return v.get<std::int64_t>();
  if (v.is_number_float()) return v.get<double>();
  if (v.is_string()) return v.get<std::string>();
  if (v.is_array()) {
    bool all_int = true;
    for (const auto& e : v) {
      if (!e.is_number()) fail(origin, where + ": list attributes must hold numbers only");
      all_int = all_int && e.is_number_integer();
    }
    if (all_int) return v.get<std::vector<std::int64_t>>();
    return v.get<std::vector<double>>();
  }
  fail(origin, where + ": attribute values must be numbers, booleans, strings or lists of numbers");
}

Shape declared_to_concrete(const Shape& s) {
  Shape c = s;
  for (auto& d : c)
    if (d < 0) d = 1;
  return c;
}

}  // namespace

namespace {
// No graph nests deeper than a few levels.
constexpr int kMaxJsonDepth = 64;
}  // namespace

Graph Graph::parse(std::string_view text, const std::string& origin) {
  json j;
  try {
    j = parse_json_strict(text, origin, kMaxJsonDepth);
  } catch (const json::exception& e) {
    throw FormatError(origin + ": not valid JSON: " + e.what());
  }
  if (!j.is_object()) fail(origin, "the graph must be a JSON object");
  check_keys(j, {"format", "version", "inputs", "nodes", "outputs", "metadata"}, origin, "graph");
  if (!j.contains("format") || j["format"] != "relprop-graph")
    fail(origin, "\"format\" must be \"relprop-graph\"");
  if (!j.contains("version") || !j["version"].is_number_integer() || j["version"].get<std::int64_t>() != 1)
    fail(origin, "\"version\" must be 1 (the only version this build reads)");

  Graph g;
  g.origin_ = origin;
  std::set<std::string> defined;

  if (!j.contains("inputs") || !j["inputs"].is_array() || j["inputs"].empty())
    fail(origin, "\"inputs\" must be a non-empty list");
  for (std::size_t i = 0; i < j["inputs"].size(); ++i) {
    const json& in = j["inputs"][i];
    const std::string where = "input #" + std::to_string(i);
    if (!in.is_object()) fail(origin, where + " must be an object");
    check_keys(in, {"name", "shape", "dtype", "example_shape"}, origin, where);
    GraphInput gi;
    gi.name = get_string(in, "name", origin, where);
    if (!in.contains("shape") || !in["shape"].is_array())
      fail(origin, "input '" + gi.name + "': \"shape\" must be a list of integers");
    for (const auto& d : in["shape"]) {
      if (!d.is_number_integer() || d.get<std::int64_t>() < -1)
        fail(origin, "input '" + gi.name + "': shape entries must be integers >= 0, or -1 for any size");
      gi.shape.push_back(d.get<std::int64_t>());
    }
    gi.example = declared_to_concrete(gi.shape);
    if (in.contains("example_shape")) {
      Shape ex;
      for (const auto& d : in["example_shape"]) {
        if (!d.is_number_integer() || d.get<std::int64_t>() < 0)
          fail(origin, "input '" + gi.name + "': example_shape entries must be integers >= 0");
        ex.push_back(d.get<std::int64_t>());
      }
      bool fits = ex.size() == gi.shape.size();
      for (std::size_t k = 0; fits && k < ex.size(); ++k) fits = gi.shape[k] < 0 || gi.shape[k] == ex[k];
      if (!fits) fail(origin, "input '" + gi.name + "': example_shape does not fit the declared shape");
      gi.example = ex;
    }
    if (in.contains("dtype") && in["dtype"] != "F32" && in["dtype"] != "I64")
      fail(origin, "input '" + gi.name + "': dtype must be \"F32\" or \"I64\" (token ids, masks)");
    if (!defined.insert(gi.name).second) fail(origin, "input '" + gi.name + "' is declared twice");
    g.inputs_.push_back(std::move(gi));
  }

  if (!j.contains("nodes") || !j["nodes"].is_array()) fail(origin, "\"nodes\" must be a list");
  for (std::size_t i = 0; i < j["nodes"].size(); ++i) {
    const json& n = j["nodes"][i];
    const std::string where = node_label(n, i);
    if (!n.is_object()) fail(origin, where + " must be an object");
    check_keys(n, {"name", "op", "inputs", "params", "attrs"}, origin, where);
    GraphNode gn;
    gn.name = get_string(n, "name", origin, where);
    const std::string op = get_string(n, "op", origin, where);
    const OpSpec* spec = find_op(op);
    if (!spec) fail(origin, where + ": unknown op '" + op + "' (known: " + op_names() + ")");
    gn.op = spec->kind;
    const OpInfo& info = op_info(gn.op);
    if (!n.contains("inputs") || !n["inputs"].is_array())
      fail(origin, where + ": \"inputs\" must be a list of value names");
    for (const auto& in : n["inputs"]) {
      if (!in.is_string()) fail(origin, where + ": input names must be strings");
      const auto name = in.get<std::string>();
      if (!defined.count(name))
        fail(origin, where + ": input '" + name + "' is used before it is defined" +
                         (name == gn.name ? " (a node cannot read its own output)" : ""));
      gn.inputs.push_back(name);
    }
    const int count = static_cast<int>(gn.inputs.size());
    if (count < info.min_inputs || count > info.max_inputs)
      fail(origin, where + ": op '" + op + "' takes " +
                       (info.min_inputs == info.max_inputs
                            ? std::to_string(info.min_inputs)
                            : std::to_string(info.min_inputs) + " to " + std::to_string(info.max_inputs)) +
                       " inputs, got " + std::to_string(count));
    if (n.contains("params")) {
      if (!n["params"].is_object()) fail(origin, where + ": \"params\" must be an object");
      for (auto it = n["params"].begin(); it != n["params"].end(); ++it) {
        bool known = false;
        for (auto r : spec->required_params) known = known || r == it.key();
        for (auto r : spec->optional_params) known = known || r == it.key();
        if (!known) fail(origin, where + ": op '" + op + "' has no parameter '" + it.key() + "'");
        if (!it.value().is_string()) fail(origin, where + ": param '" + it.key() + "' must name a weight");
        gn.params[it.key()] = it.value().get<std::string>();
      }
    }
    for (auto r : spec->required_params)
      if (!gn.params.count(std::string(r)))
        fail(origin, where + ": op '" + op + "' needs the parameter '" + std::string(r) + "'");
    if (n.contains("attrs")) {
      if (!n["attrs"].is_object()) fail(origin, where + ": \"attrs\" must be an object");
      std::map<std::string, AttrValue> attrs;
      for (auto it = n["attrs"].begin(); it != n["attrs"].end(); ++it)
        attrs[it.key()] = to_attr(it.value(), origin, where + ", attribute '" + it.key() + "'");
      gn.attrs = Attrs(std::move(attrs));
    }
    try {
      gn.attrs.check_known(gn.name, op, spec->attrs);
    } catch (const ValueError& e) {
      fail(origin, e.what());
    }
    if (!defined.insert(gn.name).second)
      fail(origin, where + ": the name '" + gn.name + "' is already defined");
    g.nodes_.push_back(std::move(gn));
  }

  if (!j.contains("outputs") || !j["outputs"].is_array() || j["outputs"].empty())
    fail(origin, "\"outputs\" must be a non-empty list of value names");
  for (const auto& o : j["outputs"]) {
    if (!o.is_string() || !defined.count(o.get<std::string>()))
      fail(origin, "output " + o.dump() + " is not an input or node of the graph");
    g.outputs_.push_back(o.get<std::string>());
  }
  g.params_.resize(g.nodes_.size());
  return g;
}

Graph Graph::load(const std::filesystem::path& path) {
  return parse(read_regular_file(path, "graph file"), path.string());
}

template <class Lookup>
void Graph::bind_with(Lookup&& lookup, const std::string& source) {
  std::vector<std::map<std::string, Tensor>> params(nodes_.size());
  std::map<std::string, Shape> shapes;
  for (const auto& in : inputs_) shapes[in.name] = in.example;
  // Every missing weight at once: a wrong checkpoint usually misses many.
  std::vector<std::string> missing;
  for (const auto& n : nodes_)
    for (const auto& [role, key] : n.params)
      if (!lookup(key).defined()) missing.push_back("'" + key + "' (" + n.name + ")");
  if (missing.size() > 1) {
    std::string list;
    for (std::size_t k = 0; k < missing.size() && k < 20; ++k) list += (k ? ", " : "") + missing[k];
    if (missing.size() > 20) list += ", ... (" + std::to_string(missing.size()) + " in all)";
    fail(origin_, std::to_string(missing.size()) + " weights are not in " + source + ": " + list);
  }
  std::set<std::string> checked;  // weights read for NaN and infinity (a shared one once)
  for (std::size_t i = 0; i < nodes_.size(); ++i) {
    const GraphNode& n = nodes_[i];
    const OpSpec& spec = op_spec(n.op);
    std::map<std::string, Shape> pshapes;
    for (const auto& [role, key] : n.params) {
      Tensor t = lookup(key);
      if (!t.defined())
        fail(origin_, "node '" + n.name + "': weight '" + key + "' (" + role + ") is not in " + source);
      if (!is_floating(t.dtype()))
        fail(origin_, "node '" + n.name + "': weight '" + key + "' must be floating point, it is " +
                          std::string(dtype_name(t.dtype())));
      if (!allow_nonfinite_ && checked.insert(key).second)
        check_finite(t, origin_ + ": weight '" + key + "' (node '" + n.name + "')");
      // GPT-2's Conv1D and other (in, out) layouts: a linear's weight is transposed once here.
      if (n.op == OpKind::Linear && role == "weight" && n.attrs.has("weight_layout")) {
        const auto& v = n.attrs.values().at("weight_layout");
        const std::string layout = std::holds_alternative<std::string>(v) ? std::get<std::string>(v) : "";
        if (layout == "in_out" && t.dim() == 2) t = t.to(DType::F32).transpose(0, 1).contiguous();
        else if (layout != "out_in")
          fail(origin_, "node '" + n.name + "': weight_layout must be \"out_in\" (PyTorch's nn.Linear) or \"in_out\" "
                        "(GPT-2's Conv1D)");
      }
      pshapes[role] = t.shape();
      params[i][role] = std::move(t);
    }
    std::vector<Shape> ishapes;
    for (const auto& in : n.inputs) ishapes.push_back(shapes.at(in));
    try {
      shapes[n.name] = spec.infer(OpShapeCall{n.name, n.attrs, ishapes, pshapes});
    } catch (const Error& e) {
      fail(origin_, "node '" + n.name + "' (" + std::string(op_name(n.op)) + "): " + e.what());
    }
  }
  params_ = std::move(params);
  folded_.assign(nodes_.size(), 0);
  if (fold_batch_norm_) fold_batch_norms(shapes);
  bound_ = true;
  device_ = Device::CPU;
  weight_dtype_ = DType::F32;
}

void Graph::fold_batch_norms(const std::map<std::string, Shape>& shapes) {
  std::map<std::string, int> readers;
  for (const auto& n : nodes_)
    for (const auto& in : n.inputs) ++readers[in];
  for (const auto& o : outputs_) ++readers[o];
  std::map<std::string, std::size_t> producer;
  for (std::size_t i = 0; i < nodes_.size(); ++i) producer[nodes_[i].name] = i;
  for (std::size_t i = 0; i < nodes_.size(); ++i) {
    const GraphNode& bn = nodes_[i];
    if (bn.op != OpKind::BatchNorm1d && bn.op != OpKind::BatchNorm2d) continue;
    const auto it = producer.find(bn.inputs[0]);
    if (it == producer.end() || readers[bn.inputs[0]] != 1) continue;  // a graph input, or a fork
    const std::size_t p = it->second;
    const OpKind op = nodes_[p].op;
    auto& pp = params_[p];
    // A linear's features are its last dimension and batch norm's channels dimension 1:
    // they line up only for a 2-d linear output (N, features).
    const bool lines_up = op == OpKind::Conv1d || op == OpKind::Conv2d ||
                          (op == OpKind::Linear && shapes.at(nodes_[p].name).size() == 2);
    if (!lines_up) continue;
    auto param = [&](const char* role) {
      auto f = params_[i].find(role);
      return f == params_[i].end() ? Tensor() : f->second;
    };
    Tensor scale, shift;
    batch_norm_affine(param("running_mean"), param("running_var"), param("weight"), param("bias"),
                      bn.attrs.get_float(bn.name, "eps", 1e-5), scale, shift);
    const Tensor w = pp.at("weight").to(DType::F32).contiguous();
    const std::int64_t O = w.size(0), per = w.numel() / O;
    Tensor w2 = Tensor::empty(w.shape()), b2 = Tensor::empty({O});
    const float* wp = w.data<float>();
    const float* sc = scale.data<float>();
    const float* sh = shift.data<float>();
    float* w2p = w2.data<float>();
    const Tensor b = pp.count("bias") ? pp.at("bias").to(DType::F32).contiguous() : Tensor();
    for (std::int64_t o = 0; o < O; ++o) {
      for (std::int64_t k = 0; k < per; ++k) w2p[o * per + k] = wp[o * per + k] * sc[o];
      b2.data<float>()[o] = (b.defined() ? b.data<float>()[o] : 0.0f) * sc[o] + sh[o];
    }
    pp["weight"] = w2;
    pp["bias"] = b2;
    folded_[i] = 1;
  }
}

std::vector<std::string> Graph::weight_names() const {
  std::set<std::string> keys;
  for (const auto& n : nodes_)
    for (const auto& [role, key] : n.params) keys.insert(key);
  return {keys.begin(), keys.end()};
}

std::vector<std::string> Graph::unused_weights(const SafetensorsFile& weights) const {
  const auto used = weight_names();
  std::vector<std::string> unused;
  for (const auto& name : weights.names()) {
    const bool counter = name.size() >= 20 && name.compare(name.size() - 20, 20, ".num_batches_tracked") == 0;
    if (!counter && !std::binary_search(used.begin(), used.end(), name)) unused.push_back(name);
  }
  return unused;
}

std::vector<std::string> Graph::folded() const {
  std::vector<std::string> names;
  for (std::size_t i = 0; i < folded_.size(); ++i)
    if (folded_[i]) names.push_back(nodes_[i].name);
  return names;
}

void Graph::bind(const SafetensorsFile& weights) {
  bind_with([&](const std::string& key) { return weights.contains(key) ? weights.get(key) : Tensor(); },
            "the weights file '" + weights.origin() + "'");
  // Folding gave the layers before folded batch norms new weights: the originals' pages in
  // the mapping (read once by the folding) need not stay resident (ResNet-50: 98 MB).
  std::map<std::string, std::size_t> producer;
  for (std::size_t i = 0; i < nodes_.size(); ++i) producer[nodes_[i].name] = i;
  for (std::size_t i = 0; i < nodes_.size(); ++i) {
    if (!folded_[i]) continue;
    const GraphNode& p = nodes_[producer.at(nodes_[i].inputs[0])];
    for (const char* role : {"weight", "bias"})
      if (const auto it = p.params.find(role); it != p.params.end()) weights.release_pages(it->second);
  }
  weights.check_intact();  // folding read weights from the mapping
}

void Graph::bind(const std::map<std::string, Tensor>& weights) {
  bind_with(
      [&](const std::string& key) {
        auto it = weights.find(key);
        return it == weights.end() ? Tensor() : it->second;
      },
      "the weights");
}

void Graph::check_input(const std::string& name, const Tensor& t) const {
  for (const auto& in : inputs_) {
    if (in.name != name) continue;
    bool ok = t.dim() == static_cast<int>(in.shape.size());
    for (int d = 0; ok && d < t.dim(); ++d) ok = in.shape[d] < 0 || in.shape[d] == t.size(d);
    if (!ok)
      throw ShapeError("input '" + name + "' has shape " + t.str_shape() + ", the graph declares " +
                       shape_str(in.shape) + " (-1: any size)");
    return;
  }
  std::string known;
  for (const auto& in : inputs_) known += (known.empty() ? "" : ", ") + in.name;
  throw NotFoundError("'" + name + "' is not an input of the graph (inputs: " + known + ")");
}

void Graph::to(Device device, DType weights) {
  if (!bound_) throw GraphError(origin_ + ": bind the weights before moving them to a device");
  if (weights != DType::F32 && weights != DType::BF16 && weights != DType::F16)
    throw ValueError(origin_ + ": weights can be stored as F32, BF16 or F16, not " + std::string(dtype_name(weights)));
  if (device == device_ && weights == weight_dtype_) return;
  // Float32 on the CPU keeps the weights as loaded (the kernels convert what is not F32).
  const bool convert = device != Device::CPU || weights != DType::F32;
  // Moved into a copy, kept only when every weight made it (a failed copy, e.g. out of
  // memory, leaves the graph as it was, not half on each device).
  auto moved = params_;
  for (auto& params : moved)
    for (auto& [role, t] : params)
      // Floating weights go over as float32, the dtype every kernel computes in, so no
      // op converts them again on each call.
      // (BF16 / F16: stored rounded, half the memory; every kernel computes in float32 from
      // the rounded values.)
      t = (convert && is_floating(t.dtype()) ? t.to(DType::F32).to(weights) : t).to(device);
  params_ = std::move(moved);
  device_ = device;
  weight_dtype_ = weights;
}

std::vector<Tensor> Graph::forward(const std::map<std::string, Tensor>& inputs) const {
  if (!bound_) throw GraphError(origin_ + ": bind the weights before running the graph");
  for (const auto& [name, t] : inputs) check_input(name, t);
  std::map<std::string, Tensor> values;
  Tape* tape = Tape::current();
  for (const auto& in : inputs_) {
    auto it = inputs.find(in.name);
    if (it == inputs.end()) throw NotFoundError("graph input '" + in.name + "' was not given");
    const Tensor x = it->second.to(device_);
    values[in.name] = tape ? tape->input(x, in.name) : x;
  }
  // Shapes and memory first: nothing runs when they do not fit.
  std::map<std::string, Shape> shapes;
  for (const auto& [name, t] : inputs) shapes[name] = t.shape();
  const GraphPlan planned = plan(shapes, PlanOptions{.recording = tape != nullptr});
  // A value is dropped after its last reader ran, so peak memory follows liveness.
  std::map<std::string, std::size_t> last_use;
  for (std::size_t i = 0; i < nodes_.size(); ++i)
    for (const auto& in : nodes_[i].inputs) last_use[in] = i;
  for (const auto& o : outputs_) last_use[o] = nodes_.size();

  std::vector<Tensor> args;
  for (std::size_t i = 0; i < nodes_.size(); ++i) {
    const GraphNode& n = nodes_[i];
    args.clear();
    for (const auto& in : n.inputs) args.push_back(values.at(in));
    try {
      values[n.name] = folded_[i] ? identity(args[0], n.name, n.op)
                                  : op_spec(n.op).run(OpCall{n.name, n.attrs, args, params_[i]});
    } catch (const GraphError&) {
      throw;
    } catch (const ResourceError& e) {
      throw ResourceError(origin_ + ": node '" + n.name + "' (" + std::string(op_name(n.op)) + "): " + e.what());
    } catch (const Error& e) {
      throw GraphError(origin_ + ": node '" + n.name + "' (" + std::string(op_name(n.op)) + "): " + e.what());
    } catch (const std::bad_alloc&) {
      throw ResourceError(origin_ + ": node '" + n.name + "' (" + std::string(op_name(n.op)) + "): out of memory");
    }
    // The op's shape hook and its kernel must agree, or the plan above was of another run.
    if (values[n.name].shape() != planned.shapes[i])
      throw std::logic_error(origin_ + ": node '" + n.name + "' (" + std::string(op_name(n.op)) + "): the shape hook gave " +
                             shape_str(planned.shapes[i]) + ", the op made " + values[n.name].str_shape());
    for (const auto& in : n.inputs)
      if (last_use[in] == i) values.erase(in);
  }
  // Weights read from a file that shrank meanwhile read as zeros, not a SIGBUS (io/mmap.hpp):
  // such a run is refused.
  MappedFile::check_no_faults();
  std::vector<Tensor> outs;
  for (const auto& o : outputs_) outs.push_back(values.at(o));
  return outs;
}

}  // namespace relprop
