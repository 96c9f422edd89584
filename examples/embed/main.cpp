// Embedding relprop: load weights from safetensors, run a model written with relprop's
// ops, explain its prediction, print the input relevance.
//
//   embed WEIGHTS.safetensors   (examples/worked/weights.safetensors: docs/RULES.md's worked example)

// Each header by its path under relprop/ (relprop/relprop.hpp includes them all).
#include <relprop/io/safetensors.hpp>
#include <relprop/ops/activation.hpp>
#include <relprop/ops/linear.hpp>
#include <relprop/relevance/composite.hpp>
#include <relprop/relevance/engine.hpp>
#include <relprop/relevance/seed.hpp>
#include <relprop/relevance/tape.hpp>
#include <relprop/tensor/tensor.hpp>

#include <cstdio>
#include <iostream>

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: embed WEIGHTS.safetensors\n";
    return 2;
  }
  try {
    const relprop::SafetensorsFile weights = relprop::SafetensorsFile::open(argv[1]);
    const relprop::Tensor x = relprop::Tensor::from_vector({1.0f, 2.0f, 3.0f}, {1, 3});

    // Forward pass, recorded: every op appends a node to the tape.
    relprop::Tape tape;
    relprop::Tensor y;
    {
      relprop::Recording recording(tape);
      const relprop::Tensor input = tape.input(x, "x");
      y = relprop::linear(input, weights.get("fc.weight"), weights.get("fc.bias"), "fc");
      y = relprop::relu(y, "act");
    }

    // DLBacktrace's default: one-hot seed x 100 at the arg-max output.
    const relprop::Composite composite = relprop::Composite::by_name("backtrace");
    const auto seed = relprop::classification_seed(y, std::nullopt, composite.seed_form, composite.multiplier);
    const relprop::RelevanceMap R = relprop::propagate(tape, y, seed.seed, composite);

    const auto r = R.input("x").to_vector();
    std::printf("target %lld\nx  [%.3f, %.3f, %.3f]\n", static_cast<long long>(seed.targets[0]), r[0], r[1], r[2]);
    for (const auto& node : R.report())
      std::printf("%-4s %-7s relevance in %.3f, out %.3f\n", node.name.c_str(), node.op.c_str(),
                  node.relevance_out, node.relevance_in);
  } catch (const relprop::Error& e) {
    std::cerr << "embed: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
