#include "relprop/tensor/files.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "relprop/tensor/error.hpp"

namespace relprop {

namespace {

const char* kind_of(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO (named pipe)";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  return "not a regular file";
}

[[noreturn]] void refuse(std::string_view what, const std::filesystem::path& path, const std::string& why) {
  throw IoError("cannot read " + std::string(what) + " '" + path.string() + "': " + why);
}

}  // namespace

int open_regular_file(const std::filesystem::path& path, std::string_view what) {
  struct stat st {};
  // By type first, without opening: opening a FIFO blocks and opening a device may act.
  if (::stat(path.c_str(), &st) != 0) refuse(what, path, std::strerror(errno));
  if (!S_ISREG(st.st_mode)) refuse(what, path, std::string("it is ") + kind_of(st.st_mode) + ", not a regular file");
  int fd = -1;
  do {
    // O_NONBLOCK: should the path have become a FIFO since, the open returns at once
    // instead of waiting for a writer (and the check below refuses it).
    fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) refuse(what, path, std::strerror(errno));
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    const int err = errno;
    ::close(fd);
    refuse(what, path, S_ISREG(st.st_mode) ? std::strerror(err) : std::string("it is ") + kind_of(st.st_mode) +
                                                                       ", not a regular file");
  }
  // Reads of a regular file never block; the flag is cleared all the same.
  const int flags = ::fcntl(fd, F_GETFL);
  if (flags >= 0) ::fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
  return fd;
}

std::string read_regular_file(const std::filesystem::path& path, std::string_view what) {
  const int fd = open_regular_file(path, what);
  std::string data;
  struct stat st {};
  if (::fstat(fd, &st) == 0 && st.st_size > 0) data.reserve(static_cast<std::size_t>(st.st_size));
  char buf[1 << 16];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n > 0) {
      data.append(buf, static_cast<std::size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      ::close(fd);
      refuse(what, path, std::strerror(err));
    }
    break;
  }
  ::close(fd);
  return data;
}

}  // namespace relprop
