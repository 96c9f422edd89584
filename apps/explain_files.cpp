// `relprop explain`: the files a run reads and writes (apps/explain.hpp): no output may be
// an input, by any name; what a result records of its settings; whether an existing result
// stands for this run when a batch is resumed.

#include <sys/stat.h>

#include <algorithm>
#include <set>

#include <nlohmann/json.hpp>

#include "apps/explain.hpp"

namespace relprop::app {

namespace fs = std::filesystem;
using json = nlohmann::json;

// ---- inputs and outputs ---------------------------------------------------------------

RunInputs::RunInputs(const ExplainArgs& a, const std::vector<fs::path>& listed) {
  for (const auto* given : {&a.graph, &a.weights, &a.features})
    if (!given->empty()) add(*given);
  if (!a.input.empty()) {
    std::error_code ec;
    if (!fs::is_directory(a.input, ec)) add(a.input);  // a file, or the list naming them
  }
  for (const auto& p : listed) add(p);
  // A model folder: everything in it (config, weights, tokenizer, whatever else it holds).
  std::error_code ec;
  if (!a.model.empty() && fs::is_directory(a.model, ec))
    for (fs::recursive_directory_iterator it(a.model, ec), end; !ec && it != end; it.increment(ec)) add(it->path());
}

void RunInputs::add(const fs::path& p) {
  struct stat st {};
  if (::stat(p.c_str(), &st) != 0 || S_ISDIR(st.st_mode)) return;
  files_.emplace(std::pair<std::uint64_t, std::uint64_t>(st.st_dev, st.st_ino), p);
}

const fs::path* RunInputs::find(const fs::path& p) const {
  struct stat st {};
  if (::stat(p.c_str(), &st) != 0) return nullptr;  // not there (or a dangling link): nobody's input
  const auto it = files_.find({st.st_dev, st.st_ino});
  return it == files_.end() ? nullptr : &it->second;
}

void check_outputs(const std::vector<fs::path>& outputs, const std::vector<std::string>& sources,
                   const RunInputs& inputs) {
  std::map<std::string, std::size_t> seen;  // by the path as written (one run's outputs share their folders)
  for (std::size_t i = 0; i < outputs.size(); ++i) {
    const fs::path& out = outputs[i];
    if (const fs::path* in = inputs.find(out)) {
      std::error_code ec;
      const bool same_name = fs::weakly_canonical(out, ec) == fs::weakly_canonical(*in, ec);
      throw ValueError("the output '" + out.string() + "' is the input '" + in->string() + "'" +
                       (same_name ? "" : " (the same file by another name)") + "; refusing to overwrite it");
    }
    const std::string name = out.filename().string();
    const fs::path dir = out.has_parent_path() ? out.parent_path() : fs::path(".");
    if (name.size() > name_max(dir))
      throw ValueError("the output name '" + name + "' is " + std::to_string(name.size()) +
                       " bytes, longer than the file-name limit of '" + dir.string() + "' (" +
                       std::to_string(name_max(dir)) + ")");
    const auto [it, fresh] = seen.emplace(out.lexically_normal().string(), i);
    if (!fresh) {
      const std::string& a = sources[it->second];
      const std::string& b = sources[i];
      throw ValueError(a == b ? "'" + a + "' would write '" + out.string() + "' twice; choose another --out name"
                              : "inputs '" + a + "' and '" + b + "' would both write '" + out.string() + "'; rename one");
    }
  }
}

// ---- settings ---------------------------------------------------------------------------

namespace {

json optional_number(const std::optional<double>& v) { return v ? json(*v) : json(); }

// The model's files by digest, path-free, so that a copy of the model elsewhere (another
// machine of a sharded run) counts as the same model.
json model_identity(const ExplainArgs& a) {
  json j = json::object();
  std::error_code ec;
  if (!a.model.empty() && fs::is_directory(a.model, ec)) {
    // What the loaders read: the configuration, the weights and the tokenizer files.
    json files = json::object();
    for (const char* name : {"config.json", "model.safetensors", "preprocessor_config.json", "1_Pooling/config.json",
                             "tokenizer.json", "tokenizer_config.json", "vocab.txt", "vocab.json", "merges.txt"})
      if (fs::is_regular_file(fs::path(a.model) / name, ec)) files[name] = file_digest(fs::path(a.model) / name);
    j["folder"] = files;
    return j;
  }
  if (!a.model.empty()) j["model"] = a.model;  // a built-in architecture: its name is its definition
  if (!a.graph.empty()) j["graph"] = file_digest(a.graph);
  if (!a.weights.empty()) j["weights"] = file_digest(a.weights);
  return j;
}

}  // namespace

std::string settings_json(const ExplainArgs& a, const ExplainSettings& s, const ExplainModel& m) {
  json j;
  j["relprop"] = RELPROP_VERSION;
  j["model"] = model_identity(a);
  // The explanation.
  j["composite"] = a.composite;
  j["epsilon"] = optional_number(a.epsilon);
  j["gamma"] = optional_number(a.gamma);
  j["low"] = a.low;
  j["high"] = a.high;
  j["rules"] = a.rules;
  j["seed"] = s.seed.form == SeedForm::Value ? "value" : "one-hot";
  j["multiplier"] = s.seed.multiplier;
  j["task"] = a.task;
  j["target"] = a.target ? json(*a.target) : json();
  j["targets"] = a.targets;
  j["outputs"] = a.outputs;
  j["threshold"] = a.threshold;
  j["output"] = m.graph.outputs().at(s.output);
  j["keep"] = a.keep;
  j["scaler"] = a.scaler;
  j["max-unit"] = a.max_unit;
  j["text"] = a.text;
  j["compare"] = a.compare;
  j["precision"] = a.precision;
  j["conv-algorithm"] = conv_algorithm() == ConvAlgorithm::Winograd ? "winograd" : "direct";
  // How pictures become inputs.
  j["mean"] = a.mean;
  j["std"] = a.std;
  j["crop"] = a.crop_given ? json(a.crop) : json();
  // The pictures and tables beside the result.
  j["heatmap"] = a.heatmap;
  j["overlay"] = a.overlay;
  j["cmap"] = a.cmap;
  j["norm"] = a.norm;
  j["level"] = a.level;
  j["scale"] = a.scale;
  j["features"] = a.features.empty() ? json() : json(file_digest(a.features));
  j["summary"] = a.summary;
  return j.dump();  // keys sorted: one spelling for one set of settings
}

namespace {

std::string brief(const json& v) {
  std::string s = v.dump();
  if (s.size() > 60) s = s.substr(0, 57) + "...";
  return s;
}

// The first setting that differs, as "KEY WAS, now IS".
std::string difference(const std::string& was, const std::string& now) {
  json a, b;
  try {
    a = json::parse(was);
    b = json::parse(now);
  } catch (const std::exception&) {
    return "its recorded settings are not readable";
  }
  if (!a.is_object()) return "its recorded settings are not readable";
  std::set<std::string> keys;
  for (auto it = a.begin(); it != a.end(); ++it) keys.insert(it.key());
  for (auto it = b.begin(); it != b.end(); ++it) keys.insert(it.key());
  for (const auto& k : keys) {
    const json x = a.contains(k) ? a[k] : json(), y = b.contains(k) ? b[k] : json();
    if (x != y) return "it was written with " + k + " " + brief(x) + ", now " + brief(y);
  }
  return "its settings differ";
}

}  // namespace

std::string stale_reason(const fs::path& result, const std::vector<ResultFile>& files, const std::string& settings) {
  std::error_code ec;
  if (fs::is_regular_file(result, ec) && fs::file_size(result, ec) == 0) return "the existing result is empty";
  std::map<std::string, std::string> metadata;
  try {
    metadata = SafetensorsFile::open(result).metadata();
  } catch (const Error& e) {
    return "the existing result is not a complete safetensors file (" + std::string(e.what()) + ")";
  }
  const auto it = metadata.find("settings");
  if (it == metadata.end()) return "the existing result records no settings";
  if (it->second != settings) return difference(it->second, settings);
  for (const auto& f : files)
    if (f.kind != ResultFile::Kind::Result && f.kind != ResultFile::Kind::Html && !fs::exists(f.path, ec))
      return "'" + f.path.filename().string() + "' is missing";
  return "";
}

}  // namespace relprop::app
