// The files `relprop explain` writes, run in-process: no output may be an input of the run
// by any name, files appear under unique temporaries (never through a planted link), long
// legal names work and a failing run leaves nothing, a resumed batch verifies what it
// skips, temporaries of killed runs are removed, and what reaches the terminal is escaped.

#include <doctest/doctest.h>

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "apps/cli_run.hpp"
#include "relprop/io/safetensors.hpp"
#include "relprop/viz/image.hpp"

using namespace relprop;
namespace fs = std::filesystem;

namespace {

const std::string kDemo = std::string(RELPROP_SOURCE_DIR) + "/examples/demo/";
const std::string kWorked = std::string(RELPROP_SOURCE_DIR) + "/examples/worked/";

using relprop::testing::cli;
using relprop::testing::Run;

// A fresh folder of this process (test cases may run side by side).
fs::path fresh(const std::string& name) {
  const fs::path dir = fs::temp_directory_path() / ("relprop_test_files_" + std::to_string(::getpid())) / name;
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

std::string bytes_of(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// Every name in `dir`, hidden ones included.
std::set<std::string> listing(const fs::path& dir) {
  std::set<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.insert(e.path().filename().string());
  return names;
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

// `count` 8 x 8 digits of the demo's samples as PNG files in `dir` (digit00.png, ...).
std::vector<fs::path> digit_pngs(const fs::path& dir, int count) {
  const Tensor x = SafetensorsFile::open(kDemo + "digits/samples.safetensors").get("x");
  std::vector<fs::path> files;
  for (int i = 0; i < count; ++i) {
    viz::Image im = viz::Image::blank(8, 8, 1);
    for (int p = 0; p < 64; ++p)
      im.pixels[p] = static_cast<std::uint8_t>(std::clamp(x.get({i, 0, p / 8, p % 8}) * 255.0, 0.0, 255.0));
    char name[32];
    std::snprintf(name, sizeof name, "digit%02d.png", i);
    files.push_back(dir / name);
    viz::write_png(files.back().string(), im);
  }
  return files;
}

std::vector<std::string> digits(const std::string& input, const std::string& out) {
  return {"explain", "--graph", kDemo + "digits/graph.json", "--weights", kDemo + "digits/weights.safetensors",
          "--input", input, "--out", out};
}

std::vector<std::string> operator+(std::vector<std::string> a, const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

}  // namespace

TEST_SUITE("apps.files") {
  TEST_CASE("no output is an input of the run, by any name: refused before anything is written, naming both") {
    const fs::path dir = fresh("inputs");
    const fs::path in = digit_pngs(dir, 1)[0];
    const std::string picture = bytes_of(in);

    SUBCASE("the heatmap of --out in.safetensors is the input in.png") {
      const Run r = cli(digits(in.string(), (dir / "digit00.safetensors").string()) + std::vector<std::string>{"--heatmap"});
      CHECK(r.status == 1);
      CHECK(contains(r.err, "the output '" + in.string() + "' is the input '" + in.string() + "'"));
      CHECK(bytes_of(in) == picture);
      CHECK_FALSE(fs::exists(dir / "digit00.safetensors"));
    }
    SUBCASE("a hard link, a symbolic link and a linked folder: the same file by another name") {
      fs::create_hard_link(in, dir / "hard.png");
      fs::create_symlink(in, dir / "soft.png");
      fs::remove(dir.parent_path() / "inputs_link");
      fs::create_directory_symlink(dir, dir.parent_path() / "inputs_link");
      for (const fs::path& out : {dir / "hard.safetensors", dir / "soft.safetensors",
                                 dir.parent_path() / "inputs_link" / "digit00.safetensors"}) {
        CAPTURE(out);
        const Run r = cli(digits(in.string(), out.string()) + std::vector<std::string>{"--heatmap"});
        CHECK(r.status == 1);
        CHECK(contains(r.err, "is the input '" + in.string() + "'"));
        CHECK(contains(r.err, "refusing to overwrite"));
      }
      CHECK(bytes_of(in) == picture);
      CHECK(fs::is_symlink(dir / "soft.png"));
      CHECK(listing(dir) == std::set<std::string>{"digit00.png", "hard.png", "soft.png"});
      fs::remove(dir.parent_path() / "inputs_link");
    }
    SUBCASE("--features r.features.csv --out r.safetensors: the names file") {
      const Tensor x = SafetensorsFile::open(kDemo + "cancer/samples.safetensors").get("x").slice(0, 1, 2).contiguous();
      save_safetensors(dir / "patient.safetensors", {{"x", x}});
      std::string header;
      for (int i = 0; i < 30; ++i) header += (i ? ",f" : "f") + std::to_string(i);
      std::ofstream(dir / "r.features.csv") << header << "\n";
      const Run r = cli({"explain", "--graph", kDemo + "cancer/graph.json", "--weights", kDemo + "cancer/weights.safetensors",
                         "--input", (dir / "patient.safetensors").string(), "--out", (dir / "r.safetensors").string(),
                         "--features", (dir / "r.features.csv").string()});
      CHECK(r.status == 1);
      CHECK(contains(r.err, "is the input '" + (dir / "r.features.csv").string() + "'"));
      CHECK(bytes_of(dir / "r.features.csv") == header + "\n");
      CHECK_FALSE(fs::exists(dir / "r.safetensors"));
    }
    SUBCASE("the graph and the weights") {
      fs::copy_file(kDemo + "digits/graph.json", dir / "graph.json");
      fs::copy_file(kDemo + "digits/weights.safetensors", dir / "weights.safetensors");
      const std::string weights = bytes_of(dir / "weights.safetensors");
      for (const char* out : {"graph.json", "weights.safetensors"}) {
        const Run r = cli({"explain", "--graph", (dir / "graph.json").string(), "--weights",
                           (dir / "weights.safetensors").string(), "--input", in.string(), "--out", (dir / out).string()});
        CHECK(r.status == 1);
        CHECK(contains(r.err, "refusing to overwrite"));
      }
      CHECK(bytes_of(dir / "graph.json") == bytes_of(kDemo + "digits/graph.json"));
      CHECK(bytes_of(dir / "weights.safetensors") == weights);
    }
    SUBCASE("a file of a model folder") {
      const fs::path model = dir / "gpt2";
      fs::copy(std::string(RELPROP_SOURCE_DIR) + "/tests/data/gpt2_tiny", model);
      const std::string weights = bytes_of(model / "model.safetensors");
      const Run r = cli({"explain", "--model", model.string(), "--text", "the fox", "--out",
                         (model / "model.safetensors").string()});
      CHECK(r.status == 1);
      CHECK(contains(r.err, "is the input '" + (model / "model.safetensors").string() + "'"));
      CHECK(bytes_of(model / "model.safetensors") == weights);
    }
    SUBCASE("a folder of pictures explained into itself with --heatmap") {
      const fs::path many = fresh("inputs_many");
      const auto files = digit_pngs(many, 3);
      std::vector<std::string> before;
      for (const auto& f : files) before.push_back(bytes_of(f));
      const Run r = cli(digits(many.string(), many.string()) + std::vector<std::string>{"--heatmap"});
      CHECK(r.status == 1);
      CHECK(contains(r.err, "the output '" + files[0].string() + "' is the input '" + files[0].string() + "'"));
      for (std::size_t i = 0; i < files.size(); ++i) CHECK(bytes_of(files[i]) == before[i]);
      CHECK(listing(many) == std::set<std::string>{"digit00.png", "digit01.png", "digit02.png"});
    }
    SUBCASE("one output twice: --out x.png --heatmap") {
      const Run r = cli(digits(in.string(), (dir / "x.png").string()) + std::vector<std::string>{"--heatmap"});
      CHECK(r.status == 1);
      CHECK(contains(r.err, "twice"));
      CHECK_FALSE(fs::exists(dir / "x.png"));
    }
  }

  TEST_CASE("files appear under unique temporaries: a planted link is replaced, never written through") {
    const fs::path dir = fresh("links");
    const fs::path in = digit_pngs(dir, 1)[0];
    std::ofstream(dir / "precious.txt") << "precious";
    // The fixed names of side files' temporaries (OUT.png.part) and the final names alike.
    fs::create_symlink(dir / "precious.txt", dir / "r.png.part");
    fs::create_symlink(dir / "precious.txt", dir / "r.overlay.png");
    const Run r = cli(digits(in.string(), (dir / "r.safetensors").string()) +
                      std::vector<std::string>{"--heatmap", "--overlay"});
    CAPTURE(r.err);
    REQUIRE(r.status == 0);
    CHECK(bytes_of(dir / "precious.txt") == "precious");
    CHECK_FALSE(fs::is_symlink(dir / "r.overlay.png"));
    CHECK(viz::read_image((dir / "r.overlay.png").string()).width == 128);
    CHECK(viz::read_image((dir / "r.png").string()).width == 128);
    // Nothing else is left beside them.
    CHECK(listing(dir) == std::set<std::string>{"digit00.png", "precious.txt", "r.png.part", "r.overlay.png", "r.png",
                                                "r.safetensors"});
  }

  TEST_CASE("a legal 250-byte output name works; a side file past NAME_MAX is refused up front; a failing run leaves nothing") {
    const fs::path dir = fresh("names");
    const fs::path in = digit_pngs(dir, 1)[0];
    const std::string stem(238, 'n');  // + ".safetensors": 250 bytes
    Run r = cli(digits(in.string(), (dir / (stem + ".safetensors")).string()) + std::vector<std::string>{"--heatmap"});
    CAPTURE(r.err);
    CHECK(r.status == 0);
    CHECK(listing(dir) == std::set<std::string>{"digit00.png", stem + ".png", stem + ".safetensors"});
    // ".positive.overlay.png" after 238 bytes is 259: refused before anything is written.
    const fs::path out = fresh("names_long");
    r = cli(digits(in.string(), (out / (stem + ".safetensors")).string()) +
            std::vector<std::string>{"--composite", "backtrace-contrastive", "--overlay"});
    CHECK(r.status == 1);
    CHECK(contains(r.err, "longer than the file-name limit"));
    CHECK(listing(out).empty());
    // A heatmap, then an error on the feature names: neither the picture nor a temporary stays.
    std::ofstream(dir / "names.txt") << "a\nb\n";
    const fs::path failing = fresh("names_failing");
    r = cli(digits(in.string(), (failing / "r.safetensors").string()) +
            std::vector<std::string>{"--heatmap", "--features", (dir / "names.txt").string()});
    CHECK(r.status == 1);
    CHECK(contains(r.err, "names 2"));
    CHECK(listing(failing).empty());
  }

  TEST_CASE("a resumed batch verifies what it skips: empty, truncated and other-settings results are redone") {
    const fs::path in = fresh("resume_in");
    digit_pngs(in, 4);
    const fs::path out = fresh("resume_out");
    Run r = cli(digits(in.string(), out.string()) + std::vector<std::string>{"--composite", "epsilon-plus"});
    REQUIRE(r.status == 0);
    CHECK(SafetensorsFile::open(out / "digit02.safetensors").metadata().at("composite") == "epsilon-plus");
    // An empty result, a truncated one, one from another --composite (digit02), one kept.
    std::ofstream(out / "digit00.safetensors", std::ios::trunc).close();
    const std::string whole = bytes_of(out / "digit01.safetensors");
    std::ofstream(out / "digit01.safetensors", std::ios::trunc | std::ios::binary) << whole.substr(0, whole.size() - 10);
    r = cli(digits(in.string(), out.string()) + std::vector<std::string>{"--composite", "epsilon-plus"});
    REQUIRE(r.status == 0);
    CHECK(contains(r.out, "digit00.png: redone (the existing result is empty)"));
    CHECK(contains(r.out, "digit01.png: redone (the existing result is not a complete safetensors file"));
    CHECK(contains(r.out, "explained 2 inputs (2 already done, skipped) (2 redone"));
    CHECK(SafetensorsFile::open(out / "digit00.safetensors").get("x").shape() == Shape{1, 1, 8, 8});
    // Another composite: everything redone, and said so.
    r = cli(digits(in.string(), out.string()) + std::vector<std::string>{"--composite", "epsilon"});
    REQUIRE(r.status == 0);
    CHECK(contains(r.out, "digit02.png: redone (it was written with composite \"epsilon-plus\", now \"epsilon\")"));
    CHECK(contains(r.out, "explained 4 inputs (4 redone"));
    CHECK(SafetensorsFile::open(out / "digit02.safetensors").metadata().at("composite") == "epsilon");
    // The same settings: all skipped. Another --epsilon, or pictures asked for that are not
    // there: redone.
    r = cli(digits(in.string(), out.string()) + std::vector<std::string>{"--composite", "epsilon"});
    CHECK(contains(r.out, "explained 0 inputs (4 already done, skipped)"));
    r = cli(digits(in.string(), out.string()) + std::vector<std::string>{"--composite", "epsilon", "--epsilon", "0.5"});
    CHECK(contains(r.out, "redone (it was written with epsilon null, now 0.5)"));
    r = cli(digits(in.string(), out.string()) + std::vector<std::string>{"--composite", "epsilon", "--epsilon", "0.5", "--heatmap"});
    CHECK(contains(r.out, "explained 4 inputs (4 redone"));
    CHECK(fs::exists(out / "digit03.png"));
    fs::remove(out / "digit03.png");
    r = cli(digits(in.string(), out.string()) + std::vector<std::string>{"--composite", "epsilon", "--epsilon", "0.5", "--heatmap"});
    CHECK(contains(r.out, "digit03.png: redone ('digit03.png' is missing)"));
    CHECK(contains(r.out, "explained 1 input (3 already done, skipped) (1 redone"));
    // Other weights (one byte changed): redone.
    const fs::path weights = in.parent_path() / "weights.safetensors";
    fs::copy_file(kDemo + "digits/weights.safetensors", weights, fs::copy_options::overwrite_existing);
    {
      std::fstream f(weights, std::ios::in | std::ios::out | std::ios::binary);
      f.seekp(-1, std::ios::end);
      f.put('\x01');
    }
    auto args = digits(in.string(), out.string()) + std::vector<std::string>{"--composite", "epsilon", "--epsilon", "0.5", "--heatmap"};
    args[4] = weights.string();
    r = cli(args);
    CHECK(contains(r.out, "redone (it was written with model"));
  }

  TEST_CASE("the temporaries of killed runs are removed by the next run, nothing else") {
    const fs::path dir = fresh("stale");
    const fs::path in = digit_pngs(dir, 1)[0];
    const fs::path out = fresh("stale_out");
    const std::vector<std::string> stale = {".r.safetensors.relprop-abcd1234.tmp", ".r.png.relprop-0a1b2c3d.tmp",
                                            "." + std::string(230, 'n') + ".relprop-zzzzzzzz.tmp"};
    const std::vector<std::string> kept = {".r.safetensors.tmp.Ab12Cd", "r.png.part", "notes.relprop-abcd1234.tmp",
                                           ".r.relprop-ABCD1234.tmp"};
    for (const auto& n : stale) std::ofstream(out / n) << "half";
    for (const auto& n : kept) std::ofstream(out / n) << "user's";
    Run r = cli(digits(in.string(), (out / "r.safetensors").string()) + std::vector<std::string>{"--heatmap"});
    CAPTURE(r.err);
    REQUIRE(r.status == 0);
    CHECK(contains(r.out, "removed 3 temporary files of an interrupted run"));
    std::set<std::string> want(kept.begin(), kept.end());
    want.insert({"r.safetensors", "r.png"});
    CHECK(listing(out) == want);
    // A batch cleans its output folder.
    std::ofstream(out / ".digit00.safetensors.relprop-abcdefgh.tmp") << "half";
    r = cli(digits(dir.string(), out.string()));
    REQUIRE(r.status == 0);
    CHECK(contains(r.out, "removed 1 temporary file of an interrupted run"));
    CHECK_FALSE(fs::exists(out / ".digit00.safetensors.relprop-abcdefgh.tmp"));
  }

  TEST_CASE("names, paths and messages reach the terminal escaped: NUL, ESC and the other controls as \\xNN") {
    const fs::path dir = fresh("terminal");
    // A tensor name and a metadata entry with ESC, BEL and NUL.
    const std::string evil = std::string("x\x1b[31mRED") + '\0' + "nul";
    save_safetensors(dir / "evil.safetensors", {{evil, Tensor::from_vector({1.0f}, {1})}},
                     {{"k\x1b]0;title\x07", "v\xc2\x9b"}});
    Run r = cli({"inspect", (dir / "evil.safetensors").string()});
    CAPTURE(r.err);
    REQUIRE(r.status == 0);
    CHECK(contains(r.out, "x\\x1b[31mRED\\x00nul"));
    CHECK(contains(r.out, "metadata k\\x1b]0;title\\x07 = v\\xc2\\x9b"));
    CHECK(r.out.find('\x1b') == std::string::npos);
    CHECK(r.out.find('\0') == std::string::npos);
    // A node name in the conservation report, an error naming a path.
    std::string graph = bytes_of(kWorked + "graph.json");
    graph.replace(graph.find("\"fc\","), 5, "\"fc\\u001b[2J\",");
    graph.replace(graph.find("\"fc\"\n"), 4, "\"fc\\u001b[2J\"");
    std::ofstream(dir / "graph.json") << graph;
    r = cli({"explain", "--graph", (dir / "graph.json").string(), "--weights", kWorked + "weights.safetensors", "--input",
             kWorked + "input.safetensors", "--out", (dir / "r.safetensors").string()});
    CAPTURE(r.err);
    REQUIRE(r.status == 0);
    CHECK(contains(r.out, "fc\\x1b[2J"));
    CHECK(r.out.find('\x1b') == std::string::npos);
    r = cli({"explain", "--graph", (dir / "no\x1b[2Jsuch.json").string(), "--weights", kWorked + "weights.safetensors",
             "--input", kWorked + "input.safetensors", "--out", (dir / "r2.safetensors").string()});
    CHECK(r.status == 1);
    CHECK(contains(r.err, "no\\x1b[2Jsuch.json"));
    CHECK(r.err.find('\x1b') == std::string::npos);
    // Arguments CLI11 quotes back.
    r = cli({"explain", "--out", "x", "--no-such-option\x1b[2J"});
    CHECK(r.status != 0);
    CHECK(r.err.find('\x1b') == std::string::npos);
  }
}
