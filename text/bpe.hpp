#pragma once
// GPT-2's byte-level BPE model, made by the loaders (text/loaders.cpp). Internal: not
// installed, not for public headers.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "relprop/text/tokenizer.hpp"
#include "relprop/text/unicode.hpp"

namespace relprop::text::detail {

struct Merge {
  std::int32_t rank;
  std::int64_t id;  // the merged token
};

struct BpeModel {
  std::unordered_map<std::uint64_t, Merge> merges;  // (left id, right id) -> merge
  std::optional<std::string> unk_token;
  bool fuse_unk = false;
  bool ignore_merges = false;

  static std::uint64_t key(std::int64_t left, std::int64_t right) {
    return (static_cast<std::uint64_t>(left) << 32) | static_cast<std::uint64_t>(right);
  }
};

// A byte-level BPE tokenizer: normalizer, then (use_regex) GPT-2's pre-tokenizer pattern,
// then each word's bytes merged by rank. FormatError naming `origin` when the model's
// unk_token is not in the vocabulary.
std::unique_ptr<Tokenizer> make_bpe(Vocab vocab, std::vector<AddedToken> added, PostProcessor post,
                                    std::string origin, Normalizer normalizer, BpeModel model,
                                    bool add_prefix_space, bool use_regex);

}  // namespace relprop::text::detail
