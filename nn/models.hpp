#pragma once
// Model builders: the graph of a known architecture, its parameters named exactly as
// torchvision's state_dict keys, so a checkpoint saved with safetensors binds as it is.

#include <string>
#include <string_view>
#include <vector>

#include "nn/graph.hpp"

namespace relprop {

struct ModelOptions {
  // MLP only: layer widths, input first (e.g. {784, 512, 512, 10}); names "layers.{i}".
  std::vector<std::int64_t> mlp_sizes;
};

// vgg11, vgg11_bn, vgg16, vgg16_bn, resnet18, resnet50, mlp. Inputs: "x" of shape
// (N, 3, H, W) (any N, H, W; shapes are checked at bind time on 224 x 224) for the CNNs,
// (N, features) for the MLP. The number of classes is whatever the weights hold.
// NotFoundError lists the names.
Graph build_model(std::string_view name, const ModelOptions& options = {});
std::vector<std::string> model_names();

}  // namespace relprop
