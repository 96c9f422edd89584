#pragma once
// `relprop explain`'s pieces (internal to apps/): the model it loads, the inputs it reads
// (apps/explain_inputs.cpp) and the results it writes and prints
// (apps/explain_results.cpp). apps/explain.cpp puts them together around a GraphExplainer.

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "apps/app.hpp"
#include "relprop/text/tokenizer.hpp"

namespace relprop::app {

// The model one command explains: a graph file or a built-in model with --weights, or a
// Hugging Face folder; bound and moved to --device.
struct ExplainModel {
  Graph graph;
  bool text = false;       // a Hugging Face text model (input "input_ids")
  bool hf_vision = false;  // a Hugging Face vision model
  std::string head;        // TransformerModel::head; empty for other graphs
  std::vector<std::string> labels;            // class names (config.json's id2label)
  std::vector<double> image_mean, image_std;  // the vision folder's normalisation

  // A sentence-embedding or pooled output (explained as a length or a similarity).
  bool embedding_head() const { return text && (head == "sentence_embedding" || head == "pooler_output"); }
  // A language model's next-token logits (N, vocabulary).
  bool next_token() const { return head == "next_token_logits"; }
};

// Loads the model --graph / --model (+ --weights) names, checks --device and --precision
// and moves the graph there.
ExplainModel load_explain_model(const ExplainArgs& a);

// One input to explain: its tensors by graph input name, and how it came to be.
struct Item {
  std::filesystem::path source;
  std::string stem;
  std::map<std::string, Tensor> inputs;
  std::optional<viz::Image> picture;  // the preprocessed photograph (image inputs)
  std::vector<std::string> tokens;    // text inputs: the token strings
};

// Reads inputs for a model: safetensors files by input name, images for its one image
// input, token ids, and --text.
class InputReader {
 public:
  InputReader(const ExplainArgs& a, const ExplainModel& model);
  // The input tensors of one file: a safetensors file by input name, or an image for the
  // graph's one image input.
  Item load(const std::filesystem::path& path) const;
  // --text (or --compare): tokenized with the folder's tokenizer.
  Item load_text(const std::string& text) const;
  const text::Tokenizer& tokenizer() const;  // the folder's, read on first use

 private:
  viz::Preprocess preprocess(int channels) const;
  const ExplainArgs& a_;
  const ExplainModel& m_;
  mutable std::unique_ptr<text::Tokenizer> tok_;
};

// The files --input names when it is a folder (sorted) or a .txt list (one path a line,
// relative to the list; # comments).
std::vector<std::filesystem::path> list_inputs(const std::filesystem::path& spec);

// The files a run reads, by what they resolve to (device and inode): --input (each file of
// a folder or list, and the list), --graph, --weights, --features, and every file in a
// model folder. An output that is one of them, by any name, is refused.
class RunInputs {
 public:
  RunInputs(const ExplainArgs& a, const std::vector<std::filesystem::path>& listed);
  void add(const std::filesystem::path& p);  // nothing when it does not exist
  // The input that `p` is or resolves to (a link, a hard link, another spelling), or null.
  const std::filesystem::path* find(const std::filesystem::path& p) const;

 private:
  std::map<std::pair<std::uint64_t, std::uint64_t>, std::filesystem::path> files_;
};

// One file of a result: where, what, and for which input relevance map.
struct ResultFile {
  enum class Kind { Html, Heatmap, Overlay, FeaturesCsv, FeaturesPng, LayersCsv, LayersPng, Result };
  std::filesystem::path path;
  Kind kind;
  std::string map;  // the input relevance map drawn ("x", "x.positive", "input_ids"); empty for the others
};

// An output list checked before anything is written: ValueError, naming both paths, for an
// output that is an input of the run or resolves to one, and for two outputs of one name
// (`sources`: what each output is written for, to name them); ValueError for a name
// longer than its folder takes (NAME_MAX).
void check_outputs(const std::vector<std::filesystem::path>& outputs, const std::vector<std::string>& sources,
                   const RunInputs& inputs);

// Writes results: a sample's relevance as safetensors, and the pictures and tables the
// arguments ask for beside it; all of them appear together, the result last, or none.
class ResultWriter {
 public:
  ResultWriter(const ExplainArgs& a, const ExplainModel& model, const Composite& composite,
               std::vector<std::string> feature_names);
  // The files a result at `out` consists of, the result last, for the input relevance
  // maps `maps` (a RelevanceMap's input names); planned(): for the maps the model will give.
  std::vector<ResultFile> files(const std::filesystem::path& out, const std::vector<std::string>& maps) const;
  std::vector<ResultFile> planned(const std::filesystem::path& out) const;
  // Writes one sample's result to `out` (+ pictures and tables beside it, named after
  // `out` without its extension); `R` is the sample's relevance, rescaled. Returns the
  // paths written, the result file first.
  std::vector<std::string> write(const std::filesystem::path& out, const Item& item, const Tensor& y,
                                 const RelevanceMap& R) const;
  const std::vector<std::string>& feature_names() const { return feature_names_; }
  // The result's metadata (the settings, recorded for resuming), and the inputs no output
  // may be.
  void set_metadata(std::map<std::string, std::string> metadata) { metadata_ = std::move(metadata); }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  void protect(const RunInputs* inputs) { inputs_ = inputs; }

 private:
  const ExplainArgs& a_;
  const ExplainModel& m_;
  const Composite& composite_;
  std::vector<std::string> feature_names_;
  std::map<std::string, std::string> metadata_;
  const RunInputs* inputs_ = nullptr;
};

// The settings a result records in its metadata under "settings" (JSON, keys sorted):
// what decides its tensors and pictures (composite, rules, parameters, seed, target, task,
// kept nodes, rescaling, precision, convolution algorithm, image preprocessing, the
// pictures and tables asked for), the model's files by digest, and relprop's version.
std::string settings_json(const ExplainArgs& a, const ExplainSettings& s, const ExplainModel& m);
// Why an existing result cannot stand for this run (empty when it can): an empty file, one
// that is not a complete safetensors file, other settings, a picture or table missing.
std::string stale_reason(const std::filesystem::path& result, const std::vector<ResultFile>& files,
                         const std::string& settings);

// The command's arguments turned into a model, its reader and writer, and the
// GraphExplainer every explanation of the command runs through (apps/explain.cpp).
class Explainer {
 public:
  // `many`: --input is a folder or list (no per-node report unless --summary asks).
  Explainer(const ExplainArgs& a, bool many);
  ~Explainer();
  // Explains `inputs` (one input, or a batch stacked on the first dimension); the
  // results are copied to the host.
  Explanation explain(const std::map<std::string, Tensor>& inputs);

  const ExplainArgs& args() const { return a_; }
  const ExplainModel& model() const { return model_; }
  const InputReader& reader() const { return reader_; }
  const ResultWriter& writer() const { return writer_; }
  ResultWriter& writer() { return writer_; }
  const ExplainSettings& settings() const { return settings_; }
  // What each result records under "settings" (settings_json).
  const std::string& settings_record() const { return writer_.metadata().at("settings"); }

 private:
  const ExplainArgs& a_;
  ExplainModel model_;
  InputReader reader_;
  ExplainSettings settings_;
  ResultWriter writer_;
  std::unique_ptr<GraphExplainer> explainer_;
};

// What a single explanation prints: the model, output, target, seed, input relevance (per
// token for text), top features, the conservation report and the files written. `R`: the
// sample's relevance, rescaled.
void print_single(const Explainer& ex, const Item& item, const Explanation& e, const RelevanceMap& R,
                  const std::vector<std::string>& written, std::ostream& out, bool color);

}  // namespace relprop::app
