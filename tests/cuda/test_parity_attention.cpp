// GPU parity of the transformer ops (ops/attention.cpp <-> cuda/attention.cu: matmul,
// attention_softmax, scaled_dot_product_attention (its parts); ops/norm.cpp <->
// cuda/norm.cu: layer_norm, rms_norm; ops/token.cpp <-> cuda/token.cu: embedding,
// rotary_embedding, prepend_token, masked_mean), each under every rule its CPU node
// supports, on the shapes of tests/ops/test_attention.cpp and test_token.cpp (batch 2, heads 2,
// tokens 5 and 7, head size 8) plus grouped-query broadcasting, causal and padding masks
// (masks of several dtypes, on the CPU and on the GPU), non-square scores, odd and long
// rows; then a small transformer block (layer_norm -> linear -> sdpa -> linear).
//
// Tolerance 1e-5 relative everywhere. Where a rule divides by an output the seed reaches
// directly (R / stab(O) of a matmul, R / stab(y) of the rotation), an O near 0 would
// magnify the last-bit difference of cuBLAS's and Eigen's sums (or of the GPU's and
// libm's cos / sin) beyond any tolerance, so those rules run on inputs that keep O away
// from 0 (positive factors, small angles); the signed inputs run under rules whose
// denominators are bounded (epsilon 0.5), the gradient and the constant rules. Inside a
// chain under AttnLRP the divisions cancel (each rule's relevance is proportional to its
// input), so the block runs on signed data.

#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "cuda/parity.hpp"
#include "relprop/ops/attention.hpp"
#include "relprop/ops/norm.hpp"
#include "relprop/ops/token.hpp"
#include "relprop/ops/linear.hpp"
#include "relprop/ops/shape.hpp"

using namespace relprop;
namespace o = relprop::oracle;

namespace {

using In = const std::vector<Tensor>&;

// A case and the rules it runs under.
struct Row {
  parity::Case c;
  std::vector<Rule> rules;
};

void run_rows(const std::vector<Row>& rows) {
  for (const Row& r : rows)
    for (const Rule& rule : r.rules) parity::check(r.c, rule);
}

// Positive values in [0.2, 1]: products bounded away from 0.
Tensor pos(const Shape& s, std::uint32_t seed) { return o::random_tensor(s, seed, 0.2, 1.0); }
Tensor sgn(const Shape& s, std::uint32_t seed) { return o::random_tensor(s, seed, -1.0, 1.0); }

// `mask` (N, Tk) 0/1 values as `dtype`, left on the CPU or moved to `d` by the build.
Tensor mask_of(const std::vector<float>& v, const Shape& s, DType dtype) {
  return Tensor::from_vector(std::span<const float>(v), s).to(dtype);
}

// ---- matmul -------------------------------------------------------------------------------

// Rules for factors in [0.2, 1] (every O >= 0.04 K): the ε/2 rule with tiny or zero ε.
std::vector<Rule> matmul_rules_positive() {
  return {EpsilonRule{},
          parse_rule("epsilon:0"),
          ZeroRule{},
          BacktraceRule{},
          ConstantRule{0},
          ConstantRule{1},
          GradientRule{},
          EpsilonRule{0.01, Stabilizer::Scaled},
          EpsilonRule{0.01, Stabilizer::Clip}};
}
// Rules for signed factors: bounded denominators, or none.
std::vector<Rule> matmul_rules_signed() {
  return {EpsilonRule{0.5},       EpsilonRule{0.5, Stabilizer::Clip}, EpsilonRule{0.5, Stabilizer::Scaled},
          ConstantRule{0, 0.5},   ConstantRule{1, 0.5},              GradientRule{}};
}

std::vector<Row> matmul_rows() {
  struct Shapes {
    std::string name;
    Shape a, b;
  };
  const std::vector<Shapes> shapes = {
      {"(2,2,5,8)·(2,2,8,7)", {2, 2, 5, 8}, {2, 2, 8, 7}},
      {"GQA (2,2,5,8)·(2,1,8,7)", {2, 2, 5, 8}, {2, 1, 8, 7}},
      {"(2,3,4,5)·(1,3,5,3)", {2, 3, 4, 5}, {1, 3, 5, 3}},
      {"both broadcast (2,1,5,8)·(1,3,8,7)", {2, 1, 5, 8}, {1, 3, 8, 7}},
      {"2-d (5,8)·(8,7)", {5, 8}, {8, 7}},
      {"rank 3 · rank 2 (3,5,8)·(8,7)", {3, 5, 8}, {8, 7}},
      {"odd (1,33,17)·(1,17,65)", {1, 33, 17}, {1, 17, 65}},
      {"K = 1 (2,4,1)·(2,1,3)", {2, 4, 1}, {2, 1, 3}},
  };
  std::vector<Row> rows;
  std::uint32_t seed = 100;
  for (const Shapes& s : shapes) {
    rows.push_back({{"matmul " + s.name + " positive", {pos(s.a, seed), pos(s.b, seed + 1)},
                     [](In v, Device) { return matmul(v[0], v[1], "mm"); }},
                    matmul_rules_positive()});
    rows.push_back({{"matmul " + s.name + " signed", {sgn(s.a, seed + 2), sgn(s.b, seed + 3)},
                     [](In v, Device) { return matmul(v[0], v[1], "mm"); }},
                    matmul_rules_signed()});
    seed += 4;
  }
  // One factor a constant: the tracked one takes all (no halving).
  const Tensor w = pos({2, 1, 8, 7}, 150);
  rows.push_back({{"matmul with a constant second factor", {pos({2, 2, 5, 8}, 151)},
                   [w](In v, Device d) { return matmul(v[0], w.to(d), "mm"); }},
                  matmul_rules_positive()});
  const Tensor a = pos({2, 2, 5, 8}, 152);
  rows.push_back({{"matmul with a constant first factor", {pos({2, 1, 8, 7}, 153)},
                   [a](In v, Device d) { return matmul(a.to(d), v[0], "mm"); }},
                  matmul_rules_positive()});
  // One input as both factors (x · xᵀ): two contributions accumulate on it.
  rows.push_back({{"matmul x · xᵀ", {pos({2, 5, 8}, 154)},
                   [](In v, Device) { return matmul(v[0], transpose(v[0], 1, 2), "mm"); }},
                  matmul_rules_positive()});
  return rows;
}

// ---- attention softmax --------------------------------------------------------------------

std::vector<Rule> softmax_rules() {
  return {EpsilonRule{}, ZeroRule{}, EpsilonRule{0.25}, PassRule{}, BacktraceRule{}, ConstantRule{}, GradientRule{}};
}

struct MaskSpec {
  std::vector<float> values;  // (N, Tk) 0 / 1
  Shape shape;
  DType dtype = DType::F32;
  bool on_gpu = false;  // moved to the device by the build; else left on the CPU
};

Row softmax_row(std::string name, const Tensor& x, const std::optional<MaskSpec>& m, bool causal, double scale) {
  const Tensor mask = m ? mask_of(m->values, m->shape, m->dtype) : Tensor();
  const bool mask_on_gpu = m && m->on_gpu;
  return {{"attention_softmax " + name + " x" + x.str_shape(), {x},
           [=](In v, Device d) {
             return attention_softmax(v[0], mask_on_gpu ? mask.to(d) : mask, causal, scale, "softmax");
           }},
          softmax_rules()};
}

std::vector<Row> softmax_rows() {
  std::vector<Row> rows;
  const Shape s57{2, 2, 5, 7}, s55{2, 2, 5, 5};
  const std::vector<float> pad{1, 1, 1, 1, 1, 1, 0, 1, 1, 0, 1, 1, 1, 1};  // one padded key per sample
  const std::vector<float> empty_sample{1, 1, 1, 1, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0};  // sample 1 sees nothing
  rows.push_back(softmax_row("plain", o::random_tensor(s57, 200, -3, 3), std::nullopt, false, 1.0));
  rows.push_back(softmax_row("scale 0.35, F32 key mask on the CPU", o::random_tensor(s57, 201, -3, 3),
                             MaskSpec{pad, {2, 7}, DType::F32, false}, false, 0.35));
  rows.push_back(softmax_row("causal (non-square, bottom right), I64 key mask on the GPU",
                             o::random_tensor(s57, 202, -3, 3), MaskSpec{pad, {2, 7}, DType::I64, true}, true, 1.0));
  rows.push_back(softmax_row("causal square, BOOL key mask on the GPU", o::random_tensor(s55, 203, -3, 3),
                             MaskSpec{{1, 1, 1, 1, 1, 1, 1, 1, 1, 0}, {2, 5}, DType::BOOL, true}, true, 0.125));
  rows.push_back(softmax_row("a sample with no visible key (zero rows), U8 mask on the GPU",
                             o::random_tensor(s57, 204, -3, 3), MaskSpec{empty_sample, {2, 7}, DType::U8, true},
                             false, 1.0));
  rows.push_back(softmax_row("causal only", o::random_tensor(s57, 205, -3, 3), std::nullopt, true, 0.5));
  rows.push_back(softmax_row("more queries than keys, causal (first rows empty)", o::random_tensor({2, 2, 7, 5}, 206, -3, 3),
                             std::nullopt, true, 1.0));
  // Long rows (the warp loops), many rows, a key mask with scattered zeros.
  std::vector<float> long_mask(3 * 1000, 1.0f);
  for (std::size_t i = 0; i < long_mask.size(); i += 7) long_mask[i] = 0.0f;
  rows.push_back(softmax_row("long rows", o::random_tensor({3, 4, 9, 1000}, 207, -5, 5),
                             MaskSpec{long_mask, {3, 1000}, DType::F32, true}, false, 1.0));
  // 2-d scores: the key mask has a row per query.
  std::vector<float> mask2(5 * 7, 1.0f);
  mask2[3] = mask2[10] = mask2[11] = 0.0f;
  rows.push_back(softmax_row("2-d scores", o::random_tensor({5, 7}, 208, -3, 3),
                             MaskSpec{mask2, {5, 7}, DType::F64, false}, false, 1.0));
  rows.push_back(softmax_row("one key", o::random_tensor({2, 2, 5, 1}, 209, -3, 3), std::nullopt, false, 1.0));
  return rows;
}

// ---- norms --------------------------------------------------------------------------------

std::vector<Rule> layer_norm_rules() {
  return {EpsilonRule{}, ZeroRule{}, EpsilonRule{0.01, Stabilizer::Scaled}, PassRule{}, BacktraceRule{},
          GradientRule{}};
}
std::vector<Rule> rms_norm_rules() { return {PassRule{}, EpsilonRule{}, ZeroRule{}, BacktraceRule{}, GradientRule{}}; }

std::vector<Row> norm_rows() {
  struct Spec {
    Shape x;
    bool weight, bias;
    double eps;
  };
  const std::vector<Spec> specs = {{{2, 5, 8}, true, true, 1e-5},  {{2, 7, 33}, true, false, 1e-5},
                                   {{3, 700}, false, false, 1e-6}, {{2, 2, 5, 8}, true, true, 0.0},
                                   {{4, 1}, true, true, 1e-5},     {{1, 2049}, true, true, 1e-5}};
  std::vector<Row> rows;
  std::uint32_t seed = 300;
  for (const Spec& s : specs) {
    const std::int64_t D = s.x.back();
    const Tensor x = o::random_tensor(s.x, seed, -2, 2);
    const Tensor w = s.weight ? o::random_tensor({D}, seed + 1, 0.5, 1.5) : Tensor();
    const Tensor b = s.bias ? o::random_tensor({D}, seed + 2, -0.3, 0.3) : Tensor();
    const double eps = s.eps;
    auto dev = [](const Tensor& t, Device d) { return t.defined() ? t.to(d) : t; };
    const std::string tag = " x" + shape_str(s.x) + (s.weight ? " weight" : "") + (s.bias ? " bias" : "") +
                            " eps " + std::to_string(eps);
    rows.push_back({{"layer_norm" + tag, {x},
                     [=](In v, Device d) { return layer_norm(v[0], dev(w, d), dev(b, d), eps, "ln"); }},
                    layer_norm_rules()});
    rows.push_back(
        {{"rms_norm" + tag, {x}, [=](In v, Device d) { return rms_norm(v[0], dev(w, d), eps, "rms"); }},
         rms_norm_rules()});
    seed += 3;
  }
  return rows;
}

// ---- rotary / embedding / prepend / masked mean -------------------------------------------

std::vector<Row> rotary_rows() {
  std::vector<Row> rows;
  // Signed inputs, integer positions (on the CPU, on the GPU, large ones): rules without a
  // division by a possibly tiny y.
  const std::vector<Rule> signed_rules{GradientRule{}, PassRule{}, BacktraceRule{}, EpsilonRule{0.5}};
  const std::vector<std::int64_t> p1{0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
  const Tensor pos1 = Tensor::from_vector(std::span<const std::int64_t>(p1), {2, 5});
  rows.push_back({{"rotary (2,2,5,8) theta 1e4, I64 positions on the CPU", {sgn({2, 2, 5, 8}, 400)},
                   [pos1](In v, Device) { return rotary_embedding(v[0], pos1, 10000.0, "rope"); }},
                  signed_rules});
  std::vector<std::int64_t> p2(7);
  for (int i = 0; i < 7; ++i) p2[i] = 100 + 650 * i;  // up to 4000
  const Tensor pos2 = Tensor::from_vector(std::span<const std::int64_t>(p2), {1, 7});
  rows.push_back({{"rotary (1,3,7,4) theta 100, large I64 positions on the GPU", {sgn({1, 3, 7, 4}, 401)},
                   [pos2](In v, Device d) { return rotary_embedding(v[0], pos2.to(d), 100.0, "rope"); }},
                  signed_rules});
  // x in [0.8, 1] and angles below 0.45: every y >= 0.22, so the ε-rule with a tiny ε.
  std::vector<float> p3(10);
  for (int i = 0; i < 10; ++i) p3[i] = 0.045f * static_cast<float>(i);
  const Tensor pos3 = Tensor::from_vector(std::span<const float>(p3), {2, 5});
  rows.push_back({{"rotary (2,2,5,8) small angles, F32 positions on the GPU", {o::random_tensor({2, 2, 5, 8}, 402, 0.8, 1.0)},
                   [pos3](In v, Device d) { return rotary_embedding(v[0], pos3.to(d), 10000.0, "rope"); }},
                  {ZeroRule{}, EpsilonRule{}, parse_rule("epsilon:0"), GradientRule{}}});
  return rows;
}

std::vector<Row> embedding_rows() {
  const std::vector<Rule> rules{EpsilonRule{}, ZeroRule{}, GradientRule{}, BacktraceRule{}, PassRule{}};
  const Tensor W = o::random_tensor({11, 8}, 500);
  const std::vector<std::int64_t> ids{2, 0, 10, 2, 7, 5, 5, 1, 9, 3};
  const Tensor ids64 = Tensor::from_vector(std::span<const std::int64_t>(ids), {2, 5});
  std::vector<Row> rows;
  rows.push_back({{"embedding (11,8) ids I64 (2,5)", {ids64},
                   [W](In v, Device d) { return embedding(v[0], W.to(d), "emb"); }},
                  rules});
  rows.push_back({{"embedding ids I32 (10,)", {ids64.reshape({10}).to(DType::I32)},
                   [W](In v, Device d) { return embedding(v[0], W.to(d), "emb"); }},
                  rules});
  rows.push_back({{"embedding ids F32 (2,5), wide rows (11,300)", {ids64.to(DType::F32)},
                   [W2 = o::random_tensor({11, 300}, 501)](In v, Device d) { return embedding(v[0], W2.to(d), "emb"); }},
                  rules});
  return rows;
}

std::vector<Row> prepend_rows() {
  const std::vector<Rule> rules{EpsilonRule{}, GradientRule{}, PassRule{}};
  const Tensor tok = o::random_tensor({8}, 600);
  std::vector<Row> rows;
  rows.push_back({{"prepend_token (2,5,8) token (8,) constant", {sgn({2, 5, 8}, 601)},
                   [tok](In v, Device d) { return prepend_token(v[0], tok.to(d), "cls"); }},
                  rules});
  rows.push_back({{"prepend_token (3,7,5) token (1,1,5) tracked", {sgn({3, 7, 5}, 602), sgn({1, 1, 5}, 603)},
                   [](In v, Device) { return prepend_token(v[0], v[1], "cls"); }},
                  rules});
  return rows;
}

std::vector<Row> masked_mean_rows() {
  const std::vector<Rule> rules{EpsilonRule{},   ZeroRule{},      NormRule{},     EpsilonRule{0.01, Stabilizer::Scaled},
                                BacktraceRule{}, PassRule{},      GradientRule{}};
  std::vector<Row> rows;
  rows.push_back({{"masked_mean (2,5,8) no mask", {sgn({2, 5, 8}, 700)},
                   [](In v, Device) { return masked_mean(v[0], Tensor(), "pool"); }},
                  rules});
  const Tensor m1 = Tensor::from_vector({1, 1, 1, 1, 1, 1, 1, 1, 0, 0}, {2, 5});
  rows.push_back({{"masked_mean (2,5,8) F32 mask on the CPU", {sgn({2, 5, 8}, 701)},
                   [m1](In v, Device) { return masked_mean(v[0], m1, "pool"); }},
                  rules});
  const Tensor m2 = Tensor::from_vector({1, 0, 1, 1, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0}, {2, 7}).to(DType::I64);
  rows.push_back({{"masked_mean (2,7,3,4) I64 mask on the GPU, one empty sample", {sgn({2, 7, 3, 4}, 702)},
                   [m2](In v, Device d) { return masked_mean(v[0], m2.to(d), "pool"); }},
                  rules});
  return rows;
}

// ---- scaled_dot_product_attention ---------------------------------------------------------

struct SdpaSpec {
  std::string name;
  Shape q, k, v;
  std::optional<MaskSpec> mask;
  bool causal;
  double scale;
};

std::vector<SdpaSpec> sdpa_specs() {
  const std::vector<float> pad7{1, 1, 1, 1, 1, 1, 0, 1, 1, 0, 1, 1, 1, 1};
  const std::vector<float> pad5{1, 1, 1, 1, 1, 1, 1, 1, 1, 0};
  return {{"non-square (5 queries, 7 keys), F32 mask on the CPU", {2, 2, 5, 8}, {2, 2, 7, 8}, {2, 2, 7, 8},
           MaskSpec{pad7, {2, 7}, DType::F32, false}, false, 0.0},
          {"GQA (2 heads over 1), causal, I64 mask on the GPU", {2, 2, 5, 8}, {2, 1, 5, 8}, {2, 1, 5, 3},
           MaskSpec{pad5, {2, 5}, DType::I64, true}, true, 0.0},
          {"causal, scale 0.2, no mask", {2, 2, 5, 8}, {2, 2, 5, 8}, {2, 2, 5, 8}, std::nullopt, true, 0.2},
          {"3-d (N·H, T, d), 7 tokens", {4, 7, 8}, {4, 7, 8}, {4, 7, 8}, std::nullopt, false, 0.0}};
}

parity::Case sdpa_case(const SdpaSpec& s, bool positive_qk, std::uint32_t seed) {
  const Tensor mask = s.mask ? mask_of(s.mask->values, s.mask->shape, s.mask->dtype) : Tensor();
  const bool mask_on_gpu = s.mask && s.mask->on_gpu;
  const bool causal = s.causal;
  const double scale = s.scale;
  // v positive: the context O = A·V stays away from 0 (the seed divides by it).
  return {"sdpa " + s.name + (positive_qk ? " (positive q, k)" : ""),
          {positive_qk ? pos(s.q, seed) : sgn(s.q, seed), positive_qk ? pos(s.k, seed + 1) : sgn(s.k, seed + 1),
           pos(s.v, seed + 2)},
          [=](In v, Device d) {
            return scaled_dot_product_attention(v[0], v[1], v[2], mask_on_gpu ? mask.to(d) : mask, causal, scale,
                                                "attn");
          }};
}

}  // namespace

TEST_SUITE("cuda.parity.attention") {
  TEST_CASE("matmul: broadcast batches (GQA), bilinear ε/2, backtrace, constant:0/1 (CP-LRP), gradient") {
    run_rows(matmul_rows());
  }

  TEST_CASE("attention_softmax: key masks (every dtype, CPU or GPU), causal, scale, AttnLRP and the rest") {
    run_rows(softmax_rows());
    // Contrastive mode: each map moves on its own.
    for (const Row& r : softmax_rows()) parity::check(r.c, parse_rule("backtrace-contrastive"), 1e-5, true);
  }

  TEST_CASE("attention_softmax: scores below float's exp range get exactly 0, and so does their relevance") {
    if (!parity::have_gpu()) return;
    // -1e9 and float's lowest inside the scores (as exported graphs carry additive masks),
    // a row of -1e9 only (uniform), 17 keys.
    std::vector<float> v(3 * 17);
    for (int i = 0; i < 51; ++i) v[i] = 0.1f * static_cast<float>(i % 17);
    v[3] = -1e9f;
    v[16] = std::numeric_limits<float>::lowest();
    v[17 + 8] = -1e9f;
    for (int k = 0; k < 17; ++k) v[34 + k] = -1e9f;
    const Tensor x = Tensor::from_vector(std::span<const float>(v), {3, 17});
    std::vector<Tensor> s(2), r(2);
    for (int i = 0; i < 2; ++i) {
      const Device d = i == 0 ? Device::CPU : Device::CUDA;
      Tape tape;
      {
        Recording rec(tape);
        s[i] = attention_softmax(tape.input(x.to(d), "x"), Tensor(), false, 1.0, "sm");
      }
      // Relevance arriving from A·V is proportional to the probabilities (0 where s is 0);
      // the row of -1e9 gets none (x · R would be 1e9-sized on both sides).
      std::vector<float> seed = o::random_tensor({3, 17}, 3).to_vector();
      const std::vector<float> sv = s[0].to_vector();  // the CPU's probabilities (i = 0 ran first)
      for (int k = 0; k < 51; ++k) seed[k] = k >= 34 ? 0.0f : seed[k] * sv[k];
      Composite c("attnlrp");
      c.set_fallback(EpsilonRule{});
      r[i] = propagate(tape, s[i], Tensor::from_vector(std::span<const float>(seed), {3, 17}).to(d), c).input("x");
    }
    CHECK(s[1].device() == Device::CUDA);
    CHECK(parity::rel_diff(s[1], s[0]) <= 1e-5);
    CHECK(parity::rel_diff(r[1], r[0]) <= 1e-5);
    const Tensor sg = s[1].to(Device::CPU), rg = r[1].to(Device::CPU);
    for (auto [row, k] : {std::pair{0, 3}, std::pair{0, 16}, std::pair{1, 8}}) {
      CHECK(sg.get({row, k}) == 0.0);
      CHECK(rg.get({row, k}) == 0.0);
    }
    double sum = 0;
    for (int k = 0; k < 17; ++k) sum += sg.get({2, k});
    CHECK(sum == doctest::Approx(1.0).epsilon(1e-6));
  }

  TEST_CASE("scaled_dot_product_attention: the parts on the GPU, GQA, causal, masks, every rule") {
    std::uint32_t seed = 800;
    for (const SdpaSpec& s : sdpa_specs()) {
      // Signed q, k: AttnLRP's softmax rule is proportional to the scores, so the scores
      // matmul's division by them cancels.
      const parity::Case c = sdpa_case(s, false, seed);
      for (const Rule& r : std::vector<Rule>{EpsilonRule{}, parse_rule("epsilon:0"), ZeroRule{}, GradientRule{},
                                             ConstantRule{0}, ConstantRule{1}, EpsilonRule{0.5}})
        parity::check(c, r);
      // Backtrace passes the softmax unchanged: the scores must stay away from 0.
      const parity::Case cp = sdpa_case(s, true, seed + 3);
      parity::check(cp, BacktraceRule{});
      parity::check(cp, parse_rule("backtrace-contrastive"), 1e-5, true);
      seed += 6;
    }
  }

  TEST_CASE("scaled_dot_product_attention on the GPU records the CPU's parts") {
    if (!parity::have_gpu()) return;
    const Tensor q = sgn({2, 2, 5, 8}, 900), k = sgn({2, 1, 5, 8}, 901), v = sgn({2, 1, 5, 3}, 902);
    const Tensor mask = Tensor::from_vector({1, 1, 1, 1, 1, 1, 1, 1, 1, 0}, {2, 5});
    std::vector<std::string> ops[2], names[2];
    for (int i = 0; i < 2; ++i) {
      const Device d = i == 0 ? Device::CPU : Device::CUDA;
      Tape tape;
      {
        Recording rec(tape);
        (void)scaled_dot_product_attention(tape.input(q.to(d), "q"), tape.input(k.to(d), "k"),
                                           tape.input(v.to(d), "v"), mask, true, 0.0, "attn");
      }
      for (std::size_t n = 0; n < tape.size(); ++n) {
        ops[i].emplace_back(tape.node(n).op_name());
        names[i].push_back(tape.node(n).name);
      }
    }
    CHECK(ops[1] == ops[0]);
    CHECK(names[1] == names[0]);
    CHECK(ops[1] == std::vector<std::string>{"transpose", "matmul", "attention_softmax", "matmul"});
  }

  TEST_CASE("layer_norm / rms_norm: weight and bias or not, D odd, long and one-element rows, every rule") {
    run_rows(norm_rows());
    for (const Row& r : norm_rows()) parity::check(r.c, parse_rule("backtrace-contrastive"), 1e-5, true);
  }

  TEST_CASE("rotary_embedding: positions on the CPU or the GPU, every rule") { run_rows(rotary_rows()); }

  TEST_CASE("embedding: ids of several dtypes, relevance summed over the hidden dimension") {
    run_rows(embedding_rows());
  }

  TEST_CASE("embedding on the GPU: ids on the CPU or the GPU give the same rows; bad ids throw the CPU's error") {
    if (!parity::have_gpu()) return;
    const Tensor W = o::random_tensor({11, 8}, 510);
    const Tensor Wg = W.to(Device::CUDA);
    const std::vector<std::int64_t> good{2, 0, 10, 2, 7, 5};
    const Tensor ids = Tensor::from_vector(std::span<const std::int64_t>(good), {2, 3});
    const Tensor ref = embedding(ids, W);
    for (const Tensor& id : {ids, ids.to(Device::CUDA)}) {
      const Tensor y = embedding(id, Wg);
      CHECK(y.device() == Device::CUDA);  // the weight's device
      CHECK(parity::rel_diff(y, ref) == 0.0);
    }
    // Weight on the CPU, ids on the GPU: the CPU path (the ids are read back).
    CHECK(parity::rel_diff(embedding(ids.to(Device::CUDA), W), ref) == 0.0);
    // Relevance of ids on the CPU lands on the weight's device, as the output's.
    {
      Tape tape;
      Tensor y;
      {
        Recording rec(tape);
        y = embedding(tape.input(ids, "ids"), Wg, "emb");
      }
      Composite c("eps");
      c.set_fallback(EpsilonRule{});
      const Tensor R = o::random_tensor(y.shape(), 511);
      const Tensor r = propagate(tape, y, R.to(Device::CUDA), c).input("ids");
      CHECK(r.shape() == ids.shape());
      const Tensor rc = r.to(Device::CPU);
      CHECK(rc.get({1, 2}) == doctest::Approx(R.get({1, 2, 0}) + R.get({1, 2, 1}) + R.get({1, 2, 2}) + R.get({1, 2, 3}) +
                                              R.get({1, 2, 4}) + R.get({1, 2, 5}) + R.get({1, 2, 6}) +
                                              R.get({1, 2, 7})));
    }
    // Bad ids: the first one named, as on the CPU, whichever device the ids are on.
    const std::vector<std::int64_t> bad{2, 0, 10, 11, 7, -1};
    const Tensor bad_ids = Tensor::from_vector(std::span<const std::int64_t>(bad), {2, 3});
    for (const Tensor& id : {bad_ids, bad_ids.to(Device::CUDA)})
      CHECK_THROWS_WITH_AS(embedding(id, Wg, "emb"), doctest::Contains("'emb': id 11 at position 3"), IndexError);
    const Tensor frac = Tensor::from_vector({1.0f, 2.5f}, {2}).to(Device::CUDA);
    CHECK_THROWS_WITH_AS(embedding(frac, Wg), doctest::Contains("at position 1"), IndexError);
    const Tensor flags = Tensor::from_vector({1.0f, 0.0f, 1.0f}, {3}).to(DType::BOOL).to(Device::CUDA);
    CHECK(parity::rel_diff(embedding(flags, Wg), embedding(flags.to(Device::CPU), W)) == 0.0);
  }

  TEST_CASE("prepend_token and masked_mean: every rule") {
    run_rows(prepend_rows());
    run_rows(masked_mean_rows());
  }

  TEST_CASE("a transformer block (layer_norm -> linear -> sdpa -> linear) under AttnLRP, LRP-0 and the gradient") {
    const int N = 2, T = 5, H = 2, d = 8, D = H * d;
    const Tensor x = o::random_tensor({N, T, D}, 1000, -2, 2);
    const Tensor ln_w = o::random_tensor({D}, 1001, 0.5, 1.5), ln_b = o::random_tensor({D}, 1002, -0.3, 0.3);
    const Tensor wq = o::random_tensor({D, D}, 1003, -0.5, 0.5), wk = o::random_tensor({D, D}, 1004, -0.5, 0.5),
                 wv = o::random_tensor({D, D}, 1005, -0.5, 0.5);
    const Tensor bq = o::random_tensor({D}, 1006, -0.1, 0.1);
    // The output layer: small weights and a bias of 3, so the seed never meets z near 0.
    const Tensor wo = o::random_tensor({4, D}, 1007, -0.1, 0.1), bo = Tensor::full({4}, 3.0);
    const Tensor mask = Tensor::from_vector({1, 1, 1, 1, 1, 1, 1, 1, 0, 0}, {N, T});
    const parity::Case c{"block", {x}, [=](In v, Device dev) {
                           const Tensor h = layer_norm(v[0], ln_w.to(dev), ln_b.to(dev), 1e-5, "ln");
                           auto heads = [&](const Tensor& w, const Tensor& b, const char* n) {
                             const Tensor p = linear(h, w.to(dev), b.defined() ? b.to(dev) : b, n);
                             return transpose(reshape(p, {N, T, H, d}), 1, 2);  // (N, H, T, d)
                           };
                           const Tensor q = heads(wq, bq, "q"), k = heads(wk, Tensor(), "k"),
                                        vv = heads(wv, Tensor(), "v");
                           const Tensor a = scaled_dot_product_attention(q, k, vv, mask, true, 0.0, "attn");
                           const Tensor ctx = reshape(transpose(a, 1, 2), {N, T, D});
                           return linear(ctx, wo.to(dev), bo.to(dev), "out");
                         }};
    for (const char* r : {"epsilon:0", "epsilon", "zero", "gradient"}) parity::check(c, parse_rule(r));
  }

  TEST_CASE("GPU nodes throw the CPU's errors") {
    if (!parity::have_gpu()) return;
    const Tensor a = sgn({2, 3, 4}, 1100), b = sgn({2, 4, 5}, 1101);
    Composite zplus("zplus");
    zplus.set_fallback(ZPlusRule{});
    const std::vector<parity::Case> cases = {
        {"matmul", {a, b}, [](In v, Device) { return matmul(v[0], v[1]); }},
        {"attention_softmax", {a}, [](In v, Device) { return attention_softmax(v[0]); }},
        {"layer_norm", {a}, [](In v, Device) { return layer_norm(v[0], Tensor(), Tensor()); }},
        {"rms_norm", {a}, [](In v, Device) { return rms_norm(v[0], Tensor()); }},
        {"rotary", {sgn({1, 2, 3, 4}, 1102)},
         [](In v, Device) { return rotary_embedding(v[0], Tensor::zeros({1, 3}, DType::I64)); }},
        {"masked_mean", {a}, [](In v, Device) { return masked_mean(v[0]); }}};
    for (const parity::Case& c : cases) {
      INFO(c.name);
      CHECK_THROWS_AS(parity::run(c, zplus, Device::CUDA, false, 1), UnsupportedError);
    }
    const Tensor ag = a.to(Device::CUDA);
    // Operands on two devices.
    CHECK_THROWS_AS(matmul(ag, b), ValueError);
    CHECK_THROWS_AS(layer_norm(ag, Tensor::full({4}, 1.0), Tensor()), ValueError);
    CHECK_THROWS_AS(prepend_token(ag, Tensor::full({4}, 1.0)), ValueError);
    // Shapes, as on the CPU.
    CHECK_THROWS_AS(matmul(ag, ag), ShapeError);
    CHECK_THROWS_AS(attention_softmax(ag, Tensor::full({2, 5}, 1.0)), ShapeError);
    CHECK_THROWS_AS(scaled_dot_product_attention(sgn({2, 2, 4, 8}, 1).to(Device::CUDA),
                                                 sgn({2, 2, 5, 8}, 2).to(Device::CUDA),
                                                 sgn({2, 2, 5, 8}, 3).to(Device::CUDA), Tensor(), true),
                    UnsupportedError);
  }
}
