#include "relprop/nn/graph_builder.hpp"

namespace relprop::detail {

void GraphBuilder::input(const std::string& name, json shape, json example, const std::string& dtype) {
  json in = {{"name", name}, {"shape", std::move(shape)}};
  if (!dtype.empty()) in["dtype"] = dtype;
  if (!example.is_null()) in["example_shape"] = std::move(example);
  inputs_.push_back(std::move(in));
}

std::string GraphBuilder::add(const std::string& name, const std::string& op, std::vector<std::string> inputs,
                              json params, json attrs) {
  json n = {{"name", name}, {"op", op}, {"inputs", std::move(inputs)}};
  if (!params.empty()) n["params"] = std::move(params);
  if (!attrs.empty()) n["attrs"] = std::move(attrs);
  nodes_.push_back(std::move(n));
  return name;
}

std::string GraphBuilder::linear(const std::string& name, const std::string& in, bool bias, json attrs) {
  json p = {{"weight", name + ".weight"}};
  if (bias) p["bias"] = name + ".bias";
  return add(name, "linear", {in}, std::move(p), std::move(attrs));
}

std::string GraphBuilder::conv2d(const std::string& name, const std::string& in, json attrs, bool bias) {
  json p = {{"weight", name + ".weight"}};
  if (bias) p["bias"] = name + ".bias";
  return add(name, "conv2d", {in}, std::move(p), std::move(attrs));
}

std::string GraphBuilder::batch_norm2d(const std::string& name, const std::string& in, json attrs) {
  return add(name, "batch_norm2d", {in},
             {{"weight", name + ".weight"}, {"bias", name + ".bias"}, {"running_mean", name + ".running_mean"},
              {"running_var", name + ".running_var"}},
             std::move(attrs));
}

std::string GraphBuilder::layer_norm(const std::string& name, const std::string& in, double eps) {
  return add(name, "layer_norm", {in}, {{"weight", name + layer_norm_weight}, {"bias", name + layer_norm_bias}},
             {{"eps", eps}});
}

std::string GraphBuilder::rms_norm(const std::string& name, const std::string& in, double eps) {
  return add(name, "rms_norm", {in}, {{"weight", name + ".weight"}}, {{"eps", eps}});
}

GraphBuilder::json GraphBuilder::document(const std::vector<std::string>& outputs) const {
  return {{"format", "relprop-graph"}, {"version", 1}, {"inputs", inputs_}, {"nodes", nodes_}, {"outputs", outputs}};
}

Graph GraphBuilder::build(const std::vector<std::string>& outputs, const std::string& origin) const {
  return Graph::parse(document(outputs).dump(), origin);
}

}  // namespace relprop::detail
