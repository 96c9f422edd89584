// relprop ops: the op table (relevance/ops.def), the rules (relevance/rules.def) and the
// composites, as a terminal table or as the Markdown README.md carries (a test keeps the
// two equal).

#include <iomanip>
#include <ostream>
#include <string>

#include "apps/app.hpp"
#include "relprop/relevance/composite.hpp"
#include "relprop/relevance/op_kind.hpp"
#include "relprop/relevance/rules.hpp"

namespace relprop::app {

namespace {

std::string inputs_of(const OpInfo& op) {
  return op.min_inputs == op.max_inputs ? std::to_string(op.min_inputs)
                                        : std::to_string(op.min_inputs) + "-" + std::to_string(op.max_inputs);
}

// The rules an op takes, "every rule" for all of them.
std::string rules_of(const OpInfo& op) {
  if (op.rules == RuleSet::all()) return "every rule";
  if (op.rules.empty()) return "none of its own: recorded as its parts";
  return op.rules.str();
}

}  // namespace

int cmd_ops(bool markdown, std::ostream& out) {
  if (markdown) {
    out << "| op | class | inputs | rules |\n|---|---|---|---|\n";
    for (const OpInfo& op : op_table())
      out << "| `" << op.name << "` | " << op_class_name(op.op_class) << " | " << inputs_of(op) << " | " << rules_of(op)
          << " |\n";
    out << "\nRules (`--rule NODE=RULE[:PARAMS]`): " << rule_names() << ".\n\nComposites (`--composite`): ";
    bool first = true;
    for (const auto& c : Composite::names()) {
      out << (first ? "" : ", ") << "`" << c << "`";
      first = false;
    }
    out << ".\n";
    return 0;
  }
  out << std::left << std::setw(30) << "op" << std::setw(15) << "class" << std::setw(8) << "inputs"
      << "rules\n";
  for (const OpInfo& op : op_table())
    out << std::setw(30) << op.name << std::setw(15) << op_class_name(op.op_class) << std::setw(8) << inputs_of(op)
        << rules_of(op) << "\n";
  out << "\nrules: " << rule_names() << "\ncomposites: ";
  bool first = true;
  for (const auto& c : Composite::names()) {
    out << (first ? "" : ", ") << c;
    first = false;
  }
  out << "\n";
  return 0;
}

}  // namespace relprop::app
