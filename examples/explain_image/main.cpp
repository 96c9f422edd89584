// Explaining a torchvision ResNet on a photograph: the weights are the model's own
// state_dict saved as safetensors (torchvision's parameter names), the picture a PNG or
// JPEG; the result is a heatmap and an overlay.
//
//   explain_image resnet18|resnet50 WEIGHTS.safetensors IMAGE [OUT_DIR]
//
// Weights: in Python, safetensors.torch.save_file(torchvision.models.resnet18(
// weights="DEFAULT").state_dict(), "resnet18.safetensors") (or scripts/models.sh).

#include <relprop/relprop.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <string>

using namespace relprop;

int main(int argc, char** argv) {
  if (argc < 4) {
    std::cerr << "usage: explain_image resnet18|resnet50 WEIGHTS.safetensors IMAGE [OUT_DIR]\n";
    return 2;
  }
  const std::string out_dir = argc > 4 ? argv[4] : ".";
  try {
    // The architecture by name, its weights by torchvision's names (missing, unexpected or
    // mis-shaped tensors are reported by name); batch norms fold into the convolutions.
    Graph model = build_model(argv[1]);
    model.bind(SafetensorsFile::open(argv[2]));

    // The photograph: shorter side to 256, centre crop 224, ImageNet's mean and std.
    const viz::Preprocess pre;
    const Tensor x = viz::image_to_tensor(viz::read_image(argv[3]), 3, 224, 224, pre);

    // Forward, the arg-max class's seed and the relevance in one call, under Zennit's
    // recommended composite for CNNs on images (its seed: the class's value).
    ExplainSettings settings;
    settings.composite = Composite::by_name("epsilon-plus-flat");
    settings.seed.form = settings.composite.seed_form;
    settings.seed.multiplier = settings.composite.multiplier;
    GraphExplainer explainer(model, settings);
    const auto t0 = std::chrono::steady_clock::now();
    const Explanation e = explainer.explain({{"x", x}});
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();

    const Tensor& r = e.relevance.input("x");
    const std::int64_t target = e.targets[0];
    std::printf("%s: class %lld (logit %.3f), relevance sum %.4f, forward + explanation %.0f ms\n", argv[1],
                static_cast<long long>(target), e.output.get({0, target}), sum_all(r), ms);
    viz::write_png(out_dir + "/heatmap.png", viz::heatmap(r));
    viz::write_png(out_dir + "/overlay.png", viz::overlay(r, viz::tensor_to_image(x, &pre)));
    std::printf("wrote %s/heatmap.png and %s/overlay.png\n", out_dir.c_str(), out_dir.c_str());
  } catch (const Error& e) {
    std::cerr << "explain_image: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
