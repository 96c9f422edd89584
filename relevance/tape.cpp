#include "relprop/relevance/tape.hpp"

#include <algorithm>
#include <atomic>

namespace relprop {

namespace {
thread_local Tape* t_current = nullptr;
std::atomic<std::uint64_t> g_next_tape_id{1};
}  // namespace

void Node::unsupported(const Rule& rule, std::string_view why) const {
  const std::string who = "node '" + name + "' (" + std::string(op_name()) + ")";
  if (!why.empty()) throw UnsupportedError(who + " cannot apply rule '" + rule_str(rule) + "': " + std::string(why));
  const RuleSet supported = op_info(op_).rules;
  throw UnsupportedError(who + " does not support rule '" + rule_str(rule) + "' (supported: " +
                         (supported.empty() ? std::string("none; it records itself as other ops") : supported.str()) +
                         ")");
}

RelevancePair Node::relevance_contrastive(const Rule& rule, const Tensor& Rp, const Tensor& Rn,
                                          const RelevanceContext& ctx) const {
  Rule each = rule;
  if (auto* bt = std::get_if<BacktraceRule>(&each)) bt->mode = BacktraceRule::Mode::Default;
  return {relevance(each, Rp, ctx), relevance(each, Rn, ctx)};
}

Tape::Tape() : id_(g_next_tape_id.fetch_add(1)) {}
Tape::~Tape() = default;

Tape* Tape::current() { return t_current; }

Tensor Tape::input(const Tensor& t, std::string name) {
  if (!t.defined()) throw ValueError("Tape::input: undefined tensor for input '" + name + "'");
  if (name.empty()) name = "input" + std::to_string(inputs_.size());
  for (ValueId v : inputs_)
    if (values_[v].name == name) throw ValueError("Tape::input: input '" + name + "' declared twice");
  const auto pos = std::lower_bound(names_.begin(), names_.end(), name);
  if (pos != names_.end() && *pos == name)
    throw ValueError("Tape::input: the name '" + name + "' is already used by a node");
  names_.insert(pos, name);
  const auto id = static_cast<ValueId>(values_.size());
  values_.push_back(Value{name, t.shape(), t.dtype(), -1});
  inputs_.push_back(id);
  Tensor tagged = t;
  tagged.set_trace(TraceTag{id_, id});
  input_tensors_.push_back(tagged);
  return tagged;
}

const Tensor& Tape::input_tensor(ValueId v) const {
  static const Tensor none;
  for (std::size_t k = 0; k < inputs_.size(); ++k)
    if (inputs_[k] == v) return input_tensors_[k];
  return none;
}

ValueId Tape::value_of(const Tensor& t) const {
  const TraceTag& tag = t.trace();
  if (tag.tape != id_ || tag.value < 0 || tag.value >= static_cast<ValueId>(values_.size()))
    return -1;
  return tag.value;
}

std::string Tape::unique_name(std::string_view requested, std::string_view op) {
  std::string base;
  for (const auto& s : scope_) {
    base += s;
    base += '.';
  }
  if (requested.empty()) {
    base += op;
  } else {
    base += requested;
  }
  std::string name = base;
  // An unnamed op, or a name already taken, gets the first free numeric suffix.
  auto taken = [&](const std::string& n) { return std::binary_search(names_.begin(), names_.end(), n); };
  if (requested.empty() || taken(name)) {
    for (int k = requested.empty() ? 0 : 1;; ++k) {
      name = base + "_" + std::to_string(k);
      if (!taken(name)) break;
    }
  }
  names_.insert(std::lower_bound(names_.begin(), names_.end(), name), name);
  return name;
}

Node& Tape::record(std::unique_ptr<Node> node, Tensor& out, std::string_view name) {
  RELPROP_ASSERT(node != nullptr, "Tape::record: null node");
  if (consumed_)
    throw ValueError("Tape::record: this tape was already propagated and released; record on a new tape");
  node->name = unique_name(name, node->op_name());
  const auto id = static_cast<ValueId>(values_.size());
  values_.push_back(Value{node->name, out.shape(), out.dtype(), static_cast<std::int32_t>(nodes_.size())});
  node->output = id;
  out.set_trace(TraceTag{id_, id});
  nodes_.push_back(std::move(node));
  return *nodes_.back();
}

std::int32_t Tape::find_node(std::string_view name) const {
  for (std::size_t i = 0; i < nodes_.size(); ++i)
    if (nodes_[i]->name == name) return static_cast<std::int32_t>(i);
  return -1;
}

void Tape::push_scope(std::string part) { scope_.push_back(std::move(part)); }
void Tape::pop_scope() {
  RELPROP_ASSERT(!scope_.empty(), "NameScope: pop without push");
  scope_.pop_back();
}

Recording::Recording(Tape& tape) : previous_(t_current) { t_current = &tape; }
Recording::~Recording() { t_current = previous_; }

NameScope::NameScope(std::string part) : tape_(Tape::current()) {
  if (tape_) tape_->push_scope(std::move(part));
}
NameScope::~NameScope() {
  if (tape_) tape_->pop_scope();
}

}  // namespace relprop
