#pragma once
// The command-line tool's commands (internal to apps/): explain one input or many, the
// demo, and the pieces they share.

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "relprop/relprop.hpp"

namespace relprop::app {

struct ExplainArgs {
  std::string graph, model, weights, input, out, composite = "epsilon", seed, output, text, compare;
  std::string device = "cpu";        // cpu | cuda
  std::string precision = "fp32";    // fp32 | tf32 (GPU GEMMs and convolutions) | bf16 (weights stored bf16)
  std::string conv_algorithm;        // "" (as set: direct unless RELPROP_CONV_ALGORITHM) | direct | winograd
  std::optional<std::int64_t> target;
  std::optional<double> multiplier, epsilon, gamma;
  std::string low, high;
  std::vector<std::string> rules, keep;
  std::string task = "classification";
  std::vector<std::int64_t> outputs, targets;
  double threshold = 0.0, scaler = 0.0, max_unit = 0.0;
  bool quiet = false;
  bool allow_nonfinite = false;  // accept NaN and infinity in the weights and inputs
  // pictures and tables
  bool heatmap = false, overlay = false, summary = false;
  std::string cmap = "bwr", norm = "symmetric", features;
  double level = 1.0;
  int scale = 0;  // 0: magnify small images to >= 128 px
  std::vector<double> mean, std;
  double crop = 0.875;
  bool crop_given = false;  // --crop was on the command line
  // many inputs
  int batch_size = 1;
  std::string shard;  // "I/N"
  bool progress = true;
  bool cuda_graphs = true;  // GPU: replay repeated batches of one shape as a captured CUDA Graph
};

int cmd_explain(const ExplainArgs& a, std::ostream& out, std::ostream& err);

struct DemoArgs {
  std::string out = "relprop-demo", data, models, composite = "epsilon-plus";
  bool quiet = false;
};
int cmd_demo(const DemoArgs& a, std::ostream& out);

// `relprop ops [--markdown]`: every op with its class, inputs and rules, the rules and the
// composites (Markdown: the tables README.md carries).
int cmd_ops(bool markdown, std::ostream& out);

// ---- shared pieces ----------------------------------------------------------------------

std::string fmt_fixed(double v, int digits = 3);
// A name, path or text from the user's files as printed on the terminal: control
// characters and bytes that are not UTF-8 as \xNN (viz::terminal_text).
inline std::string shown(std::string_view s) { return viz::terminal_text(s); }
std::string describe(const Tensor& t);
bool is_image_path(const std::filesystem::path& p);
// Feature names from a file: one per line, a CSV's header row, or a JSON file with a
// "features" list (the demo's meta.json).
std::vector<std::string> read_feature_names(const std::string& path);
// Relevance (1, F) or (F,) of a table row → ranked bars, with the input values as notes.
std::vector<viz::Bar> feature_bars(const std::vector<std::string>& names, const Tensor& relevance,
                                   const Tensor* values);
std::string feature_csv(const std::vector<std::string>& names, const Tensor& relevance, const Tensor* values);
// Relevance mass per node (from a propagation's report): table and chart.
std::string layers_csv(const RelevanceMap& R);
viz::Image layers_chart(const RelevanceMap& R, const std::string& title);

}  // namespace relprop::app
