// libFuzzer target: arbitrary bytes through the safetensors parser and loader. A relprop
// error is the expected answer to garbage; anything else (another exception, a crash, a
// sanitizer report) is a bug.

#include <cstddef>
#include <cstdint>
#include <vector>

#include "io/safetensors.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto* bytes = reinterpret_cast<const std::byte*>(data);
  try {
    relprop::parse_safetensors_header(std::span<const std::byte>(bytes, size));
  } catch (const relprop::Error&) {
    return 0;
  }
  try {
    const auto file = relprop::SafetensorsFile::from_bytes(std::vector<std::byte>(bytes, bytes + size));
    for (const auto& name : file.names()) {
      try {
        const relprop::Tensor t = file.get(name);
        if (t.numel() > 0) (void)t.get_flat(t.numel() - 1);
      } catch (const relprop::Error&) {
      }
    }
  } catch (const relprop::Error&) {
  }
  return 0;
}
