#pragma once
// Safetensors files assembled byte for byte for the io.safetensors suites, so malformed
// cases stay malformed, and a scratch folder to write them into.

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <string>
#include <vector>

namespace relprop::safetensors_test {

namespace fs = std::filesystem;

using Bytes = std::vector<std::byte>;

inline Bytes u64_le(std::uint64_t v) {
  Bytes b(8);
  for (auto& x : b) {
    x = static_cast<std::byte>(v & 0xFF);
    v >>= 8;
  }
  return b;
}

// u64 N | header text | data, exactly as given, so malformed cases stay malformed.
inline Bytes file_with_length(std::uint64_t n, const std::string& header, const Bytes& data = {}) {
  Bytes f = u64_le(n);
  for (char c : header) f.push_back(static_cast<std::byte>(c));
  f.insert(f.end(), data.begin(), data.end());
  return f;
}
inline Bytes file(const std::string& header, const Bytes& data = {}) { return file_with_length(header.size(), header, data); }
// `n` data bytes with distinct values (1, 8, 15, ...).
inline Bytes filler(std::size_t n) {
  Bytes b(n);
  for (std::size_t i = 0; i < n; ++i) b[i] = static_cast<std::byte>(i * 7 + 1);
  return b;
}
template <class T>
inline Bytes raw(std::initializer_list<T> values) {
  Bytes b(values.size() * sizeof(T));
  std::memcpy(b.data(), values.begin(), b.size());
  return b;
}
inline Bytes concat(std::initializer_list<Bytes> parts) {
  Bytes out;
  for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

// "name":{"dtype":..,"shape":..,"data_offsets":..}
inline std::string entry(const std::string& name, const std::string& dtype, const std::string& shape,
                         const std::string& offsets) {
  return "\"" + name + "\":{\"dtype\":\"" + dtype + "\",\"shape\":" + shape + ",\"data_offsets\":" + offsets + "}";
}
inline std::string obj(std::initializer_list<std::string> entries) {
  std::string s = "{";
  for (const auto& e : entries) s += (s.size() > 1 ? "," : "") + e;
  return s + "}";
}

inline const std::string kOne = obj({entry("a", "F32", "[2]", "[0,8]")});

inline fs::path scratch_dir() {
  const fs::path dir = fs::temp_directory_path() / "relprop_test_safetensors";
  fs::create_directories(dir);
  return dir;
}
inline fs::path scratch(const std::string& name) { return scratch_dir() / name; }

inline void write_file(const fs::path& p, const Bytes& bytes) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

}  // namespace relprop::safetensors_test
