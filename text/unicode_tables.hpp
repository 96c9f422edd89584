#pragma once
// The generated Unicode tables the tokenizers read (defined in text/unicode_tables.cpp,
// written by tools/make_tokenizer_fixtures.py --unicode-tables) and the types of their
// rows. Internal: not installed, not for public headers.

#include <cstdint>
#include <span>

namespace relprop::text::detail {

// Coarse general categories: L*, Mn, Mc+Me, N*, P*, S*, Z*, then Cc, Cf, Cs, Co, Cn.
enum class Cat : std::uint8_t { Ltr, Mn, Mco, Num, Pun, Sym, Sep, Cc, Cf, Cs, Co, Cn };

struct CategoryRun {
  char32_t first;  // the run lasts until the next run's first
  Cat cat;
};
struct LowerRun {
  char32_t first, last;  // every `stride`-th code point from first to last maps to cp + delta
  std::int32_t delta;
  std::uint8_t stride;
};
struct StripPair {
  char32_t cp;         // a code point whose NFD differs from it
  char32_t base;       // its NFD without nonspacing marks: one code point,
  char32_t base2 = 0;  // or two
};

std::span<const CategoryRun> category_runs();  // sorted by first; the first starts at U+0000
std::span<const LowerRun> lower_runs();        // sorted by first
std::span<const StripPair> strip_pairs();      // sorted by cp

}  // namespace relprop::text::detail
