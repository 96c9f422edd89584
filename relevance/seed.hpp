#pragma once
// Seeds: the relevance placed on the model output before propagation (docs/RULES.md,
// "Seeding"). One function per kind of explanation, each returning a tensor of the
// output's shape on the output's device; make_seed picks one from a SeedSpec.
//
// Shapes: N rows (every dimension but the last, flattened), C outputs per row (classes,
// regression outputs, vocabulary V of a language model, embedding size D).
//   output, logits, embedding: (..., C); a 0-d tensor is refused (ShapeError).
// Seeds are made on the host from the (small) output and moved to its device; the values
// are computed in double and rounded to float once.

#include <cstdint>
#include <optional>
#include <vector>

#include "relprop/relevance/composite.hpp"
#include "relprop/tensor/tensor.hpp"

namespace relprop {

// A seed and the output it chose in each row (classification, next token), or the
// outputs it was given (several targets); empty for the other seeds.
struct Seed {
  Tensor seed;                         // same shape as the output
  std::vector<std::int64_t> targets;
};

// Classification (binary or multi-class). `output`: (C,) or (N, ..., C) with classes on
// the last dimension. Each row gets `multiplier` x (its target's value, or 1 for OneHot)
// at its target (the given class, else the arg-max of the row; the first maximum wins, and
// a NaN never does) and 0 elsewhere. targets: the class of each row. IndexError when `target` is outside
// [0, C).
Seed classification_seed(const Tensor& output, std::optional<std::int64_t> target, SeedForm form,
                         double multiplier);

// Regression: every row's chosen outputs (indices into the last dimension; all when
// empty) get multiplier x (their value, or 1 for OneHot). IndexError for a bad index.
Tensor regression_seed(const Tensor& output, const std::vector<std::int64_t>& outputs, SeedForm form,
                       double multiplier);

// Segmentation: every output element above `threshold` gets multiplier x (its value, or
// 1 for OneHot); the rest 0.
Tensor segmentation_seed(const Tensor& output, double threshold, SeedForm form, double multiplier);

// The next token of a language model. `logits`: (N, V), the scores at the last position
// (what relprop's decoders output: their LM head reads the last position only), or
// (N, T, V) for every position, of which only the last, T - 1, is seeded. Each sequence
// gets multiplier x (the token's logit, or 1 for OneHot) at `token` (default: its
// arg-max, the greedy choice) and 0 elsewhere. targets: the token id of each sequence.
// ShapeError for fewer than 2 dimensions or more than 3; IndexError for a token outside
// [0, V).
Seed next_token_seed(const Tensor& logits, std::optional<std::int64_t> token, SeedForm form, double multiplier);

// Cosine similarity of embeddings to a reference. `embedding`: (N, D); `reference`: (D,)
// or (1, D), one for every row, or (N, D), one per row. Row e with reference f gets
//   R_i = multiplier x e_i f_i / (|e| |f|),
// which sums to multiplier x cos(e, f); a row or reference of length 0 gets 0s.
// ShapeError when the reference's size or rows do not fit the embedding.
Tensor cosine_similarity_seed(const Tensor& embedding, const Tensor& reference, double multiplier);

// The length of embeddings, for when there is nothing to compare with. `embedding`:
// (N, D). Row e gets R_i = multiplier x e_i e_i / |e|, which sums to multiplier x |e|;
// a row of length 0 gets 0s.
Tensor embedding_length_seed(const Tensor& embedding, double multiplier);

// Several targets at once (the tokens of a multi-token answer, several classes). Every
// row gets multiplier x (the output's value, or 1 for OneHot) at each listed output, in
// the order listed; an output listed twice is seeded twice (the second adds to the
// first). ValueError for an empty list; IndexError for an output outside [0, C).
Tensor multi_target_seed(const Tensor& output, const std::vector<std::int64_t>& targets, SeedForm form,
                         double multiplier);

// Contrastive seeding (DLBacktrace): the positive map starts with an ordinary seed
// (`positive`, from one of the functions above); the negative map starts on every output
// the positive seed leaves at 0, with that output's value. A row with one output (a
// binary classifier's probability) gets 1 - value when the value is below 1. With
// OneHot each row of the negative seed is scaled to sum to `multiplier` (when its sum is
// positive); with Value it is multiplied by `multiplier`. ShapeError when `positive` is
// not of the output's shape.
Tensor contrastive_negative_seed(const Tensor& output, const Tensor& positive, SeedForm form, double multiplier);

// ---- choosing a seed --------------------------------------------------------------------

// Which of the seeds above an explanation starts from.
enum class SeedTask {
  Classification,    // classification_seed(target)
  Regression,        // regression_seed(outputs)
  Segmentation,      // segmentation_seed(threshold)
  NextToken,         // next_token_seed(target)
  CosineSimilarity,  // cosine_similarity_seed(reference); form unused
  EmbeddingLength,   // embedding_length_seed; form unused
  Targets,           // multi_target_seed(outputs)
};

// A seed's settings: the task and what it reads.
struct SeedSpec {
  SeedTask task = SeedTask::Classification;
  std::optional<std::int64_t> target;  // Classification, NextToken: class / token id (default: arg-max)
  std::vector<std::int64_t> outputs;   // Regression: outputs to explain (all when empty); Targets: the list
  double threshold = 0.0;              // Segmentation
  Tensor reference;                    // CosineSimilarity: the reference embedding (D,), (1, D) or (N, D)
  SeedForm form = SeedForm::Value;     // the output's value, or 1
  double multiplier = 1.0;
};

// The seed `spec` describes, for `output`. ValueError for CosineSimilarity without a
// reference; otherwise the chosen function's errors.
Seed make_seed(const Tensor& output, const SeedSpec& spec);

}  // namespace relprop
