#pragma once
// JSON as relprop reads it from files (graph.json, tokenizer.json, config.json): a key
// that an object repeats is refused (JSON leaves duplicates undefined and nlohmann keeps
// the last, which would silently drop the first: a second "stride", a second "op"), and so
// is nesting deeper than the file type ever needs (deeper input would only cost stack).

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace relprop {

// Parses `text`. FormatError "ORIGIN: the key "K" appears twice in PATH" (PATH such as
// nodes[2].attrs, or "the top-level object"), or "ORIGIN: nests more than N levels deep";
// nlohmann::json::parse_error for text that is not JSON (the caller words it).
nlohmann::json parse_json_strict(std::string_view text, const std::string& origin, int max_depth);

}  // namespace relprop
