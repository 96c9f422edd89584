#pragma once
// A memory-mapped file (RAII). The file is opened read-only and never written; an empty
// file has no mapping (mmap of 0 bytes is invalid) and reads as an empty span.
//
// A file that shrinks while it is mapped (truncated or rewritten by another program)
// would end the process with SIGBUS at the first read past its new end. relprop installs
// a SIGBUS handler (once, chaining to the one before it for faults outside its mappings)
// that maps zero pages over the lost part and marks the file; check_intact() /
// check_all_intact() then throw an IoError naming the file, and the explanation that read
// the zeros is refused (GraphExplainer checks after every explanation, Graph::forward
// after every run). The size is compared as well, which catches a cut within the last page
// (read as zeros without a fault). When every one of the handler's slots is taken the file
// is read into memory instead of mapped.

#include <cstddef>
#include <filesystem>
#include <span>

namespace relprop {

// The mapping of one whole file (see above). Movable, not copyable.
class MappedFile {
 public:
  // Maps the whole of `path`. IoError naming the path and the system's reason when it
  // cannot be opened, is not a regular file (a FIFO or device is refused without opening
  // it for reading: tensor/files.hpp), or cannot be mapped.
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

  // IoError naming the file when it has shrunk since it was mapped (a read found part of
  // it gone, or it is shorter now).
  void check_intact() const;
  // check_intact() of every file mapped now, in this process.
  static void check_all_intact();
  // Only whether a read found part of some mapped file gone (no system call: cheap).
  static void check_no_faults();

 private:
  void unmap() noexcept;

  void* data_ = nullptr;  // null when nothing is mapped (also for empty files)
  std::size_t size_ = 0;
  std::size_t length_ = 0;  // bytes mapped (size_ rounded up to whole pages)
  int slot_ = -1;           // in the SIGBUS handler's table; -1: read into memory, or empty
  int fd_ = -1;             // kept open to compare the file's size
  std::filesystem::path path_;
};

}  // namespace relprop
