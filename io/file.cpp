// Files written whole under a unique temporary name, and the temporaries of killed runs
// removed (io/file.hpp).

#include "relprop/io/file.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <mutex>
#include <random>
#include <set>
#include <utility>

#include <xxhash.h>

#include "relprop/tensor/error.hpp"

namespace relprop {

namespace fs = std::filesystem;

namespace {

constexpr std::string_view kMark = ".relprop-";
constexpr std::string_view kEnd = ".tmp";
constexpr std::size_t kRandom = 8;
constexpr char kAlphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";

[[noreturn]] void fail_io(const char* what, const fs::path& target, int err) {
  throw IoError(std::string("cannot ") + what + " '" + target.string() + "': " + std::strerror(err));
}

fs::path folder_of(const fs::path& p) { return p.has_parent_path() ? p.parent_path() : fs::path("."); }

// The temporaries this process holds, by (device, inode): remove_stale_temporaries skips
// them even where a lock cannot tell (POSIX locks, as NFS emulates flock with, do not
// conflict within one process).
struct Live {
  std::mutex mutex;
  std::set<std::pair<dev_t, ino_t>> files;
};
Live& live() {
  static Live l;
  return l;
}
void forget(dev_t dev, ino_t ino) {
  std::lock_guard<std::mutex> lock(live().mutex);
  live().files.erase({dev, ino});
}

// NAME cut to at most `room` bytes without splitting a UTF-8 sequence.
std::string cut(const std::string& name, std::size_t room) {
  if (name.size() <= room) return name;
  std::size_t n = room;
  while (n > 0 && (static_cast<unsigned char>(name[n]) & 0xC0) == 0x80) --n;
  return name.substr(0, n);
}

std::string random_chars() {
  // Seeded again in a forked child, which would otherwise repeat its parent's names.
  thread_local pid_t owner = 0;
  thread_local std::mt19937_64 rng;
  if (owner != ::getpid()) {
    owner = ::getpid();
    rng.seed(std::random_device{}() ^ (static_cast<std::uint64_t>(owner) << 32));
  }
  std::string s(kRandom, 'a');
  for (auto& c : s) c = kAlphabet[rng() % (sizeof kAlphabet - 1)];
  return s;
}

bool same_inode(const struct stat& a, const struct stat& b) { return a.st_dev == b.st_dev && a.st_ino == b.st_ino; }

}  // namespace

// ---- OutputFile -------------------------------------------------------------------------

struct OutputFile::State {
  fs::path target, temporary;
  int fd = -1;
  dev_t dev = 0;
  ino_t ino = 0;
  bool finished = false, committed = false;

  void close_fd() {
    if (fd < 0) return;
    ::close(fd);  // releases the lock
    fd = -1;
  }
};

OutputFile::OutputFile(fs::path target) : s_(std::make_unique<State>()) {
  s_->target = std::move(target);
  const fs::path dir = folder_of(s_->target);
  const std::string name = s_->target.filename().string();
  const std::size_t fixed = 1 + kMark.size() + kRandom + kEnd.size();
  const std::size_t limit = name_max(dir);
  const std::string prefix = cut(name, limit > fixed ? limit - fixed : 0);
  for (int attempt = 0;; ++attempt) {
    const fs::path tmp = dir / ("." + prefix + std::string(kMark) + random_chars() + std::string(kEnd));
    // 0666 less the umask, as any new file; a replaced file's mode is kept at commit.
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
    if (fd < 0) {
      if (errno == EEXIST && attempt < 100) continue;
      fail_io("create a temporary file for", s_->target, errno);
    }
    // Locked for as long as it lives; a cleaner that took the lock between open and here
    // has unlinked it (it holds the lock while it does), so the name is checked again.
    struct stat mine {}, there {};
    while (::flock(fd, LOCK_EX) != 0 && errno == EINTR) {
    }
    if (::fstat(fd, &mine) != 0 || ::lstat(tmp.c_str(), &there) != 0 || !same_inode(mine, there)) {
      ::close(fd);
      if (attempt < 100) continue;
      fail_io("create a temporary file for", s_->target, EAGAIN);
    }
    {
      std::lock_guard<std::mutex> lock(live().mutex);
      live().files.insert({mine.st_dev, mine.st_ino});
    }
    s_->fd = fd;
    s_->dev = mine.st_dev;
    s_->ino = mine.st_ino;
    s_->temporary = tmp;
    return;
  }
}

OutputFile::OutputFile(OutputFile&&) noexcept = default;
OutputFile& OutputFile::operator=(OutputFile&& other) noexcept {
  if (this != &other) {
    OutputFile gone(std::move(*this));
    s_ = std::move(other.s_);
  }
  return *this;
}

OutputFile::~OutputFile() {
  if (!s_) return;
  if (!s_->committed && !s_->temporary.empty()) ::unlink(s_->temporary.c_str());
  s_->close_fd();
  forget(s_->dev, s_->ino);
}

void OutputFile::write(const void* data, std::size_t size) {
  if (s_->fd < 0 || s_->finished) throw IoError("cannot write '" + s_->target.string() + "': already finished");
  const auto* c = static_cast<const char*>(data);
  while (size > 0) {
    const ssize_t w = ::write(s_->fd, c, size);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) fail_io("write", s_->target, errno);
    c += w;
    size -= static_cast<std::size_t>(w);
  }
}

void OutputFile::finish() {
  if (s_->finished) return;
  // A replaced file keeps its permissions (what is there now, not what a link points at).
  struct stat old {};
  if (::lstat(s_->target.c_str(), &old) == 0 && S_ISREG(old.st_mode) && ::fchmod(s_->fd, old.st_mode & 07777) != 0)
    fail_io("set permissions of", s_->target, errno);
  if (::fsync(s_->fd) != 0) fail_io("write", s_->target, errno);
  s_->finished = true;
}

void OutputFile::commit() {
  if (s_->committed) return;
  finish();
  // Renamed while still locked, so no cleaner can take the temporary before it is in place.
  if (::rename(s_->temporary.c_str(), s_->target.c_str()) != 0) fail_io("replace", s_->target, errno);
  s_->committed = true;
  s_->close_fd();
  forget(s_->dev, s_->ino);
  // Makes the rename durable; best effort, as the new file is complete either way.
  const int dfd = ::open(folder_of(s_->target).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    (void)::fsync(dfd);
    ::close(dfd);
  }
}

const fs::path& OutputFile::target() const { return s_->target; }
const fs::path& OutputFile::temporary() const { return s_->temporary; }

// ---- OutputSet --------------------------------------------------------------------------

OutputSet::~OutputSet() = default;  // each OutputFile removes its temporary

OutputFile& OutputSet::add(fs::path target) {
  files_.emplace_back(std::move(target));
  return files_.back();
}

void OutputSet::commit() {
  for (auto& f : files_) f.finish();
  std::vector<const fs::path*> created;
  try {
    for (auto& f : files_) {
      std::error_code ec;
      const bool existed = fs::symlink_status(f.target(), ec).type() != fs::file_type::not_found;
      f.commit();
      if (!existed) created.push_back(&f.target());
    }
  } catch (...) {
    for (const auto* p : created) ::unlink(p->c_str());
    throw;
  }
  files_.clear();
}

std::vector<fs::path> OutputSet::targets() const {
  std::vector<fs::path> t;
  for (const auto& f : files_) t.push_back(f.target());
  return t;
}

void save_file(const fs::path& path, std::string_view bytes) {
  OutputFile f(path);
  f.write(bytes);
  f.commit();
}

// ---- temporaries of killed runs ---------------------------------------------------------

bool is_output_temporary(std::string_view name) {
  const std::size_t tail = kMark.size() + kRandom + kEnd.size();
  if (name.size() < 1 + tail || name.front() != '.') return false;
  const std::string_view end = name.substr(name.size() - tail);
  if (end.substr(0, kMark.size()) != kMark || end.substr(kMark.size() + kRandom) != kEnd) return false;
  for (char c : end.substr(kMark.size(), kRandom))
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))) return false;
  return true;
}

std::vector<fs::path> remove_stale_temporaries(const fs::path& dir) {
  std::vector<fs::path> removed;
  DIR* d = ::opendir(dir.c_str());
  if (!d) return removed;
  std::vector<std::string> names;
  while (const dirent* e = ::readdir(d))
    if (is_output_temporary(e->d_name)) names.emplace_back(e->d_name);
  ::closedir(d);
  for (const auto& name : names) {
    const fs::path p = dir / name;
    // Opened for writing (POSIX locks, NFS's flock, need it), never following a link,
    // never blocking on a FIFO; only regular files.
    const int fd = ::open(p.c_str(), O_WRONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) continue;
    struct stat st {}, there {};
    bool stale = ::fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
    if (stale) {
      std::lock_guard<std::mutex> lock(live().mutex);
      stale = !live().files.count({st.st_dev, st.st_ino});
    }
    // A free lock: the process that made it is gone. Unlinked while the lock is held, and
    // only if the name still names this file.
    stale = stale && ::flock(fd, LOCK_EX | LOCK_NB) == 0 && ::lstat(p.c_str(), &there) == 0 && same_inode(st, there);
    if (stale && ::unlink(p.c_str()) == 0) removed.push_back(p);
    ::close(fd);
  }
  return removed;
}

std::size_t name_max(const fs::path& dir) {
  errno = 0;
  const long n = ::pathconf(dir.empty() ? "." : dir.c_str(), _PC_NAME_MAX);
  return n > 0 ? static_cast<std::size_t>(n) : 255;
}

std::string file_digest(const fs::path& path) {
  // Non-blocking, so a FIFO is refused rather than waited on.
  const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) fail_io("read", path, errno);
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  struct stat st {};
  if (::fstat(fd, &st) != 0) fail_io("read", path, errno);
  if (!S_ISREG(st.st_mode)) throw IoError("cannot read '" + path.string() + "': not a regular file");
  std::unique_ptr<XXH3_state_t, XXH_errorcode (*)(XXH3_state_t*)> state(XXH3_createState(), XXH3_freeState);
  if (!state || XXH3_64bits_reset(state.get()) != XXH_OK) throw IoError("cannot hash '" + path.string() + "'");
  std::vector<char> buf(std::size_t{1} << 20);
  for (;;) {
    const ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail_io("read", path, errno);
    if (n == 0) break;
    XXH3_64bits_update(state.get(), buf.data(), static_cast<std::size_t>(n));
  }
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(XXH3_64bits_digest(state.get())));
  return std::string("xxh3:") + hex;
}

}  // namespace relprop
