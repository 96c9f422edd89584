#include "relprop/io/mmap.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <utility>

#include "relprop/tensor/error.hpp"

namespace relprop {

namespace {

[[noreturn]] void io_fail(const char* what, const std::filesystem::path& path, int err) {
  throw IoError(std::string("cannot ") + what + " '" + path.string() + "': " + std::strerror(err));
}

// Closes the descriptor on every path out of open(); the mapping outlives it.
struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

}  // namespace

MappedFile MappedFile::open(const std::filesystem::path& path) {
  Fd f;
  do {
    f.fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  } while (f.fd < 0 && errno == EINTR);
  if (f.fd < 0) io_fail("open", path, errno);

  struct stat st {};
  if (::fstat(f.fd, &st) != 0) io_fail("stat", path, errno);
  // Directories, pipes and devices have no fixed size to map.
  if (!S_ISREG(st.st_mode)) throw IoError("cannot map '" + path.string() + "': not a regular file");
  if (static_cast<std::uintmax_t>(st.st_size) > std::numeric_limits<std::size_t>::max())
    io_fail("map", path, EFBIG);

  MappedFile m;
  m.path_ = path;
  m.size_ = static_cast<std::size_t>(st.st_size);
  if (m.size_ == 0) return m;
  // A private (copy-on-write) mapping of a read-only descriptor: the file is never written,
  // yet a caller that modifies a tensor borrowed from it (Storage gives out mutable
  // pointers) changes only its own pages instead of faulting on a read-only page.
  void* p = ::mmap(nullptr, m.size_, PROT_READ | PROT_WRITE, MAP_PRIVATE, f.fd, 0);
  if (p == MAP_FAILED) io_fail("map", path, errno);
  m.data_ = p;
  return m;
}

MappedFile::~MappedFile() { unmap(); }

MappedFile::MappedFile(MappedFile&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)),
      size_(std::exchange(other.size_, 0)),
      path_(std::move(other.path_)) {}

MappedFile& MappedFile::operator=(MappedFile&& other) noexcept {
  if (this != &other) {
    unmap();
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
    path_ = std::move(other.path_);
  }
  return *this;
}

void MappedFile::unmap() noexcept {
  if (data_) ::munmap(data_, size_);
  data_ = nullptr;
  size_ = 0;
}

}  // namespace relprop
