// The command-line tool under hostile resources, run as its own process (a hang or a crash
// must not take the suite down): graphs that would need more memory than allowed, exit
// status 4 for those, FIFOs given as any file argument, repeated JSON keys.

#include <doctest/doctest.h>

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

extern char** environ;

namespace fs = std::filesystem;

namespace {

const std::string kDir = std::string(RELPROP_SOURCE_DIR) + "/examples/worked/";

struct Proc {
  int status = -1;          // exit status; -1 when killed
  bool timed_out = false;
  double seconds = 0;
  long max_rss_kb = 0;
  std::string err;
};

fs::path scratch_dir() {
  const fs::path dir = fs::temp_directory_path() / ("relprop_test_cli_res_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  return dir;
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Runs the relprop binary with `args`, killed after `timeout_s`.
Proc run_relprop(const std::vector<std::string>& args, int timeout_s = 20) {
  const fs::path err_file = scratch_dir() / "stderr.txt";
  std::vector<std::string> all = {RELPROP_CLI_PATH};
  all.insert(all.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : all) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 2, err_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  const auto start = std::chrono::steady_clock::now();
  pid_t pid = 0;
  REQUIRE(::posix_spawn(&pid, all[0].c_str(), &fa, nullptr, argv.data(), environ) == 0);
  posix_spawn_file_actions_destroy(&fa);
  Proc p;
  int status = 0;
  struct rusage ru {};
  for (;;) {
    if (::wait4(pid, &status, WNOHANG, &ru) == pid) break;
    if (std::chrono::steady_clock::now() - start > std::chrono::seconds(timeout_s)) {
      ::kill(pid, SIGKILL);
      ::wait4(pid, &status, 0, &ru);
      p.timed_out = true;
      break;
    }
    ::usleep(20'000);
  }
  p.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  p.max_rss_kb = ru.ru_maxrss;
  p.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  p.err = slurp(err_file);
  return p;
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }
int lines(const std::string& s) { return static_cast<int>(std::count(s.begin(), s.end(), '\n')); }

std::vector<std::string> worked(const fs::path& out) {
  return {"explain", "--graph", kDir + "graph.json", "--weights", kDir + "weights.safetensors",
          "--input", kDir + "input.safetensors", "--out", out.string()};
}

// The worked example's graph with a pad node of `pad` before the linear layer's input.
fs::path pad_graph(const std::string& pad) {
  const fs::path p = scratch_dir() / ("pad_" + pad + ".json");
  std::ofstream(p) << R"({"format": "relprop-graph", "version": 1, "inputs": [{"name": "x", "shape": [-1, 3]}],
 "nodes": [{"name": "wide", "op": "pad", "inputs": ["x"], "attrs": {"pad": [0, )"
                   << pad << R"(]}},
           {"name": "back", "op": "slice", "inputs": ["wide"], "attrs": {"dim": 1, "start": 0, "end": 3}},
           {"name": "fc", "op": "linear", "inputs": ["back"], "params": {"weight": "fc.weight", "bias": "fc.bias"}}],
 "outputs": ["fc"]})";
  return p;
}

}  // namespace

TEST_SUITE("apps.cli.resources") {
  TEST_CASE("a graph attribute such as pad 2^31 is refused before the op runs: exit 4, one line, little memory") {
    const fs::path out = scratch_dir() / "pad.safetensors";
    auto args = worked(out);
    args[2] = pad_graph("2147483648").string();
    args.insert(args.end(), {"--max-memory", "1G"});
    Proc p = run_relprop(args);
    CAPTURE(p.err);
    CHECK_FALSE(p.timed_out);
    CHECK(p.status == 4);
    CHECK(lines(p.err) == 1);
    CHECK(contains(p.err, "node 'wide' (pad, output (1, 2147483651), 8.0 GiB) would bring the run to about"));
    CHECK(contains(p.err, "that the memory limit (--max-memory) allows"));
    CHECK(p.seconds < 10);             // was 22-44 s
    CHECK(p.max_rss_kb < 512 * 1024);  // was 16.8 GB
    CHECK_FALSE(fs::exists(out));
    // The default limit is what the machine has: no machine has 16 TiB.
    args = worked(out);
    args[2] = pad_graph("4398046511104").string();
    p = run_relprop(args);
    CAPTURE(p.err);
    CHECK(p.status == 4);
    CHECK(contains(p.err, "node 'wide' (pad"));
    CHECK(contains(p.err, "available"));
    CHECK(p.max_rss_kb < 512 * 1024);
    // The same graph with a small pad runs.
    args = worked(out);
    args[2] = pad_graph("5").string();
    p = run_relprop(args);
    CAPTURE(p.err);
    CHECK(p.status == 0);
    CHECK(fs::exists(out));
    fs::remove(out);
  }

  TEST_CASE("--max-memory: sizes as 512M or 4G; too little is exit 4 naming the node; nonsense is exit 1") {
    const fs::path out = scratch_dir() / "mm.safetensors";
    auto args = worked(out);
    args.insert(args.end(), {"--max-memory", "40"});
    Proc p = run_relprop(args);
    CAPTURE(p.err);
    CHECK(p.status == 4);
    CHECK(lines(p.err) == 1);
    CHECK(contains(p.err, "node 'fc' (linear, output (1, 2), 8 bytes) would bring the run to about 80 bytes"));
    CHECK(contains(p.err, "more than the 40 bytes that the memory limit (--max-memory) allows"));
    CHECK_FALSE(fs::exists(out));
    args = worked(out);
    args.insert(args.end(), {"--max-memory", "lots"});
    p = run_relprop(args);
    CHECK(p.status == 1);
    CHECK(contains(p.err, "--max-memory 'lots'"));
    args = worked(out);
    args.insert(args.end(), {"--max-memory", "512M"});
    p = run_relprop(args);
    CHECK(p.status == 0);
    fs::remove(out);
  }

  TEST_CASE("a FIFO given as any file argument is refused at once (without the check it blocks forever)") {
    const fs::path dir = scratch_dir();
    const fs::path fifo = dir / "pipe.safetensors";
    fs::remove(fifo);
    REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
    const fs::path fifo_json = dir / "pipe.json";
    fs::remove(fifo_json);
    REQUIRE(::mkfifo(fifo_json.c_str(), 0600) == 0);
    const fs::path out = dir / "fifo_out.safetensors";
    struct Case {
      int index;  // the argument replaced (-1: appended)
      std::vector<std::string> extra;
    };
    const Case cases[] = {{2, {}}, {4, {}}, {6, {}}, {-1, {"--features", fifo_json.string()}}};
    for (const auto& c : cases) {
      auto args = worked(out);
      if (c.index >= 0) args[static_cast<std::size_t>(c.index)] = c.index == 2 ? fifo_json.string() : fifo.string();
      args.insert(args.end(), c.extra.begin(), c.extra.end());
      const Proc p = run_relprop(args, 15);
      CAPTURE(c.index);
      CAPTURE(p.err);
      CHECK_FALSE(p.timed_out);
      CHECK(p.status == 1);
      CHECK(lines(p.err) == 1);
      CHECK(contains(p.err, "FIFO"));
    }
    const Proc p = run_relprop({"inspect", fifo.string()}, 15);
    CHECK_FALSE(p.timed_out);
    CHECK(p.status == 1);
    CHECK(contains(p.err, "FIFO"));
    // A model folder whose config.json or tokenizer.json is a FIFO.
    const fs::path model = fs::path(RELPROP_SOURCE_DIR) / "tests" / "data" / "llama_tiny";
    for (const char* name : {"config.json", "tokenizer.json"}) {
      const fs::path copy = dir / (std::string("model_") + name);
      fs::remove_all(copy);
      fs::copy(model, copy);
      fs::remove(copy / name);
      REQUIRE(::mkfifo((copy / name).c_str(), 0600) == 0);
      const Proc q = run_relprop({"explain", "--model", copy.string(), "--text", "hello", "--out", out.string()}, 15);
      CAPTURE(std::string(name));
      CAPTURE(q.err);
      CHECK_FALSE(q.timed_out);
      CHECK(q.status == 1);
      CHECK(contains(q.err, "FIFO"));
    }
    fs::remove_all(dir);
  }

  TEST_CASE("a key repeated in graph.json, config.json or tokenizer.json is refused naming the key and where") {
    const fs::path dir = scratch_dir();
    const fs::path out = dir / "dup.safetensors";
    std::string graph = slurp(kDir + "graph.json");
    const auto at = graph.find("\"op\": \"relu\"");
    REQUIRE(at != std::string::npos);
    graph.insert(at, "\"op\": \"sigmoid\", ");
    std::ofstream(dir / "dup.json") << graph;
    auto args = worked(out);
    args[2] = (dir / "dup.json").string();
    Proc p = run_relprop(args);
    CAPTURE(p.err);
    CHECK(p.status == 1);
    CHECK(contains(p.err, "the key \"op\" appears twice in nodes[1]"));
    const fs::path model = fs::path(RELPROP_SOURCE_DIR) / "tests" / "data" / "llama_tiny";
    for (const char* name : {"config.json", "tokenizer.json"}) {
      const fs::path copy = dir / (std::string("dup_") + name);
      fs::remove_all(copy);
      fs::copy(model, copy);
      std::string text = slurp(copy / name);
      const auto brace = text.find('{');
      text.insert(brace + 1, name == std::string("config.json") ? R"("model_type": "bert", )" : R"("model": {}, )");
      fs::remove(copy / name);
      std::ofstream(copy / name) << text;
      p = run_relprop({"explain", "--model", copy.string(), "--text", "hello", "--out", out.string()});
      CAPTURE(std::string(name));
      CAPTURE(p.err);
      CHECK(p.status == 1);
      CHECK(contains(p.err, name == std::string("config.json") ? "the key \"model_type\" appears twice"
                                                               : "the key \"model\" appears twice"));
    }
    fs::remove_all(dir);
  }
}
