#pragma once
// relprop: layer-wise relevance propagation in C++. Include this one header to embed it.
//
//   relprop::Tape tape;
//   relprop::Tensor y;
//   {
//     relprop::Recording rec(tape);                   // ops record nodes on `tape`
//     relprop::Tensor x = tape.input(image, "x");     // relevance is wanted for x
//     y = relprop::linear(relprop::relu(...), W, b, "fc");
//   }
//   auto seed = relprop::classification_seed(y, std::nullopt, relprop::SeedForm::Value, 1.0);
//   auto R = relprop::propagate(tape, y, seed.seed, relprop::Composite::by_name("epsilon"));
//   R.input("x");                                      // relevance of every input element

#include "relprop/config.hpp"
#include "relprop/tensor/dtype.hpp"
#include "relprop/tensor/error.hpp"
#include "relprop/tensor/files.hpp"
#include "relprop/tensor/memory.hpp"
#include "relprop/tensor/tensor.hpp"
#include "relprop/relevance/rules.hpp"
#include "relprop/relevance/op_kind.hpp"
#include "relprop/relevance/tape.hpp"
#include "relprop/relevance/composite.hpp"
#include "relprop/relevance/seed.hpp"
#include "relprop/relevance/engine.hpp"
#include "relprop/ops/registry.hpp"
#include "relprop/ops/linear.hpp"
#include "relprop/ops/conv.hpp"
#include "relprop/ops/pool.hpp"
#include "relprop/ops/shape.hpp"
#include "relprop/ops/norm.hpp"
#include "relprop/ops/activation.hpp"
#include "relprop/ops/elementwise.hpp"
#include "relprop/ops/attention.hpp"
#include "relprop/ops/token.hpp"
#include "relprop/io/file.hpp"
#include "relprop/io/mmap.hpp"
#include "relprop/io/safetensors.hpp"
#include "relprop/nn/explainer.hpp"
#include "relprop/nn/graph.hpp"
#include "relprop/nn/models.hpp"
#include "relprop/nn/transformers.hpp"
#include "relprop/viz/image.hpp"
#include "relprop/viz/chart.hpp"
#include "relprop/text/tokenizer.hpp"
