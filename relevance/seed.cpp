#include "relprop/relevance/seed.hpp"

#include <string>

namespace relprop {

ClassificationSeed classification_seed(const Tensor& output, std::optional<std::int64_t> target,
                                       SeedForm form, double multiplier) {
  if (!output.defined() || output.dim() == 0)
    throw ShapeError("classification seed: the output must have a class dimension, got shape " +
                     (output.defined() ? output.str_shape() : std::string("<undefined>")));
  const std::int64_t classes = output.size(-1);
  if (classes == 0) throw ShapeError("classification seed: the output has no classes");
  if (target && (*target < 0 || *target >= classes))
    throw IndexError("target class " + std::to_string(*target) + " is out of range: the output has " +
                     std::to_string(classes) + " classes (0.." + std::to_string(classes - 1) + ")");
  // Seeds are made on the host from the (small) output and moved to its device.
  const Tensor out = output.to(Device::CPU).to(DType::F32).contiguous();
  const float* y = out.data<float>();
  const std::int64_t rows = out.numel() / classes;
  ClassificationSeed result;
  result.seed = Tensor::zeros(output.shape());
  float* s = result.seed.data<float>();
  for (std::int64_t r = 0; r < rows; ++r) {
    const float* row = y + r * classes;
    std::int64_t t = 0;
    if (target) {
      t = *target;
    } else {
      for (std::int64_t c = 1; c < classes; ++c)
        if (row[c] > row[t]) t = c;  // first maximum wins, as torch.argmax
    }
    const double base = form == SeedForm::Value ? static_cast<double>(row[t]) : 1.0;
    s[r * classes + t] = static_cast<float>(base * multiplier);
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
  const Tensor y = output.to(Device::CPU).to(DType::F32).contiguous();
  Tensor seed = Tensor::zeros(output.shape());
  const float* yp = y.data<float>();
  float* sp = seed.data<float>();
  std::vector<std::int64_t> chosen = outputs;
  if (chosen.empty())
    for (std::int64_t k = 0; k < n; ++k) chosen.push_back(k);
  for (std::int64_t r = 0; r < y.numel() / std::max<std::int64_t>(n, 1); ++r)
    for (auto k : chosen) {
      const std::int64_t i = r * n + k;
      sp[i] = static_cast<float>((form == SeedForm::Value ? yp[i] : 1.0) * multiplier);
    }
  return seed.to(output.device());
}

Tensor segmentation_seed(const Tensor& output, double threshold, SeedForm form, double multiplier) {
  if (!output.defined()) throw ValueError("segmentation seed: undefined output");
  const Tensor y = output.to(Device::CPU).to(DType::F32).contiguous();
  Tensor seed = Tensor::zeros(output.shape());
  const float* yp = y.data<float>();
  float* sp = seed.data<float>();
  for (std::int64_t i = 0; i < y.numel(); ++i)
    if (yp[i] > threshold) sp[i] = static_cast<float>((form == SeedForm::Value ? yp[i] : 1.0) * multiplier);
  return seed.to(output.device());
}

Tensor contrastive_negative_seed(const Tensor& output, const Tensor& positive, SeedForm form, double multiplier) {
  if (!output.defined() || output.dim() == 0)
    throw ShapeError("contrastive seed: the output must have at least one dimension");
  if (!positive.defined() || positive.shape() != output.shape())
    throw ShapeError("contrastive seed: the positive seed's shape " +
                     (positive.defined() ? positive.str_shape() : std::string("<undefined>")) +
                     " differs from the output's " + output.str_shape());
  const Tensor y = output.to(Device::CPU).to(DType::F32).contiguous(),
               p = positive.to(Device::CPU).to(DType::F32).contiguous();
  const std::int64_t cols = output.size(-1);
  Tensor seed = Tensor::zeros(output.shape());
  const float *yp = y.data<float>(), *pp = p.data<float>();
  float* sp = seed.data<float>();
  for (std::int64_t r = 0; cols > 0 && r < y.numel() / cols; ++r) {
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

}  // namespace relprop
