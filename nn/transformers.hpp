#pragma once
// Transformer models from a Hugging Face model folder: config.json for the sizes,
// model.safetensors with the state_dict names Hugging Face writes, and (for
// sentence-transformers folders) 1_Pooling/config.json for the pooling. Today: the BERT
// family (BertModel, BertForSequenceClassification, sentence-transformers models such as
// all-MiniLM-L6-v2 with mean pooling), GPT-2 (GPT2Model, GPT2LMHeadModel) and LLaMA-style
// decoders (LlamaForCausalLM: RMSNorm, rotary positions, grouped-query attention, SwiGLU;
// Mistral and Qwen2 without sliding windows share the layout) and ViT (ViTModel,
// ViTForImageClassification; input pixel_values (N, C, S, S)).

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "relprop/nn/graph.hpp"
#include "relprop/tensor/tensor.hpp"

namespace relprop {

// The sizes read from config.json.
struct TransformerConfig {
  std::string model_type;        // "bert"
  std::string architecture;      // config "architectures"[0], e.g. "BertModel"
  std::int64_t hidden = 0, heads = 0, layers = 0, intermediate = 0, vocab = 0, max_positions = 0, type_vocab = 0;
  double layer_norm_eps = 1e-12;  // LLaMA: rms_norm_eps
  std::int64_t kv_heads = 0;       // LLaMA: key/value heads (grouped-query attention)
  std::int64_t head_dim = 0;       // LLaMA: per-head size (hidden / heads unless given)
  double rope_theta = 10000.0;
  bool attention_bias = false;
  std::int64_t image_size = 0, patch_size = 0, channels = 3;  // ViT
  std::string hidden_act = "gelu";
  std::vector<std::string> labels;  // id2label, by index (classification heads)
};

// A built transformer: its graph (bound to the folder's weights), what it outputs and how
// to seed it.
struct TransformerModel {
  TransformerConfig config;
  Graph graph;
  // "sentence_embedding" (mean pooling), "logits" (a classification head),
  // "pooler_output" (BertModel without a pooling config: tanh(dense(CLS))) or
  // "next_token_logits" (GPT-2: the LM head at the last position, (N, vocab)).
  std::string head;
  std::filesystem::path dir;
  // Vision models: the normalisation preprocessor_config.json declares (empty: none given).
  std::vector<double> image_mean, image_std;
};

// Reads `dir`/config.json, builds the graph with node names equal to Hugging Face's module
// paths, and binds `dir`/model.safetensors. Graph inputs, all (N, T) I64: input_ids,
// attention_mask (1 = token, 0 = padding), token_type_ids (BERT only), position_ids. NotFoundError for
// a missing file, FormatError for a malformed config, UnsupportedError for a model type
// relprop cannot build yet (naming it); ValueError for a NaN or infinite weight unless
// `allow_nonfinite` (Graph::set_allow_nonfinite).
TransformerModel load_transformer(const std::filesystem::path& dir, bool allow_nonfinite = false);

// True when `dir` looks like a Hugging Face model folder (has config.json).
bool is_transformer_dir(const std::filesystem::path& dir);

// The inputs for token ids (1, T) or (N, T): attention_mask (ones), token_type_ids
// (zeros) and position_ids (0..T-1) are added when `inputs` lacks them; with `graph`,
// only the inputs it declares are kept.
std::map<std::string, Tensor> complete_text_inputs(std::map<std::string, Tensor> inputs, const Graph* graph = nullptr);

}  // namespace relprop
