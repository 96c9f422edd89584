// Tokenizers against Hugging Face `tokenizers` (tests/data/tokenizers/golden.json, made by
// tools/make_tokenizer_fixtures.py): every sentence's ids, token strings, type ids and
// decoded text, for every tokenizer and every file format it comes in; byte-level round
// trips; and one test per rejected file, each a typed error that names the file.
//
// The real all-MiniLM-L6-v2 vocabulary is checked when its model folder is in
// tests/data/models/all-MiniLM-L6-v2 (tools/fetch_minilm.sh) or RELPROP_MINILM_DIR names
// it; without it those cases are skipped.

#include <doctest/doctest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "relprop/tensor/error.hpp"
#include "relprop/text/tokenizer.hpp"

using namespace relprop;
using namespace relprop::text;
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

const fs::path kData = fs::path(RELPROP_SOURCE_DIR) / "tests" / "data" / "tokenizers";

const json& golden() {
  static const json g = [] {
    std::ifstream in(kData / "golden.json");
    REQUIRE(in.good());
    return json::parse(in);
  }();
  return g;
}

// A fresh, empty folder under the system's temporary directory.
fs::path scratch(const std::string& name) {
  const fs::path dir = fs::temp_directory_path() / "relprop_test_tokenizer" / name;
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

void write(const fs::path& file, const std::string& contents) {
  std::ofstream out(file, std::ios::binary);
  out << contents;
}

// A folder holding copies of some fixture files only (to reach the factory's fallbacks).
fs::path folder_with(const std::string& name, const fs::path& from, const std::vector<std::string>& files) {
  const fs::path dir = scratch(name);
  for (const auto& f : files) fs::copy_file(from / f, dir / f);
  return dir;
}

std::optional<fs::path> minilm_dir() {
  const char* env = std::getenv("RELPROP_MINILM_DIR");
  const fs::path dir = env != nullptr && *env ? fs::path(env)
                                              : fs::path(RELPROP_SOURCE_DIR) / "tests" / "data" / "models" / "all-MiniLM-L6-v2";
  if (!fs::is_regular_file(dir / "vocab.txt")) return std::nullopt;
  return dir;
}

// One way to load a tokenizer, checked against the golden entry `key`.
struct Source {
  std::string key;    // golden.json tokenizers.<key>
  std::string label;  // the file format, for messages
  std::function<std::unique_ptr<Tokenizer>()> load;
};

std::vector<Source> sources() {
  std::vector<Source> s = {
      {"wordpiece", "tokenizer.json", [] { return load_tokenizer(kData / "wordpiece"); }},
      {"wordpiece", "vocab.txt", [] { return load_wordpiece_vocab(kData / "wordpiece" / "vocab.txt"); }},
      {"wordpiece", "folder with vocab.txt",
       [] { return load_tokenizer(folder_with("wp_vocab", kData / "wordpiece", {"vocab.txt"})); }},
      {"wordpiece_cased", "tokenizer.json",
       [] { return load_tokenizer_json(kData / "wordpiece_cased" / "tokenizer.json"); }},
      {"wordpiece_added", "tokenizer.json", [] { return load_tokenizer(kData / "wordpiece_added"); }},
      {"bpe", "tokenizer.json", [] { return load_tokenizer(kData / "bpe"); }},
      {"bpe", "vocab.json + merges.txt",
       [] { return load_bpe_vocab(kData / "bpe" / "vocab.json", kData / "bpe" / "merges.txt"); }},
      {"bpe", "folder with vocab.json + merges.txt",
       [] {
         return load_tokenizer(folder_with("bpe_vocab", kData / "bpe", {"vocab.json", "merges.txt"}));
       }},
  };
  if (const auto dir = minilm_dir()) {
    const fs::path d = *dir;
    s.push_back({"minilm", "vocab.txt", [d] { return load_wordpiece_vocab(d / "vocab.txt"); }});
    if (fs::is_regular_file(d / "tokenizer.json"))
      s.push_back({"minilm", "tokenizer.json", [d] { return load_tokenizer_json(d / "tokenizer.json"); }});
  }
  return s;
}

std::vector<std::int64_t> ints(const json& j) { return j.get<std::vector<std::int64_t>>(); }
std::vector<std::string> strings(const json& j) { return j.get<std::vector<std::string>>(); }

void check_encoding(const Encoding& got, const json& want) {
  CHECK(got.ids == ints(want["ids"]));
  CHECK(got.tokens == strings(want["tokens"]));
  CHECK(got.type_ids == ints(want["type_ids"]));
}

// The kinds of error a loader throws; each case names the one it expects.
enum class Expect { Io, Format, NotFound, Unsupported, Value };

const char* name(Expect e) {
  switch (e) {
    case Expect::Io:
      return "IoError";
    case Expect::Format:
      return "FormatError";
    case Expect::NotFound:
      return "NotFoundError";
    case Expect::Unsupported:
      return "UnsupportedError";
    case Expect::Value:
      return "ValueError";
  }
  return "?";
}

bool is(const relprop::Error& e, Expect kind) {
  switch (kind) {
    case Expect::Io:
      return dynamic_cast<const IoError*>(&e) != nullptr;
    case Expect::Format:
      return dynamic_cast<const FormatError*>(&e) != nullptr;
    case Expect::NotFound:
      return dynamic_cast<const NotFoundError*>(&e) != nullptr;
    case Expect::Unsupported:
      return dynamic_cast<const UnsupportedError*>(&e) != nullptr;
    case Expect::Value:
      return dynamic_cast<const ValueError*>(&e) != nullptr;
  }
  return false;
}

// Runs f, which must throw `kind` with every one of `needles` in its message.
void check_throws(const std::function<void()>& f, Expect kind, const std::vector<std::string>& needles) {
  try {
    f();
    FAIL("no error thrown; expected " << name(kind));
  } catch (const relprop::Error& e) {
    const std::string what = e.what();
    CHECK_MESSAGE(is(e, kind), "expected " << name(kind) << ", got: " << what);
    for (const auto& n : needles)
      CHECK_MESSAGE(what.find(n) != std::string::npos, "'" << n << "' not in: " << what);
  }
}

// A folder that load_tokenizer must refuse.
struct BadFiles {
  const char* name;
  std::vector<std::pair<std::string, std::string>> files;  // file name, contents
  const char* named;  // the file whose path the message must hold
  Expect kind;
  std::vector<std::string> needles;  // and what else it must say
};

// A small WordPiece tokenizer.json with extra vocabulary entries, model fields and
// top-level fields spliced in.
std::string wordpiece_json(const std::string& vocab_extra, const std::string& model_extra = "",
                           const std::string& top_extra = "") {
  return R"({"pre_tokenizer": {"type": "BertPreTokenizer"},)" + top_extra +
         R"( "model": {"type": "WordPiece", "vocab": {"[UNK]": 0, "[CLS]": 1, "[SEP]": 2, "a": 3)" +
         vocab_extra + "}" + model_extra + "}}";
}

std::string bpe_json(const std::string& merges, const std::string& model_extra = "") {
  return R"({"pre_tokenizer": {"type": "ByteLevel"}, "model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2},)"
         R"( "merges": )" +
         merges + model_extra + "}}";
}

const std::string kBpeVocab = R"({"a": 0, "b": 1, "ab": 2})";

// clang-format off
const std::vector<BadFiles> kBadFiles = {
    {"vocab.txt empty", {{"vocab.txt", ""}}, "vocab.txt", Expect::Format, {"empty"}},
    {"vocab.txt not UTF-8", {{"vocab.txt", "[UNK]\n\xff\xfe\n[CLS]\n[SEP]\n"}}, "vocab.txt",
     Expect::Format, {"line 2", "UTF-8"}},
    {"vocab.txt without [UNK]", {{"vocab.txt", "[CLS]\n[SEP]\nhello\n"}}, "vocab.txt",
     Expect::Format, {"[UNK]"}},
    {"vocab.txt without [CLS]", {{"vocab.txt", "[UNK]\n[SEP]\nhello\n"}}, "vocab.txt",
     Expect::Format, {"[CLS]"}},
    {"tokenizer.json not JSON", {{"tokenizer.json", "{\"model\": "}}, "tokenizer.json",
     Expect::Format, {"not valid JSON"}},
    {"tokenizer.json not UTF-8", {{"tokenizer.json", "{\"model\": \"\xc3("}}, "tokenizer.json",
     Expect::Format, {"UTF-8"}},
    {"tokenizer.json too deep", {{"tokenizer.json", std::string(100, '[') + std::string(100, ']')}},
     "tokenizer.json", Expect::Format, {"levels deep"}},
    {"tokenizer.json a list", {{"tokenizer.json", "[]"}}, "tokenizer.json",
     Expect::Format, {"must be an object"}},
    {"tokenizer.json without model", {{"tokenizer.json", "{}"}}, "tokenizer.json",
     Expect::Format, {"model is missing"}},
    {"tokenizer.json model without type", {{"tokenizer.json", R"({"model": {"vocab": {}}})"}},
     "tokenizer.json", Expect::Format, {"model.type is missing"}},
    {"tokenizer.json Unigram", {{"tokenizer.json", R"({"model": {"type": "Unigram", "vocab": []}})"}},
     "tokenizer.json", Expect::Unsupported, {"Unigram"}},
    {"tokenizer.json vocab a list",
     {{"tokenizer.json", R"({"model": {"type": "WordPiece", "vocab": [1]}})"}},
     "tokenizer.json", Expect::Format, {"model.vocab", "object"}},
    {"tokenizer.json negative id", {{"tokenizer.json", wordpiece_json(R"(, "x": -1)")}},
     "tokenizer.json", Expect::Format, {"model.vocab[\"x\"]", "integer"}},
    {"tokenizer.json duplicate id", {{"tokenizer.json", wordpiece_json(R"(, "b": 3)")}},
     "tokenizer.json", Expect::Format, {"id 3", "'a'", "'b'"}},
    {"tokenizer.json unk not in vocab",
     {{"tokenizer.json", wordpiece_json("", R"(, "unk_token": "<unk>")")}},
     "tokenizer.json", Expect::Format, {"<unk>"}},
    {"tokenizer.json unsupported normalizer",
     {{"tokenizer.json", wordpiece_json("", "", R"( "normalizer": {"type": "NFKC"},)")}},
     "tokenizer.json", Expect::Unsupported, {"NFKC"}},
    {"tokenizer.json added token without content",
     {{"tokenizer.json", wordpiece_json("", "", R"( "added_tokens": [{"id": 5}],)")}},
     "tokenizer.json", Expect::Format, {"added_tokens[0].content is missing"}},
    {"tokenizer.json template names an undefined token",
     {{"tokenizer.json", wordpiece_json("", "",
         R"( "post_processor": {"type": "TemplateProcessing",)"
         R"( "single": [{"SpecialToken": {"id": "[X]"}}], "pair": [], "special_tokens": {}},)")}},
     "tokenizer.json", Expect::Format, {"post_processor.single[0]", "[X]"}},
    {"tokenizer.json merge out of vocabulary", {{"tokenizer.json", bpe_json(R"(["a b", "b c"])")}},
     "tokenizer.json", Expect::Format, {"model.merges[1]", "'b c'"}},
    {"tokenizer.json merge not a pair", {{"tokenizer.json", bpe_json(R"([["a", "b", "c"]])")}},
     "tokenizer.json", Expect::Format, {"model.merges[0]"}},
    {"tokenizer.json BPE dropout", {{"tokenizer.json", bpe_json("[]", R"(, "dropout": 0.1)")}},
     "tokenizer.json", Expect::Unsupported, {"dropout"}},
    {"vocab.json a list", {{"vocab.json", "[]"}, {"merges.txt", ""}}, "vocab.json",
     Expect::Format, {"object"}},
    {"merges.txt three tokens",
     {{"vocab.json", kBpeVocab}, {"merges.txt", "#version: 0.2\na b\na b c\n"}}, "merges.txt",
     Expect::Format, {"line 3"}},
    {"merges.txt unknown token", {{"vocab.json", kBpeVocab}, {"merges.txt", "a c\n"}}, "merges.txt",
     Expect::Format, {"line 1", "'a c'"}},
    {"tokenizer_config.json malformed",
     {{"vocab.txt", "[UNK]\n[CLS]\n[SEP]\n"}, {"tokenizer_config.json", "{\"do_lower_case\": 1}"}},
     "tokenizer_config.json", Expect::Format, {"do_lower_case"}},
};
// clang-format on

}  // namespace

TEST_SUITE("text.tokenizer") {
  TEST_CASE("every golden sentence encodes as Hugging Face encodes it, from every file format") {
    const json& tokenizers = golden()["tokenizers"];
    const auto all = sources();
    for (const Source& src : all) {
      if (!tokenizers.contains(src.key)) continue;  // minilm goldens made without the package
      const json& want = tokenizers[src.key];
      const json& texts = want.contains("texts") ? want["texts"] : golden()["sentences"];
      const auto tok = src.load();
      REQUIRE(want["sentences"].size() == texts.size());
      for (std::size_t i = 0; i < texts.size(); ++i) {
        const std::string text = texts[i].get<std::string>();
        CAPTURE(src.key);
        CAPTURE(src.label);
        CAPTURE(text);
        const Encoding e = tok->encode(text);
        check_encoding(e, want["sentences"][i]);
        CHECK(tok->decode(e.ids) == want["sentences"][i]["decoded"].get<std::string>());
      }
      if (want.contains("pairs")) {
        const json& pairs = golden()["pairs"];
        for (std::size_t i = 0; i < pairs.size(); ++i) {
          CAPTURE(src.key);
          CAPTURE(src.label);
          CAPTURE(pairs[i].dump());
          check_encoding(tok->encode_pair(pairs[i][0].get<std::string>(), pairs[i][1].get<std::string>()),
                         want["pairs"][i]);
        }
      }
    }
  }

  TEST_CASE("the real MiniLM vocabulary (RELPROP_MINILM_DIR)") {
    const auto dir = minilm_dir();
    if (!dir || !golden()["tokenizers"].contains("minilm")) {
      MESSAGE("skipped: no all-MiniLM-L6-v2 (tools/fetch_minilm.sh, or set RELPROP_MINILM_DIR)");
      return;
    }
    const auto tok = load_tokenizer(*dir);
    CHECK(tok->vocab_size() == 30522);
    const Encoding e = tok->encode("Hello, world!");
    CHECK(e.ids == std::vector<std::int64_t>{101, 7592, 1010, 2088, 999, 102});
  }

  TEST_CASE("without special tokens, and pairs without a template") {
    const auto wp = load_tokenizer(kData / "wordpiece");
    const Encoding with = wp->encode("Hello, world!");
    const Encoding without = wp->encode("Hello, world!", false);
    REQUIRE(with.size() == without.size() + 2);
    CHECK(with.tokens.front() == "[CLS]");
    CHECK(with.tokens.back() == "[SEP]");
    CHECK(std::equal(without.ids.begin(), without.ids.end(), with.ids.begin() + 1));

    const Encoding pair = wp->encode_pair("a b", "c", false);
    CHECK(pair.size() == wp->encode("a b", false).size() + wp->encode("c", false).size());
    CHECK(pair.type_ids.back() == 1);
    CHECK(pair.type_ids.front() == 0);

    const auto bpe = load_tokenizer(kData / "bpe");  // GPT-2: no template at all
    const Encoding first = bpe->encode("Hello"), second = bpe->encode(" world");
    const Encoding b = bpe->encode_pair("Hello", " world");
    std::vector<std::int64_t> types(first.size(), 0);
    types.resize(first.size() + second.size(), 1);
    CHECK(b.type_ids == types);
    CHECK(b.tokens.front() == first.tokens.front());
  }

  TEST_CASE("byte-level BPE round trips any text, special tokens included") {
    const auto bpe = load_tokenizer(kData / "bpe");
    std::vector<std::string> texts = golden()["sentences"].get<std::vector<std::string>>();
    texts.push_back("\xf0\x9f\x98\x80\xf0\x9f\x98\x80 mixed \xe4\xb8\xad\xe6\x96\x87 and \x01\x02\x7f bytes");
    for (const std::string& text : texts) {
      CAPTURE(text);
      CHECK(bpe->decode(bpe->encode(text).ids, false) == text);
    }
    // A byte that starts a UTF-8 sequence, alone, decodes as U+FFFD (Rust's from_utf8_lossy).
    const auto lead = bpe->token_to_id("\xc3\x83");  // byte 0xC3 as its byte-level character, U+00C3
    REQUIRE(lead.has_value());
    CHECK(bpe->decode({*lead}) == "\xef\xbf\xbd");
    CHECK(bpe->decode({*lead, *lead}) == "\xef\xbf\xbd\xef\xbf\xbd");
  }

  TEST_CASE("vocabulary look-ups") {
    const auto wp = load_tokenizer(kData / "wordpiece");
    const auto mask = wp->token_to_id("[MASK]");
    REQUIRE(mask.has_value());
    CHECK(wp->id_to_token(*mask) == "[MASK]");
    CHECK_FALSE(wp->token_to_id("no-such-token").has_value());
    CHECK(wp->vocab_size() > 300);
    CHECK(wp->model_type() == "WordPiece");
    CHECK(load_tokenizer(kData / "bpe")->model_type() == "BPE");
    CHECK_THROWS_AS(wp->id_to_token(wp->vocab_size()), IndexError);
    CHECK_THROWS_AS(wp->decode({0, wp->vocab_size() + 5}), IndexError);
    CHECK_THROWS_AS(wp->id_to_token(-1), IndexError);
  }

  TEST_CASE("text that is not UTF-8 is a ValueError naming the byte") {
    const auto wp = load_tokenizer(kData / "wordpiece");
    const auto bpe = load_tokenizer(kData / "bpe");
    for (const std::string& bad : {std::string("ok \xff"), std::string("ab\xc3"), std::string("\xed\xa0\x80"),
                                   std::string("\xc0\xaf")}) {
      CAPTURE(bad);
      check_throws([&] { wp->encode(bad); }, Expect::Value, {"UTF-8", "byte"});
      check_throws([&] { bpe->encode(bad); }, Expect::Value, {"UTF-8", "byte"});
    }
    check_throws([&] { wp->encode("x\xff"); }, Expect::Value, {"byte 1"});
  }

  TEST_CASE("a missing folder or file is named") {
    const fs::path nowhere = scratch("missing") / "nowhere";
    check_throws([&] { load_tokenizer(nowhere); }, Expect::NotFound, {nowhere.string()});
    const fs::path empty = scratch("empty");
    check_throws([&] { load_tokenizer(empty); }, Expect::NotFound,
                 {empty.string(), "tokenizer.json", "vocab.txt"});
    check_throws([&] { load_wordpiece_vocab(nowhere / "vocab.txt"); }, Expect::Io,
                 {"vocab.txt", (nowhere / "vocab.txt").string()});
    check_throws([&] { load_tokenizer_json(nowhere / "tokenizer.json"); }, Expect::Io,
                 {(nowhere / "tokenizer.json").string()});
    const fs::path only_vocab = folder_with("bpe_without_merges", kData / "bpe", {"vocab.json"});
    check_throws([&] { load_bpe_vocab(only_vocab / "vocab.json", only_vocab / "merges.txt"); }, Expect::Io,
                 {"merges.txt", (only_vocab / "merges.txt").string()});
  }

  TEST_CASE("malformed files are typed errors naming the file") {
    for (std::size_t n = 0; n < kBadFiles.size(); ++n) {
      const BadFiles& c = kBadFiles[n];
      SUBCASE(c.name) {
        const fs::path dir = scratch("bad" + std::to_string(n));
        for (const auto& [file, contents] : c.files) write(dir / file, contents);
        std::vector<std::string> needles = c.needles;
        needles.push_back((dir / c.named).string());
        check_throws([&] { load_tokenizer(dir); }, c.kind, needles);
      }
    }
  }

  TEST_CASE("tokenizer_config.json settings apply to vocab.txt") {
    const fs::path dir = folder_with("cased_vocab", kData / "wordpiece", {"vocab.txt"});
    write(dir / "tokenizer_config.json", R"({"do_lower_case": false})");
    const auto cased = load_tokenizer(dir);
    const auto uncased = load_wordpiece_vocab(dir / "vocab.txt");
    // Upper-case letters are not in the uncased vocabulary: kept as they are, words become [UNK].
    CHECK(cased->encode("HELLO").tokens == std::vector<std::string>{"[CLS]", "[UNK]", "[SEP]"});
    CHECK(uncased->encode("HELLO").tokens != cased->encode("HELLO").tokens);
  }
}
