#pragma once
// Text tokenizers that give the ids Hugging Face's `tokenizers` gives (the library behind
// BertTokenizerFast and GPT2TokenizerFast): BERT's WordPiece and GPT-2's byte-level BPE,
// read from a tokenizer.json or from the plain vocabulary files.
//
//   auto tok = relprop::text::load_tokenizer("models/all-MiniLM-L6-v2");
//   relprop::text::Encoding e = tok->encode("Hello, world!");
//   // e.tokens: [CLS] hello , world ! [SEP]     e.ids: 101 7592 1010 2088 999 102
//   tok->decode(e.ids);                        // "hello, world!"
//
// The pipeline, the same for both models:
//   1. added tokens ("[CLS]", "[MASK]", "<|endoftext|>") are cut out of the raw text by
//      exact, case-sensitive match, longest first;
//   2. each remaining piece is normalized and split into words (WordPiece: BERT's cleaning,
//      CJK spacing, accent stripping, lower-casing, then whitespace and punctuation
//      splits; BPE: GPT-2's pre-tokenizer pattern), and the model turns each word into
//      vocabulary tokens (greedy longest-match "##" pieces; byte-level merges by rank);
//   3. the post-processor's template puts special tokens around the sequence or the pair.
//
// Supported tokenizer.json contents (anything else is an UnsupportedError naming the file):
//   model         WordPiece; BPE without dropout, continuing_subword_prefix and
//                 end_of_word_suffix (ignore_merges and unk_token are honoured)
//   normalizer    BertNormalizer, or null
//   pre_tokenizer BertPreTokenizer or null (WordPiece); ByteLevel (BPE)
//   post_processor TemplateProcessing, BertProcessing, ByteLevel (adds nothing), a Sequence
//                 of these, or null
//   decoder       WordPiece's prefix/cleanup are read; BPE always decodes byte-level
// Truncation and padding settings in tokenizer.json are ignored: they are the caller's.
// Added tokens are always matched in the raw text (their "normalized" flag is ignored).
//
// Unicode limits. The tables in text/unicode_tables.cpp come from Unicode 14.0 (Python's
// unicodedata, tools/make_tokenizer_fixtures.py --unicode-tables):
//   - general categories are exact on the BMP, U+1F000..U+1FFFF (emoji, symbols), the CJK
//     planes 2-3, tags and private use; every other code point (historic scripts,
//     mathematical alphanumerics U+1D400.., ...) is taken for a letter;
//   - lower-casing is the simple (one code point) mapping of the BMP, character by
//     character as `tokenizers` does it (no final-sigma rule; U+0130 gives "i" + U+0307);
//     supplementary-plane capitals (Deseret, Osage, Adlam, ...) stay as they are;
//   - accent stripping is NFD then removal of nonspacing marks (Mn) for the BMP, Hangul
//     syllables into jamo by arithmetic; supplementary-plane characters (the CJK
//     compatibility ideographs U+2F800.. among them) are not decomposed;
//   - `tokenizers`' own tables predate Unicode 10, and BERT's cleaning, punctuation split
//     and accent stripping follow them for the ~120 BMP code points assigned or
//     reclassified since (text/unicode.cpp lists them), to give its ids.
// Every BMP code point, and U+1F000..U+1FFFF, has been checked against tokenizers 0.23.3
// with the bert-base-uncased vocabulary (uncased, cased, no accent stripping) and with
// the byte-level BPE of the fixtures. Single-word added tokens take letters, numbers,
// marks and '_' for word characters (Rust's \w, near enough).
// Text must be valid UTF-8 (ValueError otherwise, naming the byte offset).

#include <array>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace relprop::text {

// The result of encoding: one entry per token, T in all.
struct Encoding {
  std::vector<std::int64_t> ids;       // (T) vocabulary ids
  std::vector<std::string> tokens;     // (T) their strings: "##ing", "Ġworld", "[CLS]"
  std::vector<std::int64_t> type_ids;  // (T) 0 for the first sequence, 1 for the second

  std::size_t size() const { return ids.size(); }
};

// A token cut out of the raw text before normalization ("[CLS]", "<|endoftext|>").
struct AddedToken {
  std::string content;
  std::int64_t id = 0;
  bool special = false;      // skipped by decode(ids, skip_special_tokens = true)
  bool lstrip = false;       // a match also takes the whitespace on its left
  bool rstrip = false;       // ... and on its right
  bool single_word = false;  // only matches outside words (no letter, digit, mark or '_' next to it)
};

// One step of a post-processing template: a special token, or sequence A or B.
struct TemplatePiece {
  int sequence = -1;                // 0: sequence A, 1: sequence B, -1: a special token
  std::vector<std::int64_t> ids;    // the special token's ids (usually one)
  std::vector<std::string> tokens;  // and strings
  std::int64_t type_id = 0;         // given to every token this piece adds
};

// Where special tokens go: "[CLS] $A [SEP]" and "[CLS] $A [SEP] $B:1 [SEP]:1" for BERT.
// Empty templates add nothing (GPT-2); sequence B then gets type id 1.
struct PostProcessor {
  std::vector<TemplatePiece> single;
  std::vector<TemplatePiece> pair;
};

// token <-> id, as a vocabulary file declares them.
class Vocab {
 public:
  // Adds a token; a token seen again takes the new id (the old id keeps its string).
  void add(std::string token, std::int64_t id);
  std::optional<std::int64_t> find(std::string_view token) const;
  const std::string* token(std::int64_t id) const;  // nullptr when no token has this id
  std::int64_t max_id() const { return max_id_; }   // -1 when empty
  std::size_t size() const { return ids_.size(); }

 private:
  std::unordered_map<std::string, std::int64_t> ids_;
  std::unordered_map<std::int64_t, std::string> tokens_;
  std::int64_t max_id_ = -1;
};

// A tokenizer: added tokens, then the model, then the post-processor.
class Tokenizer {
 public:
  virtual ~Tokenizer() = default;
  Tokenizer(const Tokenizer&) = delete;
  Tokenizer& operator=(const Tokenizer&) = delete;

  // One sequence; with the post-processor's special tokens unless told otherwise.
  Encoding encode(std::string_view text, bool add_special_tokens = true) const;
  // A pair (question and context, two sentences): type ids 0 for the first, 1 for the
  // second (with BERT's template: [CLS] first [SEP] second [SEP]).
  Encoding encode_pair(std::string_view first, std::string_view second, bool add_special_tokens = true) const;
  // Back to text, as Hugging Face's decode(ids, skip_special_tokens) does it. IndexError
  // for an id no token has.
  std::string decode(const std::vector<std::int64_t>& ids, bool skip_special_tokens = true) const;

  // Added tokens first, then the model's vocabulary.
  std::optional<std::int64_t> token_to_id(std::string_view token) const;
  // IndexError for an id no token has.
  const std::string& id_to_token(std::int64_t id) const;
  // One more than the largest id (the rows an embedding matrix needs).
  std::int64_t vocab_size() const;

  virtual std::string_view model_type() const = 0;  // "WordPiece" or "BPE"
  const std::vector<AddedToken>& added_tokens() const { return added_; }
  const PostProcessor& post_processor() const { return post_; }
  const std::string& origin() const { return origin_; }  // the file it was read from

 protected:
  Tokenizer(Vocab vocab, std::vector<AddedToken> added, PostProcessor post, std::string origin);

  // Appends the tokens of `piece`, a stretch of valid UTF-8 holding no added token.
  virtual void encode_piece(std::string_view piece, Encoding& out) const = 0;
  // The text of a token sequence (added tokens included, as their content).
  virtual std::string decode_tokens(const std::vector<std::string>& tokens) const = 0;

  const Vocab& vocab() const { return vocab_; }

 private:
  Encoding encode_sequence(std::string_view text, std::int64_t type_id) const;

  Vocab vocab_;
  std::vector<AddedToken> added_;
  std::unordered_map<std::int64_t, std::size_t> added_by_id_;  // id -> index in added_
  std::array<bool, 256> added_first_byte_{};                   // some added token starts with it
  PostProcessor post_;
  std::string origin_;
};

// BERT's normalizer and WordPiece model settings (the defaults are bert-base-uncased's).
struct WordPieceOptions {
  bool lowercase = true;
  std::optional<bool> strip_accents;  // unset: the same as lowercase
  bool clean_text = true;             // drop control characters, every space becomes ' '
  bool handle_chinese_chars = true;   // CJK ideographs become words of their own
  std::string unk_token = "[UNK]";
  std::string continuing_subword_prefix = "##";
  std::size_t max_input_chars_per_word = 100;  // longer words become unk_token
};

// GPT-2's byte-level settings.
struct BpeOptions {
  bool add_prefix_space = false;  // a space before text that does not start with one
};

// BERT from vocab.txt (one token a line; the id is the line number): [PAD], [UNK],
// [CLS], [SEP] and [MASK], where present, are special added tokens, and the template is
// BERT's. IoError when the file cannot be read, FormatError naming the file and line
// when it is not UTF-8, is empty, or lacks unk_token, [CLS] or [SEP].
std::unique_ptr<Tokenizer> load_wordpiece_vocab(const std::filesystem::path& vocab_txt,
                                                const WordPieceOptions& options = {});

// GPT-2 from vocab.json (token -> id) and merges.txt (one "left right" pair a line, by
// rank; an optional "#version" first line): "<|endoftext|>", when present, is a special
// added token; no template. IoError / FormatError naming the file (and line).
std::unique_ptr<Tokenizer> load_bpe_vocab(const std::filesystem::path& vocab_json,
                                          const std::filesystem::path& merges_txt,
                                          const BpeOptions& options = {});

// Hugging Face's tokenizer.json, WordPiece or BPE. IoError, FormatError (naming the file
// and the field), UnsupportedError for contents listed as unsupported above.
std::unique_ptr<Tokenizer> load_tokenizer_json(const std::filesystem::path& tokenizer_json);
// The same from the file's contents; `origin` begins every error message.
std::unique_ptr<Tokenizer> parse_tokenizer_json(const std::string& text, const std::string& origin = "tokenizer.json");

// A model folder: tokenizer.json when present, else vocab.txt (WordPiece), else
// vocab.json + merges.txt (BPE). With the vocabulary files, tokenizer_config.json, when
// present, gives do_lower_case, strip_accents and tokenize_chinese_chars (WordPiece) or
// add_prefix_space (BPE). NotFoundError naming the folder when none is there.
std::unique_ptr<Tokenizer> load_tokenizer(const std::filesystem::path& model_dir);

}  // namespace relprop::text
