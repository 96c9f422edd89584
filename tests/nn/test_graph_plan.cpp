// Shapes before work: Graph::plan infers every node's output shape and bytes from the
// inputs' shapes without running a kernel, and a run that would not fit the memory limit
// is refused naming the node, before anything is allocated.

#include <doctest/doctest.h>

#include <chrono>

#include "relprop/nn/explainer.hpp"
#include "relprop/nn/graph.hpp"
#include "relprop/relevance/tape.hpp"
#include "relprop/tensor/memory.hpp"
#include "reference/oracle.hpp"

using namespace relprop;
namespace o = relprop::oracle;

namespace {

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

struct LimitScope {
  std::uint64_t saved = max_memory_set() ? max_memory() : 0;
  ~LimitScope() { set_max_memory(saved); }
};

// x (1, 3) padded by `pad` on the right, then a relu.
std::string pad_graph(const std::string& pad) {
  return R"({"format": "relprop-graph", "version": 1, "inputs": [{"name": "x", "shape": [1, 3]}],
 "nodes": [{"name": "big", "op": "pad", "inputs": ["x"], "attrs": {"pad": [0, )" +
         pad + R"(]}},
           {"name": "act", "op": "relu", "inputs": ["big"]}], "outputs": ["act"]})";
}

const char* kCnn = R"({"format": "relprop-graph", "version": 1,
 "inputs": [{"name": "x", "shape": [-1, 2, 8, 8]}],
 "nodes": [
   {"name": "conv", "op": "conv2d", "inputs": ["x"], "params": {"weight": "w", "bias": "b"},
    "attrs": {"padding": 1, "stride": 2}},
   {"name": "act", "op": "relu", "inputs": ["conv"]},
   {"name": "padded", "op": "pad", "inputs": ["act"], "attrs": {"pad": [1, 2, 0, 1]}},
   {"name": "pool", "op": "max_pool2d", "inputs": ["padded"], "attrs": {"kernel_size": 2, "ceil_mode": true}},
   {"name": "both", "op": "cat", "inputs": ["pool", "pool"], "attrs": {"dim": 1}},
   {"name": "perm", "op": "permute", "inputs": ["both"], "attrs": {"dims": [0, 2, 3, 1]}},
   {"name": "cut", "op": "slice", "inputs": ["perm"], "attrs": {"dim": 3, "start": 1, "end": 9223372036854775807, "step": 3}},
   {"name": "flat", "op": "flatten", "inputs": ["cut"]},
   {"name": "fc", "op": "linear", "inputs": ["flat"], "params": {"weight": "fw"}}],
 "outputs": ["fc"]})";

Graph cnn() {
  Graph g = Graph::parse(kCnn, "cnn.json");
  g.bind(std::map<std::string, Tensor>{{"w", o::random_tensor({4, 2, 3, 3}, 1)},
                                       {"b", o::random_tensor({4}, 2)},
                                       {"fw", o::random_tensor({5, 3 * 4 * 3}, 3)}});
  return g;
}

std::string resource_error(const std::function<void()>& f) {
  try {
    f();
  } catch (const ResourceError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_SUITE("nn.graph.plan") {
  TEST_CASE("the planned shapes are the shapes the ops make, for every node") {
    const Graph g = cnn();
    for (std::int64_t batch : {1, 3}) {
      const Tensor x = o::random_tensor({batch, 2, 8, 8}, 4);
      const GraphPlan p = g.plan({{"x", x.shape()}});
      REQUIRE(p.shapes.size() == g.nodes().size());
      CHECK(p.shapes[0] == Shape{batch, 4, 4, 4});
      CHECK(p.shapes[2] == Shape{batch, 4, 5, 7});
      CHECK(p.shapes[3] == Shape{batch, 4, 3, 4});
      CHECK(p.shapes[4] == Shape{batch, 8, 3, 4});
      CHECK(p.shapes[5] == Shape{batch, 3, 4, 8});
      CHECK(p.shapes[6] == Shape{batch, 3, 4, 3});
      CHECK(p.shapes[8] == Shape{batch, 5});
      CHECK(p.bytes[0] == static_cast<std::uint64_t>(batch * 64 * 4));
      CHECK(p.bytes[7] == 0);  // flatten: a view
      CHECK(p.input_bytes == static_cast<std::uint64_t>(batch * 128 * 4));
      CHECK(p.peak > p.input_bytes);
      // forward checks each node's output against the plan (a mismatch is a logic_error).
      Tape tape;
      Recording rec(tape);
      const auto y = g.forward({{"x", x}});
      CHECK(y[0].shape() == p.shapes.back());
    }
    // Shapes that do not fit are found by the plan, naming the node.
    try {
      (void)g.plan({{"x", {1, 3, 8, 8}}});
      FAIL("no error");
    } catch (const Error& e) {
      CHECK(contains(e.what(), "input 'x' has shape (1, 3, 8, 8)"));
    }
  }

  TEST_CASE("a pad of 2^31 is refused before any kernel runs, naming the node") {
    LimitScope scope;
    set_max_memory(std::uint64_t{1} << 30);
    Graph g = Graph::parse(pad_graph("2147483648"), "pad.json");
    g.bind(std::map<std::string, Tensor>{});
    const Tensor x = Tensor::from_vector({1.f, -2.f, 3.f}, {1, 3});
    const auto start = std::chrono::steady_clock::now();
    std::string e = resource_error([&] { (void)g.forward({{"x", x}}); });
    CHECK(contains(e, "pad.json: node 'big' (pad, output (1, 2147483651), 8.0 GiB) would bring the run to about"));
    CHECK(contains(e, "that the memory limit (--max-memory) allows"));
    e = resource_error([&] { GraphExplainer(g, ExplainSettings{}).explain({{"x", x}}); });
    CHECK(contains(e, "node 'big' (pad"));
    // Before the fix the op ran: 8 GiB written, seconds. The plan takes microseconds.
    CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(2));
    // Without a limit set, what the machine has: 2^40 floats fit no machine here.
    set_max_memory(0);
    Graph huge = Graph::parse(pad_graph("1099511627776"), "pad.json");
    huge.bind(std::map<std::string, Tensor>{});
    e = resource_error([&] { (void)huge.forward({{"x", x}}); });
    CHECK(contains(e, "node 'big' (pad, output (1, 1099511627779), 4.0 TiB)"));
    CHECK(contains(e, "available"));
    // A pad whose size passes int64 is a shape error, not an overflow.
    Graph over = Graph::parse(pad_graph("9223372036854775807"), "pad.json");
    CHECK_THROWS_WITH_AS(over.bind(std::map<std::string, Tensor>{}), doctest::Contains("the output size overflows"),
                         GraphError);
  }

  TEST_CASE("--max-memory below what the CNN's explanation needs is refused at the node where it passes") {
    LimitScope scope;
    const Graph g = cnn();
    const Tensor x = o::random_tensor({2, 2, 8, 8}, 5);
    const GraphPlan p = g.plan({{"x", x.shape()}});
    set_max_memory(p.peak);  // exactly enough
    ExplainSettings s;
    const Explanation ok = GraphExplainer(g, s).explain({{"x", x}});
    CHECK(ok.relevance.input("x").shape() == x.shape());
    set_max_memory(p.input_bytes + 16);
    const std::string e = resource_error([&] { GraphExplainer(g, s).explain({{"x", x}}); });
    CHECK(contains(e, "cnn.json: node 'conv' (conv2d, output (2, 4, 4, 4), 512 bytes) would bring the run to about"));
    CHECK(contains(e, "more than the 1.0 KiB that the memory limit (--max-memory) allows"));
    // keep_all plans the kept maps too: more than without.
    const GraphPlan kept = g.plan({{"x", x.shape()}}, PlanOptions{.recording = true, .keep_relevance = true, .limit = ~std::uint64_t{0}});
    CHECK(kept.peak > p.peak);
    const GraphPlan plain = g.plan({{"x", x.shape()}}, PlanOptions{.recording = false, .limit = ~std::uint64_t{0}});
    CHECK(plain.peak < p.peak);
  }

  TEST_CASE("attributes whose arithmetic passes 64 bits are refused, not overflowed") {
    const auto run = [](const std::string& op, const std::string& attrs, const Shape& w) {
      const std::string text = R"({"format": "relprop-graph", "version": 1,
 "inputs": [{"name": "x", "shape": [1, 2, 8, 8]}],
 "nodes": [{"name": "n", "op": ")" + op + R"(", "inputs": ["x"], )" +
                               (w.empty() ? std::string() : R"("params": {"weight": "w"}, )") + R"("attrs": )" + attrs +
                               R"(}], "outputs": ["n"]})";
      Graph g = Graph::parse(text, "g.json");
      std::map<std::string, Tensor> weights;
      if (!w.empty()) weights["w"] = o::random_tensor(w, 1);
      g.bind(weights);
      (void)g.plan({{"x", {1, 2, 8, 8}}});
    };
    const Shape w{2, 2, 3, 3};
    CHECK_THROWS_WITH_AS(run("conv2d", R"({"dilation": 4611686018427387904})", w), doctest::Contains("too large"),
                         GraphError);
    CHECK_THROWS_WITH_AS(run("conv2d", R"({"padding": 9223372036854775807})", w), doctest::Contains("too large"),
                         GraphError);
    CHECK_THROWS_WITH_AS(run("conv2d", R"({"groups": 4611686018427387904})", w), doctest::Contains("groups"),
                         GraphError);
    CHECK_THROWS_WITH_AS(run("max_pool2d", R"({"kernel_size": 9223372036854775807, "padding": 4611686018427387903})",
                             {}),
                         doctest::Contains("too large"), GraphError);
    CHECK_THROWS_WITH_AS(run("max_pool2d", R"({"kernel_size": 3, "dilation": 9223372036854775807})", {}),
                         doctest::Contains("too large"), GraphError);
    CHECK_THROWS_AS(run("upsample_nearest2d", R"({"scale_factor": 1e300})", {}), GraphError);
  }

  TEST_CASE("graph.json: a repeated key is a FormatError naming the key and the node") {
    const std::string text = R"({"format": "relprop-graph", "version": 1, "inputs": [{"name": "x", "shape": [1, 3]}],
 "nodes": [{"name": "a", "op": "relu", "inputs": ["x"]},
           {"name": "b", "op": "relu", "op": "sigmoid", "inputs": ["a"]}], "outputs": ["b"]})";
    CHECK_THROWS_WITH_AS(Graph::parse(text, "g.json"),
                         doctest::Contains("g.json: the key \"op\" appears twice in nodes[1]"), FormatError);
    const std::string top = R"({"format": "relprop-graph", "version": 1, "version": 2})";
    CHECK_THROWS_WITH_AS(Graph::parse(top, "g.json"), doctest::Contains("\"version\" appears twice in the top-level"),
                         FormatError);
  }
}
