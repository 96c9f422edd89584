#pragma once
// The op x rule matrix (tests/ops/test_op_rule_matrix.cpp): one row per op of
// relevance/ops.def, each with inputs, a builder that records the op, and a float64 oracle
// for every rule the op's table row lists. The driver runs every op under every rule: a
// listed rule against its oracle (and, with a GPU, the GPU against the CPU through the
// parity harness), an unlisted one expecting UnsupportedError from the engine. An op
// without a row, or a listed rule without an oracle, fails the run.

#include <functional>
#include <initializer_list>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "cuda/parity.hpp"
#include "reference/generic.hpp"
#include "relprop/relevance/op_kind.hpp"
#include "relprop/relevance/tape.hpp"

namespace relprop::matrix {

using oracle::Vec;

// The relevance of each recorded input (flat), given the inputs' values, the output
// relevance R and the rule (its parameters as canonical() sets them).
using Oracle = std::function<std::vector<Vec>(const std::vector<Vec>& x, const Vec& R, const Rule& rule)>;

struct Row {
  Row(OpKind op_, std::string what_, std::vector<Tensor> inputs_, parity::Build build_)
      : op(op_), what(std::move(what_)), inputs(std::move(inputs_)), build(std::move(build_)) {}
  OpKind op;
  std::string what;             // shapes and settings, printed on failure
  std::vector<Tensor> inputs;   // CPU tensors, recorded as the graph inputs in0, in1, ...
  parity::Build build;          // records the op on the tracked inputs (moving its own parameters)
  // The floating parameters `build` reads (weights, biases, statistics, constant
  // operands), the very tensors it captured: the magnitude test
  // (test_op_rule_magnitudes.cpp) overwrites their values in place.
  std::vector<Tensor> params;
  std::map<RuleKind, Oracle> oracles;
  double tol = 2e-5;  // max |got - oracle| / max |oracle|
  // For an op that records itself as other ops (no rules of its own): checks the tape.
  std::function<void(const Tape&)> check_tape;
};

// The rule each kind is run with: parameters away from the defaults where they matter.
Rule canonical(RuleKind kind);
// The epsilon a rule divides with (0 for rules without one).
double epsilon_of(const Rule& rule);

// Sets `oracle` for each of `kinds`; for every rule the op takes.
void set(Row& row, std::initializer_list<RuleKind> kinds, const Oracle& oracle);
void set_all(Row& row, const Oracle& oracle);

// Values from a dyadic grid (exact in float32 on both devices) shifted by 1/64, so no
// element is exactly 0 (the kinks of ReLU and friends, the sign of a stabiliser).
Tensor values(const Shape& shape, std::uint32_t seed, double lo = -1.0, double hi = 1.0);

// The rows, by family (tests/ops/test_op_rule_rows_*.cpp).
std::vector<Row> all_rows();  // every family's
std::vector<Row> linear_type_rows();
std::vector<Row> pooling_rows();
std::vector<Row> activation_rows();
std::vector<Row> elementwise_rows();
std::vector<Row> shape_rows();
std::vector<Row> transformer_rows();

}  // namespace relprop::matrix
