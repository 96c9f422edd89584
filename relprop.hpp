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

#include "relprop_config.hpp"
#include "tensor/dtype.hpp"
#include "tensor/error.hpp"
#include "tensor/tensor.hpp"
#include "relevance/rules.hpp"
#include "relevance/tape.hpp"
#include "relevance/composite.hpp"
#include "relevance/seed.hpp"
#include "relevance/engine.hpp"
#include "ops/registry.hpp"
#include "ops/linear.hpp"
#include "ops/conv.hpp"
#include "ops/pool.hpp"
#include "ops/shape.hpp"
#include "ops/norm.hpp"
#include "ops/activation.hpp"
#include "ops/elementwise.hpp"
#include "ops/attention.hpp"
#include "io/safetensors.hpp"
#include "nn/explainer.hpp"
#include "nn/graph.hpp"
#include "nn/models.hpp"
#include "nn/transformers.hpp"
#include "viz/image.hpp"
#include "viz/chart.hpp"
#include "text/tokenizer.hpp"
