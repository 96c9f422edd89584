// libFuzzer target: arbitrary bytes as graph.json, the graph bound to small weights and
// explained on small inputs. The weights' shapes come from the graph's own metadata,
//   "metadata": {"fuzz": {"weights": {"NAME": [shape], ...}, "composite": "epsilon"}}
// (seeds in tests/fuzz/corpus/graph/), so the mutator reaches the ops and the rules, not
// only the parser. Inputs take the declared shapes, -1 as 2. A relprop::Error is the
// expected answer to a bad graph; any other exception (std::logic_error included: the
// plan's shape and the op's disagree), a crash or a sanitizer report is a bug.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>
#include <omp.h>

#include "relprop/nn/explainer.hpp"
#include "relprop/nn/graph.hpp"
#include "relprop/tensor/memory.hpp"

namespace {

using relprop::Shape;
using relprop::Tensor;

constexpr std::int64_t kMaxElements = 1 << 14;  // per tensor; larger ones are skipped

// Deterministic values in [-1, 1) of `shape`, or an undefined tensor when too large.
Tensor values(const Shape& shape, std::uint32_t seed) {
  std::int64_t n = 1;
  for (const std::int64_t d : shape) {
    if (d < 0 || d > kMaxElements) return Tensor();
    n *= d;
    if (n > kMaxElements) return Tensor();
  }
  if (shape.size() > 6) return Tensor();
  std::vector<float> v(static_cast<std::size_t>(n));
  std::uint32_t s = seed * 2654435761u + 1;
  for (auto& x : v) {
    s = s * 1664525u + 1013904223u;
    x = static_cast<float>(s >> 8) / static_cast<float>(1 << 23) - 1.0f;
  }
  return Tensor::from_vector(v, shape);
}

// The weights and composite the graph's metadata asks for.
struct Extras {
  std::map<std::string, Tensor> weights;
  std::string composite = "epsilon";
};

Extras extras(std::string_view text) {
  Extras e;
  const nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  if (!j.is_object() || !j.contains("metadata") || !j["metadata"].is_object()) return e;
  const auto& m = j["metadata"];
  if (!m.contains("fuzz") || !m["fuzz"].is_object()) return e;
  const auto& f = m["fuzz"];
  if (f.contains("composite") && f["composite"].is_string()) e.composite = f["composite"].get<std::string>();
  if (!f.contains("weights") || !f["weights"].is_object()) return e;
  std::uint32_t seed = 1;
  for (const auto& [name, dims] : f["weights"].items()) {
    if (!dims.is_array()) continue;
    Shape shape;
    bool ok = true;
    for (const auto& d : dims) {
      if (!d.is_number_integer()) ok = false;
      else shape.push_back(d.get<std::int64_t>());
    }
    if (!ok) continue;
    Tensor t = values(shape, seed++);
    if (t.defined()) e.weights[name] = t;
  }
  return e;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  omp_set_num_threads(1);
  // A tape larger than this is refused by the plan (a ResourceError), as a real run would
  // be by --max-memory: the fuzzer explores shapes, not the machine's memory.
  relprop::set_max_memory(std::uint64_t{64} << 20);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  relprop::Graph g;
  try {
    g = relprop::Graph::parse(text, "fuzz.json");
  } catch (const relprop::Error&) {
    return 0;
  }
  const Extras e = extras(text);
  try {
    g.bind(e.weights);
  } catch (const relprop::Error&) {
    return 0;
  }
  std::map<std::string, Tensor> inputs;
  std::uint32_t seed = 100;
  for (const auto& in : g.inputs()) {
    Shape shape = in.shape;
    for (auto& d : shape)
      if (d < 0) d = 2;
    Tensor t = values(shape, seed++);
    if (!t.defined()) return 0;
    inputs[in.name] = t;
  }
  try {
    (void)g.forward(inputs);
  } catch (const relprop::Error&) {
    return 0;
  }
  try {
    relprop::ExplainSettings s;
    s.composite = relprop::Composite::by_name(e.composite);
    relprop::GraphExplainer ex(g, s);
    const relprop::Explanation x = ex.explain(inputs);
    for (const auto& [name, t] : inputs) (void)x.relevance.input(name).to_vector_f64();  // every element read
  } catch (const relprop::Error&) {
  }
  return 0;
}
