#include "relprop/io/mmap.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <limits>
#include <mutex>
#include <string>
#include <utility>

#include "relprop/tensor/error.hpp"
#include "relprop/tensor/files.hpp"

namespace relprop {

namespace {

[[noreturn]] void io_fail(const char* what, const std::filesystem::path& path, int err) {
  throw IoError(std::string("cannot ") + what + " '" + path.string() + "': " + std::strerror(err));
}

// Closes the descriptor on every path out of open() that does not keep it.
struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
  int release() { return std::exchange(fd, -1); }
};

// ---- the SIGBUS guard ------------------------------------------------------------------
// One slot per live mapping. The handler reads only the atomics (async-signal-safe);
// registering, unregistering and the checks take the mutex for the rest.

constexpr int kSlots = 256;

struct Slot {
  std::atomic<std::uintptr_t> begin{0};  // 0: free
  std::atomic<std::uintptr_t> end{0};
  std::atomic<int> faulted{0};  // a read past the file's end was answered with zeros
  // Under the registry mutex:
  bool used = false;
  int fd = -1;
  std::size_t size = 0;
  std::string path;
};

Slot g_slots[kSlots];
std::atomic<int> g_faults{0};  // any slot faulted (the cheap check)
std::mutex g_registry;
struct sigaction g_previous {};
std::uintptr_t g_page = 4096;  // set before the handler is installed (sysconf is not signal-safe)

void on_sigbus(int sig, siginfo_t* info, void* context) {
  const auto addr = reinterpret_cast<std::uintptr_t>(info->si_addr);
  for (Slot& s : g_slots) {
    const std::uintptr_t b = s.begin.load(std::memory_order_acquire);
    const std::uintptr_t e = s.end.load(std::memory_order_acquire);
    if (b == 0 || addr < b || addr >= e) continue;
    // The file lost this page: zero pages from here to the mapping's end, so the read (and
    // every later one) completes; the checks report the file.
    const std::uintptr_t from = addr & ~(g_page - 1);
    void* p = ::mmap(reinterpret_cast<void*>(from), e - from, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    if (p != MAP_FAILED) {
      s.faulted.store(1, std::memory_order_release);
      g_faults.store(1, std::memory_order_release);
      return;
    }
    break;
  }
  // Not one of ours: as before relprop's handler was there.
  if ((g_previous.sa_flags & SA_SIGINFO) && g_previous.sa_sigaction) {
    g_previous.sa_sigaction(sig, info, context);
    return;
  }
  if (g_previous.sa_handler != SIG_DFL && g_previous.sa_handler != SIG_IGN && g_previous.sa_handler != nullptr) {
    g_previous.sa_handler(sig);
    return;
  }
  // The default action: returning re-runs the faulting read, which now ends the process.
  ::signal(SIGBUS, SIG_DFL);
}

void install_handler() {
  static std::once_flag once;
  std::call_once(once, [] {
    g_page = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));
    struct sigaction sa {};
    sa.sa_sigaction = on_sigbus;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_SIGINFO | SA_RESTART | SA_NODEFER;
    ::sigaction(SIGBUS, &sa, &g_previous);
  });
}

// A free slot for [data, data + length), or -1 when all are taken.
int register_mapping(void* data, std::size_t length, int fd, std::size_t size, const std::filesystem::path& path) {
  install_handler();
  std::lock_guard<std::mutex> lock(g_registry);
  for (int i = 0; i < kSlots; ++i) {
    Slot& s = g_slots[i];
    if (s.used) continue;
    s.used = true;
    s.fd = fd;
    s.size = size;
    s.path = path.string();
    s.faulted.store(0, std::memory_order_relaxed);
    const auto b = reinterpret_cast<std::uintptr_t>(data);
    s.end.store(b + length, std::memory_order_release);  // end first: the handler tests begin
    s.begin.store(b, std::memory_order_release);
    return i;
  }
  return -1;
}

void unregister_mapping(int slot) {
  std::lock_guard<std::mutex> lock(g_registry);
  Slot& s = g_slots[slot];
  s.begin.store(0, std::memory_order_release);
  s.end.store(0, std::memory_order_release);
  s.used = false;
  s.fd = -1;
  s.path.clear();
}

// Under the registry mutex: IoError when slot `s` lost part of its file.
void check_slot(const Slot& s) {
  const bool faulted = s.faulted.load(std::memory_order_acquire) != 0;
  struct stat st {};
  const bool shorter = ::fstat(s.fd, &st) == 0 && static_cast<std::uintmax_t>(st.st_size) < s.size;
  if (!faulted && !shorter) return;
  throw IoError("'" + s.path + "' shrank while relprop was reading it (from " + std::to_string(s.size) + " bytes" +
                (shorter ? " to " + std::to_string(st.st_size) : std::string()) +
                "); what was computed from it is discarded");
}

}  // namespace

MappedFile MappedFile::open(const std::filesystem::path& path) {
  // A FIFO, a device or a directory is refused before it is opened for reading.
  Fd f{open_regular_file(path, "file")};
  struct stat st {};
  if (::fstat(f.fd, &st) != 0) io_fail("stat", path, errno);
  if (static_cast<std::uintmax_t>(st.st_size) > std::numeric_limits<std::size_t>::max() / 2)
    io_fail("map", path, EFBIG);

  MappedFile m;
  m.path_ = path;
  m.size_ = static_cast<std::size_t>(st.st_size);
  if (m.size_ == 0) return m;
  const auto page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  m.length_ = (m.size_ + page - 1) / page * page;
  // A private (copy-on-write) mapping of a read-only descriptor: the file is never written,
  // yet a caller that modifies a tensor borrowed from it (Storage gives out mutable
  // pointers) changes only its own pages instead of faulting on a read-only page.
  void* p = ::mmap(nullptr, m.length_, PROT_READ | PROT_WRITE, MAP_PRIVATE, f.fd, 0);
  if (p == MAP_FAILED) io_fail("map", path, errno);
  m.data_ = p;
  m.slot_ = register_mapping(p, m.length_, f.fd, m.size_, path);
  if (m.slot_ >= 0) {
    m.fd_ = f.release();
    return m;
  }
  // No slot left to guard the mapping: the contents are read into anonymous memory.
  void* copy = ::mmap(nullptr, m.length_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (copy == MAP_FAILED) {
    const int err = errno;
    ::munmap(p, m.length_);
    m.data_ = nullptr;
    io_fail("read", path, err);
  }
  ::munmap(p, m.length_);
  m.data_ = copy;
  std::size_t done = 0;
  while (done < m.size_) {
    const ssize_t n = ::pread(f.fd, static_cast<char*>(copy) + done, m.size_ - done, static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) io_fail("read", path, errno);
    if (n == 0) throw IoError("'" + path.string() + "' shrank while relprop was reading it");
    done += static_cast<std::size_t>(n);
  }
  return m;
}

MappedFile::~MappedFile() { unmap(); }

MappedFile::MappedFile(MappedFile&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)),
      size_(std::exchange(other.size_, 0)),
      length_(std::exchange(other.length_, 0)),
      slot_(std::exchange(other.slot_, -1)),
      fd_(std::exchange(other.fd_, -1)),
      path_(std::move(other.path_)) {}

MappedFile& MappedFile::operator=(MappedFile&& other) noexcept {
  if (this != &other) {
    unmap();
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
    length_ = std::exchange(other.length_, 0);
    slot_ = std::exchange(other.slot_, -1);
    fd_ = std::exchange(other.fd_, -1);
    path_ = std::move(other.path_);
  }
  return *this;
}

void MappedFile::unmap() noexcept {
  if (slot_ >= 0) unregister_mapping(slot_);
  if (data_) ::munmap(data_, length_);
  if (fd_ >= 0) ::close(fd_);
  data_ = nullptr;
  size_ = length_ = 0;
  slot_ = fd_ = -1;
}

void MappedFile::check_intact() const {
  if (slot_ < 0) return;  // empty, or read into memory: nothing can go
  std::lock_guard<std::mutex> lock(g_registry);
  check_slot(g_slots[slot_]);
}

void MappedFile::check_all_intact() {
  std::lock_guard<std::mutex> lock(g_registry);
  for (const Slot& s : g_slots)
    if (s.used) check_slot(s);
}

void MappedFile::check_no_faults() {
  if (g_faults.load(std::memory_order_acquire) == 0) return;
  std::lock_guard<std::mutex> lock(g_registry);
  for (const Slot& s : g_slots)
    if (s.used && s.faulted.load(std::memory_order_acquire)) check_slot(s);
}

}  // namespace relprop
