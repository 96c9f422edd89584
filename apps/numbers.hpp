#pragma once
// Numbers on the command line, read strictly: the whole text in decimal (no '+', no
// spaces, no hexadecimal or octal, no trailing characters; "1e1" is not an integer), finite
// in float32 (what the kernels compute in), and inside the option's range. Every failure
// is a ValueError naming the option and the text given.

#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

namespace relprop::app {

// The range an option's value must lie in; an open end excludes its bound.
struct RealRange {
  double low = -std::numeric_limits<double>::infinity();
  double high = std::numeric_limits<double>::infinity();
  bool low_open = false, high_open = false;
};

// A decimal real number (as std::from_chars reads one: "-0.5", "2", "1e-3"), finite with
// |v| <= 3.40282e+38, within `range`.
double parse_real(std::string_view option, std::string_view text, const RealRange& range = {});
// A decimal integer ("-12", "7"; not "1e1", "8x", "0x10") in [low, high].
std::int64_t parse_integer(std::string_view option, std::string_view text,
                           std::int64_t low = std::numeric_limits<std::int64_t>::min(),
                           std::int64_t high = std::numeric_limits<std::int64_t>::max());
// `text` split at `sep` (an empty part stays: it is not a number).
std::vector<std::string_view> split_list(std::string_view text, char sep);

}  // namespace relprop::app
