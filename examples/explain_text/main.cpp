// Explaining a sentence embedding with all-MiniLM-L6-v2 (a Hugging Face folder: config.json,
// model.safetensors, vocab.txt / tokenizer.json; tools/fetch_minilm.sh fetches it): which
// tokens make two sentences similar, by AttnLRP. Prints the tokens with their relevance
// and writes an HTML page with them shaded.
//
//   explain_text MODEL_DIR "first sentence" "second sentence" [OUT.html]

#include <relprop/relprop.hpp>

#include <cmath>
#include <cstdio>
#include <iostream>
#include <string>

using namespace relprop;

namespace {
std::vector<double> normalized(const Tensor& e) {
  auto v = e.to_vector_f64();
  double n = 0;
  for (double x : v) n += x * x;
  for (double& x : v) x /= std::sqrt(n);
  return v;
}
}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    std::cerr << "usage: explain_text MODEL_DIR \"first sentence\" \"second sentence\" [OUT.html]\n";
    return 2;
  }
  try {
    const TransformerModel model = load_transformer(argv[1]);  // graph + weights by HF names
    const auto tokenizer = text::load_tokenizer(argv[1]);      // the folder's own tokenizer
    auto inputs_of = [&](const std::string& s, std::vector<std::string>* tokens) {
      const text::Encoding e = tokenizer->encode(s);
      if (tokens) *tokens = e.tokens;
      const auto T = static_cast<std::int64_t>(e.ids.size());
      return complete_text_inputs({{"input_ids", Tensor::from_vector(std::span<const std::int64_t>(e.ids), {1, T})}},
                                  &model.graph);
    };

    // The second sentence's embedding, direction only (no tape: nothing is recorded).
    const std::vector<double> f = normalized(model.graph.forward(inputs_of(argv[3], nullptr))[0]);

    // The first sentence, recorded; seeded with its cosine similarity split over dimensions.
    std::vector<std::string> tokens;
    const auto inputs = inputs_of(argv[2], &tokens);
    Tape tape;
    Tensor e;
    {
      Recording rec(tape);
      e = model.graph.forward(inputs)[0];
    }
    const std::vector<double> en = normalized(e);
    std::vector<double> seed(en.size());
    double cosine = 0;
    for (std::size_t i = 0; i < en.size(); ++i) cosine += (seed[i] = en[i] * f[i]);
    const Tensor s = Tensor::from_vector(std::span<const double>(seed), e.shape()).to(DType::F32);
    const RelevanceMap R = propagate(tape, e, s, Composite::by_name("attnlrp"));

    const auto r = R.input("input_ids").to_vector_f64();
    std::printf("cosine similarity %.4f; token relevance (AttnLRP):\n", cosine);
    for (std::size_t i = 0; i < tokens.size(); ++i) std::printf("  %-14s %+.4f\n", tokens[i].c_str(), r[i]);
    const std::string html = argc > 4 ? argv[4] : "explain_text.html";
    viz::write_text_file(html, viz::tokens_html(tokens, r, std::string("similarity to \"") + argv[3] + "\""));
    std::printf("wrote %s\n", html.c_str());
  } catch (const Error& e) {
    std::cerr << "explain_text: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
