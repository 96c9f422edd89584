// Numbers on the command line (apps/numbers.hpp): strict decimal text, finite in float32,
// in the option's range, and the error naming the option and the text.

#include <doctest/doctest.h>

#include <functional>
#include <limits>
#include <string>

#include "apps/numbers.hpp"
#include "relprop/tensor/error.hpp"

using namespace relprop;
using namespace relprop::app;

namespace {

std::string refusal(const std::function<void()>& f) {
  try {
    f();
  } catch (const ValueError& e) {
    return e.what();
  }
  return "(accepted)";
}

}  // namespace

TEST_SUITE("apps.numbers") {
  TEST_CASE("parse_real: decimal text only, finite in float32") {
    CHECK(parse_real("--x", "2") == 2.0);
    CHECK(parse_real("--x", "-0.25") == -0.25);
    CHECK(parse_real("--x", "1e-3") == 1e-3);
    CHECK(parse_real("--x", "3.4e38") == 3.4e38);
    CHECK(parse_real("--x", "1e-400") == 0.0);  // underflow: as float32 holds it
    for (const char* bad : {"", "8x", " 1", "1 ", "+1", "0x10", "1,5", "--1", "e3"}) {
      CAPTURE(bad);
      CHECK(refusal([&] { parse_real("--multiplier", bad); }) == "--multiplier '" + std::string(bad) + "': not a number");
    }
    for (const char* bad : {"inf", "-inf", "nan", "NaN", "infinity", "3.5e38", "-1e39", "1e400"}) {
      CAPTURE(bad);
      CHECK(refusal([&] { parse_real("--scaler", bad); }) ==
            "--scaler '" + std::string(bad) + "': not a finite number (float32: |v| <= 3.40282e+38)");
    }
  }

  TEST_CASE("parse_real: ranges with open and closed ends") {
    const RealRange positive{0.0, std::numeric_limits<double>::infinity(), true};
    CHECK(parse_real("--std", "1e-30", positive) == 1e-30);
    CHECK(refusal([&] { parse_real("--std", "0", positive); }) == "--std '0': must be > 0");
    CHECK(refusal([&] { parse_real("--std", "-1", positive); }) == "--std '-1': must be > 0");
    CHECK(refusal([&] { parse_real("--max-unit", "-1", RealRange{0.0}); }) == "--max-unit '-1': must be >= 0");
    const RealRange crop{0.0, 1.0, true};
    CHECK(parse_real("--crop", "1", crop) == 1.0);
    CHECK(refusal([&] { parse_real("--crop", "1.5", crop); }) == "--crop '1.5': must be > 0 and <= 1");
  }

  TEST_CASE("parse_integer: decimal digits only, in range") {
    CHECK(parse_integer("--x", "12") == 12);
    CHECK(parse_integer("--x", "-3") == -3);
    CHECK(parse_integer("--x", "010") == 10);  // decimal, not octal
    for (const char* bad : {"", "1e1", "8x", "1.0", "0x10", " 4", "+4", "4 "}) {
      CAPTURE(bad);
      CHECK(refusal([&] { parse_integer("--scale", bad); }) == "--scale '" + std::string(bad) + "': not an integer");
    }
    CHECK(refusal([&] { parse_integer("--scale", "65", 0, 64); }) == "--scale '65': must be >= 0 and <= 64");
    CHECK(refusal([&] { parse_integer("--batch-size", "0", 1); }) == "--batch-size '0': must be >= 1");
    CHECK(refusal([&] { parse_integer("--x", "99999999999999999999"); }) ==
          "--x '99999999999999999999': outside the 64-bit integer range");
  }

  TEST_CASE("split_list keeps empty parts") {
    CHECK(split_list("1,2", ',') == std::vector<std::string_view>{"1", "2"});
    CHECK(split_list("1,", ',') == std::vector<std::string_view>{"1", ""});
    CHECK(split_list("", '/') == std::vector<std::string_view>{""});
  }
}
