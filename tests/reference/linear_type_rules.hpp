#pragma once
// Every linear-type rule with its options, for the suites that run them all on one layer
// (the GPU parity of linear, the skeleton's general path against the CPU's fast paths):
// parse_rule where the rule string can say it, the rule structs for stabilisers and
// zero_bias.

#include <cstdint>
#include <iomanip>
#include <sstream>
#include <vector>

#include "relprop/relevance/rules.hpp"

namespace relprop::testing {

// "zbox:LOW,HIGH" with one bound per input channel (feature) c: low_c = -1 - c / 8,
// high_c = 1 + c / 16.
inline Rule zbox_per_channel(std::int64_t channels) {
  std::ostringstream lo, hi;
  lo << std::setprecision(17);
  hi << std::setprecision(17);
  for (std::int64_t c = 0; c < channels; ++c) {
    lo << (c ? "/" : "") << -1.0 - 0.125 * static_cast<double>(c);
    hi << (c ? "/" : "") << 1.0 + 0.0625 * static_cast<double>(c);
  }
  return parse_rule("zbox:" + lo.str() + "," + hi.str());
}

// `channels`: the input's channels (features), for the per-channel z^B bounds.
inline std::vector<Rule> linear_type_rules(std::int64_t channels) {
  std::vector<Rule> out;
  for (const char* spec : {"zero", "epsilon", "epsilon:0.1", "zplus", "alpha-beta:2,1", "alpha-beta:1,0",
                           "alpha-beta:3,2", "gamma", "gamma:0", "gamma:3", "zbox:-1,1", "wsquare", "flat",
                           "gradient", "backtrace", "backtrace:gate"})
    out.push_back(parse_rule(spec));
  out.push_back(zbox_per_channel(channels));
  out.push_back(EpsilonRule{0.5, Stabilizer::Clip});
  out.push_back(EpsilonRule{0.3, Stabilizer::Scaled});
  out.push_back(EpsilonRule{0.25, Stabilizer::Sign, /*zero_bias=*/true});
  out.push_back(ZeroRule{/*zero_bias=*/true});
  out.push_back(ZPlusRule{0.1, Stabilizer::Scaled});
  out.push_back(ZPlusRule{1e-6, Stabilizer::Sign, /*zero_bias=*/true});
  out.push_back(AlphaBetaRule{2.0, 1.0, 0.1, Stabilizer::Clip});
  out.push_back(AlphaBetaRule{2.0, 1.0, 0.1, Stabilizer::Scaled, /*zero_bias=*/true});
  out.push_back(AlphaBetaRule{1.0, 0.0, 0.2, Stabilizer::Scaled});
  out.push_back(GammaRule{0.25, 0.1, Stabilizer::Clip});
  out.push_back(GammaRule{0.25, 0.1, Stabilizer::Scaled});
  out.push_back(GammaRule{3.0, 0.1, Stabilizer::Scaled});
  out.push_back(GammaRule{0.25, 1e-6, Stabilizer::Sign, /*zero_bias=*/true});
  out.push_back(ZBoxRule{{-1.0}, {1.0}, 0.1, Stabilizer::Scaled});
  out.push_back(WSquareRule{0.1, Stabilizer::Clip});
  out.push_back(WSquareRule{1e-6, Stabilizer::Sign, /*zero_bias=*/true});
  out.push_back(FlatRule{0.1, Stabilizer::Clip});
  out.push_back(FlatRule{0.1, Stabilizer::Scaled});
  return out;
}

}  // namespace relprop::testing
