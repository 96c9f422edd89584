// libFuzzer target: arbitrary bytes through the safetensors parser, the loader and the
// writer. A relprop::Error is the expected answer to garbage; any other exception, a
// crash, a sanitizer report, or a broken invariant below is a bug.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "relprop/io/safetensors.hpp"

namespace {

// Aborts (a crash libFuzzer records) when what a valid header promises does not hold.
void require(bool ok, const char* what) {
  if (ok) return;
  std::fprintf(stderr, "fuzz_safetensors: invariant broken: %s\n", what);
  std::abort();
}

// What parse_safetensors_header guarantees about a header it accepted.
void check_header(const relprop::SafetensorsHeader& h, std::size_t file_size) {
  require(h.data_offset == 8 + h.header_size, "data_offset is 8 + N");
  require(h.data_offset <= file_size, "the header lies inside the file");
  std::uint64_t covered = 0;
  const relprop::SafetensorsTensorInfo* prev = nullptr;
  for (const auto& t : h.tensors) {
    require(t.begin <= t.end, "begin <= end");
    require(!prev || prev->begin <= t.begin, "tensors sorted by offset");
    require(t.shape.size() <= 8, "rank at most 8");
    require(h.find(t.name) == &t, "find() returns the tensor");
    covered += t.end - t.begin;
    prev = &t;
  }
  require(covered == file_size - h.data_offset, "the tensors tile the data section");
}

// Every element read, so ASan sees any view that runs past its bytes.
void touch(const relprop::Tensor& t) {
  const std::vector<double> v = t.to_vector_f64();
  require(static_cast<std::int64_t>(v.size()) == t.numel(), "one value per element");
}

// The tensors relprop can hold, written and read back, must come back byte for byte.
void round_trip(const std::vector<std::pair<std::string, relprop::Tensor>>& tensors) {
  const std::vector<std::byte> bytes = relprop::serialize_safetensors(tensors, {{"fuzz", "1"}});
  const auto again = relprop::SafetensorsFile::from_bytes(bytes, "<round trip>");
  require(again.names().size() == tensors.size(), "round trip keeps every tensor");
  for (const auto& [name, t] : tensors) {
    const relprop::Tensor r = again.get_raw(name);
    require(r.dtype() == t.dtype() && r.shape() == t.shape(), "round trip keeps dtype and shape");
    const relprop::Tensor c = t.contiguous();
    require(r.nbytes() == c.nbytes(), "round trip keeps the size");
    require(c.nbytes() == 0 || std::memcmp(r.raw_data(), c.raw_data(), c.nbytes()) == 0,
            "round trip keeps the bytes");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(data), size);
  relprop::SafetensorsHeader header;
  try {
    header = relprop::parse_safetensors_header(bytes);
  } catch (const relprop::Error&) {
    return 0;
  }
  check_header(header, size);

  // Accepted once, so loading the same bytes must not be refused: no try here.
  const auto file = relprop::SafetensorsFile::from_bytes(std::vector<std::byte>(bytes.begin(), bytes.end()));
  require(file.names().size() == header.tensors.size(), "every tensor is named");

  std::vector<std::pair<std::string, relprop::Tensor>> loaded;
  for (const auto& name : file.names()) {
    try {
      touch(file.get(name));
    } catch (const relprop::Error&) {  // unsupported dtypes, U64 beyond I64
    }
    try {
      relprop::Tensor raw = file.get_raw(name);
      touch(raw);
      if (!name.empty()) loaded.emplace_back(name, std::move(raw));  // the writer refuses ""
    } catch (const relprop::Error&) {
    }
  }
  round_trip(loaded);
  return 0;
}
