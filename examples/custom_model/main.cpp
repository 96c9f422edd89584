// A model written with relprop's ops in C++ (no graph file, no PyTorch): a small CNN that
// finds a vertical bar in a 12 x 12 picture. Its weights are made here: a vertical-edge
// filter pair, max pooling, and a linear read-out. The example explains the prediction
// under two composites, prints what each layer passed on (the conv's negative bias adds
// relevance under ε), and writes a heatmap.
//
//   custom_model [OUT_DIR]      (writes OUT_DIR/custom_model.png; default: the current folder)

#include <relprop/relprop.hpp>

#include <cmath>
#include <cstdio>
#include <iostream>
#include <string>

using namespace relprop;

int main(int argc, char** argv) {
  const std::string out_dir = argc > 1 ? argv[1] : ".";
  try {
    // The picture: a bright vertical bar in column 7, a little noise elsewhere.
    Tensor image = Tensor::zeros({1, 1, 12, 12});
    for (int y = 0; y < 12; ++y)
      for (int x = 0; x < 12; ++x)
        image.set_flat(y * 12 + x, (x == 7 ? 1.0 : 0.0) + 0.05 * std::sin(3.0 * x + 5.0 * y));

    // Two 3x3 filters: "bright middle column" and its negative.
    Tensor w1 = Tensor::zeros({2, 1, 3, 3});
    for (int y = 0; y < 3; ++y)
      for (int x = 0; x < 3; ++x) {
        const double v = x == 1 ? 1.0 : -0.5;
        w1.set_flat(y * 3 + x, v);
        w1.set_flat(9 + y * 3 + x, -v);
      }
    const Tensor b1 = Tensor::from_vector({-0.5f, -0.5f}, {2});
    // Read-out after 2x2 max pooling (2 x 6 x 6 = 72 features): class 0 "bar", class 1 "no bar".
    Tensor w2 = Tensor::zeros({2, 72});
    for (int k = 0; k < 36; ++k) {
      w2.set_flat(k, 0.2);         // bar filter responses vote for class 0
      w2.set_flat(72 + 36 + k, 0.2);  // the negative filter votes for class 1
    }
    const Tensor b2 = Tensor::from_vector({0.0f, 0.1f}, {2});

    // The forward pass, recorded on a tape; names make the report readable.
    Tape tape;
    Tensor y;
    {
      Recording rec(tape);
      const Tensor x = tape.input(image, "x");
      Conv2dParams conv;
      conv.padding = {1, 1};
      Tensor h = relu(conv2d(x, w1, b1, conv, "conv"), "relu");
      h = max_pool2d(h, Pool2dParams{}, "pool");
      y = linear(flatten(h, 1, -1, "flatten"), w2, b2, "fc");
    }
    const auto logits = y.to_vector();
    std::printf("logits: bar %.3f, no bar %.3f\n", logits[0], logits[1]);

    for (const char* name : {"epsilon", "epsilon-plus"}) {
      const Composite composite = Composite::by_name(name);
      const auto seed = classification_seed(y, std::nullopt, composite.seed_form, composite.multiplier);
      PropagateOptions options;
      options.retain = true;  // the tape is propagated twice: keep its saved tensors
      const RelevanceMap R = propagate(tape, y, seed.seed, composite, options);
      const Tensor& r = R.input("x");
      // Relevance in the bar's column against everywhere else.
      double bar = 0, total = 0;
      for (int k = 0; k < 144; ++k) {
        const double v = r.get_flat(k);
        total += v;
        if (k % 12 == 7) bar += v;
      }
      std::printf("%-13s target %lld: input relevance %.4f of %.4f seeded, %.1f%% of it in the bar's column\n", name,
                  static_cast<long long>(seed.targets[0]), total, logits[seed.targets[0]], 100.0 * bar / total);
      for (const auto& node : R.report())
        std::printf("  %-8s %-8s %-10s out %8.4f  in %8.4f\n", node.name.c_str(), node.op.c_str(), node.rule.c_str(),
                    node.relevance_out, node.relevance_in);
      if (std::string(name) == "epsilon-plus") {
        viz::HeatmapOptions o;
        o.scale = 16;
        const std::string path = out_dir + "/custom_model.png";
        viz::write_png(path, viz::heatmap(r, o));
        std::printf("wrote %s\n", path.c_str());
      }
    }
  } catch (const Error& e) {
    std::cerr << "custom_model: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
