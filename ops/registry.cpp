#include "relprop/ops/registry.hpp"

#include <array>

namespace relprop {

// Each op family file defines the spec of its ops.
#define RELPROP_OP(e, name, cls, lo, hi, ...) OpSpec op_spec_##name();
#include "relprop/relevance/ops.def"
#undef RELPROP_OP

namespace {

std::array<OpSpec, kNumOps> build_table() {
  std::array<OpSpec, kNumOps> t = {
#define RELPROP_OP(e, name, cls, lo, hi, ...) op_spec_##name(),
#include "relprop/relevance/ops.def"
#undef RELPROP_OP
  };
  for (int i = 0; i < kNumOps; ++i) {
    RELPROP_ASSERT(static_cast<int>(t[i].kind) == i, "op spec out of relevance/ops.def order");
    RELPROP_ASSERT(t[i].infer && t[i].run, "op spec without shape or run hook");
  }
  return t;
}

const std::array<OpSpec, kNumOps>& table() {
  static const std::array<OpSpec, kNumOps> t = build_table();
  return t;
}

}  // namespace

const OpSpec& op_spec(OpKind kind) { return table()[static_cast<std::size_t>(kind)]; }

const OpSpec* find_op(std::string_view name) {
  const OpInfo* row = find_op_info(name);
  return row ? &op_spec(row->kind) : nullptr;
}

// ---- attributes -----------------------------------------------------------------------

namespace {
[[noreturn]] void bad_attr(std::string_view node, const std::string& key, const char* want) {
  throw ValueError("node '" + std::string(node) + "': attribute '" + key + "' must be " + want);
}
}  // namespace

std::int64_t Attrs::get_int(std::string_view node, const std::string& key, std::int64_t dflt) const {
  auto it = values_.find(key);
  if (it == values_.end()) return dflt;
  if (auto* v = std::get_if<std::int64_t>(&it->second)) return *v;
  bad_attr(node, key, "an integer");
}

double Attrs::get_float(std::string_view node, const std::string& key, double dflt) const {
  auto it = values_.find(key);
  if (it == values_.end()) return dflt;
  if (auto* v = std::get_if<double>(&it->second)) return *v;
  if (auto* v = std::get_if<std::int64_t>(&it->second)) return static_cast<double>(*v);
  bad_attr(node, key, "a number");
}

bool Attrs::get_bool(std::string_view node, const std::string& key, bool dflt) const {
  auto it = values_.find(key);
  if (it == values_.end()) return dflt;
  if (auto* v = std::get_if<bool>(&it->second)) return *v;
  bad_attr(node, key, "true or false");
}

std::vector<std::int64_t> Attrs::get_ints(std::string_view node, const std::string& key,
                                          std::vector<std::int64_t> dflt) const {
  auto it = values_.find(key);
  if (it == values_.end()) return dflt;
  if (auto* v = std::get_if<std::vector<std::int64_t>>(&it->second)) return *v;
  if (auto* v = std::get_if<std::int64_t>(&it->second)) return {*v};
  bad_attr(node, key, "an integer or a list of integers");
}

void Attrs::check_known(std::string_view node, std::string_view op,
                        std::span<const std::string_view> known) const {
  for (const auto& [k, v] : values_) {
    bool ok = false;
    for (auto n : known) ok = ok || n == k;
    if (!ok) {
      std::string list;
      for (auto n : known) list += (list.empty() ? "" : ", ") + std::string(n);
      throw ValueError("node '" + std::string(node) + "': op '" + std::string(op) +
                       "' has no attribute '" + k + "'" +
                       (list.empty() ? std::string(" (it takes none)") : " (known: " + list + ")"));
    }
  }
}

}  // namespace relprop
