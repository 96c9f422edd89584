// Numbers on the command line, read strictly (apps/numbers.hpp).

#include "apps/numbers.hpp"

#include <cfloat>
#include <charconv>
#include <cmath>
#include <system_error>

#include <cstdlib>

#include "relprop/tensor/error.hpp"

namespace relprop::app {

namespace {

std::string shown(double v) {
  char buf[32];
  const auto r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::general, 6);
  return std::string(buf, r.ptr);
}

[[noreturn]] void refuse(std::string_view option, std::string_view text, const std::string& why) {
  throw ValueError(std::string(option) + " '" + std::string(text) + "': " + why);
}

}  // namespace

double parse_real(std::string_view option, std::string_view text, const RealRange& range) {
  double v = 0;
  const char* end = text.data() + text.size();
  const auto [p, ec] = std::from_chars(text.data(), end, v, std::chars_format::general);
  if (text.empty() || p != end || (ec != std::errc() && ec != std::errc::result_out_of_range))
    refuse(option, text, "not a number");
  // from_chars reads "inf" and "nan"; a value beyond float32's range becomes infinity in
  // the kernels (out of double's range: result_out_of_range).
  // from_chars leaves v as it was when out of range: strtod tells overflow (infinity)
  // from underflow (1e-400 reads as 0, as float32 would hold it).
  if (ec == std::errc::result_out_of_range) v = std::strtod(std::string(text).c_str(), nullptr);
  if (!std::isfinite(v) || std::fabs(v) > FLT_MAX)
    refuse(option, text, "not a finite number (float32: |v| <= 3.40282e+38)");
  const bool above_low = range.low_open ? v > range.low : v >= range.low;
  const bool below_high = range.high_open ? v < range.high : v <= range.high;
  if (!above_low || !below_high) {
    std::string want;
    if (std::isfinite(range.low)) want += (range.low_open ? "> " : ">= ") + shown(range.low);
    if (std::isfinite(range.high)) want += (want.empty() ? "" : " and ") + std::string(range.high_open ? "< " : "<= ") + shown(range.high);
    refuse(option, text, "must be " + want);
  }
  return v;
}

std::int64_t parse_integer(std::string_view option, std::string_view text, std::int64_t low, std::int64_t high) {
  std::int64_t v = 0;
  const char* end = text.data() + text.size();
  const auto [p, ec] = std::from_chars(text.data(), end, v, 10);
  if (text.empty() || p != end || (ec != std::errc() && ec != std::errc::result_out_of_range))
    refuse(option, text, "not an integer");
  if (ec == std::errc::result_out_of_range || v < low || v > high) {
    std::string want;
    if (low != std::numeric_limits<std::int64_t>::min()) want += ">= " + std::to_string(low);
    if (high != std::numeric_limits<std::int64_t>::max()) want += (want.empty() ? "" : " and ") + std::string("<= ") + std::to_string(high);
    refuse(option, text, want.empty() ? "outside the 64-bit integer range" : "must be " + want);
  }
  return v;
}

std::vector<std::string_view> split_list(std::string_view text, char sep) {
  std::vector<std::string_view> parts;
  for (std::size_t start = 0;;) {
    const std::size_t at = text.find(sep, start);
    parts.push_back(text.substr(start, at == std::string_view::npos ? std::string_view::npos : at - start));
    if (at == std::string_view::npos) return parts;
    start = at + 1;
  }
}

}  // namespace relprop::app
