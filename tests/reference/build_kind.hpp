// What kind of build the tests run in. Under AddressSanitizer the whole-model checks take
// minutes per model (ResNet-50 x every composite: ~8 min on 2 cores), so sanitized builds
// run one small model per check; the release build runs them all.
#pragma once

namespace relprop::test {

#if defined(__SANITIZE_ADDRESS__)
inline constexpr bool kSanitized = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
inline constexpr bool kSanitized = true;
#else
inline constexpr bool kSanitized = false;
#endif
#else
inline constexpr bool kSanitized = false;
#endif

}  // namespace relprop::test
