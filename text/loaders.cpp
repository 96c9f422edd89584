// Loading tokenizers: vocab.txt (WordPiece), vocab.json with merges.txt (BPE), Hugging
// Face's tokenizer.json, and a model folder holding one of them. Every error names the
// file, and the line or the JSON field.

#include "relprop/text/tokenizer.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <limits>
#include <optional>
#include <utility>

#include <nlohmann/json.hpp>

#include "relprop/tensor/error.hpp"
#include "relprop/tensor/files.hpp"
#include "relprop/tensor/json.hpp"
#include "relprop/text/bpe.hpp"
#include "relprop/text/unicode.hpp"
#include "relprop/text/wordpiece.hpp"

namespace relprop::text {

using json = nlohmann::json;
namespace fs = std::filesystem;
using namespace detail;

namespace {

std::string quoted(const fs::path& p) { return "'" + p.string() + "'"; }

// A FIFO or device is refused before it is opened (tensor/files.hpp).
std::string read_file(const fs::path& path, std::string_view what) { return read_regular_file(path, what); }

// No tokenizer file nests deeper than a handful of levels.
constexpr int kMaxJsonDepth = 32;

// `text` as JSON; errors begin with `where` (the file).
json parse_json_text(const std::string& text, const std::string& where) {
  if (const auto at = utf8_error_at(text))
    throw FormatError(where + " is not valid UTF-8 (malformed sequence at byte " + std::to_string(*at) + ")");
  // nlohmann's lexer takes a NUL byte for the end of the input; JSON never has one.
  if (const auto nul = text.find('\0'); nul != std::string::npos)
    throw FormatError(where + " is not valid JSON: NUL byte at byte " + std::to_string(nul));
  try {
    return parse_json_strict(text, where, kMaxJsonDepth);  // a repeated key is a FormatError
  } catch (const json::exception& e) {
    throw FormatError(where + " is not valid JSON: " + e.what());
  }
}

json parse_json_file(const fs::path& path, std::string_view what) {
  return parse_json_text(read_file(path, what), std::string(what) + " " + quoted(path));
}

// One JSON object of a file; every error names the file and the field.
class Fields {
 public:
  Fields(const json& j, std::string file, std::string path)
      : j_(j), file_(std::move(file)), path_(std::move(path)) {
    if (!j_.is_object()) fail("must be an object, not " + std::string(j_.type_name()));
  }

  [[noreturn]] void fail(const std::string& what) const {
    throw FormatError(file_ + ": " + (path_.empty() ? "the file" : path_) + " " + what);
  }
  [[noreturn]] void fail(const char* key, const std::string& what) const {
    throw FormatError(file_ + ": " + name(key) + " " + what);
  }
  std::string name(const char* key) const { return path_.empty() ? key : path_ + "." + key; }

  // The member, or nullptr when absent or null.
  const json* get(const char* key) const {
    const auto it = j_.find(key);
    return it == j_.end() || it->is_null() ? nullptr : &*it;
  }
  const json& required(const char* key) const {
    const json* v = get(key);
    if (v == nullptr) fail(key, "is missing");
    return *v;
  }
  Fields object(const char* key) const { return Fields(required(key), file_, name(key)); }
  Fields object(const json& v, const std::string& path) const { return Fields(v, file_, path); }

  bool boolean(const char* key, bool fallback) const {
    const json* v = get(key);
    if (v == nullptr) return fallback;
    if (!v->is_boolean()) fail(key, "must be true or false");
    return v->get<bool>();
  }
  std::optional<bool> optional_boolean(const char* key) const {
    if (get(key) == nullptr) return std::nullopt;
    return boolean(key, false);
  }
  std::optional<std::string> optional_string(const char* key) const {
    const json* v = get(key);
    if (v == nullptr) return std::nullopt;
    if (!v->is_string()) fail(key, "must be a string");
    return v->get<std::string>();
  }
  std::string string(const char* key) const {
    auto s = optional_string(key);
    if (!s) fail(key, "is missing");
    return *s;
  }
  std::string string(const char* key, const std::string& fallback) const {
    return optional_string(key).value_or(fallback);
  }
  std::int64_t integer(const char* key) const {
    const json& v = required(key);
    return as_id(v, name(key));
  }
  std::int64_t integer(const char* key, std::int64_t fallback) const {
    return get(key) == nullptr ? fallback : integer(key);
  }
  // An integer from 0 to 2^31 - 1 (ids, lengths).
  std::int64_t as_id(const json& v, const std::string& what) const {
    bool ok = false;
    if (v.is_number_unsigned())
      ok = v.get<std::uint64_t>() <= static_cast<std::uint64_t>(kMaxId);
    else if (v.is_number_integer())
      ok = v.get<std::int64_t>() >= 0 && v.get<std::int64_t>() <= kMaxId;
    if (!ok) throw FormatError(file_ + ": " + what + " must be an integer from 0 to 2^31 - 1");
    return v.get<std::int64_t>();
  }
  const std::string& file() const { return file_; }

 private:
  static constexpr std::int64_t kMaxId = std::numeric_limits<std::int32_t>::max();
  const json& j_;
  std::string file_, path_;
};

// Token -> id from a JSON object (tokenizer.json's model.vocab, vocab.json).
Vocab vocab_from_json(const Fields& owner, const json& v, const std::string& what) {
  if (!v.is_object()) throw FormatError(owner.file() + ": " + what + " must be an object of token -> id");
  Vocab vocab;
  std::unordered_map<std::int64_t, std::string> seen;
  for (const auto& [token, id_json] : v.items()) {
    const std::int64_t id = owner.as_id(id_json, what + "[\"" + token + "\"]");
    if (const auto [it, fresh] = seen.emplace(id, token); !fresh)
      throw FormatError(owner.file() + ": " + what + " gives id " + std::to_string(id) + " to both '" +
                        it->second + "' and '" + token + "'");
    vocab.add(token, id);
  }
  if (vocab.size() == 0) throw FormatError(owner.file() + ": " + what + " is empty");
  return vocab;
}

Normalizer bert_normalizer(const WordPieceOptions& o) {
  return {o.clean_text, o.handle_chinese_chars, o.strip_accents.value_or(o.lowercase), o.lowercase};
}

// BERT's special tokens that a vocab.txt holds, as added tokens.
std::vector<AddedToken> bert_specials(const Vocab& vocab, const std::string& unk_token) {
  std::vector<AddedToken> added;
  for (const std::string& t :
       {std::string("[PAD]"), unk_token, std::string("[CLS]"), std::string("[SEP]"), std::string("[MASK]")}) {
    const auto id = vocab.find(t);
    if (!id || std::any_of(added.begin(), added.end(), [&](const AddedToken& a) { return a.content == t; }))
      continue;
    AddedToken a;
    a.content = t;
    a.id = *id;
    a.special = true;
    added.push_back(std::move(a));
  }
  return added;
}

TemplatePiece special_piece(std::string token, std::int64_t id, std::int64_t type_id) {
  TemplatePiece p;
  p.ids = {id};
  p.tokens = {std::move(token)};
  p.type_id = type_id;
  return p;
}

TemplatePiece sequence_piece(int sequence, std::int64_t type_id) {
  TemplatePiece p;
  p.sequence = sequence;
  p.type_id = type_id;
  return p;
}

// [CLS] $A [SEP] and [CLS] $A [SEP] $B:1 [SEP]:1
PostProcessor bert_template(const std::string& cls, std::int64_t cls_id, const std::string& sep,
                            std::int64_t sep_id) {
  PostProcessor p;
  p.single = {special_piece(cls, cls_id, 0), sequence_piece(0, 0), special_piece(sep, sep_id, 0)};
  p.pair = {special_piece(cls, cls_id, 0), sequence_piece(0, 0), special_piece(sep, sep_id, 0),
            sequence_piece(1, 1), special_piece(sep, sep_id, 1)};
  return p;
}

std::unique_ptr<Tokenizer> wordpiece_from_vocab(Vocab vocab, const WordPieceOptions& options,
                                                const std::string& origin) {
  const auto cls = vocab.find("[CLS]");
  const auto sep = vocab.find("[SEP]");
  if (!cls || !sep) throw FormatError(origin + ": BERT's [CLS] and [SEP] tokens are not in the vocabulary");
  std::vector<AddedToken> added = bert_specials(vocab, options.unk_token);
  PostProcessor post = bert_template("[CLS]", *cls, "[SEP]", *sep);
  return make_wordpiece(
      std::move(vocab), std::move(added), std::move(post), origin, bert_normalizer(options), true,
      options.unk_token, options.continuing_subword_prefix, options.max_input_chars_per_word,
      WordPieceDecoder{options.continuing_subword_prefix, true});
}

// Splits a text file into lines ("\n" or "\r\n"; no empty last line after a final newline).
std::vector<std::string_view> split_lines(std::string_view text) {
  std::vector<std::string_view> lines;
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(start, end - start);
    if (line.ends_with('\r')) line.remove_suffix(1);
    lines.push_back(line);
    start = end + 1;
  }
  return lines;
}

std::int32_t checked_rank(std::size_t rank, const std::string& origin) {
  if (rank >= static_cast<std::size_t>(std::numeric_limits<std::int32_t>::max()))
    throw FormatError(origin + ": more than 2^31 merges");
  return static_cast<std::int32_t>(rank);
}

void add_merge(BpeModel& model, const Vocab& vocab, const std::string& left, const std::string& right,
               std::size_t rank, const std::string& where) {
  const auto l = vocab.find(left), r = vocab.find(right), m = vocab.find(left + right);
  if (!l || !r || !m)
    throw FormatError(where + ": the merge '" + left + " " + right +
                      "' uses or makes a token not in the vocabulary");
  model.merges.insert_or_assign(BpeModel::key(*l, *r), Merge{checked_rank(rank, where), *m});
}

}  // namespace

std::unique_ptr<Tokenizer> load_wordpiece_vocab(const fs::path& vocab_txt, const WordPieceOptions& options) {
  const std::string text = read_file(vocab_txt, "vocab.txt");
  const std::string origin = "vocab.txt " + quoted(vocab_txt);
  const auto lines = split_lines(text);
  if (lines.empty()) throw FormatError(origin + " is empty");
  Vocab vocab;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    std::string_view line = lines[i];
    if (utf8_error_at(line))
      throw FormatError(origin + ": line " + std::to_string(i + 1) + " is not valid UTF-8");
    while (!line.empty()) {  // trailing whitespace goes, as `tokenizers` trims it
      const auto [c, at] = code_point_before(line, line.size());
      if (!is_whitespace(c)) break;
      line = line.substr(0, at);
    }
    vocab.add(std::string(line), static_cast<std::int64_t>(i));
  }
  return wordpiece_from_vocab(std::move(vocab), options, origin);
}

std::unique_ptr<Tokenizer> load_bpe_vocab(const fs::path& vocab_json, const fs::path& merges_txt,
                                          const BpeOptions& options) {
  const std::string vocab_origin = "vocab.json " + quoted(vocab_json);
  const json j = parse_json_file(vocab_json, "vocab.json");
  const Fields root(j, vocab_origin, "");
  Vocab vocab = vocab_from_json(root, j, "the vocabulary");

  const std::string merges_origin = "merges.txt " + quoted(merges_txt);
  const std::string text = read_file(merges_txt, "merges.txt");
  if (const auto at = utf8_error_at(text))
    throw FormatError(merges_origin + " is not valid UTF-8 (malformed sequence at byte " +
                      std::to_string(*at) + ")");
  BpeModel model;
  std::size_t rank = 0;
  const auto lines = split_lines(text);
  for (std::size_t i = 0; i < lines.size(); ++i) {
    const std::string_view line = lines[i];
    if (line.starts_with("#version")) continue;
    const std::size_t space = line.find(' ');
    if (space == std::string_view::npos || line.find(' ', space + 1) != std::string_view::npos)
      throw FormatError(merges_origin + ": line " + std::to_string(i + 1) +
                        " is not two tokens separated by one space");
    add_merge(model, vocab, std::string(line.substr(0, space)), std::string(line.substr(space + 1)), rank++,
              merges_origin + " line " + std::to_string(i + 1));
  }

  std::vector<AddedToken> added;
  if (const auto eot = vocab.find("<|endoftext|>")) {
    AddedToken a;
    a.content = "<|endoftext|>";
    a.id = *eot;
    a.special = true;
    added.push_back(std::move(a));
  }
  return make_bpe(std::move(vocab), std::move(added), PostProcessor{}, vocab_origin,
                                        Normalizer{}, std::move(model), options.add_prefix_space, true);
}

namespace {

Normalizer parse_normalizer(const Fields& root) {
  if (root.get("normalizer") == nullptr) return {};
  const Fields n = root.object("normalizer");
  const std::string type = n.string("type");
  if (type != "BertNormalizer")
    throw UnsupportedError(root.file() + ": normalizer type '" + type +
                           "' is not supported (BertNormalizer or null only)");
  Normalizer out;
  out.clean_text = n.boolean("clean_text", true);
  out.handle_chinese_chars = n.boolean("handle_chinese_chars", true);
  out.lowercase = n.boolean("lowercase", true);
  out.strip_accents = n.optional_boolean("strip_accents").value_or(out.lowercase);
  return out;
}

std::vector<AddedToken> parse_added_tokens(const Fields& root) {
  std::vector<AddedToken> added;
  const json* list = root.get("added_tokens");
  if (list == nullptr) return added;
  if (!list->is_array()) root.fail("added_tokens", "must be a list");
  for (std::size_t i = 0; i < list->size(); ++i) {
    const Fields t = root.object((*list)[i], "added_tokens[" + std::to_string(i) + "]");
    AddedToken a;
    a.id = t.integer("id");
    a.content = t.string("content");
    a.special = t.boolean("special", false);
    a.lstrip = t.boolean("lstrip", false);
    a.rstrip = t.boolean("rstrip", false);
    a.single_word = t.boolean("single_word", false);
    added.push_back(std::move(a));
  }
  return added;
}

// TemplateProcessing's "single"/"pair": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}},
// {"Sequence": {"id": "A", "type_id": 0}}, ...], specials looked up in "special_tokens".
std::vector<TemplatePiece> parse_template(const Fields& proc, const char* key, const json& specials) {
  std::vector<TemplatePiece> out;
  const json& list = proc.required(key);
  if (!list.is_array()) proc.fail(key, "must be a list");
  for (std::size_t i = 0; i < list.size(); ++i) {
    const std::string where = proc.name(key) + "[" + std::to_string(i) + "]";
    const Fields step = proc.object(list[i], where);
    if (step.get("Sequence") != nullptr) {
      const Fields s = step.object("Sequence");
      const std::string id = s.string("id");
      if (id != "A" && id != "B") s.fail("id", "must be \"A\" or \"B\"");
      out.push_back(sequence_piece(id == "A" ? 0 : 1, s.integer("type_id", 0)));
    } else if (step.get("SpecialToken") != nullptr) {
      const Fields s = step.object("SpecialToken");
      const std::string id = s.string("id");
      if (!specials.is_object() || !specials.contains(id))
        s.fail("id", "names '" + id + "', which special_tokens does not define");
      const Fields def = proc.object(specials.at(id), proc.name("special_tokens") + "." + id);
      TemplatePiece p;
      p.type_id = s.integer("type_id", 0);
      const json& ids = def.required("ids");
      const json& tokens = def.required("tokens");
      if (!ids.is_array() || !tokens.is_array() || ids.size() != tokens.size())
        def.fail("must have lists \"ids\" and \"tokens\" of the same length");
      for (std::size_t k = 0; k < ids.size(); ++k) {
        p.ids.push_back(def.as_id(ids[k], def.name("ids")));
        if (!tokens[k].is_string()) def.fail("tokens", "must hold strings");
        p.tokens.push_back(tokens[k].get<std::string>());
      }
      out.push_back(std::move(p));
    } else {
      step.fail("must be {\"Sequence\": ...} or {\"SpecialToken\": ...}");
    }
  }
  if (std::string_view(key) == "single" &&
      std::any_of(out.begin(), out.end(), [](const TemplatePiece& p) { return p.sequence == 1; }))
    proc.fail(key, "uses sequence B");
  return out;
}

void parse_post_processor_into(const Fields& proc, PostProcessor& out) {
  const std::string type = proc.string("type");
  if (type == "ByteLevel") return;  // offsets only: no tokens
  if (type == "TemplateProcessing") {
    const json* specials = proc.get("special_tokens");
    const json none = json::object();
    out.single = parse_template(proc, "single", specials ? *specials : none);
    out.pair = parse_template(proc, "pair", specials ? *specials : none);
    return;
  }
  if (type == "BertProcessing") {
    const auto pair = [&](const char* key) -> std::pair<std::string, std::int64_t> {
      const json& v = proc.required(key);
      if (!v.is_array() || v.size() != 2 || !v[0].is_string()) proc.fail(key, "must be [token, id]");
      return {v[0].get<std::string>(), proc.as_id(v[1], proc.name(key) + "[1]")};
    };
    const auto [cls, cls_id] = pair("cls");
    const auto [sep, sep_id] = pair("sep");
    out = bert_template(cls, cls_id, sep, sep_id);
    return;
  }
  if (type == "Sequence") {
    const json& list = proc.required("processors");
    if (!list.is_array()) proc.fail("processors", "must be a list");
    for (std::size_t i = 0; i < list.size(); ++i)
      parse_post_processor_into(proc.object(list[i], proc.name("processors") + "[" + std::to_string(i) + "]"),
                                out);
    return;
  }
  throw UnsupportedError(
      proc.file() + ": post_processor type '" + type +
      "' is not supported (TemplateProcessing, BertProcessing, ByteLevel, Sequence or null)");
}

PostProcessor parse_post_processor(const Fields& root) {
  PostProcessor out;
  if (root.get("post_processor") != nullptr) parse_post_processor_into(root.object("post_processor"), out);
  return out;
}

std::unique_ptr<Tokenizer> wordpiece_from_json(const Fields& root, const Fields& model,
                                               std::vector<AddedToken> added, PostProcessor post) {
  Vocab vocab = vocab_from_json(model, model.required("vocab"), "model.vocab");
  const std::string unk = model.string("unk_token", "[UNK]");
  const std::string prefix = model.string("continuing_subword_prefix", "##");
  const auto max_chars = static_cast<std::size_t>(model.integer("max_input_chars_per_word", 100));

  bool split_words = false;
  if (root.get("pre_tokenizer") != nullptr) {
    const Fields pre = root.object("pre_tokenizer");
    const std::string type = pre.string("type");
    if (type != "BertPreTokenizer")
      throw UnsupportedError(root.file() + ": pre_tokenizer type '" + type +
                             "' is not supported with WordPiece (BertPreTokenizer or null only)");
    split_words = true;
  }
  WordPieceDecoder decoder{prefix, true};
  if (root.get("decoder") != nullptr) {
    const Fields d = root.object("decoder");
    if (d.string("type") == "WordPiece") decoder = {d.string("prefix", "##"), d.boolean("cleanup", true)};
  }
  return make_wordpiece(std::move(vocab), std::move(added), std::move(post),
                                              root.file(), parse_normalizer(root), split_words, unk, prefix,
                                              max_chars, std::move(decoder));
}

std::unique_ptr<Tokenizer> bpe_from_json(const Fields& root, const Fields& model,
                                         std::vector<AddedToken> added, PostProcessor post) {
  Vocab vocab = vocab_from_json(model, model.required("vocab"), "model.vocab");
  if (const json* dropout = model.get("dropout");
      dropout != nullptr && (!dropout->is_number() || dropout->get<double>() > 0))
    throw UnsupportedError(root.file() + ": BPE dropout is not supported");
  for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"})
    if (!model.string(key, "").empty())
      throw UnsupportedError(root.file() + ": BPE with a " + std::string(key) + " is not supported");

  BpeModel bpe;
  bpe.unk_token = model.optional_string("unk_token");
  bpe.fuse_unk = model.boolean("fuse_unk", false);
  bpe.ignore_merges = model.boolean("ignore_merges", false);
  const json& merges = model.required("merges");
  if (!merges.is_array()) model.fail("merges", "must be a list");
  for (std::size_t i = 0; i < merges.size(); ++i) {
    const json& m = merges[i];
    const std::string where = root.file() + " model.merges[" + std::to_string(i) + "]";
    if (m.is_string()) {  // "left right" (files written before tokenizers 0.20)
      const std::string s = m.get<std::string>();
      const std::size_t space = s.find(' ');
      if (space == std::string::npos || s.find(' ', space + 1) != std::string::npos)
        throw FormatError(where + " is not two tokens separated by one space");
      add_merge(bpe, vocab, s.substr(0, space), s.substr(space + 1), i, where);
    } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
      add_merge(bpe, vocab, m[0].get<std::string>(), m[1].get<std::string>(), i, where);
    } else {
      throw FormatError(where + " must be \"left right\" or [left, right]");
    }
  }

  if (root.get("pre_tokenizer") == nullptr)
    throw UnsupportedError(root.file() + ": BPE without the ByteLevel pre_tokenizer is not supported");
  const Fields pre = root.object("pre_tokenizer");
  const std::string type = pre.string("type");
  if (type != "ByteLevel")
    throw UnsupportedError(root.file() + ": pre_tokenizer type '" + type +
                           "' is not supported with BPE (ByteLevel only)");
  return make_bpe(
      std::move(vocab), std::move(added), std::move(post), root.file(), parse_normalizer(root),
      std::move(bpe), pre.boolean("add_prefix_space", true), pre.boolean("use_regex", true));
}

}  // namespace

std::unique_ptr<Tokenizer> load_tokenizer_json(const fs::path& tokenizer_json) {
  return parse_tokenizer_json(read_file(tokenizer_json, "tokenizer.json"), "tokenizer.json " + quoted(tokenizer_json));
}

std::unique_ptr<Tokenizer> parse_tokenizer_json(const std::string& text, const std::string& origin) {
  const json j = parse_json_text(text, origin);
  const Fields root(j, origin, "");
  const Fields model = root.object("model");
  std::vector<AddedToken> added = parse_added_tokens(root);
  PostProcessor post = parse_post_processor(root);
  const std::string type = model.string("type");
  if (type == "WordPiece") return wordpiece_from_json(root, model, std::move(added), std::move(post));
  if (type == "BPE") return bpe_from_json(root, model, std::move(added), std::move(post));
  throw UnsupportedError(root.file() + ": model type '" + type +
                         "' is not supported (WordPiece or BPE only)");
}

std::unique_ptr<Tokenizer> load_tokenizer(const fs::path& model_dir) {
  std::error_code ec;
  if (!fs::is_directory(model_dir, ec))
    throw NotFoundError("tokenizer folder " + quoted(model_dir) + " does not exist or is not a folder");
  // Present as anything: a FIFO or a folder in a file's place is refused when read, not
  // passed over for the next file.
  const auto has = [&](const char* name) { return fs::exists(model_dir / name, ec); };
  if (has("tokenizer.json")) return load_tokenizer_json(model_dir / "tokenizer.json");

  // The plain vocabulary files; tokenizer_config.json, when there, carries the settings.
  std::optional<json> config;
  const fs::path config_path = model_dir / "tokenizer_config.json";
  if (has("tokenizer_config.json")) config = parse_json_file(config_path, "tokenizer_config.json");
  const std::optional<Fields> settings =
      config
          ? std::optional<Fields>(std::in_place, *config, "tokenizer_config.json " + quoted(config_path), "")
          : std::nullopt;

  if (has("vocab.txt")) {
    WordPieceOptions options;
    if (settings) {
      options.lowercase = settings->boolean("do_lower_case", true);
      options.strip_accents = settings->optional_boolean("strip_accents");
      options.handle_chinese_chars = settings->boolean("tokenize_chinese_chars", true);
    }
    return load_wordpiece_vocab(model_dir / "vocab.txt", options);
  }
  if (has("vocab.json") && has("merges.txt")) {
    BpeOptions options;
    if (settings) options.add_prefix_space = settings->boolean("add_prefix_space", false);
    return load_bpe_vocab(model_dir / "vocab.json", model_dir / "merges.txt", options);
  }
  throw NotFoundError("no tokenizer in " + quoted(model_dir) +
                      ": expected tokenizer.json, vocab.txt, or vocab.json with merges.txt");
}

}  // namespace relprop::text
