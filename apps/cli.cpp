// relprop — the command-line tool: `inspect` a safetensors file, `explain` a model, list the
// `ops` and rules, run the `demo`.

#include "apps/cli.hpp"

#include <CLI/CLI.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iomanip>
#include <new>
#include <limits>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "apps/app.hpp"
#include "apps/numbers.hpp"
#include "relprop/relprop.hpp"

namespace relprop {

namespace {

namespace fs = std::filesystem;
using app::parse_integer;
using app::parse_real;
using app::RealRange;
using app::split_list;

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr std::int64_t kMaxScale = viz::kMaxMagnification;  // heatmap magnification

// An error message on one line, safe for the terminal (names and paths in it come from
// the user's files).
std::string one_line(std::string s) {
  std::replace(s.begin(), s.end(), '\n', ' ');
  return app::shown(s);
}

// CLI11's messages (they quote the arguments) and help, line by line safe for the terminal.
std::string lines_shown(const std::string& s) {
  std::string o;
  std::size_t at = 0;
  for (std::size_t nl; (nl = s.find('\n', at)) != std::string::npos; at = nl + 1) o += app::shown(s.substr(at, nl - at)) + "\n";
  return o + app::shown(s.substr(at));
}

// Checks of `relprop explain`'s numbers that involve more than one option: a number that
// would change nothing is refused (as --rule and --keep patterns that match no node), and
// the image normalisation must stay finite.
void check_explain_numbers(const app::ExplainArgs& ex, bool threshold_given, bool heatmap_numbers_given) {
  if (threshold_given && ex.task != "segmentation")
    throw ValueError("--threshold applies to --task segmentation only (the task is '" + ex.task + "')");
  if (!ex.outputs.empty() && ex.task != "regression")
    throw ValueError("--outputs applies to --task regression only (the task is '" + ex.task + "'); --targets sums "
                     "several outputs of any task");
  if (heatmap_numbers_given && !ex.heatmap && !ex.overlay)
    throw ValueError("--level and --scale shape the pictures of --heatmap and --overlay; neither is given");
  // Pixels lie in [0, 1]: |pixel - mean| / std must stay within float32 for every channel.
  double worst = 1.0;  // the default means (ImageNet's, 0, a folder's) lie within [-1, 1]
  for (double m : ex.mean) worst = std::max(worst, std::fabs(m));
  for (double s : ex.std)
    if ((1.0 + worst) / s > std::numeric_limits<float>::max()) {
      std::ostringstream least;
      least << (1.0 + worst) / std::numeric_limits<float>::max();
      std::ostringstream given;
      given << s;
      throw ValueError("--std '" + given.str() + "': too small, (pixel - mean) / std overflows float32 (need std >= " +
                       least.str() + ")");
    }
}

// ---- inspect --------------------------------------------------------------------------

int cmd_inspect(const std::string& path, std::ostream& out) {
  const SafetensorsFile f = SafetensorsFile::open(path);
  const auto& h = f.header();
  std::size_t width = 4;
  for (const auto& t : h.tensors) width = std::max(width, app::shown(t.name).size());
  out << app::shown(path) << ": " << h.tensors.size() << " tensors, header " << h.header_size << " bytes\n";
  std::uint64_t total = 0;
  std::vector<const SafetensorsTensorInfo*> sorted;
  for (const auto& t : h.tensors) sorted.push_back(&t);
  std::sort(sorted.begin(), sorted.end(), [](auto* a, auto* b) { return a->name < b->name; });
  for (const auto* t : sorted) {
    out << "  " << std::left << std::setw(static_cast<int>(width)) << app::shown(t->name) << "  " << std::setw(8)
        << st_dtype_name(t->dtype) << std::setw(20) << shape_str(t->shape) << (t->end - t->begin)
        << " bytes\n";
    total += t->end - t->begin;
  }
  out << "  total " << total << " bytes of tensor data\n";
  for (const auto& [k, v] : f.metadata()) out << "  metadata " << app::shown(k) << " = " << app::shown(v) << "\n";
  return 0;
}

}  // namespace

int run_cli(int argc, const char* const* argv, std::ostream& out, std::ostream& err) {
  CLI::App app{"relprop: explain neural-network predictions by layer-wise relevance propagation"};
  app.footer(
      "Exit status: 0 success; 1 bad input (a file, model, option value or shape relprop cannot use; one-line "
      "message); 3 internal error (a bug in relprop); 4 not enough memory (the run would pass --max-memory, or an "
      "allocation failed); 100 and above: usage (an unknown option, a missing argument).");
  app.set_version_flag("--version", std::string("relprop ") + RELPROP_VERSION);
  app.require_subcommand(1);

  std::string inspect_path;
  auto* inspect = app.add_subcommand("inspect", "List a safetensors file's tensors (names, dtypes, shapes, sizes)");
  inspect->add_option("file", inspect_path, "The .safetensors file")->required();

  app::ExplainArgs ex;
  auto* explain = app.add_subcommand("explain", "Explain a model's prediction on an input");
  // Numeric options are read as text and converted strictly when parsed (apps/numbers.hpp):
  // a ValueError naming the option and its text for anything but a finite number in range.
  using Texts = std::vector<std::string>;
  const RealRange any, nonnegative{0.0}, positive{0.0, kInf, true};
  auto real = [&](const std::string& name, auto& to, RealRange range, const std::string& help) {
    return explain->add_option_function<std::string>(
        name, [&to, name, range](const std::string& s) { to = parse_real(name, s, range); }, help)->type_name("FLOAT");
  };
  auto reals = [&](const std::string& name, std::vector<double>& to, RealRange range, const std::string& help) {
    return explain->add_option_function<Texts>(
        name,
        [&to, name, range](const Texts& v) {
          to.clear();
          for (const auto& s : v) to.push_back(parse_real(name, s, range));
        },
        help)->delimiter(',')->type_name("FLOAT");
  };
  auto integers = [&](const std::string& name, std::vector<std::int64_t>& to, const std::string& help) {
    return explain->add_option_function<Texts>(
        name,
        [&to, name](const Texts& v) {
          to.clear();
          for (const auto& s : v) to.push_back(parse_integer(name, s, 0));
        },
        help)->delimiter(',')->type_name("INT");
  };
  // zbox bounds: one value or per channel, '/'-separated; kept as text for the rule parser.
  auto bounds = [&](const std::string& name, std::string& to, const std::string& help) {
    return explain->add_option_function<std::string>(
        name,
        [&to, name](const std::string& s) {
          for (auto part : split_list(s, '/')) parse_real(name, part);
          to = s;
        },
        help)->type_name("FLOAT[/FLOAT...]");
  };
  explain->add_option("--graph", ex.graph, "Model graph (graph.json)");
  explain->add_option("--model", ex.model,
                      "Built-in model instead of --graph: vgg11, vgg11_bn, vgg16, vgg16_bn, resnet18, resnet50, "
                      "efficientnet_lite0, mlp:IN,HIDDEN,...,OUT (weights by torchvision's names); or a Hugging "
                      "Face model folder (config.json, model.safetensors, tokenizer files: the BERT family)");
  explain->add_option("--weights", ex.weights, "Model weights (.safetensors; not for a Hugging Face folder)");
  explain->add_option("--text", ex.text, "Text for a Hugging Face model folder (--model DIR): tokenized, explained, "
                                         "tokens printed and OUT.html written");
  explain->add_option("--compare", ex.compare,
                      "Sentence-embedding models: explain the cosine similarity to this text (default: the "
                      "embedding's own length)");
  explain->add_option("--input", ex.input, "Input: .safetensors (tensors by graph input name), an image (PNG, JPEG), "
                      "or a folder / .txt list of them (then --out is a folder); or --text");
  explain->add_option("--out", ex.out, "Where to write the relevance (.safetensors; a folder for many inputs)")->required();
  explain->add_option("--composite", ex.composite,
                      "Rule set: zero, epsilon, epsilon-plus, epsilon-plus-flat, epsilon-gamma-box, "
                      "epsilon-alpha2-beta1, epsilon-alpha2-beta1-flat, backtrace, backtrace-contrastive (results NAME.positive "
                      "and NAME.negative), gradient, gradient-x-input (default epsilon)");
  explain->add_option_function<std::string>(
      "--target", [&ex](const std::string& s) { ex.target = parse_integer("--target", s, 0); },
      "Output index to explain (default: arg-max); a token id for language models")->type_name("INT");
  integers("--targets", ex.targets, "Several outputs at once, comma separated (their values summed: e.g. "
                                    "the token ids of a multi-token answer)");
  explain->add_option("--seed", ex.seed, "value | one-hot (default: the composite's)");
  real("--multiplier", ex.multiplier, any, "Seed multiplier (default 1; backtrace 100)");
  real("--epsilon", ex.epsilon, nonnegative, "Epsilon of the composite's epsilon rules");
  real("--gamma", ex.gamma, nonnegative, "Gamma of epsilon-gamma-box's convolutions (default 0.25)");
  bounds("--low", ex.low, "epsilon-gamma-box input bound: one value or per channel, '/'-separated (default -3)");
  bounds("--high", ex.high, "epsilon-gamma-box input bound: one value or per channel (default 3)");
  explain->add_option("--rule", ex.rules, "NODE=RULE[:PARAM] override; NODE a name or glob (repeatable)");
  explain->add_option("--keep", ex.keep, "Keep node relevance: 'all' or node-name globs (repeatable)");
  explain->add_option("--output", ex.output, "Which graph output to explain (default: the first)");
  explain->add_option("--task", ex.task, "classification (default), regression or segmentation");
  integers("--outputs", ex.outputs, "Regression: the outputs to explain (default: all)");
  auto* threshold = real("--threshold", ex.threshold, any, "Segmentation: explain the outputs above this value (default 0)");
  real("--scaler", ex.scaler, nonnegative, "Rescale every relevance map to sum to this (0: off)");
  real("--max-unit", ex.max_unit, nonnegative, "Scale every map so its largest magnitude is this (0: off)");
  explain->add_option("--device", ex.device,
                      "cpu (default) or cuda: run the forward pass, tape and relevance on the GPU (weights uploaded "
                      "once; results copied back to write them)");
  explain->add_option("--precision", ex.precision,
                      "fp32 (default); tf32: the GPU's GEMMs and convolutions on TF32 tensor cores (~1e-3 from "
                      "fp32); bf16: weights stored as bfloat16, computed in fp32 (~1e-2 from fp32)");
  explain->add_option("--conv-algorithm", ex.conv_algorithm,
                      "direct (default) or winograd: 3x3 stride-1 convolutions on the CPU by Winograd F(2x2,3x3), "
                      "2.25x fewer multiply-adds, results within float rounding of direct (~1e-6 relative)");
  explain->add_flag("--quiet,-q", ex.quiet, "Print nothing on success");
  std::string max_memory_arg;
  explain->add_option("--max-memory", max_memory_arg,
                      "Most memory a run may take, e.g. 2G or 512M (default: what the machine has available); a "
                      "model whose planned memory would pass it is refused before it runs, naming the node");
  explain->add_flag("--allow-nonfinite", ex.allow_nonfinite,
                    "Accept NaN and infinite weights and inputs (refused by default, naming the tensor and the first "
                    "bad index)");
  // pictures and tables
  explain->add_flag("--heatmap", ex.heatmap, "Also write the input relevance as a PNG heatmap (OUT with .png)");
  explain->add_flag("--overlay", ex.overlay, "Also write the heatmap over the input picture (OUT with .overlay.png)");
  explain->add_option("--cmap", ex.cmap, "Heatmap colour map: bwr (default), coldnhot, hot, gray, wred, wblue, cold, "
                                         "france, seismic, coolio, coleus, or a Zennit colour-map source");
  explain->add_option("--norm", ex.norm, "Heatmap normalisation: symmetric (default), absolute, unaligned");
  auto* level = real("--level", ex.level, positive, "Colour-map level (Zennit's; default 1)");
  auto* scale = explain->add_option_function<std::string>(
      "--scale", [&ex](const std::string& s) { ex.scale = static_cast<int>(parse_integer("--scale", s, 0, kMaxScale)); },
      "Heatmap magnification, at most 64 (default: small images up to >= 128 px)")->type_name("INT");
  reals("--mean", ex.mean, any, "Image inputs: per-channel mean (default ImageNet's for RGB)");
  reals("--std", ex.std, positive, "Image inputs: per-channel std (default ImageNet's for RGB)");
  auto* crop = real("--crop", ex.crop, RealRange{0.0, 1.0, true},
                    "Image inputs: centre-crop fraction after resizing (default 0.875 = 224/256; Hugging Face vision "
                    "folders: resized straight to the model's size unless given)");
  explain->add_option("--features", ex.features,
                      "Feature names (one per line, a CSV header or JSON): write OUT.features.csv and .png");
  explain->add_flag("--summary", ex.summary, "Write relevance per node as OUT.layers.csv and OUT.layers.png");
  // many inputs
  explain->add_option_function<std::string>(
      "--batch-size",
      [&ex](const std::string& s) {
        ex.batch_size = static_cast<int>(parse_integer("--batch-size", s, 1, std::numeric_limits<int>::max()));
      },
      "Inputs per forward pass when --input is a folder or list (default 1)")->type_name("INT");
  explain->add_option("--shard", ex.shard, "I/N: explain only every N-th input starting at I (0-based)");
  explain->add_flag("!--no-progress", ex.progress, "No progress bar (it shows only on a terminal anyway)");
  explain->add_flag("!--no-cuda-graphs", ex.cuda_graphs,
                    "--device cuda: explain every batch eagerly instead of capturing repeated batches of one shape "
                    "as a CUDA Graph and replaying it (the same results)");

  bool ops_markdown = false;
  auto* ops = app.add_subcommand("ops", "List every op with its class, inputs and supported rules, the rules and the composites");
  ops->add_flag("--markdown", ops_markdown, "As the Markdown tables of README.md");

  app::DemoArgs demo_args;
  auto* demo = app.add_subcommand("demo", "Explain the built-in real-data examples (digits, breast cancer) and write pictures");
  demo->add_option("--out", demo_args.out, "Folder for the results (default relprop-demo)");
  demo->add_option("--data", demo_args.data, "The demo's data (default: found beside relprop)");
  demo->add_option("--models", demo_args.models, "Exported models (scripts/models.sh) for the photograph");
  demo->add_option("--composite", demo_args.composite, "Composite for the digits (default epsilon-plus)");
  demo->add_flag("--quiet,-q", demo_args.quiet, "Print nothing on success");
  demo->add_option("--max-memory", max_memory_arg, "Most memory a run may take (as for explain)");

  // --max-memory holds for this command only (the setting is process-wide, and the
  // command may run inside a program that has its own).
  struct MemoryScope {
    std::uint64_t saved = max_memory_set() ? max_memory() : 0;
    ~MemoryScope() { set_max_memory(saved); }
  } memory_scope;
  try {
    try {
      app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
      std::ostringstream o, r;
      const int status = app.exit(e, o, r);
      out << lines_shown(o.str());
      err << lines_shown(r.str());
      return status;
    }
    ex.crop_given = crop->count() > 0;
    if (*explain) check_explain_numbers(ex, threshold->count() > 0, level->count() + scale->count() > 0);
    if (!max_memory_arg.empty()) set_max_memory(parse_bytes(max_memory_arg, "--max-memory"));
    if (*inspect) return cmd_inspect(inspect_path, out);
    if (*explain) return app::cmd_explain(ex, out, err);
    if (*demo) return app::cmd_demo(demo_args, out);
    if (*ops) return app::cmd_ops(ops_markdown, out);
  } catch (const ResourceError& e) {
    err << "relprop: error: " << one_line(e.what()) << "\n";
    return 4;
  } catch (const std::bad_alloc&) {
    err << "relprop: error: out of memory\n";
    return 4;
  } catch (const Error& e) {
    err << "relprop: error: " << one_line(e.what()) << "\n";
    return 1;
  } catch (const std::exception& e) {
    err << "relprop: internal error: " << one_line(e.what()) << "\n";
    return 3;
  }
  return 2;
}

}  // namespace relprop
