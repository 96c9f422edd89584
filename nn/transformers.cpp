// Transformer builders from Hugging Face folders (nn/transformers.hpp). Each writes the
// architecture with GraphBuilder (nn/graph_builder.hpp), node names equal to Hugging
// Face's module paths; the graph is parsed and checked like one read from a file.

#include "relprop/nn/transformers.hpp"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <fstream>

#include <nlohmann/json.hpp>

#include "relprop/io/safetensors.hpp"
#include "relprop/nn/graph_builder.hpp"
#include "relprop/relevance/composite.hpp"
#include "relprop/tensor/error.hpp"
#include "relprop/tensor/files.hpp"
#include "relprop/tensor/json.hpp"

namespace relprop {

using json = nlohmann::json;
namespace fs = std::filesystem;

namespace {

json read_json(const fs::path& p) {
  std::error_code ec;
  if (!fs::exists(p, ec)) throw NotFoundError("cannot read '" + p.string() + "': no such file");
  const std::string text = read_regular_file(p, "file");  // a FIFO or device is refused unopened
  try {
    return parse_json_strict(text, "'" + p.string() + "'", 64);  // a repeated key is a FormatError
  } catch (const json::exception& e) {
    throw FormatError("'" + p.string() + "' is not valid JSON: " + e.what());
  }
}

std::int64_t need_int(const json& c, const char* key, const fs::path& p) {
  if (!c.contains(key) || !c[key].is_number_integer() || c[key].get<std::int64_t>() <= 0)
    throw FormatError("'" + p.string() + "': \"" + key + "\" must be a positive integer");
  return c[key].get<std::int64_t>();
}

using detail::GraphBuilder;

// Token inputs, all (N, T) I64, checked at bind time as (1, 8).
void text_inputs(GraphBuilder& g, std::initializer_list<const char*> names) {
  for (const char* name : names) g.input(name, {-1, -1}, {1, 8}, "I64");
}

TransformerConfig read_config(const fs::path& dir) {
  const fs::path p = dir / "config.json";
  const json c = read_json(p);
  TransformerConfig cfg;
  cfg.model_type = c.value("model_type", std::string());
  if (c.contains("architectures") && c["architectures"].is_array() && !c["architectures"].empty() &&
      c["architectures"][0].is_string())
    cfg.architecture = c["architectures"][0].get<std::string>();
  if (c.contains("id2label") && c["id2label"].is_object()) {
    cfg.labels.assign(c["id2label"].size(), "");
    for (auto it = c["id2label"].begin(); it != c["id2label"].end(); ++it) {
      std::size_t k = 0;
      try {
        k = static_cast<std::size_t>(std::stoul(it.key()));
      } catch (const std::exception&) {
        throw FormatError("'" + p.string() + "': id2label key \"" + it.key() + "\" is not an index");
      }
      if (k < cfg.labels.size() && it.value().is_string()) cfg.labels[k] = it.value().get<std::string>();
    }
  }
  if (cfg.model_type == "gpt2") {
    cfg.hidden = need_int(c, "n_embd", p);
    cfg.heads = need_int(c, "n_head", p);
    cfg.layers = need_int(c, "n_layer", p);
    cfg.intermediate = c.contains("n_inner") && c["n_inner"].is_number_integer() ? c["n_inner"].get<std::int64_t>()
                                                                                 : 4 * cfg.hidden;
    cfg.vocab = need_int(c, "vocab_size", p);
    cfg.max_positions = need_int(c, "n_positions", p);
    cfg.layer_norm_eps = c.value("layer_norm_epsilon", 1e-5);
    cfg.hidden_act = c.value("activation_function", std::string("gelu_new"));
    if (cfg.hidden % cfg.heads != 0)
      throw FormatError("'" + p.string() + "': n_embd is not a multiple of n_head");
    if (cfg.hidden_act != "gelu_new" && cfg.hidden_act != "gelu" && cfg.hidden_act != "gelu_pytorch_tanh" &&
        cfg.hidden_act != "relu")
      throw UnsupportedError("'" + p.string() + "': activation_function \"" + cfg.hidden_act + "\"");
    for (const char* flag : {"scale_attn_by_inverse_layer_idx", "reorder_and_upcast_attn"})
      if (c.value(flag, false)) throw UnsupportedError("'" + p.string() + "': " + flag + " is not supported");
    if (c.contains("scale_attn_weights") && !c.value("scale_attn_weights", true))
      throw UnsupportedError("'" + p.string() + "': scale_attn_weights false is not supported");
    return cfg;
  }
  if (cfg.model_type == "vit") {
    cfg.hidden = need_int(c, "hidden_size", p);
    cfg.heads = need_int(c, "num_attention_heads", p);
    cfg.layers = need_int(c, "num_hidden_layers", p);
    cfg.intermediate = need_int(c, "intermediate_size", p);
    cfg.image_size = need_int(c, "image_size", p);
    cfg.patch_size = need_int(c, "patch_size", p);
    cfg.channels = c.value("num_channels", std::int64_t{3});
    cfg.layer_norm_eps = c.value("layer_norm_eps", 1e-12);
    cfg.hidden_act = c.value("hidden_act", std::string("gelu"));
    if (cfg.hidden % cfg.heads != 0 || cfg.image_size % cfg.patch_size != 0)
      throw FormatError("'" + p.string() + "': hidden_size / heads or image_size / patch_size do not divide");
    if (cfg.hidden_act != "gelu") throw UnsupportedError("'" + p.string() + "': hidden_act \"" + cfg.hidden_act + "\"");
    if (!c.value("qkv_bias", true)) throw UnsupportedError("'" + p.string() + "': qkv_bias false is not supported");
    return cfg;
  }
  if (cfg.model_type == "llama" || cfg.model_type == "mistral" || cfg.model_type == "qwen2") {
    cfg.hidden = need_int(c, "hidden_size", p);
    cfg.heads = need_int(c, "num_attention_heads", p);
    cfg.kv_heads = c.contains("num_key_value_heads") && c["num_key_value_heads"].is_number_integer()
                       ? c["num_key_value_heads"].get<std::int64_t>()
                       : cfg.heads;
    cfg.layers = need_int(c, "num_hidden_layers", p);
    cfg.intermediate = need_int(c, "intermediate_size", p);
    cfg.vocab = need_int(c, "vocab_size", p);
    cfg.max_positions = c.value("max_position_embeddings", std::int64_t{2048});
    cfg.layer_norm_eps = c.value("rms_norm_eps", 1e-6);
    cfg.rope_theta = c.value("rope_theta", 10000.0);
    cfg.hidden_act = c.value("hidden_act", std::string("silu"));
    cfg.attention_bias = c.value("attention_bias", cfg.model_type == "qwen2");
    cfg.head_dim = c.contains("head_dim") && c["head_dim"].is_number_integer() ? c["head_dim"].get<std::int64_t>()
                                                                               : cfg.hidden / cfg.heads;
    if (cfg.kv_heads <= 0 || cfg.heads % cfg.kv_heads != 0)
      throw FormatError("'" + p.string() + "': num_attention_heads must be a multiple of num_key_value_heads");
    if (cfg.hidden_act != "silu") throw UnsupportedError("'" + p.string() + "': hidden_act \"" + cfg.hidden_act + "\"");
    if (c.contains("rope_scaling") && !c["rope_scaling"].is_null())
      throw UnsupportedError("'" + p.string() + "': rope_scaling is not supported");
    // Qwen2 configs carry a window but switch it off (use_sliding_window false); Mistral's
    // window only matters past its length, which these explanations do not reach.
    if (c.value("use_sliding_window", false))
      throw UnsupportedError("'" + p.string() + "': sliding-window attention is not supported");
    if (c.value("mlp_bias", false)) throw UnsupportedError("'" + p.string() + "': mlp_bias is not supported");
    return cfg;
  }
  if (cfg.model_type != "bert")
    throw UnsupportedError("'" + p.string() + "': model_type \"" + cfg.model_type +
                           "\" is not supported yet (supported: bert, gpt2, llama, vit)");
  cfg.hidden = need_int(c, "hidden_size", p);
  cfg.heads = need_int(c, "num_attention_heads", p);
  cfg.layers = need_int(c, "num_hidden_layers", p);
  cfg.intermediate = need_int(c, "intermediate_size", p);
  cfg.vocab = need_int(c, "vocab_size", p);
  cfg.max_positions = need_int(c, "max_position_embeddings", p);
  cfg.type_vocab = c.value("type_vocab_size", std::int64_t{2});
  cfg.layer_norm_eps = c.value("layer_norm_eps", 1e-12);
  cfg.hidden_act = c.value("hidden_act", std::string("gelu"));
  if (cfg.hidden % cfg.heads != 0)
    throw FormatError("'" + p.string() + "': hidden_size " + std::to_string(cfg.hidden) +
                      " is not a multiple of num_attention_heads " + std::to_string(cfg.heads));
  if (cfg.hidden_act != "gelu" && cfg.hidden_act != "gelu_new" && cfg.hidden_act != "gelu_pytorch_tanh" &&
      cfg.hidden_act != "relu")
    throw UnsupportedError("'" + p.string() + "': hidden_act \"" + cfg.hidden_act + "\" (gelu, gelu_new, relu)");
  if (c.contains("position_embedding_type") && c["position_embedding_type"] != "absolute")
    throw UnsupportedError("'" + p.string() + "': position_embedding_type " + c["position_embedding_type"].dump() +
                           " (absolute only)");
  return cfg;
}

bool sentence_mean_pooling(const fs::path& dir) {
  const fs::path p = dir / "1_Pooling" / "config.json";
  if (!fs::exists(p)) return false;
  const json c = read_json(p);
  if (c.value("pooling_mode_mean_tokens", false)) return true;
  throw UnsupportedError("'" + p.string() + "': only mean pooling (pooling_mode_mean_tokens) is supported");
}

Graph bert_graph(const TransformerConfig& cfg, const std::string& prefix, const std::string& head, bool gamma_beta,
                 const std::string& origin) {
  GraphBuilder g;
  text_inputs(g, {"input_ids", "attention_mask", "token_type_ids", "position_ids"});
  if (gamma_beta) {
    g.layer_norm_weight = ".gamma";
    g.layer_norm_bias = ".beta";
  }
  const std::int64_t D = cfg.hidden, H = cfg.heads, dh = D / H;
  const double scale = 1.0 / std::sqrt(static_cast<double>(dh));
  const std::string e = prefix + "embeddings.";
  const std::string w = g.add(e + "word_embeddings", "embedding", {"input_ids"}, {{"weight", e + "word_embeddings.weight"}});
  const std::string p = g.add(e + "position_embeddings", "embedding", {"position_ids"},
                              {{"weight", e + "position_embeddings.weight"}});
  const std::string t = g.add(e + "token_type_embeddings", "embedding", {"token_type_ids"},
                              {{"weight", e + "token_type_embeddings.weight"}});
  std::string h = g.add(e + "sum", "add", {g.add(e + "sum_positions", "add", {w, p}), t});
  h = g.layer_norm(e + "LayerNorm", h, cfg.layer_norm_eps);
  const std::string act = cfg.hidden_act == "relu" ? "relu" : "gelu";
  const json act_attrs = cfg.hidden_act == "gelu" || cfg.hidden_act == "relu" ? json::object()
                                                                               : json{{"approximate", "tanh"}};
  for (std::int64_t l = 0; l < cfg.layers; ++l) {
    const std::string L = prefix + "encoder.layer." + std::to_string(l) + ".";
    const std::string a = L + "attention.self.";
    auto heads = [&](const std::string& name, json perm) {
      const std::string x = g.linear(a + name, h);
      const std::string r = g.add(a + name + ".heads", "reshape", {x}, {}, {{"shape", {0, 0, H, dh}}});
      return g.add(a + name + ".permute", "permute", {r}, {}, {{"dims", perm}});
    };
    const std::string q = heads("query", {0, 2, 1, 3}), k = heads("key", {0, 2, 3, 1}), v = heads("value", {0, 2, 1, 3});
    const std::string scores = g.add(a + "scores", "matmul", {q, k});
    const std::string probs = g.add(a + "softmax", "attention_softmax", {scores, "attention_mask"}, {}, {{"scale", scale}});
    const std::string ctx = g.add(a + "context", "matmul", {probs, v});
    const std::string merged = g.add(
        a + "context.merge", "reshape",
        {g.add(a + "context.permute", "permute", {ctx}, {}, {{"dims", {0, 2, 1, 3}}})}, {}, {{"shape", {0, 0, D}}});
    const std::string o = g.linear(L + "attention.output.dense", merged);
    const std::string attn = g.layer_norm(L + "attention.output.LayerNorm",
                                          g.add(L + "attention.output.residual", "add", {o, h}), cfg.layer_norm_eps);
    const std::string inter = g.add(L + "intermediate.act", act, {g.linear(L + "intermediate.dense", attn)}, {}, act_attrs);
    const std::string out = g.linear(L + "output.dense", inter);
    h = g.layer_norm(L + "output.LayerNorm", g.add(L + "output.residual", "add", {out, attn}), cfg.layer_norm_eps);
  }
  std::string output;
  if (head == "sentence_embedding") {
    output = g.add("sentence_embedding", "masked_mean", {h, "attention_mask"});
  } else {
    const std::string cls = g.add(prefix + "pooler.cls", "flatten",
                                  {g.add(prefix + "pooler.first_token", "slice", {h}, {}, {{"dim", 1}, {"start", 0}, {"end", 1}})},
                                  {}, {{"start_dim", 1}, {"end_dim", -1}});
    output = g.add(prefix + "pooler.activation", "tanh", {g.linear(prefix + "pooler.dense", cls)});
    if (head == "logits") output = g.linear("classifier", output);
  }
  return g.build({output}, origin);
}

// GPT-2 (GPT2Model / GPT2LMHeadModel): pre-norm blocks, fused q/k/v in Conv1D layout
// (in, out), causal attention, tanh GELU, final layer norm; the LM head (tied to wte when
// the file has no lm_head.weight) on the last position only.
Graph gpt2_graph(const TransformerConfig& cfg, const std::string& prefix, const std::string& lm_weight,
                 const std::string& origin) {
  GraphBuilder g;
  text_inputs(g, {"input_ids", "attention_mask", "position_ids"});
  const std::int64_t D = cfg.hidden, H = cfg.heads, dh = D / H;
  const double scale = 1.0 / std::sqrt(static_cast<double>(dh));
  auto conv1d = [&](const std::string& name, const std::string& in) {
    return g.linear(name, in, true, {{"weight_layout", "in_out"}});  // Conv1D: weight (in, out)
  };
  const std::string wte = g.add(prefix + "wte", "embedding", {"input_ids"}, {{"weight", prefix + "wte.weight"}});
  const std::string wpe = g.add(prefix + "wpe", "embedding", {"position_ids"}, {{"weight", prefix + "wpe.weight"}});
  std::string h = g.add(prefix + "embeddings", "add", {wte, wpe});
  const std::string act = cfg.hidden_act == "relu" ? "relu" : "gelu";
  const json act_attrs = cfg.hidden_act == "gelu" || cfg.hidden_act == "relu" ? json::object()
                                                                               : json{{"approximate", "tanh"}};
  for (std::int64_t l = 0; l < cfg.layers; ++l) {
    const std::string L = prefix + "h." + std::to_string(l) + ".";
    const std::string x1 = g.layer_norm(L + "ln_1", h, cfg.layer_norm_eps);
    const std::string qkv = conv1d(L + "attn.c_attn", x1);
    auto heads = [&](const char* which, std::int64_t k, json perm) {
      const std::string part = g.add(L + "attn." + which, "slice", {qkv}, {},
                                     {{"dim", 2}, {"start", k * D}, {"end", (k + 1) * D}});
      const std::string r = g.add(L + "attn." + which + ".heads", "reshape", {part}, {}, {{"shape", {0, 0, H, dh}}});
      return g.add(L + "attn." + which + ".permute", "permute", {r}, {}, {{"dims", perm}});
    };
    const std::string q = heads("query", 0, {0, 2, 1, 3}), k = heads("key", 1, {0, 2, 3, 1}),
                      v = heads("value", 2, {0, 2, 1, 3});
    const std::string scores = g.add(L + "attn.scores", "matmul", {q, k});
    const std::string probs = g.add(L + "attn.softmax", "attention_softmax", {scores, "attention_mask"}, {},
                                    {{"scale", scale}, {"causal", true}});
    const std::string ctx = g.add(L + "attn.context", "matmul", {probs, v});
    const std::string merged = g.add(
        L + "attn.context.merge", "reshape",
        {g.add(L + "attn.context.permute", "permute", {ctx}, {}, {{"dims", {0, 2, 1, 3}}})}, {}, {{"shape", {0, 0, D}}});
    h = g.add(L + "attn.residual", "add", {conv1d(L + "attn.c_proj", merged), h});
    const std::string x2 = g.layer_norm(L + "ln_2", h, cfg.layer_norm_eps);
    const std::string m = g.add(L + "mlp.act", act, {conv1d(L + "mlp.c_fc", x2)}, {}, act_attrs);
    h = g.add(L + "mlp.residual", "add", {conv1d(L + "mlp.c_proj", m), h});
  }
  h = g.layer_norm(prefix + "ln_f", h, cfg.layer_norm_eps);
  // The next-token logits come from the last position: (N, 1, D) -> (N, D) -> (N, V).
  const std::string last = g.add("lm_head.last_position", "flatten",
                                 {g.add("lm_head.last", "slice", {h}, {}, {{"dim", 1}, {"start", -1}})}, {},
                                 {{"start_dim", 1}, {"end_dim", -1}});
  const std::string logits = g.add("lm_head", "linear", {last}, {{"weight", lm_weight}});
  return g.build({logits}, origin);
}

// ViT (ViTModel / ViTForImageClassification): patches by a strided convolution, the class
// token put first, learned positions added, pre-norm encoder blocks, the final layer norm;
// the classifier (or the pooler) reads the class token.
Graph vit_graph(const TransformerConfig& cfg, const std::string& prefix, bool classifier, const std::string& origin) {
  GraphBuilder g;
  g.input("pixel_values", {-1, cfg.channels, cfg.image_size, cfg.image_size},
          {1, cfg.channels, cfg.image_size, cfg.image_size});
  const std::int64_t D = cfg.hidden, H = cfg.heads, dh = D / H, P = cfg.patch_size;
  const double scale = 1.0 / std::sqrt(static_cast<double>(dh));
  const std::string e = prefix + "embeddings.";
  const std::string patches = g.add(e + "patch_embeddings.projection", "conv2d", {"pixel_values"},
                                    {{"weight", e + "patch_embeddings.projection.weight"},
                                     {"bias", e + "patch_embeddings.projection.bias"}},
                                    {{"stride", {P, P}}});
  const std::string seq = g.add(e + "patch_embeddings.sequence", "transpose",
                                {g.add(e + "patch_embeddings.flatten", "flatten", {patches}, {}, {{"start_dim", 2}, {"end_dim", -1}})},
                                {}, {{"dim0", 1}, {"dim1", 2}});
  const std::string with_cls = g.add(e + "cls_token", "prepend_token", {seq}, {{"token", e + "cls_token"}});
  std::string h = g.add(e + "position_embeddings", "add", {with_cls}, {{"other", e + "position_embeddings"}});
  for (std::int64_t l = 0; l < cfg.layers; ++l) {
    const std::string L = prefix + "encoder.layer." + std::to_string(l) + ".";
    const std::string a = L + "attention.attention.";
    const std::string x1 = g.layer_norm(L + "layernorm_before", h, cfg.layer_norm_eps);
    auto heads = [&](const std::string& name, json perm) {
      const std::string x = g.linear(a + name, x1);
      const std::string r = g.add(a + name + ".heads", "reshape", {x}, {}, {{"shape", {0, 0, H, dh}}});
      return g.add(a + name + ".permute", "permute", {r}, {}, {{"dims", perm}});
    };
    const std::string q = heads("query", {0, 2, 1, 3}), k = heads("key", {0, 2, 3, 1}), v = heads("value", {0, 2, 1, 3});
    const std::string probs = g.add(a + "softmax", "attention_softmax", {g.add(a + "scores", "matmul", {q, k})}, {},
                                    {{"scale", scale}});
    const std::string ctx = g.add(a + "context", "matmul", {probs, v});
    const std::string merged = g.add(
        a + "context.merge", "reshape",
        {g.add(a + "context.permute", "permute", {ctx}, {}, {{"dims", {0, 2, 1, 3}}})}, {}, {{"shape", {0, 0, D}}});
    h = g.add(L + "attention.residual", "add", {g.linear(L + "attention.output.dense", merged), h});
    const std::string x2 = g.layer_norm(L + "layernorm_after", h, cfg.layer_norm_eps);
    const std::string m = g.add(L + "intermediate.act", "gelu", {g.linear(L + "intermediate.dense", x2)});
    h = g.add(L + "output.residual", "add", {g.linear(L + "output.dense", m), h});
  }
  h = g.layer_norm(prefix + "layernorm", h, cfg.layer_norm_eps);
  const std::string cls = g.add(prefix + "class_token", "flatten",
                                {g.add(prefix + "first_token", "slice", {h}, {}, {{"dim", 1}, {"start", 0}, {"end", 1}})},
                                {}, {{"start_dim", 1}, {"end_dim", -1}});
  const std::string out = classifier ? g.linear("classifier", cls)
                                     : g.add(prefix + "pooler.activation", "tanh", {g.linear(prefix + "pooler.dense", cls)});
  return g.build({out}, origin);
}

// LLaMA-style decoders (LlamaForCausalLM; Mistral / Qwen2 share the layout): RMSNorm
// before attention and MLP, rotary positions on q and k, grouped-query attention (KV heads
// shared by broadcasting: q (N, KVH, G, T, d) against k (N, KVH, 1, d, T)), SwiGLU MLP.
Graph llama_graph(const TransformerConfig& cfg, const std::string& lm_weight, const std::string& origin) {
  GraphBuilder g;
  text_inputs(g, {"input_ids", "attention_mask", "position_ids"});
  const std::int64_t H = cfg.heads, KVH = cfg.kv_heads, G = H / KVH, dh = cfg.head_dim;
  const double scale = 1.0 / std::sqrt(static_cast<double>(dh));
  auto proj = [&](const std::string& name, const std::string& in, bool bias) { return g.linear(name, in, bias); };
  auto rms = [&](const std::string& name, const std::string& in) { return g.rms_norm(name, in, cfg.layer_norm_eps); };
  std::string h = g.add("model.embed_tokens", "embedding", {"input_ids"}, {{"weight", "model.embed_tokens.weight"}});
  for (std::int64_t l = 0; l < cfg.layers; ++l) {
    const std::string L = "model.layers." + std::to_string(l) + ".";
    const std::string a = L + "self_attn.";
    const std::string x1 = rms(L + "input_layernorm", h);
    // (N, T, heads x d) -> (N, heads, T, d), rotated.
    auto split = [&](const char* which, std::int64_t heads, bool rope) {
      const std::string x = proj(a + which + "_proj", x1, cfg.attention_bias);
      std::string t = g.add(a + which + ".permute", "permute",
                            {g.add(a + which + ".heads", "reshape", {x}, {}, {{"shape", {0, 0, heads, dh}}})}, {},
                            {{"dims", {0, 2, 1, 3}}});
      if (rope) t = g.add(a + which + ".rotary", "rotary_embedding", {t, "position_ids"}, {}, {{"theta", cfg.rope_theta}});
      return t;
    };
    const std::string q = g.add(a + "q.groups", "reshape", {split("q", H, true)}, {}, {{"shape", {0, KVH, G, -1, dh}}});
    const std::string k = g.add(a + "k.transpose", "permute",
                                {g.add(a + "k.groups", "reshape", {split("k", KVH, true)}, {}, {{"shape", {0, KVH, 1, -1, dh}}})},
                                {}, {{"dims", {0, 1, 2, 4, 3}}});
    const std::string v = g.add(a + "v.groups", "reshape", {split("v", KVH, false)}, {}, {{"shape", {0, KVH, 1, -1, dh}}});
    const std::string scores = g.add(a + "scores", "matmul", {q, k});
    const std::string probs = g.add(a + "softmax", "attention_softmax", {scores, "attention_mask"}, {},
                                    {{"scale", scale}, {"causal", true}});
    const std::string ctx = g.add(a + "context", "matmul", {probs, v});  // (N, KVH, G, T, d)
    const std::string merged = g.add(
        a + "context.merge", "reshape",
        {g.add(a + "context.permute", "permute",
               {g.add(a + "context.heads", "reshape", {ctx}, {}, {{"shape", {0, H, -1, dh}}})}, {},
               {{"dims", {0, 2, 1, 3}}})},
        {}, {{"shape", {0, 0, H * dh}}});
    // LLaMA's attention_bias covers o_proj too; Qwen2's q/k/v only.
    h = g.add(L + "self_attn.residual", "add",
              {proj(a + "o_proj", merged, cfg.attention_bias && cfg.model_type == "llama"), h});
    const std::string x2 = rms(L + "post_attention_layernorm", h);
    const std::string gate = g.add(L + "mlp.act", "silu", {proj(L + "mlp.gate_proj", x2, false)});
    const std::string up = proj(L + "mlp.up_proj", x2, false);
    const std::string prod = g.add(L + "mlp.gated", "mul", {gate, up});
    h = g.add(L + "mlp.residual", "add", {proj(L + "mlp.down_proj", prod, false), h});
  }
  h = rms("model.norm", h);
  const std::string last = g.add("lm_head.last_position", "flatten",
                                 {g.add("lm_head.last", "slice", {h}, {}, {{"dim", 1}, {"start", -1}})}, {},
                                 {{"start_dim", 1}, {"end_dim", -1}});
  const std::string logits = g.add("lm_head", "linear", {last}, {{"weight", lm_weight}});
  return g.build({logits}, origin);
}

}  // namespace

bool is_transformer_dir(const fs::path& dir) {
  std::error_code ec;
  return fs::is_directory(dir, ec) && fs::exists(dir / "config.json", ec);
}

namespace {

// Task heads the builders do not make: refused by name rather than explained as
// something else (a token classifier is not a pooled classifier).
void check_architecture(const TransformerConfig& cfg, const fs::path& dir) {
  const std::string& a = cfg.architecture;
  const bool bert = cfg.model_type == "bert";
  for (const char* head : {"ForTokenClassification", "ForQuestionAnswering", "ForMultipleChoice",
                           "ForMaskedImageModeling", "ForSequenceClassification"}) {
    if (a.find(head) == std::string::npos) continue;
    if (bert && std::string_view(head) == "ForSequenceClassification") continue;
    throw UnsupportedError("'" + (dir / "config.json").string() + "': architecture " + a +
                           " is not built (relprop builds BertModel, BertForSequenceClassification, "
                           "sentence-transformers BERT models, GPT2LMHeadModel, LlamaForCausalLM-style decoders, "
                           "ViTModel and ViTForImageClassification)");
  }
}

// Weights the builders leave alone on purpose: buffers HF saves (causal-mask tables,
// rotary frequencies, position ids), heads of other tasks (BERT's MLM / NSP head `cls.*`),
// and the pooler when the head does not use it. Anything else unread means a variant
// the builder does not know: a FormatError naming them.
void check_unused(const Graph& g, const SafetensorsFile& w, const fs::path& file) {
  static const char* kIgnored[] = {"cls.*", "*.attn.bias", "*.attn.masked_bias", "*rotary_emb.inv_freq",
                                   "*position_ids", "*pooler.*", "lm_head.*"};
  std::vector<std::string> unread;
  for (const auto& name : g.unused_weights(w)) {
    bool ok = false;
    for (const char* pattern : kIgnored) ok = ok || glob_match(pattern, name);
    if (!ok) unread.push_back(name);
  }
  if (unread.empty()) return;
  std::string list;
  for (std::size_t i = 0; i < unread.size() && i < 8; ++i) list += (i ? ", " : "") + unread[i];
  if (unread.size() > 8) list += ", ... (" + std::to_string(unread.size()) + " in all)";
  throw FormatError("'" + file.string() + "': the model relprop builds from config.json does not read " + list +
                    " — a variant of the architecture that is not supported");
}

}  // namespace

namespace {
// The graph of `m.config`'s family, bound to `weights`; m.head and (ViT) the image
// normalisation filled in.
TransformerModel build_transformer(TransformerModel m, const SafetensorsFile& weights, bool allow_nonfinite) {
  const fs::path& dir = m.dir;
  if (m.config.model_type == "gpt2") {
    const std::string prefix = weights.contains("transformer.wte.weight") ? "transformer." : "";
    m.head = "next_token_logits";
    const std::string lm = weights.contains("lm_head.weight") ? "lm_head.weight" : prefix + "wte.weight";  // tied
    m.graph = gpt2_graph(m.config, prefix, lm, dir.string() + " (gpt2)");
    m.graph.set_allow_nonfinite(allow_nonfinite);
    m.graph.bind(weights);
    return m;
  }
  if (m.config.model_type == "vit") {
    const bool classifier = weights.contains("classifier.weight");
    const std::string prefix = weights.contains("vit.embeddings.cls_token") ? "vit." : "";
    m.head = classifier ? "logits" : "pooler_output";
    m.graph = vit_graph(m.config, prefix, classifier, dir.string() + " (vit)");
    m.graph.set_allow_nonfinite(allow_nonfinite);
    m.graph.bind(weights);
    // The image preprocessing the folder declares (preprocessor_config.json).
    if (fs::exists(dir / "preprocessor_config.json")) {
      const json pc = read_json(dir / "preprocessor_config.json");
      if (pc.contains("image_mean") && pc["image_mean"].is_array()) m.image_mean = pc["image_mean"].get<std::vector<double>>();
      if (pc.contains("image_std") && pc["image_std"].is_array()) m.image_std = pc["image_std"].get<std::vector<double>>();
      // Pixels in [0, 1]: (pixel - mean) / std must stay finite in float32.
      double worst = 1.0;
      for (const double v : m.image_mean) {
        if (!std::isfinite(v) || std::fabs(v) > FLT_MAX)
          throw FormatError("'" + (dir / "preprocessor_config.json").string() + "': image_mean holds " + std::to_string(v));
        worst = std::max(worst, std::fabs(v));
      }
      for (const double v : m.image_std)
        if (!(v > 0.0) || !((1.0 + worst) / v <= FLT_MAX))
          throw FormatError("'" + (dir / "preprocessor_config.json").string() + "': image_std " + std::to_string(v) +
                            " is not a positive number large enough that (pixel - mean) / std stays finite");
    }
    return m;
  }
  if (m.config.model_type == "llama" || m.config.model_type == "mistral" || m.config.model_type == "qwen2") {
    m.head = "next_token_logits";
    const std::string lm = weights.contains("lm_head.weight") ? "lm_head.weight" : "model.embed_tokens.weight";
    m.graph = llama_graph(m.config, lm, dir.string() + " (" + m.config.model_type + ")");
    m.graph.set_allow_nonfinite(allow_nonfinite);
    m.graph.bind(weights);
    return m;
  }
  // BertModel's keys have no prefix; the task models' start with "bert.".
  const std::string prefix = weights.contains("bert.embeddings.word_embeddings.weight") ? "bert." : "";
  if (weights.contains("classifier.weight")) m.head = "logits";
  else if (sentence_mean_pooling(dir)) m.head = "sentence_embedding";
  else m.head = "pooler_output";
  const bool gamma_beta = weights.contains(prefix + "embeddings.LayerNorm.gamma");
  m.graph = bert_graph(m.config, prefix, m.head, gamma_beta, dir.string() + " (" + m.config.model_type + ")");
  m.graph.set_allow_nonfinite(allow_nonfinite);
  m.graph.bind(weights);
  return m;
}

}  // namespace

TransformerModel load_transformer(const fs::path& dir, bool allow_nonfinite) {
  if (!is_transformer_dir(dir)) throw NotFoundError("'" + dir.string() + "' is not a model folder (no config.json)");
  TransformerModel m;
  m.dir = dir;
  m.config = read_config(dir);
  check_architecture(m.config, dir);
  const fs::path wpath = dir / "model.safetensors";
  if (!fs::exists(wpath))
    throw NotFoundError("'" + dir.string() + "' has no model.safetensors (sharded checkpoints with "
                        "model.safetensors.index.json and pytorch_model.bin are not read yet; save one file with "
                        "safetensors.torch.save_file)");
  const SafetensorsFile weights = SafetensorsFile::open(wpath);
  m = build_transformer(std::move(m), weights, allow_nonfinite);
  check_unused(m.graph, weights, wpath);
  return m;
}

std::map<std::string, Tensor> complete_text_inputs(std::map<std::string, Tensor> inputs, const Graph* graph) {
  const auto it = inputs.find("input_ids");
  if (it == inputs.end()) throw NotFoundError("text inputs need 'input_ids' (N, T)");
  const Tensor& ids = it->second;
  if (ids.dim() != 2) throw ShapeError("input_ids must be (N, T), got " + ids.str_shape());
  const std::int64_t N = ids.size(0), T = ids.size(1);
  for (const auto& [name, t] : inputs)
    if (t.shape() != ids.shape())
      throw ShapeError("'" + name + "' is " + t.str_shape() + "; text inputs are (N, T) = " + ids.str_shape());
  std::vector<std::int64_t> v(static_cast<std::size_t>(N * T));
  if (!inputs.count("attention_mask")) {
    std::fill(v.begin(), v.end(), 1);
    inputs["attention_mask"] = Tensor::from_vector(std::span<const std::int64_t>(v), {N, T});
  }
  if (!inputs.count("token_type_ids")) {
    std::fill(v.begin(), v.end(), 0);
    inputs["token_type_ids"] = Tensor::from_vector(std::span<const std::int64_t>(v), {N, T});
  }
  if (!inputs.count("position_ids")) {
    for (std::int64_t i = 0; i < N * T; ++i) v[i] = i % T;
    inputs["position_ids"] = Tensor::from_vector(std::span<const std::int64_t>(v), {N, T});
  }
  if (graph) {
    // Only what the graph declares (GPT-2 has no token types).
    std::map<std::string, Tensor> kept;
    for (const auto& in : graph->inputs())
      if (auto f = inputs.find(in.name); f != inputs.end()) kept.insert(*f);
    return kept;
  }
  return inputs;
}

}  // namespace relprop
