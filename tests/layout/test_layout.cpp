// The layout the folders promise (README.md, "Layout"), checked on the source tree:
// dependencies run one way, tensor -> io -> viz / text / the CUDA core -> relevance -> ops
// (with their CUDA twins) -> nn -> apps, and no source file grows past 800 lines.

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

namespace fs = std::filesystem;

namespace {

const fs::path kRoot = RELPROP_SOURCE_DIR;

// The CUDA files below the engine: device memory, streams, handles, graphs and the
// element-wise primitives every level may call. The other cuda/ files are the twins of
// the op families and sit with ops/.
const std::vector<std::string> kCudaCore = {"common.cuh", "context", "context_cpu", "cublas_loader", "graph",
                                            "memory", "primitives", "reduce.cuh"};

struct Component {
  std::string name;
  int level;
};

// The component a file belongs to: its folder, with cuda/ split into core and op twins.
Component component(const std::string& folder, const std::string& file) {
  static const std::map<std::string, int> levels = {{"tensor", 0},    {"io", 1},  {"viz", 2}, {"text", 2},
                                                    {"relevance", 3}, {"ops", 4}, {"nn", 5},  {"apps", 6}};
  if (folder == "cuda") {
    const std::string stem = fs::path(file).extension() == ".cuh" ? file : fs::path(file).stem().string();
    for (const auto& core : kCudaCore)
      if (stem == core) return {"cuda core", 2};
    return {"ops", 4};  // an op family's GPU twin
  }
  return {folder, levels.at(folder)};
}

bool source_file(const fs::path& p) {
  static const std::vector<std::string> exts = {".cpp", ".hpp", ".cu", ".cuh", ".h", ".py", ".sh", ".cmake"};
  for (const auto& e : exts)
    if (p.extension() == e) return true;
  return p.filename() == "CMakeLists.txt";
}

}  // namespace

TEST_SUITE("layout") {
  TEST_CASE("includes go one way: tensor, io, then viz / text / the CUDA core, relevance, ops, nn, apps") {
    const std::string include = "#include \"relprop/";
    int files = 0;
    for (const std::string folder : {"tensor", "io", "viz", "text", "cuda", "relevance", "ops", "nn", "apps"}) {
      for (const auto& entry : fs::directory_iterator(kRoot / folder)) {
        if (!entry.is_regular_file()) continue;
        const std::string file = entry.path().filename().string();
        const Component self = component(folder, file);
        std::ifstream in(entry.path());
        std::string line;
        int number = 0;
        ++files;
        while (std::getline(in, line)) {
          ++number;
          // #include "relprop/FOLDER/FILE"
          const auto at = line.find(include);
          if (at == std::string::npos) continue;
          const std::string path = line.substr(at + include.size(), line.find('"', at + include.size()) - at - include.size());
          const auto slash = path.find('/');
          if (slash == std::string::npos) continue;  // relprop/config.hpp, relprop/relprop.hpp
          const std::string dep_folder = path.substr(0, slash), dep_file = path.substr(slash + 1);
          const Component dep = component(dep_folder, dep_file);
          INFO(folder << "/" << file << ":" << number << " includes " << path << " (" << self.name << " -> " << dep.name
                      << ")");
          // Down the levels, or within its own component.
          CHECK((dep.level < self.level || dep.name == self.name));
        }
      }
    }
    CHECK(files > 100);
  }

  TEST_CASE("no source file is longer than 800 lines") {
    int files = 0;
    for (auto it = fs::recursive_directory_iterator(kRoot); it != fs::recursive_directory_iterator(); ++it) {
      const fs::path rel = fs::relative(it->path(), kRoot);
      const std::string top = rel.begin()->string();
      if (it->is_directory() && (top.rfind("build", 0) == 0 || top[0] == '.' || rel == fs::path("tests/data"))) {
        it.disable_recursion_pending();
        continue;
      }
      if (!it->is_regular_file() || !source_file(it->path())) continue;
      std::ifstream in(it->path());
      int lines = 0;
      for (std::string line; std::getline(in, line);) ++lines;
      ++files;
      INFO(rel.string() << " has " << lines << " lines");
      CHECK(lines <= 800);
    }
    CHECK(files > 150);
  }
}
