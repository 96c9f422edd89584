#include "relprop/relevance/seed.hpp"

#include <cmath>
#include <string>

namespace relprop {

namespace {

std::string shape_or_undefined(const Tensor& t) { return t.defined() ? t.str_shape() : std::string("<undefined>"); }

// The output on the host in float32, row-major: what every seed reads.
Tensor host_f32(const Tensor& t) { return t.to(Device::CPU).to(DType::F32).contiguous(); }

// Rows of (..., C): every dimension but the last.
std::int64_t rows_of(const Tensor& t) {
  const std::int64_t c = t.size(-1);
  return c > 0 ? t.numel() / c : 0;
}

double base_of(SeedForm form, double value) { return form == SeedForm::Value ? value : 1.0; }

}  // namespace

Seed classification_seed(const Tensor& output, std::optional<std::int64_t> target, SeedForm form,
                         double multiplier) {
  if (!output.defined() || output.dim() == 0)
    throw ShapeError("classification seed: the output must have a class dimension, got shape " +
                     shape_or_undefined(output));
  const std::int64_t classes = output.size(-1);
  if (classes == 0) throw ShapeError("classification seed: the output has no classes");
  if (target && (*target < 0 || *target >= classes))
    throw IndexError("target class " + std::to_string(*target) + " is out of range: the output has " +
                     std::to_string(classes) + " classes (0.." + std::to_string(classes - 1) + ")");
  const Tensor out = host_f32(output);
  const float* y = out.data<float>();
  const std::int64_t rows = out.numel() / classes;
  Seed result;
  result.seed = Tensor::zeros(output.shape());
  float* s = result.seed.data<float>();
  for (std::int64_t r = 0; r < rows; ++r) {
    const float* row = y + r * classes;
    std::int64_t t = 0;
    if (target) {
      t = *target;
    } else {
      // The first maximum wins, as torch.argmax; NaN never does (torch.argmax picks it): the
      // search starts at the first value that is not NaN (a row of NaN only: 0).
      while (t + 1 < classes && std::isnan(row[t])) ++t;
      if (std::isnan(row[t])) t = 0;
      for (std::int64_t c = t + 1; c < classes; ++c)
        if (row[c] > row[t]) t = c;
    }
    s[r * classes + t] = static_cast<float>(base_of(form, row[t]) * multiplier);
    result.targets.push_back(t);
  }
  result.seed = result.seed.to(output.device());
  return result;
}

Tensor regression_seed(const Tensor& output, const std::vector<std::int64_t>& outputs, SeedForm form,
                       double multiplier) {
  if (!output.defined() || output.dim() == 0)
    throw ShapeError("regression seed: the output must have at least one dimension");
  const std::int64_t n = output.size(-1);
  for (auto k : outputs)
    if (k < 0 || k >= n)
      throw IndexError("regression output " + std::to_string(k) + " is out of range: the model has " +
                       std::to_string(n) + " outputs");
  const Tensor y = host_f32(output);
  Tensor seed = Tensor::zeros(output.shape());
  const float* yp = y.data<float>();
  float* sp = seed.data<float>();
  std::vector<std::int64_t> chosen = outputs;
  if (chosen.empty())
    for (std::int64_t k = 0; k < n; ++k) chosen.push_back(k);
  for (std::int64_t r = 0; r < rows_of(y); ++r)
    for (auto k : chosen) {
      const std::int64_t i = r * n + k;
      sp[i] = static_cast<float>(base_of(form, yp[i]) * multiplier);
    }
  return seed.to(output.device());
}

Tensor segmentation_seed(const Tensor& output, double threshold, SeedForm form, double multiplier) {
  if (!output.defined()) throw ValueError("segmentation seed: undefined output");
  const Tensor y = host_f32(output);
  Tensor seed = Tensor::zeros(output.shape());
  const float* yp = y.data<float>();
  float* sp = seed.data<float>();
  for (std::int64_t i = 0; i < y.numel(); ++i)
    if (yp[i] > threshold) sp[i] = static_cast<float>(base_of(form, yp[i]) * multiplier);
  return seed.to(output.device());
}

Seed next_token_seed(const Tensor& logits, std::optional<std::int64_t> token, SeedForm form, double multiplier) {
  if (!logits.defined() || logits.dim() < 2 || logits.dim() > 3)
    throw ShapeError("next-token seed: the logits must be (N, V) or (N, T, V), got shape " +
                     shape_or_undefined(logits));
  const std::int64_t V = logits.size(-1);
  if (token && (*token < 0 || *token >= V))
    throw IndexError("token id " + std::to_string(*token) + " is out of range: the vocabulary has " +
                     std::to_string(V) + " tokens (0.." + std::to_string(V - 1) + ")");
  if (logits.dim() == 2) return classification_seed(logits, token, form, multiplier);
  // (N, T, V): the last position's logits (N, V) seeded like a classifier's, the rest 0.
  const std::int64_t T = logits.size(1);
  if (T == 0) throw ShapeError("next-token seed: the logits " + logits.str_shape() + " have no positions");
  Seed last = classification_seed(logits.select(1, T - 1), token, form, multiplier);
  Tensor seed = Tensor::zeros(logits.shape());
  seed.select(1, T - 1).copy_from(last.seed.to(Device::CPU));
  last.seed = seed.to(logits.device());
  return last;
}

namespace {

// Checks an embedding (N, D) and returns D.
std::int64_t embedding_size(const Tensor& e, const char* what) {
  if (!e.defined() || e.dim() == 0)
    throw ShapeError(std::string(what) + ": the embedding must be (N, D), got shape " + shape_or_undefined(e));
  return e.size(-1);
}

// Euclidean length of D values, summed in order.
double length(const float* v, std::int64_t D) {
  double n = 0;
  for (std::int64_t i = 0; i < D; ++i) n += static_cast<double>(v[i]) * v[i];
  return std::sqrt(n);
}

}  // namespace

Tensor cosine_similarity_seed(const Tensor& embedding, const Tensor& reference, double multiplier) {
  const std::int64_t D = embedding_size(embedding, "cosine similarity seed");
  if (!reference.defined() || reference.dim() == 0 || reference.size(-1) != D)
    throw ShapeError("cosine similarity seed: the reference " + shape_or_undefined(reference) +
                     " does not have the embedding's size " + std::to_string(D) + " (embedding " +
                     embedding.str_shape() + ")");
  const Tensor e = host_f32(embedding), f = host_f32(reference);
  const std::int64_t N = rows_of(e), refs = rows_of(f);
  if (refs != 1 && refs != N)
    throw ShapeError("cosine similarity seed: " + std::to_string(refs) + " reference rows for " + std::to_string(N) +
                     " embeddings (give one, or one per row)");
  // The references' unit vectors f / |f| (0 for a zero reference).
  std::vector<double> unit(static_cast<std::size_t>(f.numel()));
  for (std::int64_t r = 0; r < refs; ++r) {
    const float* fr = f.data<float>() + r * D;
    const double n = length(fr, D);
    for (std::int64_t i = 0; i < D; ++i) unit[r * D + i] = n > 0 ? fr[i] / n : 0.0;
  }
  Tensor seed = Tensor::zeros(embedding.shape());
  float* sp = seed.data<float>();
  for (std::int64_t r = 0; r < N; ++r) {
    const float* er = e.data<float>() + r * D;
    const double* fr = unit.data() + (refs == 1 ? 0 : r * D);
    const double n = length(er, D);
    // R_i = e_i (f_i / |f|) / |e|
    for (std::int64_t i = 0; i < D; ++i) sp[r * D + i] = static_cast<float>(multiplier * (n > 0 ? er[i] * fr[i] / n : 0.0));
  }
  return seed.to(embedding.device());
}

Tensor embedding_length_seed(const Tensor& embedding, double multiplier) {
  const std::int64_t D = embedding_size(embedding, "embedding length seed");
  const Tensor e = host_f32(embedding);
  Tensor seed = Tensor::zeros(embedding.shape());
  float* sp = seed.data<float>();
  for (std::int64_t r = 0; r < rows_of(e); ++r) {
    const float* er = e.data<float>() + r * D;
    const double n = length(er, D);
    // R_i = e_i e_i / |e|
    for (std::int64_t i = 0; i < D; ++i)
      sp[r * D + i] = static_cast<float>(multiplier * (n > 0 ? static_cast<double>(er[i]) * er[i] / n : 0.0));
  }
  return seed.to(embedding.device());
}

Tensor multi_target_seed(const Tensor& output, const std::vector<std::int64_t>& targets, SeedForm form,
                         double multiplier) {
  if (!output.defined() || output.dim() == 0)
    throw ShapeError("several-targets seed: the output must have at least one dimension, got shape " +
                     shape_or_undefined(output));
  if (targets.empty()) throw ValueError("several-targets seed: no targets given");
  const std::int64_t C = output.size(-1);
  for (std::int64_t t : targets)
    if (t < 0 || t >= C)
      throw IndexError("target " + std::to_string(t) + " is out of range: the output has " + std::to_string(C) +
                       " outputs" + (C > 0 ? " (0.." + std::to_string(C - 1) + ")" : std::string()));
  const Tensor y = host_f32(output);
  Tensor seed = Tensor::zeros(output.shape());
  const float* yp = y.data<float>();
  float* sp = seed.data<float>();
  for (std::int64_t r = 0; r < rows_of(y); ++r)
    for (std::int64_t t : targets) {
      const std::int64_t i = r * C + t;
      // A target listed twice adds to what the first placed (rounded to float in between).
      sp[i] = static_cast<float>(static_cast<double>(sp[i]) + multiplier * base_of(form, yp[i]));
    }
  return seed.to(output.device());
}

Tensor contrastive_negative_seed(const Tensor& output, const Tensor& positive, SeedForm form, double multiplier) {
  if (!output.defined() || output.dim() == 0)
    throw ShapeError("contrastive seed: the output must have at least one dimension");
  if (!positive.defined() || positive.shape() != output.shape())
    throw ShapeError("contrastive seed: the positive seed's shape " + shape_or_undefined(positive) +
                     " differs from the output's " + output.str_shape());
  const Tensor y = host_f32(output), p = host_f32(positive);
  const std::int64_t cols = output.size(-1);
  Tensor seed = Tensor::zeros(output.shape());
  const float *yp = y.data<float>(), *pp = p.data<float>();
  float* sp = seed.data<float>();
  for (std::int64_t r = 0; r < rows_of(y); ++r) {
    double sum = 0;
    for (std::int64_t c = 0; c < cols; ++c) {
      const std::int64_t i = r * cols + c;
      double v = 0;
      if (pp[i] == 0.0f) v = yp[i];
      else if (cols == 1 && yp[i] < 1.0f) v = 1.0 - yp[i];
      sp[i] = static_cast<float>(v);
      sum += v;
    }
    const double factor = form == SeedForm::OneHot ? (sum > 0 ? multiplier / sum : 1.0) : multiplier;
    for (std::int64_t c = 0; c < cols; ++c) sp[r * cols + c] = static_cast<float>(sp[r * cols + c] * factor);
  }
  return seed.to(output.device());
}

Seed make_seed(const Tensor& output, const SeedSpec& spec) {
  switch (spec.task) {
    case SeedTask::Classification:
      return classification_seed(output, spec.target, spec.form, spec.multiplier);
    case SeedTask::Regression:
      return {regression_seed(output, spec.outputs, spec.form, spec.multiplier), {}};
    case SeedTask::Segmentation:
      return {segmentation_seed(output, spec.threshold, spec.form, spec.multiplier), {}};
    case SeedTask::NextToken:
      return next_token_seed(output, spec.target, spec.form, spec.multiplier);
    case SeedTask::CosineSimilarity:
      if (!spec.reference.defined()) throw ValueError("cosine similarity seed: no reference embedding given");
      return {cosine_similarity_seed(output, spec.reference, spec.multiplier), {}};
    case SeedTask::EmbeddingLength:
      return {embedding_length_seed(output, spec.multiplier), {}};
    case SeedTask::Targets:
      return {multi_target_seed(output, spec.outputs, spec.form, spec.multiplier), spec.outputs};
  }
  throw ValueError("make_seed: unknown seed task");
}

}  // namespace relprop
