// The graph format: parsing, binding weights, shape checks, and forward through ops.

#include <doctest/doctest.h>

#include "relprop/nn/graph.hpp"
#include "relprop/ops/activation.hpp"
#include "relprop/ops/conv.hpp"
#include "relprop/ops/elementwise.hpp"
#include "relprop/ops/linear.hpp"
#include "relprop/relevance/engine.hpp"
#include "reference/oracle.hpp"

using namespace relprop;
namespace o = relprop::oracle;

namespace {

const char* kMlp = R"({"format": "relprop-graph", "version": 1,
 "inputs": [{"name": "x", "shape": [-1, 3]}],
 "nodes": [
   {"name": "fc1", "op": "linear", "inputs": ["x"], "params": {"weight": "fc1.weight", "bias": "fc1.bias"}},
   {"name": "act1", "op": "relu", "inputs": ["fc1"]},
   {"name": "res", "op": "add", "inputs": ["act1", "fc1"]},
   {"name": "fc2", "op": "linear", "inputs": ["res"], "params": {"weight": "fc2.weight"}}],
 "outputs": ["fc2"]})";

std::map<std::string, Tensor> mlp_weights() {
  return {{"fc1.weight", o::random_tensor({4, 3}, 1)},
          {"fc1.bias", o::random_tensor({4}, 2)},
          {"fc2.weight", o::random_tensor({2, 4}, 3)}};
}

// The message of the GraphError that parsing (and binding, when weights are given) raises.
std::string graph_error(const std::string& text, const std::map<std::string, Tensor>* weights = nullptr) {
  try {
    Graph g = Graph::parse(text, "g.json");
    if (weights) g.bind(*weights);
  } catch (const GraphError& e) {
    return e.what();
  } catch (const FormatError& e) {
    return std::string("format: ") + e.what();
  }
  return "";
}

std::string with_nodes(const std::string& nodes, const std::string& outputs = R"(["fc1"])") {
  return R"({"format": "relprop-graph", "version": 1, "inputs": [{"name": "x", "shape": [1, 3]}], "nodes": )" +
         nodes + R"(, "outputs": )" + outputs + "}";
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

}  // namespace

TEST_SUITE("nn.graph") {
  TEST_CASE("forward equals the same ops called directly / and records named nodes") {
    Graph g = Graph::parse(kMlp);
    const auto w = mlp_weights();
    g.bind(w);
    const Tensor x = o::random_tensor({2, 3}, 4);
    const Tensor h = linear(x, w.at("fc1.weight"), w.at("fc1.bias"));
    const Tensor ref = linear(add(relu(h), h), w.at("fc2.weight"));
    Tape tape;
    Tensor y;
    {
      Recording rec(tape);
      y = g.forward({{"x", x}})[0];
    }
    CHECK(max_abs_diff(y, ref) == 0.0);
    REQUIRE(tape.size() == 4);
    CHECK(tape.node(0).name == "fc1");
    CHECK(tape.node(2).name == "res");
    CHECK(tape.node(3).op() == OpKind::Linear);
    // The fork at fc1 (read by act1 and res) sums on the way back: conservation holds.
    const RelevanceMap rm = propagate(tape, y, y, Composite::by_name("zero"));
    CHECK(rm.input("x").shape() == Shape{2, 3});
  }

  TEST_CASE("structure errors name the node") {
    CHECK(contains(graph_error(with_nodes(R"([{"name": "fc1", "op": "conv9", "inputs": ["x"]}])")),
                   "node 'fc1': unknown op 'conv9'"));
    CHECK(contains(graph_error(with_nodes(R"([{"name": "fc1", "op": "relu", "inputs": ["later"]}])")),
                   "node 'fc1': input 'later' is used before it is defined"));
    CHECK(contains(graph_error(with_nodes(R"([{"name": "fc1", "op": "relu", "inputs": ["fc1"]}])")),
                   "used before it is defined"));
    CHECK(contains(graph_error(with_nodes(R"([{"name": "x", "op": "relu", "inputs": ["x"]}])", R"(["x"])")),
                   "already defined"));
    CHECK(contains(graph_error(with_nodes(R"([{"name": "fc1", "op": "linear", "inputs": ["x"]}])")),
                   "needs the parameter 'weight'"));
    CHECK(contains(graph_error(with_nodes(R"([{"name": "fc1", "op": "add", "inputs": ["x", "x", "x"]}])")),
                   "takes 1 to 2 inputs, got 3"));
    const std::map<std::string, Tensor> none;
    CHECK(contains(graph_error(with_nodes(R"([{"name": "fc1", "op": "add", "inputs": ["x"]}])"), &none),
                   "give two inputs, or one input and the parameter 'other'"));
    CHECK(contains(graph_error(with_nodes(R"([{"name": "fc1", "op": "relu", "inputs": ["x"], "attrs": {"dim": 1}}])")),
                   "node 'fc1': op 'relu' has no attribute 'dim'"));
    CHECK(contains(graph_error(with_nodes(R"([{"name": "fc1", "op": "relu", "inputs": ["x"], "colour": 1}])")),
                   "unknown key 'colour'"));
    CHECK(contains(graph_error(with_nodes(R"([{"name": "fc1", "op": "relu", "inputs": ["x"]}])", R"(["nope"])")),
                   "is not an input or node"));
    CHECK(contains(graph_error(R"({"format": "onnx", "version": 1})"), "\"format\" must be"));
    CHECK(contains(graph_error(R"({"format": "relprop-graph", "version": 2})"), "\"version\" must be 1"));
    CHECK(contains(graph_error("{not json"), "format: "));
    CHECK(contains(graph_error("[1, 2]"), "must be a JSON object"));
  }

  TEST_CASE("binding errors: missing weight / weight of the wrong shape / wrong dtype") {
    auto w = mlp_weights();
    w.erase("fc1.bias");
    CHECK(contains(graph_error(kMlp, &w), "node 'fc1': weight 'fc1.bias' (bias) is not in"));
    w = mlp_weights();
    w["fc2.weight"] = o::random_tensor({2, 5}, 9);
    const std::string m = graph_error(kMlp, &w);
    CHECK(contains(m, "node 'fc2' (linear)"));
    CHECK(contains(m, "(2, 5)"));
    w = mlp_weights();
    w["fc1.bias"] = Tensor::zeros({4}, DType::I64);
    CHECK(contains(graph_error(kMlp, &w), "must be floating point"));
  }

  TEST_CASE("inputs are checked against the declared shapes (-1: any size)") {
    Graph g = Graph::parse(kMlp);
    g.bind(mlp_weights());
    CHECK_NOTHROW(g.forward({{"x", o::random_tensor({5, 3}, 1)}}));
    CHECK_THROWS_AS(g.forward({{"x", o::random_tensor({5, 4}, 1)}}), ShapeError);
    CHECK_THROWS_AS(g.forward({{"y", o::random_tensor({5, 3}, 1)}}), NotFoundError);
    CHECK_THROWS_AS(g.forward({}), NotFoundError);
    Graph unbound = Graph::parse(kMlp);
    CHECK_THROWS_AS(unbound.forward({{"x", o::random_tensor({5, 3}, 1)}}), GraphError);
  }

  TEST_CASE("conv2d and conv1d from the graph with PyTorch's attribute names") {
    const std::string text = R"({"format": "relprop-graph", "version": 1,
      "inputs": [{"name": "img", "shape": [-1, 3, 8, 8]}],
      "nodes": [
        {"name": "c1", "op": "conv2d", "inputs": ["img"], "params": {"weight": "c1.w", "bias": "c1.b"},
         "attrs": {"stride": [2, 1], "padding": 1, "dilation": 1, "groups": 1, "padding_mode": "zeros"}},
        {"name": "c2", "op": "conv2d", "inputs": ["c1"], "params": {"weight": "c2.w"},
         "attrs": {"padding": "same", "groups": 4}}],
      "outputs": ["c2"]})";
    Graph g = Graph::parse(text);
    const std::map<std::string, Tensor> w = {{"c1.w", o::random_tensor({4, 3, 3, 3}, 1)},
                                             {"c1.b", o::random_tensor({4}, 2)},
                                             {"c2.w", o::random_tensor({4, 1, 3, 3}, 3)}};
    g.bind(w);
    const Tensor x = o::random_tensor({2, 3, 8, 8}, 4);
    const Tensor y = g.forward({{"img", x}})[0];
    const Tensor ref = conv2d(conv2d(x, w.at("c1.w"), w.at("c1.b"), {{2, 1}, {1, 1}, {1, 1}, 1}), w.at("c2.w"), {},
                              {{1, 1}, {1, 1}, {1, 1}, 4});
    CHECK(y.shape() == Shape{2, 4, 4, 8});
    CHECK(max_abs_diff(y, ref) == 0.0);
    auto bad = w;
    bad["c2.w"] = o::random_tensor({4, 2, 3, 3}, 5);
    CHECK(contains(graph_error(text, &bad), "node 'c2' (conv2d)"));
    CHECK(contains(graph_error(with_nodes(R"([{"name": "fc1", "op": "conv2d", "inputs": ["x"], "params": {"weight": "c1.w"},
                                               "attrs": {"padding": "reflect"}}])"),
                               &w),
                   "padding must be"));
  }

  TEST_CASE("the worked example's graph file loads and binds") {
    Graph g = Graph::load(std::string(RELPROP_SOURCE_DIR) + "/examples/worked/graph.json");
    CHECK(g.nodes().size() == 2);
    CHECK(g.outputs() == std::vector<std::string>{"act"});
    CHECK_THROWS_AS(Graph::load("/nonexistent/graph.json"), IoError);
  }
}
