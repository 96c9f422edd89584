#pragma once
// GraphBuilder: the model builders' way of writing a graph (nn/models.cpp for the CNNs and
// MLPs, nn/transformers.cpp for the Hugging Face families). Nodes are appended in the
// graph format of nn/graph.hpp, parameters named after the node ("NAME.weight"), and the
// document goes through Graph::parse, so a built model is checked exactly like one read
// from a file. Internal to the library: it speaks nlohmann::json and is not installed.

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "relprop/nn/graph.hpp"

namespace relprop::detail {

class GraphBuilder {
 public:
  using json = nlohmann::json;

  // Declares a graph input: `shape` (-1: any size), the `example` shape bind() checks the
  // graph with (null: none given), and `dtype` (empty: the format's default, F32).
  void input(const std::string& name, json shape, json example = nullptr, const std::string& dtype = "");

  // Appends a node of `op` reading `inputs` (graph inputs or earlier nodes); `params` map
  // roles to weight names, `attrs` are the op's attributes. Returns the node's name, the
  // name of the value it produces.
  std::string add(const std::string& name, const std::string& op, std::vector<std::string> inputs,
                  json params = json::object(), json attrs = json::object());

  // The usual layers, their parameters named NAME.weight, NAME.bias, ...
  std::string linear(const std::string& name, const std::string& in, bool bias = true, json attrs = json::object());
  std::string conv2d(const std::string& name, const std::string& in, json attrs, bool bias);
  // NAME.weight, .bias, .running_mean, .running_var.
  std::string batch_norm2d(const std::string& name, const std::string& in, json attrs = json::object());
  // NAME + layer_norm_weight / layer_norm_bias.
  std::string layer_norm(const std::string& name, const std::string& in, double eps);
  std::string rms_norm(const std::string& name, const std::string& in, double eps);  // NAME.weight
  // Suffixes of layer-norm parameters; old BERT checkpoints (bert-base-uncased) name them
  // ".gamma" / ".beta".
  std::string layer_norm_weight = ".weight", layer_norm_bias = ".bias";

  // The graph document with these outputs (node names).
  json document(const std::vector<std::string>& outputs) const;
  // Graph::parse of the document; `origin` names the model in messages.
  Graph build(const std::vector<std::string>& outputs, const std::string& origin) const;

 private:
  json inputs_ = json::array();
  json nodes_ = json::array();
};

}  // namespace relprop::detail
