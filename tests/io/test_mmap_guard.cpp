// A file that shrinks while mapped: a typed IoError naming it, never SIGBUS. Each case runs
// in a fresh process (this test binary started again on one test case), so a SIGBUS, or a
// guard that fails, cannot take the rest of the suite down, and OpenMP starts fresh there.

#include <doctest/doctest.h>

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>
#include <vector>

#include "relprop/io/mmap.hpp"
#include "relprop/io/safetensors.hpp"
#include "relprop/nn/explainer.hpp"
#include "relprop/nn/graph.hpp"
#include "reference/oracle.hpp"

extern char** environ;

using namespace relprop;
namespace fs = std::filesystem;
namespace o = relprop::oracle;

namespace {

constexpr const char* kChildVar = "RELPROP_TEST_MMAP_CHILD";

fs::path scratch(const std::string& name) {
  const fs::path dir = fs::temp_directory_path() / ("relprop_test_mmap_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  return dir / name;
}

// Runs this binary on test case `name` with the child variable set to `file`; returns the
// wait status.
int run_child(const std::string& name, const fs::path& file) {
  const std::string exe = fs::read_symlink("/proc/self/exe").string();
  const std::string filter = "--test-case=" + name;
  std::vector<std::string> env_s;
  for (char** e = environ; *e; ++e) env_s.emplace_back(*e);
  env_s.push_back(std::string(kChildVar) + "=" + file.string());
  std::vector<char*> env;
  for (auto& s : env_s) env.push_back(s.data());
  env.push_back(nullptr);
  std::vector<std::string> args_s = {exe, filter, "--no-intro=true", "--no-version=true"};
  std::vector<char*> args;
  for (auto& s : args_s) args.push_back(s.data());
  args.push_back(nullptr);
  pid_t pid = 0;
  REQUIRE(::posix_spawn(&pid, exe.c_str(), nullptr, nullptr, args.data(), env.data()) == 0);
  int status = 0;
  for (int i = 0; i < 1200; ++i) {  // 60 s at most
    if (::waitpid(pid, &status, WNOHANG) == pid) return status;
    ::usleep(50'000);
  }
  ::kill(pid, SIGKILL);
  ::waitpid(pid, &status, 0);
  FAIL("the child did not end in 60 s");
  return status;
}

void check_child(const std::string& name, const fs::path& file) {
  const int status = run_child(name, file);
  CAPTURE(status);
  CHECK_FALSE(WIFSIGNALED(status));  // before the guard: killed by SIGBUS
  if (WIFSIGNALED(status)) CHECK(WTERMSIG(status) != SIGBUS);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);  // the child's own checks passed
}

const char* child_file() { return std::getenv(kChildVar); }

const char* kGraph = R"({"format": "relprop-graph", "version": 1, "inputs": [{"name": "x", "shape": [-1, 512]}],
 "nodes": [{"name": "fc", "op": "linear", "inputs": ["x"], "params": {"weight": "w"}},
           {"name": "act", "op": "relu", "inputs": ["fc"]},
           {"name": "out", "op": "linear", "inputs": ["act"], "params": {"weight": "w2"}}],
 "outputs": ["out"]})";

}  // namespace

TEST_SUITE("io.mmap") {
  // The children: they do their work only when started by the cases below.
  TEST_CASE("mmap child: read a truncated mapping from four threads") {
    const char* file = child_file();
    if (!file) return;
    MappedFile m = MappedFile::open(file);
    REQUIRE(m.size() == (8u << 20));
    REQUIRE(::truncate(file, 10000) == 0);  // 10000: inside the third page; the rest is gone
    std::atomic<long> sum{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t)
      threads.emplace_back([&, t] {
        long s = 0;
        const auto bytes = m.bytes();
        for (std::size_t i = static_cast<std::size_t>(t) * 4096; i < bytes.size(); i += 4 * 4096)
          s += static_cast<long>(bytes[i]);
        sum += s;
      });
    for (auto& th : threads) th.join();
    CHECK(sum.load() == 3 * 7);  // the pages still in the file (7 at 0, 4096 and 8192); the lost pages read as zeros
    CHECK_THROWS_WITH_AS(m.check_intact(), doctest::Contains("shrank while relprop was reading it"), IoError);
    CHECK_THROWS_AS(MappedFile::check_all_intact(), IoError);
    CHECK_THROWS_AS(MappedFile::check_no_faults(), IoError);
  }

  TEST_CASE("mmap child: explain with weights truncated after loading") {
    const char* file = child_file();
    if (!file) return;
    Graph g = Graph::parse(kGraph, "g.json");
    const SafetensorsFile w = SafetensorsFile::open(file);
    g.bind(w);
    const Tensor x = o::random_tensor({2, 512}, 3);
    ExplainSettings s;
    GraphExplainer ex(g, s);
    (void)ex.explain({{"x", x}});  // whole: fine
    REQUIRE(::truncate(file, 4096) == 0);
    CHECK_THROWS_WITH_AS(ex.explain({{"x", x}}), doctest::Contains("shrank while relprop was reading it"), IoError);
  }

  TEST_CASE("a file truncated while mapped is an IoError, not SIGBUS, with threads reading it") {
    if (child_file()) return;
    const fs::path file = scratch("big.bin");
    {
      std::vector<char> bytes(8u << 20, 0);
      for (std::size_t i = 0; i < bytes.size(); i += 4096) bytes[i] = 7;
      std::ofstream(file, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    }
    check_child("mmap child: read a truncated mapping from four threads", file);
    fs::remove_all(file.parent_path());
  }

  TEST_CASE("weights truncated between two explanations: an IoError naming the file, not SIGBUS") {
    if (child_file()) return;
    const fs::path file = scratch("weights.safetensors");
    save_safetensors(file, {{"w", o::random_tensor({512, 512}, 1)}, {"w2", o::random_tensor({10, 512}, 2)}});
    check_child("mmap child: explain with weights truncated after loading", file);
    fs::remove_all(file.parent_path());
  }

  TEST_CASE("an intact mapping passes the checks") {
    if (child_file()) return;
    const fs::path file = scratch("small.bin");
    std::ofstream(file, std::ios::binary) << "abcdef";
    MappedFile m = MappedFile::open(file);
    CHECK(m.size() == 6);
    CHECK_NOTHROW(m.check_intact());
    CHECK_NOTHROW(MappedFile::check_no_faults());
    fs::remove_all(file.parent_path());
  }
}
