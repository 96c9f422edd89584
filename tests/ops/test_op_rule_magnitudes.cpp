// No rule turns finite numbers into NaN or infinity: every row of the op x rule matrix
// (op_rule_matrix.hpp) under every rule its op takes, with its inputs and its parameters
// rescaled to the edges of float32 — zero, 1e-38, denormals, +-1e30, a mix of all of them
// with both signs — and every relevance map must come out finite wherever the forward
// pass itself stayed finite (docs/RULES.md, "Stabiliser"). On a GPU the same runs there.

#include <doctest/doctest.h>

#include <cmath>
#include <set>
#include <string>
#include <vector>

#include "ops/op_rule_matrix.hpp"
#include "relprop/relevance/composite.hpp"
#include "relprop/relevance/engine.hpp"

namespace relprop::matrix {

namespace {

// A magnitude substituted into a tensor: every element times `scale` (its absolute value
// first with `nonnegative`, as after a ReLU: the CPU's x >= 0 paths), or with `mixed`
// each element times the next of a cycle of magnitudes.
struct Magnitude {
  const char* name;
  double scale;
  bool mixed = false;
  bool nonnegative = false;
};

const std::vector<Magnitude>& magnitudes() {
  static const std::vector<Magnitude> m = {
      {"1", 1.0},
      {"0", 0.0},
      {"1e-38", 1e-38},
      {"denormal 1e-40", 1e-40},
      {"denormal 1e-45", 1e-45},
      {"1e30", 1e30},
      {"-1e30", -1e30},
      {"mixed", 0.0, true},
      {"|.| 1e-38", 1e-38, false, true},
      {"|.| 1e30", 1e30, false, true},
      {"|.| mixed", 0.0, true, true},
  };
  return m;
}

// The cycle of the mixed magnitude: huge, normal, tiny, denormal and zero values side by
// side (times the base values, which have both signs).
constexpr double kMixed[] = {1e30, -1e-38, 3e-42, 0.0, -1.0, 1e-45, -2e29, 1e-39, 7e-3};

// `base` (floating) with the magnitude applied, written into `dst` (contiguous float32).
void apply(const Magnitude& m, const Tensor& base, Tensor& dst) {
  const std::vector<double> v = base.to_vector_f64();
  float* d = dst.data<float>();
  for (std::size_t i = 0; i < v.size(); ++i) {
    const double f = m.mixed ? kMixed[i % (sizeof kMixed / sizeof kMixed[0])] : m.scale;
    d[i] = static_cast<float>((m.nonnegative ? std::fabs(v[i] * f) : v[i] * f));
  }
}

bool all_finite(const Tensor& t) {
  if (!t.defined() || !is_floating(t.dtype())) return true;
  for (double v : t.to_vector_f64())
    if (!std::isfinite(v)) return false;
  return true;
}

// The rules run on each op: every kind with the matrix's parameters, the other
// stabilisers, epsilon 0, alpha-beta's positive-only form, backtrace's flags and its
// contrastive mode, constant with either factor held.
std::vector<Rule> rules_for(const OpInfo& op) {
  std::vector<Rule> rules;
  for (int k = 0; k < kNumRules; ++k)
    if (op.rules.has(static_cast<RuleKind>(k))) rules.push_back(canonical(static_cast<RuleKind>(k)));
  auto add = [&](Rule r) {
    if (op.rules.has(rule_kind(r))) rules.push_back(std::move(r));
  };
  add(EpsilonRule{0.0});
  add(EpsilonRule{0.05, Stabilizer::Clip});
  add(EpsilonRule{0.05, Stabilizer::Scaled});
  add(NormRule{0.0});
  add(NormRule{0.05, Stabilizer::Scaled});
  add(AlphaBetaRule{1.0, 0.0});
  add(GammaRule{0.25, 1e-6, Stabilizer::Clip});
  add(ZBoxRule{{-3.0}, {3.0}, 1e-6, Stabilizer::Scaled});
  add(BacktraceRule{BacktraceRule::Mode::Default, true, true});
  add(BacktraceRule{BacktraceRule::Mode::Contrastive});
  add(ConstantRule{1});
  return rules;
}

std::string describe(const Rule& rule) {
  std::string s = rule_str(rule);
  const auto stab = std::visit(
      [](const auto& r) {
        if constexpr (requires { r.stabilizer; }) return r.stabilizer;
        return Stabilizer::Sign;
      },
      rule);
  if (stab == Stabilizer::Clip) s += " (clip)";
  if (stab == Stabilizer::Scaled) s += " (scaled)";
  return s;
}

struct Tally {
  std::set<std::string> failures;
  int checked = 0, skipped = 0;
};

// One row on `device` under every rule, inputs at `mx`, parameters at `mw`, output
// relevance of order 1 or (with `r_of_output`) of the output's order, as a seed holding
// the output's value starts it.
void check_row(const Row& row, const std::vector<Tensor>& inputs, Device device, const std::string& label,
               bool r_of_output, Tally& t) {
  const OpInfo& info = op_info(row.op);
  for (const Rule& rule : rules_for(info)) {
    // The gradient is no LRP rule: it scales the relevance by the Jacobian, and a seed of
    // the output's order times a weight of 1e30 is beyond float32 in earnest.
    if (r_of_output && std::holds_alternative<GradientRule>(rule)) continue;
    const auto* bt = std::get_if<BacktraceRule>(&rule);
    const bool contrastive = bt && bt->mode == BacktraceRule::Mode::Contrastive;
    const std::string where = std::string(info.name) + " (" + row.what + ") under " + describe(rule) + ", " + label +
                              (r_of_output ? ", R of the output's order" : "") +
                              (device == Device::CUDA ? ", on the GPU" : "");
    Tape tape;
    Tensor y;
    {
      Recording rec(tape);
      std::vector<Tensor> in;
      for (std::size_t i = 0; i < inputs.size(); ++i)
        in.push_back(tape.input(inputs[i].to(device), "in" + std::to_string(i)));
      y = row.build(in, device);
    }
    if (!all_finite(y)) {  // the forward pass overflowed: nothing finite to keep
      ++t.skipped;
      continue;
    }
    Tensor R = oracle::random_tensor(y.shape(), 11);
    if (r_of_output) {
      const std::vector<double> yv = y.to_vector_f64();
      float* rp = R.data<float>();
      for (std::size_t i = 0; i < yv.size(); ++i) rp[i] = static_cast<float>(std::fabs(rp[i]) * yv[i]);
    }
    Composite composite("magnitudes");
    composite.set_fallback(rule);
    std::vector<Tensor> maps;
    try {
      const RelevanceMap m =
          contrastive
              ? propagate_contrastive(tape, y, R.to(device), oracle::random_tensor(y.shape(), 12, 0.0, 1.0).to(device),
                                      composite)
              : propagate(tape, y, R.to(device), composite);
      for (const auto& [name, map] : m.inputs()) maps.push_back(map);
    } catch (const UnsupportedError&) {
      continue;  // a rule this node cannot apply (pass across a change of shape)
    } catch (const Error& e) {
      t.failures.insert(where + ": " + e.what());
      continue;
    }
    ++t.checked;
    for (const Tensor& m : maps)
      if (!all_finite(m)) t.failures.insert(where);
  }
}

}  // namespace

}  // namespace relprop::matrix

using namespace relprop;
using namespace relprop::matrix;

TEST_SUITE("ops.op_rule_matrix") {
  TEST_CASE("every op under every rule keeps finite numbers finite: 0, 1e-38, denormals, +-1e30, mixed") {
    parity::gpu_part_only = true;  // the CPU rows run everywhere, the GPU's where there is one
    std::vector<Row> rows = all_rows();
    std::vector<Device> devices{Device::CPU};
    if (parity::have_gpu()) devices.push_back(Device::CUDA);
    Tally t;
    for (Row& row : rows) {
      if (op_info(row.op).rules.empty()) continue;  // recorded as other ops, which have rows of their own
      // The values the row was written with, to substitute from, and restore.
      std::vector<Tensor> param_base;
      for (const Tensor& p : row.params) {
        REQUIRE(p.dtype() == DType::F32);
        REQUIRE(p.is_contiguous());
        param_base.push_back(p.clone());
      }
      for (const Magnitude& mx : magnitudes()) {
        std::vector<Tensor> inputs;
        for (const Tensor& in : row.inputs) {
          if (!is_floating(in.dtype())) {  // token ids
            inputs.push_back(in);
            continue;
          }
          Tensor v = Tensor::empty(in.shape());
          apply(mx, in, v);
          inputs.push_back(v);
        }
        for (const Magnitude& mw : magnitudes()) {
          if (row.params.empty() && mw.scale != 1.0) continue;  // no parameters to vary
          for (std::size_t p = 0; p < row.params.size(); ++p) apply(mw, param_base[p], row.params[p]);
          const std::string label = std::string("inputs x ") + mx.name + ", parameters x " + mw.name;
          for (const Device d : devices)
            for (const bool r_of_output : {false, true}) check_row(row, inputs, d, label, r_of_output, t);
        }
      }
      for (std::size_t p = 0; p < row.params.size(); ++p) row.params[p].copy_from(param_base[p]);
    }
    MESSAGE(t.checked << " propagations checked, " << t.skipped << " skipped (the forward pass overflowed)");
    CHECK(t.checked > 20000);
    std::string list;
    for (const auto& f : t.failures) list += "\n  " + f;
    CHECK_MESSAGE(t.failures.empty(), t.failures.size() << " non-finite relevance maps:" << list);
  }
}
