#pragma once
// Seeds: the relevance placed on the model output before propagation (RULES.md,
// "Seeding").

#include <cstdint>
#include <optional>
#include <vector>

#include "relprop/relevance/composite.hpp"
#include "relprop/tensor/tensor.hpp"

namespace relprop {

// A classification seed and the class it chose for each row.
struct ClassificationSeed {
  Tensor seed;                         // same shape as the output
  std::vector<std::int64_t> targets;   // the class chosen for each row
};

// Classification (binary or multi-class). `output`: (C,) or (N, ..., C) with classes on
// the last dimension. Each row gets `multiplier` x (its target's value, or 1 for OneHot)
// at its target (the given class, else the arg-max of the row) and 0 elsewhere.
// IndexError when `target` is outside [0, C).
ClassificationSeed classification_seed(const Tensor& output, std::optional<std::int64_t> target,
                                       SeedForm form, double multiplier);

// Regression: every row's chosen outputs (indices into the last dimension; all when
// empty) get multiplier x (their value, or 1 for OneHot). IndexError for a bad index.
Tensor regression_seed(const Tensor& output, const std::vector<std::int64_t>& outputs, SeedForm form,
                       double multiplier);

// Segmentation: every output element above `threshold` gets multiplier x (its value, or
// 1 for OneHot); the rest 0.
Tensor segmentation_seed(const Tensor& output, double threshold, SeedForm form, double multiplier);

// Contrastive seeding (DLBacktrace): the positive map starts with an ordinary seed
// (`positive`, from one of the functions above); the negative map starts on every output
// the positive seed leaves at 0, with that output's value. A row with one output (a
// binary classifier's probability) gets 1 - value when the value is below 1. With
// OneHot each row of the negative seed is scaled to sum to `multiplier` (when its sum is
// positive); with Value it is multiplied by `multiplier`.
Tensor contrastive_negative_seed(const Tensor& output, const Tensor& positive, SeedForm form, double multiplier);

}  // namespace relprop
