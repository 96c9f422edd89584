// The files relprop writes (io/file.hpp): unique temporaries (O_EXCL | O_NOFOLLOW) within
// NAME_MAX, renamed into place whole; sets of files that appear together or not at all;
// the temporaries of killed runs removed, those of live runs kept; file digests.

#include <doctest/doctest.h>

#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "relprop/io/file.hpp"
#include "relprop/io/safetensors.hpp"
#include "relprop/tensor/error.hpp"

using namespace relprop;
namespace fs = std::filesystem;

namespace {

fs::path fresh(const std::string& name) {
  const fs::path dir = fs::temp_directory_path() / ("relprop_test_file_" + std::to_string(::getpid())) / name;
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

std::string bytes_of(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

std::set<std::string> listing(const fs::path& dir) {
  std::set<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.insert(e.path().filename().string());
  return names;
}

// A child process that creates a temporary for dir/name, writes to it, tells the parent,
// and waits to be killed. Returns its pid and the temporary's name.
std::pair<pid_t, std::string> child_writing(const fs::path& dir, const std::string& name) {
  int pipefd[2];
  REQUIRE(::pipe(pipefd) == 0);
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::close(pipefd[0]);
    OutputFile f(dir / name);
    f.write("half of it");
    const std::string tmp = f.temporary().filename().string() + "\n";
    (void)!::write(pipefd[1], tmp.data(), tmp.size());
    for (;;) ::pause();
  }
  ::close(pipefd[1]);
  std::string tmp;
  char c;
  while (::read(pipefd[0], &c, 1) == 1 && c != '\n') tmp += c;
  ::close(pipefd[0]);
  return {pid, tmp};
}

}  // namespace

TEST_SUITE("io.file") {
  TEST_CASE("an output file appears whole under its name; its temporary is named by the pattern and removed") {
    const fs::path dir = fresh("whole");
    {
      OutputFile f(dir / "r.png");
      CHECK(f.temporary().parent_path() == dir);
      CHECK(is_output_temporary(f.temporary().filename().string()));
      CHECK(f.temporary().filename().string().rfind(".r.png.relprop-", 0) == 0);
      f.write("abc");
      CHECK(listing(dir) == std::set<std::string>{f.temporary().filename().string()});
      f.commit();
    }
    CHECK(listing(dir) == std::set<std::string>{"r.png"});
    CHECK(bytes_of(dir / "r.png") == "abc");
    {
      OutputFile f(dir / "never.png");
      f.write("abc");
    }  // not committed: nothing stays
    CHECK(listing(dir) == std::set<std::string>{"r.png"});
    // A replaced file keeps its permissions.
    fs::permissions(dir / "r.png", fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read);
    save_file(dir / "r.png", "def");
    CHECK(bytes_of(dir / "r.png") == "def");
    CHECK(fs::status(dir / "r.png").permissions() == (fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read));
    // A new file: 0666 less the umask, as any program's new file.
    const mode_t old_mask = ::umask(027);
    save_file(dir / "masked.png", "m");
    ::umask(old_mask);
    CHECK(fs::status(dir / "masked.png").permissions() ==
          (fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read));
    // No folder: an IoError naming the file.
    CHECK_THROWS_WITH_AS(save_file(dir / "nope" / "x.png", "x"), doctest::Contains("nope/x.png"), IoError);
  }

  TEST_CASE("a link at the destination is replaced, not followed; two writers of one name never share a temporary") {
    const fs::path dir = fresh("links");
    std::ofstream(dir / "precious") << "precious";
    fs::create_symlink(dir / "precious", dir / "out.csv");
    save_file(dir / "out.csv", "new");
    CHECK(bytes_of(dir / "precious") == "precious");
    CHECK_FALSE(fs::is_symlink(dir / "out.csv"));
    CHECK(bytes_of(dir / "out.csv") == "new");
    // Two open at once: different temporaries; the last commit wins, whole.
    OutputFile a(dir / "same.csv"), b(dir / "same.csv");
    CHECK(a.temporary() != b.temporary());
    a.write(std::string(1000, 'a'));
    b.write(std::string(10, 'b'));
    b.commit();
    a.commit();
    CHECK(bytes_of(dir / "same.csv") == std::string(1000, 'a'));
    // Threads writing one name: every read sees one writer's whole file.
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t)
      threads.emplace_back([&, t] {
        for (int i = 0; i < 25; ++i) save_file(dir / "raced.csv", std::string(4096, static_cast<char>('a' + t)));
      });
    for (auto& t : threads) t.join();
    const std::string raced = bytes_of(dir / "raced.csv");
    CHECK(raced.size() == 4096);
    CHECK(raced == std::string(4096, raced[0]));
    // Two processes writing one name (two runs with one --out).
    std::vector<pid_t> children;
    for (char c : {'x', 'y'}) {
      const pid_t pid = ::fork();
      REQUIRE(pid >= 0);
      if (pid == 0) {
        try {
          for (int i = 0; i < 50; ++i) save_file(dir / "raced.csv", std::string(8192 + (c - 'x'), c));
        } catch (...) {
          ::_exit(1);
        }
        ::_exit(0);
      }
      children.push_back(pid);
    }
    for (const pid_t pid : children) {
      int status = 0;
      ::waitpid(pid, &status, 0);
      CHECK((WIFEXITED(status) && WEXITSTATUS(status) == 0));
    }
    const std::string last = bytes_of(dir / "raced.csv");
    CHECK(last == std::string(last[0] == 'x' ? 8192 : 8193, last[0]));
    CHECK(listing(dir) == std::set<std::string>{"precious", "out.csv", "same.csv", "raced.csv"});
  }

  TEST_CASE("temporary names fit NAME_MAX: a 255-byte destination name works") {
    const fs::path dir = fresh("long");
    for (std::size_t n : {240u, 250u, 255u}) {
      const std::string name = std::string(n - 4, 'n') + ".png";
      save_file(dir / name, "x");
      CHECK(bytes_of(dir / name) == "x");
    }
    // UTF-8 names are cut between characters.
    const std::string wide = [] {
      std::string s;
      while (s.size() < 250) s += "\xC3\xA9";  // é
      return s;
    }();
    OutputFile f(dir / wide);
    const std::string tmp = f.temporary().filename().string();
    CHECK(tmp.size() <= name_max(dir));
    CHECK(is_output_temporary(tmp));
    const std::string prefix = tmp.substr(1, tmp.size() - 22);
    CHECK(prefix.size() % 2 == 0);
    CHECK(wide.rfind(prefix, 0) == 0);
  }

  TEST_CASE("an output set appears together or not at all") {
    const fs::path dir = fresh("set");
    {
      OutputSet set;
      set.add(dir / "a.png").write("a");
      set.add(dir / "r.safetensors").write("r");
      CHECK(listing(dir).size() == 2);  // two temporaries
    }  // dropped before commit: nothing stays
    CHECK(listing(dir).empty());
    std::ofstream(dir / "old.png") << "old";
    {
      // The second rename fails (a folder is in the way): the first file, which this set
      // created, is removed again; a file that was there before keeps its new content.
      fs::create_directory(dir / "r.safetensors");
      std::ofstream(dir / "r.safetensors" / "x") << "x";
      OutputSet set;
      set.add(dir / "old.png").write("new");
      set.add(dir / "a.png").write("a");
      set.add(dir / "r.safetensors").write("r");
      CHECK_THROWS_AS(set.commit(), IoError);
    }
    CHECK(listing(dir) == std::set<std::string>{"old.png", "r.safetensors"});
    CHECK(bytes_of(dir / "old.png") == "new");
    fs::remove_all(dir / "r.safetensors");
    OutputSet set;
    set.add(dir / "a.png").write("a");
    write_safetensors(set.add(dir / "r.safetensors"), {{"x", Tensor::from_vector({1.0f, 2.0f}, {2})}});
    set.commit();
    CHECK(listing(dir) == std::set<std::string>{"old.png", "a.png", "r.safetensors"});
    CHECK(SafetensorsFile::open(dir / "r.safetensors").get("x").get({1}) == 2.0);
  }

  TEST_CASE("temporaries of killed processes are removed; a live process's and anything else's are kept") {
    const fs::path dir = fresh("stale");
    // A run killed with SIGKILL half-way, and one still running.
    const auto [dead, dead_tmp] = child_writing(dir, "dead.safetensors");
    const auto [alive, alive_tmp] = child_writing(dir, "alive.safetensors");
    ::kill(dead, SIGKILL);
    ::waitpid(dead, nullptr, 0);
    CHECK(is_output_temporary(dead_tmp));
    CHECK(fs::exists(dir / dead_tmp));
    // This process's own live temporary, and files that only look alike.
    OutputFile mine(dir / "mine.png");
    for (const char* other : {"dead.safetensors.relprop-abcd1234.tmp", ".x.relprop-abcd123.tmp", ".x.relprop-ABCD1234.tmp",
                              ".x.relprop-abcd1234.tmpx", ".x.tmp.Ab12Cd", "x.png.part"})
      std::ofstream(dir / other) << "user's";
    fs::create_directory(dir / ".d.relprop-abcd1234.tmp");
    fs::create_symlink(dir / "x.png.part", dir / ".l.relprop-abcd1234.tmp");
    const auto removed = remove_stale_temporaries(dir);
    REQUIRE(removed.size() == 1);
    CHECK(removed[0] == dir / dead_tmp);
    CHECK_FALSE(fs::exists(dir / dead_tmp));
    CHECK(fs::exists(dir / alive_tmp));
    CHECK(fs::exists(mine.temporary()));
    CHECK(listing(dir).size() == 10);
    ::kill(alive, SIGKILL);
    ::waitpid(alive, nullptr, 0);
    // Now that one is stale too; the look-alikes stay.
    CHECK(remove_stale_temporaries(dir).size() == 1);
    CHECK(listing(dir).size() == 9);
    mine.commit();
    CHECK(fs::exists(dir / "mine.png"));
  }

  TEST_CASE("file digests: XXH3 of the bytes; a FIFO or folder is refused, not waited on") {
    const fs::path dir = fresh("digest");
    save_file(dir / "a", "");
    save_file(dir / "b", "abc");
    // XXH3_64bits of "" and of "abc" (xxHash's own test vectors).
    CHECK(file_digest(dir / "a") == "xxh3:2d06800538d394c2");
    CHECK(file_digest(dir / "b") == "xxh3:78af5f94892f3950");
    REQUIRE(::mkfifo((dir / "fifo").c_str(), 0600) == 0);
    CHECK_THROWS_AS(file_digest(dir / "fifo"), IoError);
    CHECK_THROWS_AS(file_digest(dir), IoError);
    CHECK_THROWS_AS(file_digest(dir / "missing"), IoError);
  }
}
