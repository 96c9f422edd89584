// Device plumbing: GPU tensors (allocation, copies both ways, strided copies, dtype
// conversion, fills, the caching allocator), Graph::to, the engine on the GPU, the
// GraphExplainer (eager and CUDA-Graph replay), and the CLI's --device. What can be checked
// without a GPU (clear errors, CPU behaviour of the new APIs) runs everywhere.

#include <doctest/doctest.h>

#include <filesystem>
#include <sstream>

#include "apps/cli.hpp"
#include "relprop/cuda/context.hpp"
#include "cuda/parity.hpp"
#include "relprop/io/safetensors.hpp"
#include "relprop/nn/explainer.hpp"
#include "relprop/nn/graph.hpp"
#include "relprop/nn/models.hpp"
#include "relprop/nn/transformers.hpp"
#include "relprop/ops/activation.hpp"
#include "relprop/ops/linear.hpp"
#include "reference/fixtures.hpp"
#include "reference/oracle.hpp"
#include "relprop/relevance/engine.hpp"
#include "relprop/relevance/seed.hpp"
#include "relprop/tensor/device.hpp"

using namespace relprop;
namespace fs = std::filesystem;

namespace {

using test::small_mlp;

// small_mlp's weights rounded to bfloat16 (and back to float32), bound as float32.
Graph small_mlp_rounded() {
  ModelOptions o;
  o.mlp_sizes = {6, 5, 3};
  Graph g = build_model("mlp", o);
  auto r = [](const Tensor& t) { return t.to(DType::BF16).to(DType::F32); };
  g.bind(std::map<std::string, Tensor>{{"layers.0.weight", r(oracle::random_tensor({5, 6}, 1))},
                                       {"layers.0.bias", r(oracle::random_tensor({5}, 2))},
                                       {"layers.2.weight", r(oracle::random_tensor({3, 5}, 3))},
                                       {"layers.2.bias", r(oracle::random_tensor({3}, 4))}});
  return g;
}

// Input relevance of `g` for x under `composite` (arg-max value seed).
Tensor explain(const Graph& g, const Tensor& x, const char* composite) {
  Tape tape;
  Tensor y;
  {
    Recording rec(tape);
    y = g.forward({{"x", x}})[0];
  }
  return propagate(tape, y, classification_seed(y, std::nullopt, SeedForm::Value, 1.0).seed,
                   Composite::by_name(composite))
      .input("x");
}

int cli(std::vector<std::string> args, std::string& err) {
  args.insert(args.begin(), "relprop");
  std::vector<const char*> argv;
  for (const auto& a : args) argv.push_back(a.c_str());
  std::ostringstream out, e;
  const int status = run_cli(static_cast<int>(argv.size()), argv.data(), out, e);
  err = e.str();
  return status;
}

}  // namespace

TEST_SUITE("cuda.device") {
  TEST_CASE("without a GPU, device tensors are a clear UnsupportedError") {
    if (cuda::device_count() > 0) return;
    CHECK_THROWS_AS(Tensor::empty({2, 3}, DType::F32, Device::CUDA), UnsupportedError);
    CHECK_THROWS_AS(oracle::random_tensor({2, 3}, 1).to(Device::CUDA), UnsupportedError);
    Graph g = small_mlp();
    CHECK_THROWS_AS(g.to(Device::CUDA), UnsupportedError);
    CHECK(g.device() == Device::CPU);  // unchanged after the failed move
    CHECK(g.forward({{"x", oracle::random_tensor({1, 6}, 5)}})[0].shape() == Shape{1, 3});
  }

  TEST_CASE("Graph::to needs bound weights; to(CPU) on the CPU changes nothing") {
    Graph unbound = build_model("resnet18");
    CHECK_THROWS_AS(unbound.to(Device::CPU), GraphError);
    Graph g = small_mlp();
    const Tensor x = oracle::random_tensor({2, 6}, 5);
    const Tensor before = g.forward({{"x", x}})[0];
    g.to(Device::CPU);
    CHECK(max_abs_diff(g.forward({{"x", x}})[0], before) == 0.0);
  }

  TEST_CASE("BF16 / F16 weight storage: float32 results of the rounded model") {
    Graph g = small_mlp();
    g.to(Device::CPU, DType::BF16);
    CHECK(g.weight_dtype() == DType::BF16);
    CHECK(g.device() == Device::CPU);
    const Graph rounded = small_mlp_rounded(), full = small_mlp();
    const Tensor x = oracle::random_tensor({4, 6}, 9);
    for (const char* c : {"epsilon", "epsilon-plus", "backtrace"}) {
      INFO(c);
      const Tensor a = explain(g, x, c), b = explain(rounded, x, c), f = explain(full, x, c);
      CHECK(max_abs_diff(a, b) == 0.0);  // exactly the rounded model
      const double off = parity::rel_diff(a, f);
      CHECK(off > 0.0);  // the rounding shows ...
      CHECK(off < 2e-2);  // ... at bfloat16's 8-bit mantissa
    }
    g.to(Device::CPU, DType::F16);
    CHECK(g.weight_dtype() == DType::F16);
    CHECK(parity::rel_diff(explain(g, x, "epsilon"), explain(full, x, "epsilon")) < 2e-3);
    CHECK_THROWS_AS(g.to(Device::CPU, DType::I64), ValueError);
    // A transformer (embedding, layer norms, attention) runs from bfloat16 weights too.
    const TransformerModel m = load_transformer(fs::path(RELPROP_SOURCE_DIR) / "tests" / "data" / "gpt2_tiny");
    TransformerModel m16 = load_transformer(fs::path(RELPROP_SOURCE_DIR) / "tests" / "data" / "gpt2_tiny");
    m16.graph.to(Device::CPU, DType::BF16);
    const Tensor ids = Tensor::from_vector(std::vector<std::int64_t>{5, 17, 3, 42}, {1, 4});
    const auto in = complete_text_inputs({{"input_ids", ids}}, &m.graph);
    CHECK(parity::rel_diff(m16.graph.forward(in)[0], m.graph.forward(in)[0]) < 5e-2);
  }

  TEST_CASE("PropagateOptions::report off: same maps, zero sums") {
    const Graph g = small_mlp();
    const Tensor x = oracle::random_tensor({2, 6}, 5);
    auto run = [&](bool report) {
      Tape tape;
      Tensor y;
      {
        Recording rec(tape);
        y = g.forward({{"x", x}})[0];
      }
      PropagateOptions o;
      o.report = report;
      return propagate(tape, y, classification_seed(y, std::nullopt, SeedForm::Value, 1.0).seed,
                       Composite::by_name("epsilon"), o);
    };
    const RelevanceMap on = run(true), off = run(false);
    CHECK(max_abs_diff(on.input("x"), off.input("x")) == 0.0);
    REQUIRE(on.report().size() == off.report().size());
    CHECK(on.report().back().relevance_out != 0.0);
    for (const auto& r : off.report()) CHECK(r.relevance_out == 0.0);
    // RelevanceMap::to on the same device shares the maps.
    CHECK(on.to(Device::CPU).input("x").shares_storage_with(on.input("x")));
  }

  TEST_CASE("GraphExplainer on the CPU equals forward + seed + propagate") {
    const Graph g = small_mlp();
    ExplainSettings s;
    s.composite = Composite::by_name("epsilon-plus");
    GraphExplainer ex(g, s);
    for (int call = 0; call < 3; ++call) {
      const Tensor x = oracle::random_tensor({3, 6}, 10 + call);
      const Explanation e = ex.explain({{"x", x}});
      CHECK_FALSE(ex.replaying());
      Tape tape;
      Tensor y;
      {
        Recording rec(tape);
        y = g.forward({{"x", x}})[0];
      }
      const auto seed = classification_seed(y, std::nullopt, SeedForm::Value, 1.0);
      const RelevanceMap R = propagate(tape, y, seed.seed, s.composite);
      CHECK(e.targets == seed.targets);
      CHECK(max_abs_diff(e.relevance.input("x"), R.input("x")) == 0.0);
      CHECK(max_abs_diff(e.output, y) == 0.0);
    }
    ExplainSettings bad = s;
    bad.seed.target = 7;
    GraphExplainer ex2(g, bad);
    CHECK_THROWS_AS(ex2.explain({{"x", oracle::random_tensor({1, 6}, 3)}}), IndexError);
    CHECK_THROWS_AS(GraphExplainer(build_model("resnet18"), s), GraphError);
  }

  TEST_CASE("the CLI's --device: a bad name and a missing GPU are one-line errors") {
    const std::string dir = std::string(RELPROP_SOURCE_DIR) + "/examples/worked/";
    const fs::path out = fs::temp_directory_path() / "relprop_test_device_out.safetensors";
    fs::remove(out);
    std::vector<std::string> args{"explain", "--graph", dir + "graph.json", "--weights", dir + "weights.safetensors",
                                  "--input", dir + "input.safetensors", "--out", out.string(), "--quiet"};
    std::string err;
    auto bad = args;
    bad.insert(bad.end(), {"--device", "tpu"});
    CHECK(cli(bad, err) != 0);
    CHECK(err.find("--device must be 'cpu' or 'cuda'") != std::string::npos);
    auto prec = args;
    prec.insert(prec.end(), {"--precision", "fp16"});
    CHECK(cli(prec, err) != 0);
    CHECK(err.find("--precision must be fp32, tf32 or bf16") != std::string::npos);
    auto tf = args;
    tf.insert(tf.end(), {"--precision", "tf32"});
    CHECK(cli(tf, err) != 0);
    CHECK(err.find("--precision tf32 needs --device cuda") != std::string::npos);
    CHECK_FALSE(fs::exists(out));
    // bfloat16 weights on the CPU: the worked example's relevance within bfloat16's rounding.
    REQUIRE(cli(args, err) == 0);
    const Tensor r32 = SafetensorsFile::open(out).get("x").clone();
    auto bf = args;
    bf.insert(bf.end(), {"--precision", "bf16"});
    REQUIRE(cli(bf, err) == 0);
    const Tensor r16 = SafetensorsFile::open(out).get("x").clone();
    CHECK(parity::rel_diff(r16, r32) < 2e-2);
    fs::remove(out);
    if (cuda::device_count() == 0) {
      auto gpu = args;
      gpu.insert(gpu.end(), {"--device", "cuda"});
      CHECK(cli(gpu, err) != 0);
      CHECK(err.find("--device cuda") != std::string::npos);
      CHECK_FALSE(fs::exists(out));  // nothing written
    }
  }

  // ---- with a GPU -------------------------------------------------------------------

  TEST_CASE("GPU tensors: round trips, strided copies, conversions, fills, the cache") {
    if (!parity::have_gpu()) return;
    const Tensor a = oracle::random_tensor({3, 4, 5}, 1);
    const Tensor g = a.to(Device::CUDA);
    CHECK(g.device() == Device::CUDA);
    CHECK(max_abs_diff(g.to(Device::CPU), a) == 0.0);
    // Views on the device, made contiguous there.
    CHECK(max_abs_diff(g.permute({2, 0, 1}).contiguous().to(Device::CPU), a.permute({2, 0, 1}).contiguous()) == 0.0);
    CHECK(max_abs_diff(g.slice(1, 1, 4, 2).contiguous().to(Device::CPU), a.slice(1, 1, 4, 2).contiguous()) == 0.0);
    CHECK(max_abs_diff(g.slice(2, 0, 1).expand({3, 4, 6}).contiguous().to(Device::CPU),
                       a.slice(2, 0, 1).expand({3, 4, 6}).contiguous()) == 0.0);
    // Host -> strided device destination, device -> strided host destination.
    Tensor gd = Tensor::zeros({5, 3, 4}, DType::F32, Device::CUDA);
    gd.permute({1, 2, 0}).copy_from(a);
    CHECK(max_abs_diff(gd.to(Device::CPU), a.permute({2, 0, 1}).contiguous()) == 0.0);
    Tensor hd = Tensor::zeros({5, 3, 4});
    hd.permute({1, 2, 0}).copy_from(g);
    CHECK(max_abs_diff(hd, a.permute({2, 0, 1}).contiguous()) == 0.0);
    // Conversions on the device.
    for (DType dt : {DType::F64, DType::F16, DType::BF16}) {
      const Tensor c = g.to(dt);
      CHECK(c.device() == Device::CUDA);
      CHECK(max_abs_diff(c.to(Device::CPU), a.to(dt)) == 0.0);
      CHECK(max_abs_diff(c.to(DType::F32).to(Device::CPU), a.to(dt).to(DType::F32)) == 0.0);
    }
    const Tensor ids = Tensor::from_vector(std::vector<std::int64_t>{3, -1, 7}, {3}).to(Device::CUDA);
    CHECK(ids.to(Device::CPU).to_vector_f64() == std::vector<double>{3, -1, 7});
    Tensor f = Tensor::full({4, 6}, 2.5, DType::F32, Device::CUDA);
    f.slice(1, 0, 6, 2).fill(-1.0);
    const auto fv = f.to_vector();
    CHECK(fv[0] == -1.0f);
    CHECK(fv[1] == 2.5f);
    CHECK(Tensor::zeros({7}, DType::F32, Device::CUDA).to_vector() == std::vector<float>(7, 0.0f));
    CHECK(sum_all(g) == doctest::Approx(sum_all(a)).epsilon(1e-12));
    // The cache: a freed block of the same size is handed out again, no new memory.
    { Tensor t = Tensor::empty({1 << 20}, DType::F32, Device::CUDA); }
    const std::size_t held = device::allocated_bytes() + device::cached_bytes();
    for (int i = 0; i < 10; ++i) Tensor t = Tensor::empty({1 << 20}, DType::F32, Device::CUDA);
    CHECK(device::allocated_bytes() + device::cached_bytes() == held);
    // Data access from the host is refused, not a crash.
    CHECK_THROWS_AS(g.data<float>(), UnsupportedError);
    CHECK_THROWS_AS(a.device_data<float>(), UnsupportedError);
  }

  TEST_CASE("a model on the GPU: forward, every composite, the report, mixed devices refused") {
    if (!parity::have_gpu()) return;
    Graph cpu = small_mlp(), gpu = small_mlp();
    gpu.to(Device::CUDA);
    CHECK(gpu.device() == Device::CUDA);
    const Tensor x = oracle::random_tensor({4, 6}, 5);
    for (const char* name : {"epsilon", "epsilon-plus", "epsilon-alpha2-beta1", "backtrace", "gradient-x-input"}) {
      INFO(name);
      auto run = [&](const Graph& g) {
        Tape tape;
        Tensor y;
        {
          Recording rec(tape);
          y = g.forward({{"x", x}})[0];  // host input: moved to the graph's device
        }
        const auto seed = classification_seed(y, std::nullopt, SeedForm::Value, 1.0);
        return std::make_pair(seed.targets, propagate(tape, y, seed.seed, Composite::by_name(name)));
      };
      const auto [tc, rc] = run(cpu);
      const auto [tg, rg] = run(gpu);
      CHECK(tc == tg);
      CHECK(rg.input("x").device() == Device::CUDA);
      CHECK(parity::rel_diff(rg.input("x"), rc.input("x")) <= 1e-5);
      REQUIRE(rg.report().size() == rc.report().size());
      for (std::size_t k = 0; k < rc.report().size(); ++k)
        CHECK(rg.report()[k].relevance_in == doctest::Approx(rc.report()[k].relevance_in).epsilon(1e-5));
    }
    // A GPU input with CPU weights: a ValueError naming both devices.
    const Tensor W = oracle::random_tensor({3, 6}, 1);
    CHECK_THROWS_AS(linear(x.to(Device::CUDA), W, Tensor(), "fc"), ValueError);
  }

  TEST_CASE("BF16 weights on the GPU: the rounded model's float32 results") {
    if (!parity::have_gpu()) return;
    Graph g = small_mlp();
    g.to(Device::CUDA, DType::BF16);
    const Graph rounded = small_mlp_rounded();
    const Tensor x = oracle::random_tensor({4, 6}, 9);
    for (const char* c : {"epsilon", "epsilon-plus", "backtrace"}) {
      INFO(c);
      CHECK(parity::rel_diff(explain(g, x, c), explain(rounded, x, c)) <= 1e-5);
    }
  }

  TEST_CASE("GraphExplainer on the GPU: the captured CUDA Graph replays the eager results") {
    if (!parity::have_gpu()) return;
    Graph g = small_mlp();
    g.to(Device::CUDA);
    ExplainSettings s;
    s.composite = Composite::by_name("epsilon-plus");
    GraphExplainer ex(g, s);
    ExplainSettings eager_s = s;
    eager_s.cuda_graph = false;
    GraphExplainer eager(g, eager_s);
    for (int call = 0; call < 4; ++call) {
      const Tensor x = oracle::random_tensor({2, 6}, 20 + call);
      const Explanation a = ex.explain({{"x", x}}), b = eager.explain({{"x", x}});
      INFO("call " << call);
      CHECK(ex.replaying() == (call >= 1));
      CHECK(a.targets == b.targets);
      CHECK(max_abs_diff(a.relevance.input("x"), b.relevance.input("x")) == 0.0);
      CHECK(max_abs_diff(a.output, b.output) == 0.0);
    }
    // A new shape starts over: eager once, then captured.
    const Explanation c = ex.explain({{"x", oracle::random_tensor({5, 6}, 3)}});
    CHECK_FALSE(ex.replaying());
    CHECK(c.relevance.input("x").shape() == Shape{5, 6});
  }

  TEST_CASE("the CLI with --device cuda writes what the CPU writes") {
    if (!parity::have_gpu()) return;
    const std::string dir = std::string(RELPROP_SOURCE_DIR) + "/examples/worked/";
    const fs::path tmp = fs::temp_directory_path();
    std::string err;
    for (const char* composite : {"backtrace", "epsilon"}) {
      std::vector<Tensor> got;
      for (const char* device : {"cpu", "cuda"}) {
        const fs::path out = tmp / (std::string("relprop_device_") + device + ".safetensors");
        REQUIRE(cli({"explain", "--graph", dir + "graph.json", "--weights", dir + "weights.safetensors", "--input",
                     dir + "input.safetensors", "--out", out.string(), "--composite", composite, "--device", device,
                     "--quiet"},
                    err) == 0);
        const SafetensorsFile f = SafetensorsFile::open(out);
        got.push_back(f.get("x").clone());
      }
      CHECK(parity::rel_diff(got[1], got[0]) <= 1e-5);
    }
  }
}
