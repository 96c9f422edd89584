#pragma once
// A read-only memory-mapped file (RAII). An empty file maps to an empty span.

#include <cstddef>
#include <filesystem>
#include <span>
#include <string>

namespace relprop {

class MappedFile {
 public:
  // IoError naming the path and the system's reason when the file cannot be mapped.
  explicit MappedFile(const std::filesystem::path& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  std::span<const std::byte> bytes() const { return {static_cast<const std::byte*>(data_), size_}; }
  const std::string& path() const { return path_; }

 private:
  void* data_ = nullptr;
  std::size_t size_ = 0;
  std::string path_;
};

}  // namespace relprop
