#pragma once
// A memory-mapped file (RAII). The file is opened read-only and never written; an empty
// file has no mapping (mmap of 0 bytes is invalid) and reads as an empty span.

#include <cstddef>
#include <filesystem>
#include <span>

namespace relprop {

// The mapping of one whole file (see above). Movable, not copyable.
class MappedFile {
 public:
  // Maps the whole of `path`. IoError naming the path and the system's reason when it
  // cannot be opened, is not a regular file, or cannot be mapped.
  static MappedFile open(const std::filesystem::path& path);

  MappedFile() = default;  // nothing mapped
  ~MappedFile();           // unmaps
  // Moving hands the mapping over; the moved-from file is left with nothing mapped.
  MappedFile(MappedFile&& other) noexcept;
  MappedFile& operator=(MappedFile&& other) noexcept;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  // The file's contents (empty for an empty file or nothing mapped).
  std::span<const std::byte> bytes() const { return {static_cast<const std::byte*>(data_), size_}; }
  std::size_t size() const { return size_; }                   // in bytes
  const std::filesystem::path& path() const { return path_; }  // as given to open()

 private:
  void unmap() noexcept;

  void* data_ = nullptr;  // null when nothing is mapped (also for empty files)
  std::size_t size_ = 0;
  std::filesystem::path path_;
};

}  // namespace relprop
