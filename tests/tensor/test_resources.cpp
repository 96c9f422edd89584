// Memory limits, byte sizes, allocation failures as ResourceError, regular files only, and
// JSON objects that repeat a key.

#include <doctest/doctest.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "relprop/tensor/error.hpp"
#include "relprop/tensor/files.hpp"
#include "relprop/tensor/json.hpp"
#include "relprop/tensor/memory.hpp"
#include "relprop/tensor/tensor.hpp"

using namespace relprop;
namespace fs = std::filesystem;

namespace {

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

// Restores the process's memory limit when a test ends.
struct LimitScope {
  std::uint64_t saved = max_memory_set() ? max_memory() : 0;
  ~LimitScope() { set_max_memory(saved); }
};

std::string strict_error(const std::string& text) {
  try {
    parse_json_strict(text, "f.json", 16);
  } catch (const FormatError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_SUITE("tensor.resources") {
  TEST_CASE("parse_bytes reads sizes as --max-memory takes them and refuses anything else") {
    CHECK(parse_bytes("4096") == 4096);
    CHECK(parse_bytes("512M") == 512ull << 20);
    CHECK(parse_bytes("4G") == 4ull << 30);
    CHECK(parse_bytes("4g") == 4ull << 30);
    CHECK(parse_bytes("1.5G") == 3ull << 29);
    CHECK(parse_bytes("2KiB") == 2048);
    CHECK(parse_bytes("3MB") == 3ull << 20);
    CHECK(parse_bytes("1T") == 1ull << 40);
    for (const char* bad : {"", "0", "-1", "1X", "G", "1e3", "inf", "nan", "1.2.3", ".5G", "1 G", "9999999999T"}) {
      CAPTURE(bad);
      CHECK_THROWS_AS(parse_bytes(bad, "--max-memory"), ValueError);
    }
    try {
      parse_bytes("lots", "--max-memory");
    } catch (const ValueError& e) {
      CHECK(contains(e.what(), "--max-memory 'lots'"));
    }
  }

  TEST_CASE("format_bytes and the machine's memory") {
    CHECK(format_bytes(300) == "300 bytes");
    CHECK(format_bytes(64 << 10) == "64.0 KiB");
    CHECK(format_bytes(3ull << 29) == "1.5 GiB");
    const std::uint64_t avail = available_memory();
    CHECK(avail > (16ull << 20));  // some memory, read from /proc/meminfo
    CHECK(avail < (1ull << 50));   // and not the "unknown" sentinel
  }

  TEST_CASE("allocations past the limit or the address space are a ResourceError, not std::bad_alloc") {
    LimitScope scope;
    set_max_memory(1 << 20);
    CHECK(max_memory_set());
    CHECK(max_memory() == 1 << 20);
    try {
      (void)Tensor::zeros({1024, 1024});  // 4 MiB > 1 MiB
      FAIL("no error");
    } catch (const ResourceError& e) {
      CHECK(contains(e.what(), "cannot allocate 4.0 MiB"));
      CHECK(contains(e.what(), "--max-memory"));
    }
    CHECK(Tensor::zeros({64, 64}).numel() == 4096);  // small ones still work
    set_max_memory(0);
    CHECK_FALSE(max_memory_set());
    // Element counts whose byte size passes 64 bits, and sizes no system can give.
    CHECK_THROWS_AS((void)Tensor::empty({std::int64_t{1} << 31, std::int64_t{1} << 31}), ResourceError);
    CHECK_THROWS_AS((void)Tensor::empty({std::int64_t{1} << 45}), ResourceError);
    CHECK_THROWS_AS((void)Storage::allocate(std::size_t{1} << 62), ResourceError);
  }

  TEST_CASE("only regular files are read: directories, FIFOs and devices are refused without blocking") {
    const fs::path dir = fs::temp_directory_path() / ("relprop_test_files_" + std::to_string(::getpid()));
    fs::create_directories(dir);
    const fs::path fifo = dir / "pipe";
    fs::remove(fifo);
    REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
    // No writer ever opens the FIFO: an open for reading would wait forever.
    try {
      (void)read_regular_file(fifo, "graph file");
      FAIL("no error");
    } catch (const IoError& e) {
      CHECK(contains(e.what(), "cannot read graph file '" + fifo.string() + "'"));
      CHECK(contains(e.what(), "FIFO"));
    }
    CHECK_THROWS_AS(open_regular_file(dir, "weights"), IoError);
    CHECK_THROWS_AS(open_regular_file("/dev/zero", "weights"), IoError);  // would never end
    CHECK_THROWS_AS(open_regular_file(dir / "missing", "weights"), IoError);
    {
      std::ofstream(dir / "plain") << "hello";
    }
    CHECK(read_regular_file(dir / "plain") == "hello");
    // A symbolic link to a regular file is read; one to the FIFO is refused.
    fs::remove(dir / "link");
    fs::create_symlink(fifo, dir / "link");
    CHECK_THROWS_AS(read_regular_file(dir / "link"), IoError);
    fs::remove_all(dir);
  }

  TEST_CASE("JSON: a repeated key is a FormatError naming the key and where it is") {
    CHECK(strict_error(R"({"a": 1, "b": 2})").empty());
    CHECK(strict_error(R"([{"a": 1}, {"a": 2}])").empty());  // the same key in two objects is fine
    std::string e = strict_error(R"({"a": 1, "a": 2})");
    CHECK(contains(e, "f.json: the key \"a\" appears twice in the top-level object"));
    e = strict_error(R"({"nodes": [{"op": "relu"}, {"name": "n", "attrs": {"stride": 1, "stride": 2}}]})");
    CHECK(contains(e, "the key \"stride\" appears twice in nodes[1].attrs"));
    e = strict_error(R"({"nodes": [[], {"op": "relu", "op": "add"}]})");
    CHECK(contains(e, "the key \"op\" appears twice in nodes[1]"));
    e = strict_error(R"({"x": {"y": [1, 2, {"z": 0, "z": 1}]}})");
    CHECK(contains(e, "appears twice in x.y[2]"));
    CHECK(contains(strict_error("[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]"), "nests more than 16 levels"));
    CHECK_THROWS_AS(parse_json_strict("{", "f.json", 16), nlohmann::json::parse_error);
  }
}
