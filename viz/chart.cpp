// Bar charts, CSV, token renderings (viz/chart.hpp).

#include "relprop/viz/chart.hpp"

#include <stb/stb_truetype.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <mutex>
#include <sstream>

#include "relprop/io/file.hpp"
#include "relprop/tensor/error.hpp"

namespace relprop::viz {

namespace {

namespace fs = std::filesystem;

struct Font {
  std::vector<unsigned char> data;
  stbtt_fontinfo info{};
  bool ok = false;
};

const Font& font() {
  static Font f;
  static std::once_flag once;
  std::call_once(once, [] {
    const std::string path = font_path();
    if (path.empty()) return;
    std::ifstream in(path, std::ios::binary);
    f.data.assign(std::istreambuf_iterator<char>(in), {});
    if (!f.data.empty() && stbtt_InitFont(&f.info, f.data.data(), stbtt_GetFontOffsetForIndex(f.data.data(), 0)))
      f.ok = true;
  });
  return f;
}

// UTF-8 → code points; malformed bytes become U+FFFD.
std::vector<int> code_points(const std::string& s) {
  std::vector<int> out;
  for (std::size_t i = 0; i < s.size();) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    int n = c < 0x80 ? 0 : (c >> 5) == 6 ? 1 : (c >> 4) == 14 ? 2 : (c >> 3) == 30 ? 3 : -1;
    if (n < 0 || i + n >= s.size()) {
      out.push_back(0xFFFD);
      ++i;
      continue;
    }
    int cp = n == 0 ? c : c & (0x3F >> n);
    bool bad = false;
    for (int k = 1; k <= n; ++k) {
      const unsigned char d = static_cast<unsigned char>(s[i + k]);
      if ((d >> 6) != 2) bad = true;
      cp = (cp << 6) | (d & 0x3F);
    }
    out.push_back(bad ? 0xFFFD : cp);
    i += bad ? 1 : n + 1;
  }
  return out;
}

void fill_rect(Image& im, int x0, int y0, int x1, int y1, Rgb c) {
  x0 = std::clamp(x0, 0, im.width);
  x1 = std::clamp(x1, 0, im.width);
  y0 = std::clamp(y0, 0, im.height);
  y1 = std::clamp(y1, 0, im.height);
  for (int y = y0; y < y1; ++y)
    for (int x = x0; x < x1; ++x) {
      std::uint8_t* p = im.at(x, y);
      p[0] = c.r;
      p[1] = c.g;
      p[2] = c.b;
    }
}

std::string fmt(double v) {
  std::ostringstream os;
  const double a = std::abs(v);
  if (a != 0 && (a < 1e-3 || a >= 1e5)) os << std::setprecision(3) << std::scientific << v;
  else os << std::setprecision(a >= 100 ? 1 : 4) << std::fixed << v;
  return os.str();
}

std::string html_escape(const std::string& s) {
  std::string o;
  for (char c : s) {
    switch (c) {
      case '&': o += "&amp;"; break;
      case '<': o += "&lt;"; break;
      case '>': o += "&gt;"; break;
      case '"': o += "&quot;"; break;
      default: o += c;
    }
  }
  return o;
}

// A token's display text and whether a space goes before it.
std::pair<std::string, bool> token_display(const std::string& t, bool first) {
  if (t.rfind("##", 0) == 0 && t.size() > 2) return {t.substr(2), false};
  static const std::string G = "\xC4\xA0";  // "Ġ", byte-level BPE's space
  if (t.rfind(G, 0) == 0) return {t.substr(G.size()), !first};
  return {t, !first};
}

// Length of the well-formed UTF-8 sequence at s[i] (Unicode's table: no overlong forms,
// surrogates or values past U+10FFFF), or 0.
std::size_t utf8_length(std::string_view s, std::size_t i) {
  const auto at = [&](std::size_t k) { return k < s.size() ? static_cast<unsigned char>(s[k]) : 0u; };
  const unsigned c = at(i);
  std::size_t len = 0;
  unsigned lo = 0x80, hi = 0xBF;
  if (c >= 0xC2 && c <= 0xDF) len = 2;
  else if (c >= 0xE0 && c <= 0xEF) len = 3, lo = c == 0xE0 ? 0xA0 : 0x80, hi = c == 0xED ? 0x9F : 0xBF;
  else if (c >= 0xF0 && c <= 0xF4) len = 4, lo = c == 0xF0 ? 0x90 : 0x80, hi = c == 0xF4 ? 0x8F : 0xBF;
  else return 0;
  if (at(i + 1) < lo || at(i + 1) > hi) return 0;
  for (std::size_t k = 2; k < len; ++k)
    if (at(i + k) < 0x80 || at(i + k) > 0xBF) return 0;
  return len;
}

double max_abs(const std::vector<double>& v) {
  double m = 0;
  for (double x : v) m = std::max(m, std::abs(x));
  return m;
}

}  // namespace

std::string font_path() {
  if (const char* env = std::getenv("RELPROP_FONT"); env && *env) return fs::exists(env) ? env : "";
  for (const char* p : {"/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
                        "/usr/share/fonts/TTF/DejaVuSans.ttf",
                        "/usr/share/fonts/dejavu/DejaVuSans.ttf",
                        "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf"}) {
    std::error_code ec;
    if (fs::exists(p, ec)) return p;
  }
  return "";
}

int text_width(const std::string& text, double px) {
  const Font& f = font();
  if (!f.ok) return 0;
  const float scale = stbtt_ScaleForPixelHeight(&f.info, static_cast<float>(px));
  double w = 0;
  const auto cps = code_points(text);
  for (std::size_t i = 0; i < cps.size(); ++i) {
    int adv = 0, lsb = 0;
    stbtt_GetCodepointHMetrics(&f.info, cps[i], &adv, &lsb);
    w += adv * scale;
    if (i + 1 < cps.size()) w += scale * stbtt_GetCodepointKernAdvance(&f.info, cps[i], cps[i + 1]);
  }
  return static_cast<int>(std::ceil(w));
}

int draw_text(Image& im, int x, int y, const std::string& text, double px, Rgb color) {
  const Font& f = font();
  if (!f.ok || im.channels != 3) return 0;
  const float scale = stbtt_ScaleForPixelHeight(&f.info, static_cast<float>(px));
  double pen = x;
  const auto cps = code_points(text);
  std::vector<unsigned char> glyph;
  for (std::size_t i = 0; i < cps.size(); ++i) {
    int adv = 0, lsb = 0, x0 = 0, y0 = 0, x1 = 0, y1 = 0;
    stbtt_GetCodepointHMetrics(&f.info, cps[i], &adv, &lsb);
    const float shift = static_cast<float>(pen - std::floor(pen));
    stbtt_GetCodepointBitmapBoxSubpixel(&f.info, cps[i], scale, scale, shift, 0, &x0, &y0, &x1, &y1);
    const int gw = x1 - x0, gh = y1 - y0;
    if (gw > 0 && gh > 0) {
      glyph.assign(static_cast<std::size_t>(gw) * gh, 0);
      stbtt_MakeCodepointBitmapSubpixel(&f.info, glyph.data(), gw, gh, gw, scale, scale, shift, 0, cps[i]);
      const int ox = static_cast<int>(std::floor(pen)) + x0, oy = y + y0;
      for (int gy = 0; gy < gh; ++gy)
        for (int gx = 0; gx < gw; ++gx) {
          const int px_ = ox + gx, py = oy + gy;
          if (px_ < 0 || py < 0 || px_ >= im.width || py >= im.height) continue;
          const double a = glyph[static_cast<std::size_t>(gy) * gw + gx] / 255.0;
          std::uint8_t* p = im.at(px_, py);
          const double c[3] = {double(color.r), double(color.g), double(color.b)};
          for (int k = 0; k < 3; ++k) p[k] = static_cast<std::uint8_t>(std::lround(p[k] * (1 - a) + c[k] * a));
        }
    }
    pen += adv * scale;
    if (i + 1 < cps.size()) pen += scale * stbtt_GetCodepointKernAdvance(&f.info, cps[i], cps[i + 1]);
  }
  return static_cast<int>(std::ceil(pen - x));
}

Image bar_chart(std::vector<Bar> bars, const BarChartOptions& o) {
  if (bars.empty()) throw ValueError("bar chart of no values");
  if (o.sort_by_magnitude)
    std::stable_sort(bars.begin(), bars.end(), [](const Bar& a, const Bar& b) { return std::abs(a.value) > std::abs(b.value); });
  if (o.max_bars && bars.size() > o.max_bars) bars.resize(o.max_bars);
  const bool text = font().ok;
  const double px = 14.0;
  const int pad = 10, row = std::max(8, o.bar_height), gap = 4;
  int label_w = 0, value_w = 0;
  for (const auto& b : bars) {
    label_w = std::max(label_w, text_width(b.label, px));
    value_w = std::max(value_w, text_width(fmt(b.value) + (b.note.empty() ? "" : "  " + b.note), px));
  }
  label_w = text ? std::min(label_w, o.width / 3) + pad : 0;
  const int title_h = text && !o.title.empty() ? 30 : 0;
  const int height = pad + title_h + static_cast<int>(bars.size()) * (row + gap) + pad;
  Image im = Image::blank(std::max(o.width, label_w + 2 * value_w + 100), height, 3, 255);
  if (title_h) draw_text(im, pad, pad + 18, o.title, 17.0, {0, 0, 0});

  bool any_neg = false;
  double vmax = 0;
  for (const auto& b : bars) {
    any_neg = any_neg || b.value < 0;
    vmax = std::max(vmax, std::abs(b.value));
  }
  // The plotting area, with room for the value text on each side a bar can point to.
  const int area0 = pad + label_w + (any_neg ? value_w + pad : 0);
  const int area1 = im.width - pad - value_w - pad;
  const int span = std::max(10, area1 - area0);
  const int axis = any_neg ? area0 + span / 2 : area0;
  const double half = any_neg ? span / 2.0 : span;
  const Rgb red{214, 39, 40}, blue{31, 119, 180}, black{0, 0, 0}, grey{150, 150, 150};
  int y = pad + title_h;
  for (const auto& b : bars) {
    const int len = vmax > 0 ? static_cast<int>(std::lround(std::abs(b.value) / vmax * half)) : 0;
    const int x0 = b.value >= 0 ? axis : axis - len, x1 = b.value >= 0 ? axis + len : axis;
    fill_rect(im, x0, y + 2, x1, y + row - 2, b.value >= 0 ? red : blue);
    if (text) {
      const int base = y + row / 2 + 5;
      draw_text(im, pad + std::max(0, label_w - pad - text_width(b.label, px)), base, b.label, px, black);
      const std::string v = fmt(b.value) + (b.note.empty() ? "" : "  " + b.note);
      if (b.value >= 0) draw_text(im, x1 + 4, base, v, px, black);
      else draw_text(im, x0 - 4 - text_width(v, px), base, v, px, black);
    }
    y += row + gap;
  }
  fill_rect(im, axis, pad + title_h, axis + 1, y, grey);
  return im;
}

std::string csv(const std::vector<std::string>& header, const std::vector<std::vector<std::string>>& rows) {
  auto field = [](const std::string& s) {
    if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
    std::string q = "\"";
    for (char c : s) q += c == '"' ? std::string("\"\"") : std::string(1, c);
    return q + "\"";
  };
  std::string out;
  auto line = [&](const std::vector<std::string>& r) {
    for (std::size_t i = 0; i < r.size(); ++i) out += (i ? "," : "") + field(r[i]);
    out += "\n";
  };
  line(header);
  for (const auto& r : rows) line(r);
  return out;
}

std::string tokens_html(const std::vector<std::string>& tokens, const std::vector<double>& rel, const std::string& title) {
  if (tokens.size() != rel.size())
    throw ShapeError("tokens_html: " + std::to_string(tokens.size()) + " tokens but " + std::to_string(rel.size()) +
                     " relevance values");
  const double m = max_abs(rel);
  std::ostringstream o;
  o << "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>" << html_escape(title.empty() ? "relevance" : title)
    << "</title>\n<style>body{font-family:sans-serif;max-width:60em;margin:2em auto;line-height:2.2}"
       "span.t{padding:0.15em 0.1em;border-radius:0.2em}"
       ".legend span{padding:0.2em 0.6em;margin-right:0.5em}</style></head><body>\n";
  if (!title.empty()) o << "<h3>" << html_escape(title) << "</h3>\n";
  o << "<p class=\"legend\"><span style=\"background:rgba(255,0,0,0.8)\">positive</span>"
       "<span style=\"background:rgba(0,0,255,0.8);color:white\">negative</span>max |R| = "
    << fmt(m) << "</p>\n<p>";
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    const auto [text, space] = token_display(tokens[i], i == 0);
    const double a = m > 0 ? std::abs(rel[i]) / m : 0.0;
    if (space) o << ' ';
    o << "<span class=\"t\" title=\"" << html_escape(tokens[i]) << ": " << fmt(rel[i]) << "\" style=\"background:rgba("
      << (rel[i] >= 0 ? "255,0,0," : "0,0,255,") << std::fixed << std::setprecision(3) << a << ")\">"
      << html_escape(text) << "</span>";
    o.unsetf(std::ios::floatfield);
  }
  o << "</p>\n</body></html>\n";
  return o.str();
}

std::string tokens_ansi(const std::vector<std::string>& tokens, const std::vector<double>& rel) {
  if (tokens.size() != rel.size())
    throw ShapeError("tokens_ansi: " + std::to_string(tokens.size()) + " tokens but " + std::to_string(rel.size()) +
                     " relevance values");
  const double m = max_abs(rel);
  std::string o;
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    const auto [text, space] = token_display(tokens[i], i == 0);
    if (space) o += ' ';
    const double a = m > 0 ? std::abs(rel[i]) / m : 0.0;
    const int fade = static_cast<int>(std::lround(255 * (1 - a)));
    const int r = rel[i] >= 0 ? 255 : fade, b = rel[i] >= 0 ? fade : 255;
    o += "\x1b[48;2;" + std::to_string(r) + ";" + std::to_string(fade) + ";" + std::to_string(b) + "m\x1b[38;2;0;0;0m" +
         terminal_text(text) + "\x1b[0m";
  }
  return o;
}

void write_text_file(const std::string& path, const std::string& text) { save_file(path, text); }

std::string terminal_text(std::string_view s) {
  static const char* const hex = "0123456789abcdef";
  std::string o;
  o.reserve(s.size());
  const auto escape = [&](unsigned char c) {
    o += "\\x";
    o += hex[c >> 4];
    o += hex[c & 15];
  };
  for (std::size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      if (c < 0x20 || c == 0x7F) escape(c);
      else o += static_cast<char>(c);
      ++i;
      continue;
    }
    const std::size_t n = utf8_length(s, i);
    // Malformed bytes, and C1 controls (U+0080..U+009F, C2 80..C2 9F), byte by byte.
    if (n == 0 || (c == 0xC2 && static_cast<unsigned char>(s[i + 1]) < 0xA0)) {
      const std::size_t k = n == 0 ? 1 : n;
      for (std::size_t j = 0; j < k; ++j) escape(static_cast<unsigned char>(s[i + j]));
      i += k;
      continue;
    }
    o.append(s.substr(i, n));
    i += n;
  }
  return o;
}

}  // namespace relprop::viz
