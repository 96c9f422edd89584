// The same bits on any thread count and batch size, and from several host threads at
// once. A CNN (the Zennit fixture, and ResNet-18 when exported), a BERT (the tiny LXT
// fixture, and all-MiniLM-L6-v2 when fetched) and a LLaMA (the tiny fixture) are explained
// at 1, 2 and 3 OpenMP threads (on a 2-core machine, 3 is more threads than cores), as a
// batch of 3 and one sample at a time; every result must equal, byte
// for byte, the batch explained on one thread. Then one loaded graph and one Hugging Face
// model are explained from 4 host threads at once, 25 explanations each, each thread with
// its own GraphExplainer (and so its own tape), against the same explanations run one
// after another. scripts/tsan.sh builds this binary under ThreadSanitizer and runs the
// concurrent cases there.

#include <doctest/doctest.h>

#include <cstring>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <thread>
#include <vector>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "reference/oracle.hpp"
#include "relprop/cuda/context.hpp"
#include "relprop/io/safetensors.hpp"
#include "relprop/nn/explainer.hpp"
#include "relprop/nn/graph.hpp"
#include "relprop/nn/models.hpp"
#include "relprop/nn/transformers.hpp"

#if defined(__SANITIZE_THREAD__)
#define RELPROP_TEST_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define RELPROP_TEST_TSAN 1
#endif
#endif
#ifndef RELPROP_TEST_TSAN
#define RELPROP_TEST_TSAN 0
#endif

using namespace relprop;
namespace fs = std::filesystem;

namespace {

const fs::path kData = fs::path(RELPROP_SOURCE_DIR) / "tests" / "data";

using Inputs = std::map<std::string, Tensor>;
// The inputs of samples [first, first + count) of the case's batch.
using Batch = std::function<Inputs(std::int64_t first, std::int64_t count)>;

// OpenMP's thread count for the calling thread, restored on leaving.
class OmpThreads {
 public:
  explicit OmpThreads(int n) {
#ifdef _OPENMP
    saved_ = omp_get_max_threads();
    omp_set_num_threads(n);
#else
    (void)n;
#endif
  }
  ~OmpThreads() {
#ifdef _OPENMP
    omp_set_num_threads(saved_);
#endif
  }
  OmpThreads(const OmpThreads&) = delete;
  OmpThreads& operator=(const OmpThreads&) = delete;

 private:
  int saved_ = 1;
};

std::vector<float> floats(const Tensor& t) {
  const Tensor c = t.contiguous();
  return std::vector<float>(c.data<float>(), c.data<float>() + c.numel());
}

bool same_bits(const std::vector<float>& a, const float* b, std::size_t n) {
  return a.size() == n && (n == 0 || std::memcmp(a.data(), b, n * sizeof(float)) == 0);
}

// The relevance of graph input `input` (and the explained output after it), as floats.
std::vector<float> explain(const Graph& g, const ExplainSettings& s, const Inputs& in, const std::string& input) {
  GraphExplainer e(g, s);
  const Explanation x = e.explain(in);
  std::vector<float> r = floats(x.relevance.input(input));
  const std::vector<float> y = floats(x.output);
  r.insert(r.end(), y.begin(), y.end());
  return r;
}

// Explains `batch` (N samples) under `composite` on 1 thread: the reference. At 1, 2 and 3
// threads, the whole batch and each sample alone must give its bytes. The per-sample
// vectors are laid out as [relevance of every sample | outputs of every sample].
void check_bits(const Graph& g, ExplainSettings s, const Batch& batch, std::int64_t N, const std::string& input,
                const std::string& composite) {
  s.composite = Composite::by_name(composite);
  CAPTURE(composite);
  std::vector<float> ref;
  {
    OmpThreads one(1);
    ref = explain(g, s, batch(0, N), input);
  }
  for (int threads : {1, 2, 3}) {
    CAPTURE(threads);
    OmpThreads t(threads);
    if (threads > 1) CHECK(explain(g, s, batch(0, N), input) == ref);
    for (std::int64_t n = 0; n < N; ++n) {
      CAPTURE(n);
      GraphExplainer e(g, s);
      const Explanation x = e.explain(batch(n, 1));
      const std::vector<float> r = floats(x.relevance.input(input)), y = floats(x.output);
      const std::size_t rel_total = ref.size() - y.size() * static_cast<std::size_t>(N);
      REQUIRE(r.size() * static_cast<std::size_t>(N) == rel_total);
      CHECK(same_bits(r, ref.data() + n * r.size(), r.size()));
      CHECK(same_bits(y, ref.data() + rel_total + n * y.size(), y.size()));
    }
  }
}

// Samples [first, first + count) of x along dimension 0, as a fresh contiguous tensor.
Tensor rows(const Tensor& x, std::int64_t first, std::int64_t count) {
  return x.slice(0, first, first + count).contiguous();
}

// x (N, ...) stacked from `parts` (each (1, ...)).
Tensor stack(const std::vector<Tensor>& parts) {
  Shape s = parts[0].shape();
  s[0] = static_cast<std::int64_t>(parts.size());
  Tensor out = Tensor::empty(s, DType::F32);
  for (std::size_t i = 0; i < parts.size(); ++i)
    out.slice(0, static_cast<std::int64_t>(i), static_cast<std::int64_t>(i) + 1).copy_from(parts[i]);
  return out;
}

// Three images for a CNN taking (·, C, H, W): mixed signs, all >= 0 (after the first
// layer's ReLU some rules then take other paths than for the others), mixed again.
Tensor three_images(const Shape& one, std::uint32_t seed) {
  return stack({oracle::random_tensor(one, seed), oracle::random_tensor(one, seed + 1, 0.0, 1.0),
                oracle::random_tensor(one, seed + 2, -2.0, 1.0)});
}

// Text inputs for a transformer: three sequences of `T` token ids in [1, vocab).
Tensor three_sequences(std::int64_t T, std::int64_t vocab) {
  std::vector<std::int64_t> ids;
  for (std::int64_t i = 0; i < 3 * T; ++i) ids.push_back(1 + (i * 37 + 11) % (vocab - 1));
  return Tensor::from_vector(std::span<const std::int64_t>(ids), {3, T});
}

Batch image_batch(const Tensor& x) {
  return [x](std::int64_t first, std::int64_t count) { return Inputs{{"x", rows(x, first, count)}}; };
}

Batch text_batch(const Tensor& ids, const Graph& g) {
  return [ids, &g](std::int64_t first, std::int64_t count) {
    return complete_text_inputs({{"input_ids", ids.slice(0, first, first + count).contiguous()}}, &g);
  };
}

Graph load_graph(const fs::path& dir) {
  Graph g = Graph::load(dir / "graph.json");
  g.bind(SafetensorsFile::open(dir / "weights.safetensors"));
  return g;
}

}  // namespace

TEST_SUITE("nn.determinism") {
  TEST_CASE("a CNN: the same bits at 1, 2 and 3 threads, in a batch of 3 and alone") {
    const Graph g = load_graph(kData / "zennit" / "cnn");
    const Tensor x = three_images({1, 3, 8, 8}, 5);
    for (const char* c : {"epsilon", "epsilon-plus-flat", "epsilon-gamma-box", "epsilon-alpha2-beta1", "backtrace",
                          "gradient-x-input"})
      check_bits(g, {}, image_batch(x), 3, "x", c);
  }

  TEST_CASE("ResNet-18 (exported): the same bits at 1, 2 and 3 threads, in a batch of 3 and alone") {
    const fs::path dir = kData / "models" / "resnet18";
    if (!fs::exists(dir / "weights.safetensors")) {
      MESSAGE("skipped: " << dir.string() << " is absent (scripts/models.sh exports it)");
      return;
    }
    Graph g = build_model("resnet18");
    g.bind(SafetensorsFile::open(dir / "weights.safetensors"));
    const Tensor one = SafetensorsFile::open(dir / "input.safetensors").get("x");
    const Tensor x = stack({one, oracle::random_tensor(one.shape(), 3, 0.0, 2.0), oracle::random_tensor(one.shape(), 4)});
    check_bits(g, {}, image_batch(x), 3, "x", "epsilon");  // the composite most sensitive to rounding
  }

  TEST_CASE("a BERT: the same bits at 1, 2 and 3 threads, in a batch of 3 and alone") {
    const TransformerModel m = load_transformer(kData / "lxt" / "bert");
    const Tensor ids = three_sequences(9, 100);
    for (const char* c : {"attnlrp", "cp-lrp", "epsilon", "gradient"})
      check_bits(m.graph, {}, text_batch(ids, m.graph), 3, "input_ids", c);
  }

  TEST_CASE("all-MiniLM-L6-v2 (fetched): the same bits at 1, 2 and 3 threads, in a batch of 3 and alone") {
    const fs::path dir = kData / "models" / "all-MiniLM-L6-v2";
    if (!fs::exists(dir / "model.safetensors")) {
      MESSAGE("skipped: " << dir.string() << " is absent (tools/fetch_minilm.sh puts it there)");
      return;
    }
    const TransformerModel m = load_transformer(dir);
    ExplainSettings s;
    s.seed.task = SeedTask::EmbeddingLength;
    check_bits(m.graph, s, text_batch(three_sequences(12, 30000), m.graph), 3, "input_ids", "attnlrp");
  }

  TEST_CASE("a LLaMA: the same bits at 1, 2 and 3 threads, in a batch of 3 and alone") {
    const TransformerModel m = load_transformer(kData / "llama_tiny");
    ExplainSettings s;
    s.seed.task = SeedTask::NextToken;
    const Tensor ids = three_sequences(10, m.config.vocab);
    for (const char* c : {"attnlrp", "cp-lrp", "epsilon", "backtrace"})
      check_bits(m.graph, s, text_batch(ids, m.graph), 3, "input_ids", c);
  }

  // On a GPU the promise is run to run: the same graph and inputs explained again by a
  // fresh explainer give the same bits (no floating-point atomics in any reduction; cuDNN's
  // backward-data restricted to deterministic algorithms). Skips without a GPU.
  TEST_CASE("on a GPU: a CNN, a BERT and a LLaMA give the same bits run to run") {
    if (cuda::device_count() == 0) {
      MESSAGE("skipped: GPU run-to-run determinism needs a CUDA device (" << std::string(cuda::built() ? "backend built" : "backend not built")
                                                                         << ", no GPU)");
      return;
    }
    const auto host = [](const Graph& g, const ExplainSettings& s, const Inputs& in, const std::string& input) {
      GraphExplainer e(g, s);
      const Explanation x = e.explain(in);
      std::vector<float> r = floats(x.relevance.input(input).to(Device::CPU));
      const std::vector<float> y = floats(x.output.to(Device::CPU));
      r.insert(r.end(), y.begin(), y.end());
      return r;
    };
    const auto twice = [&](const Graph& g, ExplainSettings s, const Inputs& in, const std::string& input,
                           const std::string& composite) {
      CAPTURE(composite);
      s.composite = Composite::by_name(composite);
      const std::vector<float> first = host(g, s, in, input);
      for (int run = 0; run < 3; ++run) CHECK(host(g, s, in, input) == first);
    };
    Graph cnn = load_graph(kData / "zennit" / "cnn");
    cnn.to(Device::CUDA);
    const Inputs images{{"x", three_images({1, 3, 8, 8}, 5)}};
    for (const char* c : {"epsilon", "epsilon-plus-flat", "epsilon-gamma-box", "backtrace"}) twice(cnn, {}, images, "x", c);
    TransformerModel bert = load_transformer(kData / "lxt" / "bert");
    bert.graph.to(Device::CUDA);
    const Tensor bert_ids = three_sequences(9, 100);
    for (const char* c : {"attnlrp", "cp-lrp"}) twice(bert.graph, {}, text_batch(bert_ids, bert.graph)(0, 3), "input_ids", c);
    TransformerModel llama = load_transformer(kData / "llama_tiny");
    llama.graph.to(Device::CUDA);
    ExplainSettings s;
    s.seed.task = SeedTask::NextToken;
    const Tensor ids = three_sequences(10, llama.config.vocab);
    for (const char* c : {"attnlrp", "epsilon"}) twice(llama.graph, s, text_batch(ids, llama.graph)(0, 3), "input_ids", c);
    const fs::path r18 = kData / "models" / "resnet18";
    if (fs::exists(r18 / "weights.safetensors")) {
      Graph g = build_model("resnet18");
      g.bind(SafetensorsFile::open(r18 / "weights.safetensors"));
      g.to(Device::CUDA);
      const Tensor one = SafetensorsFile::open(r18 / "input.safetensors").get("x");
      twice(g, {}, Inputs{{"x", stack({one, oracle::random_tensor(one.shape(), 3, 0.0, 2.0)})}}, "x", "epsilon-plus-flat");
    }
  }

  // 4 host threads x 25 explanations of one shared model, each thread with its own
  // explainer; explanation i of every thread uses input i % 5 and alternates composites.
  // Under ThreadSanitizer the OpenMP teams are kept to one thread (libgomp is not built
  // with TSan, so its synchronisation would be reported as races).
  TEST_CASE("one graph and one Hugging Face model explained from 4 threads at once equal sequential runs") {
    struct Model {
      std::string name;
      const Graph* graph;
      ExplainSettings settings;
      std::vector<Inputs> inputs;
      std::string input;
    };
    const Graph cnn = load_graph(kData / "zennit" / "cnn");
    const TransformerModel llama = load_transformer(kData / "llama_tiny");
    std::vector<Model> models(2);
    models[0] = {"zennit cnn", &cnn, {}, {}, "x"};
    for (std::uint32_t i = 0; i < 5; ++i)
      models[0].inputs.push_back({{"x", oracle::random_tensor({2, 3, 8, 8}, 100 + i)}});
    models[1] = {"llama_tiny", &llama.graph, {}, {}, "input_ids"};
    models[1].settings.seed.task = SeedTask::NextToken;
    const Tensor ids = three_sequences(7, llama.config.vocab);
    for (std::int64_t i = 0; i < 5; ++i)
      models[1].inputs.push_back(complete_text_inputs({{"input_ids", ids.slice(0, i % 3, i % 3 + 1).contiguous()}}, &llama.graph));
    const char* composites[2][2] = {{"epsilon-plus-flat", "epsilon-gamma-box"}, {"attnlrp", "epsilon"}};
    constexpr int kThreads = 4, kEach = 25;
    for (std::size_t mi = 0; mi < models.size(); ++mi) {
      const Model& m = models[mi];
      CAPTURE(m.name);
      const auto settings = [&](int i) {
        ExplainSettings s = m.settings;
        s.composite = Composite::by_name(composites[mi][i % 2]);
        return s;
      };
      std::vector<std::vector<float>> sequential;
      for (int i = 0; i < 10; ++i) sequential.push_back(explain(*m.graph, settings(i), m.inputs[i % 5], m.input));
      std::vector<std::vector<std::vector<float>>> got(kThreads, std::vector<std::vector<float>>(kEach));
      std::vector<std::string> failures(kThreads);
      std::vector<std::thread> pool;
      for (int t = 0; t < kThreads; ++t)
        pool.emplace_back([&, t] {
          try {
#if RELPROP_TEST_TSAN && defined(_OPENMP)
            omp_set_num_threads(1);
#endif
            GraphExplainer e0(*m.graph, settings(0)), e1(*m.graph, settings(1));
            for (int i = 0; i < kEach; ++i) {
              const Explanation x = (i % 2 == 0 ? e0 : e1).explain(m.inputs[(i + t) % 5]);
              std::vector<float> r = floats(x.relevance.input(m.input));
              const std::vector<float> y = floats(x.output);
              r.insert(r.end(), y.begin(), y.end());
              got[t][i] = std::move(r);
            }
          } catch (const std::exception& e) {
            failures[t] = e.what();
          }
        });
      for (auto& th : pool) th.join();
      for (int t = 0; t < kThreads; ++t) {
        CAPTURE(t);
        CHECK(failures[t].empty());
        int equal = 0;
        for (int i = 0; i < kEach; ++i) {
          // Explanation i of thread t: input (i + t) % 5, composite i % 2.
          const int input = (i + t) % 5, comp = i % 2;
          // sequential[j] used input j % 5 and composite j % 2: j = input, or input + 5.
          const int j = input % 2 == comp ? input : input + 5;
          equal += got[t][i] == sequential[static_cast<std::size_t>(j)];
        }
        CHECK(equal == kEach);
      }
    }
  }
}
