#pragma once
// BERT's WordPiece model, made by the loaders (text/loaders.cpp). Internal: not
// installed, not for public headers.

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "relprop/text/tokenizer.hpp"
#include "relprop/text/unicode.hpp"

namespace relprop::text::detail {

struct WordPieceDecoder {
  std::string prefix = "##";
  bool cleanup = true;
};

// A WordPiece tokenizer: normalizer, then (split_words) BERT's pre-tokenizer, then greedy
// longest-match pieces, `prefix` marking pieces inside a word. FormatError naming `origin`
// when unk_token is not in the vocabulary.
std::unique_ptr<Tokenizer> make_wordpiece(Vocab vocab, std::vector<AddedToken> added, PostProcessor post,
                                          std::string origin, Normalizer normalizer, bool split_words,
                                          std::string unk_token, std::string prefix, std::size_t max_chars,
                                          WordPieceDecoder decoder);

}  // namespace relprop::text::detail
