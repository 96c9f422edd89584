#include "relprop/tensor/memory.hpp"

#include <unistd.h>

#include <atomic>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <limits>
#include <string>

#include "relprop/tensor/error.hpp"

namespace relprop {

namespace {

std::atomic<std::uint64_t> g_limit{0};  // 0: the default

constexpr std::uint64_t kUnknown = std::numeric_limits<std::uint64_t>::max();

// The first number in a file (cgroup files hold one, or "max"); kUnknown otherwise.
std::uint64_t read_number(const char* path) {
  std::ifstream in(path);
  std::string word;
  if (!(in >> word) || word.empty() || !std::isdigit(static_cast<unsigned char>(word[0]))) return kUnknown;
  try {
    return std::stoull(word);
  } catch (const std::exception&) {
    return kUnknown;
  }
}

// MemAvailable in bytes, or kUnknown.
std::uint64_t mem_available() {
  std::ifstream in("/proc/meminfo");
  std::string key, unit;
  std::uint64_t value = 0;
  while (in >> key >> value) {
    std::getline(in, unit);
    if (key == "MemAvailable:") return value * 1024;  // the file counts in kB (KiB)
  }
  return kUnknown;
}

// What a memory control group still allows (limit - usage), or kUnknown without a limit.
std::uint64_t cgroup_room() {
  for (const auto& [limit_file, usage_file] :
       {std::pair{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"},
        std::pair{"/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory/memory.usage_in_bytes"}}) {
    const std::uint64_t limit = read_number(limit_file);
    // cgroup v1 writes "no limit" as a number near 2^63.
    if (limit == kUnknown || limit >= (std::uint64_t{1} << 62)) continue;
    const std::uint64_t used = read_number(usage_file);
    if (used == kUnknown) continue;
    return limit > used ? limit - used : 0;
  }
  return kUnknown;
}

std::uint64_t measure_available() {
  std::uint64_t bytes = mem_available();
  if (bytes == kUnknown) {
    const long pages = ::sysconf(_SC_PHYS_PAGES), size = ::sysconf(_SC_PAGESIZE);
    bytes = pages > 0 && size > 0 ? static_cast<std::uint64_t>(pages) * static_cast<std::uint64_t>(size) : kUnknown;
  }
  const std::uint64_t room = cgroup_room();
  if (room < bytes) bytes = room;
  return bytes;
}

}  // namespace

std::uint64_t available_memory() {
  using clock = std::chrono::steady_clock;
  static std::atomic<std::uint64_t> cached{0};
  static std::atomic<std::int64_t> read_at{0};  // the first call reads: cached is 0
  const std::int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(clock::now().time_since_epoch()).count();
  // Two threads may both re-read at once; either value is a fair answer.
  if (now - read_at.load(std::memory_order_relaxed) >= 1000 || cached.load(std::memory_order_relaxed) == 0) {
    cached.store(measure_available(), std::memory_order_relaxed);
    read_at.store(now, std::memory_order_relaxed);
  }
  return cached.load(std::memory_order_relaxed);
}

std::uint64_t max_memory() {
  const std::uint64_t set = g_limit.load(std::memory_order_relaxed);
  return set ? set : available_memory();
}

void set_max_memory(std::uint64_t bytes) { g_limit.store(bytes, std::memory_order_relaxed); }

bool max_memory_set() { return g_limit.load(std::memory_order_relaxed) != 0; }

std::string format_bytes(std::uint64_t bytes) {
  if (bytes < 1024) return std::to_string(bytes) + " bytes";
  const char* units[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  double v = static_cast<double>(bytes) / 1024;
  int u = 0;
  while (v >= 1024 && u < 5) {
    v /= 1024;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f %s", v, units[u]);
  return buf;
}

std::uint64_t parse_bytes(std::string_view text, std::string_view what) {
  auto bad = [&]() -> std::uint64_t {
    throw ValueError(std::string(what) + " '" + std::string(text) +
                     "': expected a positive number of bytes with an optional unit K, M, G or T (e.g. 512M, 1.5G)");
  };
  std::size_t i = 0;
  std::string number;
  while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.')) number += text[i++];
  if (number.empty() || number.front() == '.' || number.find('.') != number.rfind('.')) return bad();
  std::string unit(text.substr(i));
  for (auto& c : unit) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  int shift = 0;
  if (!unit.empty() && unit != "B") {
    const std::string prefixes = "KMGT";
    const auto at = prefixes.find(unit[0]);
    const std::string rest = unit.substr(1);
    if (at == std::string::npos || !(rest.empty() || rest == "B" || rest == "IB")) return bad();
    shift = 10 * static_cast<int>(at + 1);
  }
  const double v = std::strtod(number.c_str(), nullptr) * std::ldexp(1.0, shift);
  if (!(v >= 1) || v > std::ldexp(1.0, 63)) return bad();
  return static_cast<std::uint64_t>(v);
}

}  // namespace relprop
