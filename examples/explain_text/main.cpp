// Explaining a sentence embedding with all-MiniLM-L6-v2 (a Hugging Face folder: config.json,
// model.safetensors, vocab.txt / tokenizer.json; tools/fetch_minilm.sh fetches it): which
// tokens make two sentences similar, by AttnLRP. Prints the tokens with their relevance
// and writes an HTML page with them shaded.
//
//   explain_text MODEL_DIR "first sentence" "second sentence" [OUT.html]

#include <relprop/relprop.hpp>

#include <cstdio>
#include <iostream>
#include <string>

using namespace relprop;

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

    // The first sentence explained by its cosine similarity to the second sentence's
    // embedding (computed unrecorded: no tape is active), split over the dimensions as
    // e_i f_i / (|e| |f|): forward, seed and AttnLRP in one GraphExplainer call.
    ExplainSettings settings;
    settings.composite = Composite::by_name("attnlrp");
    settings.seed.task = SeedTask::CosineSimilarity;
    settings.seed.reference = model.graph.forward(inputs_of(argv[3], nullptr))[0];
    GraphExplainer explainer(model.graph, settings);
    std::vector<std::string> tokens;
    const Explanation e = explainer.explain(inputs_of(argv[2], &tokens));
    const double cosine = sum_all(e.seed);
    const RelevanceMap& R = e.relevance;

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
