// The op x rule matrix: every op of relevance/ops.def under every rule of
// relevance/rules.def (see op_rule_matrix.hpp).

#include <doctest/doctest.h>

#include <cmath>
#include <set>
#include <string>

#include "ops/op_rule_matrix.hpp"
#include "relprop/relevance/composite.hpp"
#include "relprop/relevance/engine.hpp"
#include "relprop/tensor/error.hpp"

namespace relprop::matrix {

Rule canonical(RuleKind kind) {
  switch (kind) {
    case RuleKind::Zero: return ZeroRule{};
    case RuleKind::Epsilon: return EpsilonRule{0.05};
    case RuleKind::Pass: return PassRule{};
    case RuleKind::Gradient: return GradientRule{};
    case RuleKind::Norm: return NormRule{0.05};
    case RuleKind::Backtrace: return BacktraceRule{};
    case RuleKind::ZPlus: return ZPlusRule{};
    case RuleKind::AlphaBeta: return AlphaBetaRule{2.0, 1.0};
    case RuleKind::Gamma: return GammaRule{0.25};
    case RuleKind::ZBox: return ZBoxRule{{-1.0}, {1.0}};
    case RuleKind::WSquare: return WSquareRule{};
    case RuleKind::Flat: return FlatRule{};
    case RuleKind::Constant: return ConstantRule{0};
    case RuleKind::Uniform: return UniformRule{};
  }
  return PassRule{};
}

double epsilon_of(const Rule& rule) {
  if (const auto* r = std::get_if<EpsilonRule>(&rule)) return r->epsilon;
  if (const auto* r = std::get_if<NormRule>(&rule)) return r->epsilon;
  if (const auto* r = std::get_if<ConstantRule>(&rule)) return r->epsilon;
  return 0.0;
}

void set(Row& row, std::initializer_list<RuleKind> kinds, const Oracle& oracle) {
  for (RuleKind k : kinds) row.oracles[k] = oracle;
}

void set_all(Row& row, const Oracle& oracle) {
  for (int k = 0; k < kNumRules; ++k)
    if (op_info(row.op).rules.has(static_cast<RuleKind>(k))) row.oracles[static_cast<RuleKind>(k)] = oracle;
}

Tensor values(const Shape& shape, std::uint32_t seed, double lo, double hi) {
  std::vector<double> v = parity::dyadic(shape, seed, lo, hi).to_vector_f64();
  for (double& e : v) e += 1.0 / 64.0;
  return Tensor::from_vector(std::span<const double>(v), shape).to(DType::F32);
}

namespace {

constexpr std::uint32_t kSeed = 11;  // the output relevance R

struct Run {
  OpKind recorded;                // the op of the tape's last node
  Tensor output;
  std::vector<Tensor> relevance;  // per input
};

// The row's op recorded on the CPU and propagated with `rule` on every node.
Run run(const Row& row, const Rule& rule) {
  Tape tape;
  Run out;
  {
    Recording rec(tape);
    std::vector<Tensor> in;
    for (std::size_t i = 0; i < row.inputs.size(); ++i) in.push_back(tape.input(row.inputs[i], "in" + std::to_string(i)));
    out.output = row.build(in, Device::CPU);
  }
  REQUIRE(tape.size() > 0);
  out.recorded = tape.node(tape.size() - 1).op();
  Composite composite("matrix");
  composite.set_fallback(rule);
  const RelevanceMap m = propagate(tape, out.output, oracle::random_tensor(out.output.shape(), kSeed), composite);
  for (std::size_t i = 0; i < row.inputs.size(); ++i) out.relevance.push_back(m.input("in" + std::to_string(i)));
  return out;
}

// max |got - want| / max |want| (the absolute difference when want is all zero).
double rel_diff(const Tensor& got, const Vec& want) {
  const Vec g = got.to_vector_f64();
  if (g.size() != want.size()) return INFINITY;
  double d = 0, m = 0;
  for (std::size_t i = 0; i < g.size(); ++i) {
    m = std::max(m, std::fabs(want[i]));
    d = std::max(d, std::fabs(g[i] - want[i]));
  }
  return m > 0 ? d / m : d;
}

}  // namespace

std::vector<Row> all_rows() {
  std::vector<Row> rows;
  for (auto part : {linear_type_rows, pooling_rows, activation_rows, elementwise_rows, shape_rows, transformer_rows})
    for (Row& r : part()) rows.push_back(std::move(r));
  return rows;
}

}  // namespace relprop::matrix

using namespace relprop;
using namespace relprop::matrix;

TEST_SUITE("ops.op_rule_matrix") {
  TEST_CASE("every op of relevance/ops.def has a row, and every rule it lists an oracle") {
    const std::vector<Row> rows = all_rows();
    std::set<OpKind> covered;
    for (const Row& r : rows) covered.insert(r.op);
    for (const OpInfo& op : op_table()) {
      INFO("op " << op.name);
      CHECK_MESSAGE(covered.count(op.kind) == 1,
                    "no row in tests/ops/test_op_rule_rows_*.cpp for this op: add one (docs/ADDING_AN_OP.md)");
    }
    for (const Row& r : rows) {
      INFO("op " << op_name(r.op) << " (" << r.what << ")");
      const RuleSet listed = op_info(r.op).rules;
      if (listed.empty()) CHECK_MESSAGE(static_cast<bool>(r.check_tape), "an op without rules must say what it records");
      for (int k = 0; k < kNumRules; ++k) {
        const auto kind = static_cast<RuleKind>(k);
        INFO("rule " << rule_name(kind));
        if (listed.has(kind)) CHECK_MESSAGE(r.oracles.count(kind) == 1, "the table lists this rule but the row has no oracle");
        else CHECK_MESSAGE(r.oracles.count(kind) == 0, "an oracle for a rule the table does not list");
      }
    }
  }

  TEST_CASE("every op under every rule: the float64 oracle, or UnsupportedError where the table says so") {
    parity::gpu_part_only = true;  // the CPU rows run everywhere, the GPU's where there is one
    for (const Row& r : all_rows()) {
      const OpInfo& info = op_info(r.op);
      INFO("op " << info.name << " (" << r.what << ")");
      if (info.rules.empty()) {
        Tape tape;
        {
          Recording rec(tape);
          std::vector<Tensor> in;
          for (std::size_t i = 0; i < r.inputs.size(); ++i) in.push_back(tape.input(r.inputs[i], "in" + std::to_string(i)));
          (void)r.build(in, Device::CPU);
        }
        for (std::size_t n = 0; n < tape.size(); ++n) CHECK(tape.node(n).op() != r.op);
        r.check_tape(tape);
        continue;
      }
      std::vector<Vec> x;
      for (const Tensor& t : r.inputs) x.push_back(t.to_vector_f64());
      for (int k = 0; k < kNumRules; ++k) {
        const Rule rule = canonical(static_cast<RuleKind>(k));
        INFO("rule " << rule_str(rule));
        if (!info.rules.has(static_cast<RuleKind>(k))) {
          const std::string refusal = "(" + std::string(info.name) + ") does not support";
          CHECK_THROWS_WITH_AS(run(r, rule), doctest::Contains(refusal.c_str()), UnsupportedError);
          continue;
        }
        const auto oracle = r.oracles.find(static_cast<RuleKind>(k));
        if (oracle == r.oracles.end()) continue;  // reported by the test above
        const Run got = run(r, rule);
        CHECK(got.recorded == r.op);
        const Vec R = oracle::random_tensor(got.output.shape(), kSeed).to_vector_f64();
        const std::vector<Vec> want = oracle->second(x, R, rule);
        REQUIRE(want.size() == r.inputs.size());
        for (std::size_t i = 0; i < want.size(); ++i) {
          INFO("relevance of input " << i);
          CHECK(rel_diff(got.relevance[i], want[i]) <= r.tol);
        }
        parity::check(parity::Case{std::string(info.name) + " " + r.what, r.inputs, r.build}, rule, 1e-5);
      }
    }
  }
}
