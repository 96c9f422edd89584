// libFuzzer target: a tokenizer.json and a text, through the loader, encode and decode.
// The input is the tokenizer.json, a NUL byte, then the text (without a NUL: the text
// "Hello, world! Ünïcödé 🙂"). Seeds in tests/fuzz/corpus/tokenizer/. A relprop::Error is
// the expected answer to a bad file; any other exception, a crash or a sanitizer report is
// a bug, and so is an id out of the vocabulary.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>

#include "relprop/tensor/error.hpp"
#include "relprop/text/tokenizer.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view all(reinterpret_cast<const char*>(data), size);
  const auto nul = all.find('\0');
  const std::string json(all.substr(0, nul));
  const std::string text = nul == std::string_view::npos ? std::string("Hello, world! \xc3\x9cn\xc3\xaf" "c\xc3\xb6" "d\xc3\xa9 \xf0\x9f\x99\x82")
                                                         : std::string(all.substr(nul + 1));
  std::unique_ptr<relprop::text::Tokenizer> tok;
  try {
    tok = relprop::text::parse_tokenizer_json(json, "fuzz tokenizer.json");
  } catch (const relprop::Error&) {
    return 0;
  }
  try {
    const relprop::text::Encoding enc = tok->encode(text);
    for (const std::int64_t id : enc.ids)
      if (id < 0 || id >= tok->vocab_size()) {
        std::fprintf(stderr, "fuzz_tokenizer: id %lld outside the vocabulary\n", static_cast<long long>(id));
        std::abort();
      }
    (void)tok->decode(enc.ids, true);
    (void)tok->decode(enc.ids, false);
    const relprop::text::Encoding pair = tok->encode_pair(text, json.substr(0, 64));
    for (const std::int64_t id : pair.ids)
      if (id < 0 || id >= tok->vocab_size()) std::abort();
  } catch (const relprop::Error&) {
  }
  return 0;
}
