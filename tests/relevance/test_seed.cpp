// Seeds (relevance/seed.hpp): every function against values worked out by hand, its
// typed errors, and make_seed choosing each of them.

#include <doctest/doctest.h>

#include <cmath>

#include "relprop/relevance/seed.hpp"

using namespace relprop;

namespace {

// Two rows of three outputs: [1, 3, 2] and [-1, -2, 0.5].
Tensor two_rows() { return Tensor::from_vector({1.f, 3.f, 2.f, -1.f, -2.f, 0.5f}, {2, 3}); }

std::vector<double> values(const Tensor& t) { return t.to_vector_f64(); }

void check_close(const std::vector<double>& got, const std::vector<double>& want) {
  REQUIRE(got.size() == want.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    CAPTURE(i);
    CHECK(got[i] == doctest::Approx(want[i]).epsilon(1e-6));
  }
}

}  // namespace

TEST_SUITE("relevance.seed") {
  TEST_CASE("classification: the target's value (or 1) x multiplier, arg-max by default") {
    const Tensor y = two_rows();
    // Arg-max: output 1 (3) in row 0, output 2 (0.5) in row 1; value x 2.
    Seed s = classification_seed(y, std::nullopt, SeedForm::Value, 2.0);
    CHECK(s.seed.shape() == Shape{2, 3});
    CHECK(values(s.seed) == std::vector<double>{0, 6, 0, 0, 0, 1});
    CHECK(s.targets == std::vector<std::int64_t>{1, 2});
    s = classification_seed(y, 0, SeedForm::OneHot, 100.0);
    CHECK(values(s.seed) == std::vector<double>{100, 0, 0, 100, 0, 0});
    CHECK(s.targets == std::vector<std::int64_t>{0, 0});
    // Ties: the first maximum, as torch.argmax.
    CHECK(classification_seed(Tensor::from_vector({5.f, 5.f}, {2}), std::nullopt, SeedForm::OneHot, 1).targets ==
          std::vector<std::int64_t>{0});
    CHECK_THROWS_AS(classification_seed(y, 3, SeedForm::Value, 1), IndexError);
    CHECK_THROWS_AS(classification_seed(y, -1, SeedForm::Value, 1), IndexError);
    CHECK_THROWS_AS(classification_seed(Tensor::scalar(1.0), std::nullopt, SeedForm::Value, 1), ShapeError);
    CHECK_THROWS_AS(classification_seed(Tensor::zeros({2, 0}), std::nullopt, SeedForm::Value, 1), ShapeError);
  }

  TEST_CASE("regression: the chosen outputs of every row (all by default)") {
    const Tensor y = two_rows();
    CHECK(values(regression_seed(y, {0, 2}, SeedForm::Value, 2.0)) == std::vector<double>{2, 0, 4, -2, 0, 1});
    CHECK(values(regression_seed(y, {}, SeedForm::OneHot, 1.5)) == std::vector<double>{1.5, 1.5, 1.5, 1.5, 1.5, 1.5});
    CHECK_THROWS_AS(regression_seed(y, {3}, SeedForm::Value, 1.0), IndexError);
    CHECK_THROWS_AS(regression_seed(y, {-1}, SeedForm::Value, 1.0), IndexError);
    CHECK_THROWS_AS(regression_seed(Tensor::scalar(1.0), {}, SeedForm::Value, 1.0), ShapeError);
  }

  TEST_CASE("segmentation: every element above the threshold") {
    const Tensor y = two_rows();
    CHECK(values(segmentation_seed(y, 1.5, SeedForm::Value, 1.0)) == std::vector<double>{0, 3, 2, 0, 0, 0});
    CHECK(values(segmentation_seed(y, 0.0, SeedForm::OneHot, 10.0)) == std::vector<double>{10, 10, 10, 0, 0, 10});
    CHECK_THROWS_AS(segmentation_seed(Tensor(), 0.0, SeedForm::Value, 1.0), ValueError);
  }

  TEST_CASE("next token: the chosen id at the last position, from (N, V) or (N, T, V) logits") {
    // (N, V): the last position's scores, as relprop's decoders output them.
    const Tensor last = Tensor::from_vector({0.5f, 2.f, -1.f, 1.f}, {1, 4});
    Seed s = next_token_seed(last, std::nullopt, SeedForm::Value, 1.0);
    CHECK(values(s.seed) == std::vector<double>{0, 2, 0, 0});
    CHECK(s.targets == std::vector<std::int64_t>{1});
    s = next_token_seed(last, 3, SeedForm::OneHot, 5.0);
    CHECK(values(s.seed) == std::vector<double>{0, 0, 0, 5});
    CHECK(s.targets == std::vector<std::int64_t>{3});
    // (N, T, V): two sequences of two positions; only position 1 is seeded. Sequence 0's
    // first position has the largest score overall, which must not count.
    const Tensor all = Tensor::from_vector({9.f, 0.f, 0.f, /**/ 1.f, 4.f, 2.f,  //
                                            0.f, 7.f, 0.f, /**/ 3.f, -1.f, 2.f},
                                           {2, 2, 3});
    s = next_token_seed(all, std::nullopt, SeedForm::Value, 0.5);
    CHECK(s.seed.shape() == Shape{2, 2, 3});
    CHECK(values(s.seed) == std::vector<double>{0, 0, 0, 0, 2, 0, 0, 0, 0, 1.5, 0, 0});
    CHECK(s.targets == std::vector<std::int64_t>{1, 0});
    s = next_token_seed(all, 2, SeedForm::OneHot, 1.0);
    CHECK(values(s.seed) == std::vector<double>{0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1});
    CHECK(s.targets == std::vector<std::int64_t>{2, 2});
    // Typed errors: a token outside the vocabulary, logits of the wrong rank, no positions.
    CHECK_THROWS_AS(next_token_seed(last, 4, SeedForm::Value, 1.0), IndexError);
    CHECK_THROWS_AS(next_token_seed(all, -1, SeedForm::Value, 1.0), IndexError);
    CHECK_THROWS_AS(next_token_seed(Tensor::from_vector({1.f, 2.f}, {2}), std::nullopt, SeedForm::Value, 1.0), ShapeError);
    CHECK_THROWS_AS(next_token_seed(Tensor::zeros({1, 1, 2, 3}), std::nullopt, SeedForm::Value, 1.0), ShapeError);
    CHECK_THROWS_AS(next_token_seed(Tensor::zeros({1, 0, 3}), std::nullopt, SeedForm::Value, 1.0), ShapeError);
  }

  TEST_CASE("cosine similarity: e_i f_i / (|e| |f|), summing to the cosine") {
    // e = (3, 4), f = (4, 3): |e| = |f| = 5, cos = 24 / 25 = 0.96, split 12/25 + 12/25.
    const Tensor e = Tensor::from_vector({0.f, 0.f, 3.f, 4.f}, {2, 2});
    const Tensor f = Tensor::from_vector({4.f, 3.f}, {2});
    Tensor s = cosine_similarity_seed(e, f, 2.0);
    CHECK(s.shape() == Shape{2, 2});
    check_close(values(s), {0, 0, 0.96, 0.96});  // x 2; the zero embedding gets 0s
    CHECK(sum_all(cosine_similarity_seed(e.slice(0, 1, 2), f, 1.0)) == doctest::Approx(0.96));
    // One reference per row: row 1 = (1, 1) against (2, 0): 1 / sqrt(2) on the first
    // dimension. (1, D) references broadcast like (D,) ones.
    const Tensor e2 = Tensor::from_vector({3.f, 4.f, 1.f, 1.f}, {2, 2});
    check_close(values(cosine_similarity_seed(e2, Tensor::from_vector({4.f, 3.f, 2.f, 0.f}, {2, 2}), 1.0)),
                {0.48, 0.48, 1.0 / std::sqrt(2.0), 0});
    check_close(values(cosine_similarity_seed(e2, Tensor::from_vector({0.f, 5.f}, {1, 2}), 1.0)),
                {0, 0.8, 0, 1.0 / std::sqrt(2.0)});
    // A zero reference: 0s.
    CHECK(values(cosine_similarity_seed(e2, Tensor::zeros({2}), 1.0)) == std::vector<double>{0, 0, 0, 0});
    // Typed errors: the reference's size, its rows, an embedding without dimensions.
    CHECK_THROWS_AS(cosine_similarity_seed(e2, Tensor::zeros({3}), 1.0), ShapeError);
    CHECK_THROWS_AS(cosine_similarity_seed(e2, Tensor::zeros({3, 2}), 1.0), ShapeError);
    CHECK_THROWS_AS(cosine_similarity_seed(e2, Tensor(), 1.0), ShapeError);
    CHECK_THROWS_AS(cosine_similarity_seed(Tensor::scalar(1.0), f, 1.0), ShapeError);
  }

  TEST_CASE("embedding length: e_i e_i / |e|, summing to |e|") {
    // e = (3, 4): 9/5 + 16/5 = 5; the zero row gets 0s.
    const Tensor e = Tensor::from_vector({3.f, 4.f, 0.f, 0.f}, {2, 2});
    check_close(values(embedding_length_seed(e, 1.0)), {1.8, 3.2, 0, 0});
    check_close(values(embedding_length_seed(e, 3.0)), {5.4, 9.6, 0, 0});
    CHECK_THROWS_AS(embedding_length_seed(Tensor::scalar(2.0), 1.0), ShapeError);
    CHECK_THROWS_AS(embedding_length_seed(Tensor(), 1.0), ShapeError);
  }

  TEST_CASE("several targets: every row seeded at each listed output") {
    const Tensor y = two_rows();
    CHECK(values(multi_target_seed(y, {0, 2}, SeedForm::Value, 2.0)) == std::vector<double>{2, 0, 4, -2, 0, 1});
    // Listed twice: seeded twice.
    CHECK(values(multi_target_seed(y, {1, 1}, SeedForm::OneHot, 1.5)) == std::vector<double>{0, 3, 0, 0, 3, 0});
    CHECK(values(multi_target_seed(y, {2, 0, 2}, SeedForm::Value, 1.0)) == std::vector<double>{1, 0, 4, -1, 0, 1});
    CHECK_THROWS_AS(multi_target_seed(y, {}, SeedForm::Value, 1.0), ValueError);
    CHECK_THROWS_AS(multi_target_seed(y, {0, 3}, SeedForm::Value, 1.0), IndexError);
    CHECK_THROWS_AS(multi_target_seed(y, {-1}, SeedForm::Value, 1.0), IndexError);
    CHECK_THROWS_AS(multi_target_seed(Tensor::scalar(1.0), {0}, SeedForm::Value, 1.0), ShapeError);
  }

  TEST_CASE("contrastive negative: the outputs the positive seed leaves out") {
    // Row [1, 3, 2], positive at output 1: the negative seed starts with [1, 0, 2].
    const Tensor y = Tensor::from_vector({1.f, 3.f, 2.f}, {1, 3});
    const Tensor pos = classification_seed(y, std::nullopt, SeedForm::Value, 1.0).seed;
    CHECK(values(contrastive_negative_seed(y, pos, SeedForm::Value, 2.0)) == std::vector<double>{2, 0, 4});
    // One-hot: scaled to sum to the multiplier, 100 x [1, 0, 2] / 3.
    check_close(values(contrastive_negative_seed(y, pos, SeedForm::OneHot, 100.0)), {100.0 / 3, 0, 200.0 / 3});
    // A binary classifier's probability 0.8: the negative map starts with 1 - 0.8.
    const Tensor p = Tensor::from_vector({0.8f}, {1, 1});
    check_close(values(contrastive_negative_seed(p, p, SeedForm::Value, 1.0)), {0.2});
    CHECK_THROWS_AS(contrastive_negative_seed(y, Tensor::zeros({1, 2}), SeedForm::Value, 1.0), ShapeError);
    CHECK_THROWS_AS(contrastive_negative_seed(Tensor::scalar(1.0), Tensor::scalar(1.0), SeedForm::Value, 1.0),
                    ShapeError);
  }

  TEST_CASE("make_seed: each task calls its function") {
    const Tensor y = two_rows();
    SeedSpec spec;
    spec.form = SeedForm::Value;
    spec.multiplier = 2.0;
    Seed s = make_seed(y, spec);  // classification, arg-max
    CHECK(values(s.seed) == values(classification_seed(y, std::nullopt, SeedForm::Value, 2.0).seed));
    CHECK(s.targets == std::vector<std::int64_t>{1, 2});
    spec.task = SeedTask::Regression;
    spec.outputs = {0, 2};
    s = make_seed(y, spec);
    CHECK(values(s.seed) == std::vector<double>{2, 0, 4, -2, 0, 1});
    CHECK(s.targets.empty());
    spec.task = SeedTask::Targets;
    s = make_seed(y, spec);
    CHECK(values(s.seed) == std::vector<double>{2, 0, 4, -2, 0, 1});
    CHECK(s.targets == std::vector<std::int64_t>{0, 2});
    spec.task = SeedTask::Segmentation;
    spec.threshold = 1.5;
    CHECK(values(make_seed(y, spec).seed) == std::vector<double>{0, 6, 4, 0, 0, 0});
    spec.task = SeedTask::NextToken;
    spec.target = 0;
    s = make_seed(y, spec);
    CHECK(values(s.seed) == std::vector<double>{2, 0, 0, -2, 0, 0});
    CHECK(s.targets == std::vector<std::int64_t>{0, 0});
    const Tensor e = Tensor::from_vector({3.f, 4.f}, {1, 2});
    spec.task = SeedTask::EmbeddingLength;
    check_close(values(make_seed(e, spec).seed), {3.6, 6.4});
    spec.task = SeedTask::CosineSimilarity;
    CHECK_THROWS_AS(make_seed(e, spec), ValueError);  // no reference
    spec.reference = Tensor::from_vector({4.f, 3.f}, {2});
    check_close(values(make_seed(e, spec).seed), {0.96, 0.96});
  }
}
