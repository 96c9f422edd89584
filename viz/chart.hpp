#pragma once
// Charts and text renderings of relevance: ranked bar charts (PNG, labels drawn with a
// TrueType font through stb_truetype), CSV tables, token relevance as HTML and as
// coloured terminal text.

#include <string>
#include <string_view>
#include <vector>

#include "relprop/viz/image.hpp"

namespace relprop::viz {

struct Bar {
  std::string label;
  double value = 0.0;
  std::string note;  // drawn after the value (e.g. the feature's input value); may be empty
};

struct BarChartOptions {
  std::string title;
  int width = 900;
  int bar_height = 22;
  std::size_t max_bars = 0;  // 0: all
  bool sort_by_magnitude = true;  // largest |value| first; false keeps the given order
};

// A horizontal bar chart: positive values red to the right of the axis, negative blue to
// the left, each bar labelled with its name and value. Text needs a TrueType font
// (font_path(); DejaVu Sans from Debian's fonts-dejavu-core); without one the bars are
// drawn unlabelled.
Image bar_chart(std::vector<Bar> bars, const BarChartOptions& options = {});

// The font charts use: $RELPROP_FONT, else DejaVu Sans or Liberation Sans in the usual
// Debian places; empty when none is there.
std::string font_path();

// Draws UTF-8 `text` with its baseline-left corner at (x, y) in `color`, `pixel_height`
// tall; returns the advance width. Nothing is drawn (returns 0) without a font.
int draw_text(Image& image, int x, int y, const std::string& text, double pixel_height, Rgb color);
int text_width(const std::string& text, double pixel_height);

// RFC 4180 CSV: a header row, then the rows; fields with commas, quotes or newlines quoted.
std::string csv(const std::vector<std::string>& header, const std::vector<std::vector<std::string>>& rows);

// Tokens shaded by relevance: red for positive, blue for negative, opacity |r| / max|r|.
// WordPiece continuations ("##ing") join the previous token; byte-level BPE's "Ġ" marks a
// leading space. `title` heads the page; each token's value shows on hover.
std::string tokens_html(const std::vector<std::string>& tokens, const std::vector<double>& relevance,
                        const std::string& title = "");
// The same as 24-bit ANSI colours for a terminal (background shaded, text black; each
// token's text through terminal_text).
std::string tokens_ansi(const std::vector<std::string>& tokens, const std::vector<double>& relevance);

// Writes `text` to `path` whole or not at all (relprop::save_file: a unique temporary
// beside it, renamed into place).
void write_text_file(const std::string& path, const std::string& text);

// `s` safe to print on a terminal: control characters (C0 with tab and newline, DEL, the
// C1 controls U+0080..U+009F) and bytes that are not UTF-8 become \xNN; the rest is kept.
std::string terminal_text(std::string_view s);

}  // namespace relprop::viz
