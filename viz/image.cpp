// Colour maps, heatmaps, image files and preprocessing (viz/image.hpp).

#include "relprop/viz/image.hpp"

#include <stb/stb_image_resize.h>
#include <stb/stb_image_write.h>

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>

#include "relprop/io/file.hpp"
#include "relprop/tensor/error.hpp"

namespace relprop::viz {

namespace {

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

std::size_t hex_run(std::string_view s, std::size_t p) {
  std::size_t n = 0;
  while (p + n < s.size() && hex_digit(s[p + n]) >= 0) ++n;
  return n;
}

// The built-in maps: Zennit's colour specifications (zennit/image.py, CMAPS).
const std::map<std::string, std::string, std::less<>>& builtins() {
  static const std::map<std::string, std::string, std::less<>> m = {
      {"gray", "000,fff"},
      {"wred", "fff,f00"},
      {"wblue", "fff,00f"},
      {"hot", "000,f00,ff0,fff"},
      {"cold", "000,00f,0ff"},
      {"coldnhot", "0ff,00f,80:000,f00,ff0,fff"},
      {"bwr", "00f,80:fff,f00"},
      {"france", "0055a4,80:fff,ef4135"},
      {"seismic", "0000d0,80:d0d0d0,d00000"},
      {"coolio", "00d0d0,80:d0d0d0,d000d0"},
      {"coleus", "00d000,80:d0d0d0,d000d0"},
  };
  return m;
}

struct Node {
  std::optional<int> index;
  std::array<double, 3> color;
};

// A size for messages: whole numbers as such, astronomical ones in %g.
std::string size_str(double v) {
  char buf[48];
  std::snprintf(buf, sizeof buf, v < 1e15 ? "%.0f" : "%.3g", v);
  return buf;
}

std::string bytes_str(double bytes) {
  char buf[48];
  if (bytes >= double(1 << 30)) std::snprintf(buf, sizeof buf, "%.1f GiB", bytes / double(1 << 30));
  else std::snprintf(buf, sizeof buf, "%.1f MiB", bytes / double(1 << 20));
  return buf;
}

}  // namespace

// ---- limits ---------------------------------------------------------------------------

void check_image_size(double width, double height, int channels, const std::string& what) {
  const std::string dims = size_str(width) + " x " + size_str(height);
  if (!(width >= 0 && height >= 0))
    throw ShapeError(what + ": a picture of " + dims + " pixels: sizes must be >= 0");
  if (width > double(kMaxImageSide) || height > double(kMaxImageSide))
    throw ResourceError(what + ": a " + dims + " picture passes relprop's limit of " +
                        std::to_string(kMaxImageSide) + " pixels a side");
  const double bytes = width * height * channels;
  if (bytes > double(kMaxImageBytes))
    throw ResourceError(what + ": a " + dims + " picture with " + std::to_string(channels) + " channel" +
                        (channels == 1 ? "" : "s") + " is " + bytes_str(bytes) + ", above relprop's limit of " +
                        std::to_string(kMaxImageBytes >> 30) + " GiB per picture");
}

// ---- Image ----------------------------------------------------------------------------

Image Image::blank(int width, int height, int channels, std::uint8_t value) {
  if (width < 0 || height < 0 || (channels != 1 && channels != 3 && channels != 4))
    throw ValueError("image of " + std::to_string(width) + "x" + std::to_string(height) + "x" +
                     std::to_string(channels) + ": sizes must be >= 0 and channels 1, 3 or 4");
  check_image_size(width, height, channels, "a new picture");
  Image im;
  im.width = width;
  im.height = height;
  im.channels = channels;
  im.pixels.assign(static_cast<std::size_t>(width) * height * channels, value);
  return im;
}

Image Image::to_rgb() const {
  if (channels == 3) return *this;
  Image out = blank(width, height, 3);
  for (std::size_t i = 0, n = static_cast<std::size_t>(width) * height; i < n; ++i)
    for (int c = 0; c < 3; ++c)
      out.pixels[i * 3 + c] = channels == 1 ? pixels[i] : pixels[i * channels + c];
  return out;
}

Image Image::to_grey() const {
  if (channels == 1) return *this;
  Image out = blank(width, height, 1);
  for (std::size_t i = 0, n = static_cast<std::size_t>(width) * height; i < n; ++i) {
    const std::uint8_t* p = pixels.data() + i * channels;
    // PIL's convert("L"): L = R*299/1000 + G*587/1000 + B*114/1000
    out.pixels[i] = static_cast<std::uint8_t>((p[0] * 299 + p[1] * 587 + p[2] * 114) / 1000);
  }
  return out;
}

// ---- colour maps ----------------------------------------------------------------------

ColorMap ColorMap::parse(std::string_view src) {
  // Lexing tries, at each position, a 6-digit colour, a 3-digit colour, a 1-2 digit index,
  // ':' and ',' in that order (the language's grammar).
  std::vector<Node> nodes;
  std::optional<int> pending_index;
  bool index_sep = false, after_color = false;
  auto fail = [&](std::size_t p, const std::string& what) -> ColorMap {
    throw ValueError("colour map '" + std::string(src) + "': " + what + " at position " + std::to_string(p));
  };
  for (std::size_t p = 0; p < src.size();) {
    const char c = src[p];
    const std::size_t run = hex_run(src, p);
    if (run >= 3) {
      const std::size_t len = run >= 6 ? 6 : 3;
      if (after_color) return fail(p, "expected ',' between colours");
      if (pending_index && !index_sep) return fail(p, "expected ':' after the index");
      std::array<double, 3> col{};
      for (int k = 0; k < 3; ++k)
        col[k] = len == 6 ? hex_digit(src[p + 2 * k]) * 16 + hex_digit(src[p + 2 * k + 1])
                          : hex_digit(src[p + k]) * 17;
      nodes.push_back({pending_index, col});
      pending_index.reset();
      index_sep = false;
      after_color = true;
      p += len;
    } else if (run > 0) {
      if (after_color || pending_index) return fail(p, "unexpected index");
      const int v = run == 1 ? hex_digit(c) * 17 : hex_digit(c) * 16 + hex_digit(src[p + 1]);
      pending_index = v;
      p += run;
    } else if (c == ':') {
      if (!pending_index || index_sep) return fail(p, "unexpected ':'");
      index_sep = true;
      ++p;
    } else if (c == ',') {
      if (!after_color) return fail(p, "unexpected ','");
      after_color = false;
      ++p;
    } else if (std::isspace(static_cast<unsigned char>(c))) {
      ++p;
    } else {
      return fail(p, std::string("unexpected character '") + c + "'");
    }
  }
  if (pending_index) return fail(src.size(), "an index without its colour");
  if (nodes.size() < 2) throw ValueError("colour map '" + std::string(src) + "': needs at least 2 colours");

  // Place the nodes on 0..255: the first at 0 (and again at its index when it has one),
  // unplaced ones evenly between their placed neighbours, the last at 255, then a
  // sentinel at 256 with the last colour.
  std::vector<double> index;
  std::vector<std::array<double, 3>> color;
  index.push_back(0);
  color.push_back(nodes[0].color);
  if (nodes[0].index && *nodes[0].index > 0) {
    index.push_back(*nodes[0].index);
    color.push_back(nodes[0].color);
  }
  std::vector<const Node*> waiting;
  for (std::size_t n = 1; n < nodes.size(); ++n) {
    Node node = nodes[n];
    if (!node.index) {
      if (n + 1 < nodes.size()) {
        waiting.push_back(&nodes[n]);
        continue;
      }
      node.index = 255;
    } else if (*node.index < index.back()) {
      throw ValueError("colour map '" + std::string(src) + "': indices must ascend from left to right");
    }
    const double from = index.back();
    for (std::size_t k = 0; k < waiting.size(); ++k) {
      const double alpha = static_cast<double>(k + 1) / static_cast<double>(waiting.size() + 1);
      index.push_back(std::trunc(from * (1.0 - alpha) + *node.index * alpha));
      color.push_back(waiting[k]->color);
    }
    waiting.clear();
    index.push_back(*node.index);
    color.push_back(node.color);
  }
  index.push_back(256);
  color.push_back(color.back());

  ColorMap m;
  m.source_ = std::string(src);
  m.index_ = std::move(index);
  m.color_ = std::move(color);
  return m;
}

ColorMap ColorMap::named(std::string_view name) {
  const auto& b = builtins();
  if (auto it = b.find(name); it != b.end()) return parse(it->second);
  try {
    return parse(name);
  } catch (const ValueError& e) {
    std::string names;
    for (const auto& [k, v] : b) names += (names.empty() ? "" : ", ") + k;
    throw ValueError("unknown colour map '" + std::string(name) + "' (built-in: " + names +
                     "; or a colour-map source such as '00f,80:fff,f00')");
  }
}

std::vector<std::string> ColorMap::builtin_names() {
  std::vector<std::string> n;
  for (const auto& [k, v] : builtins()) n.push_back(k);
  return n;
}

std::array<double, 3> ColorMap::operator()(double x) const {
  x = std::clamp(x * 255.0, 0.0, 255.0);
  // The first node position (excluding the sentinel) strictly above x.
  std::size_t i = std::upper_bound(index_.begin(), index_.end() - 1, x) - index_.begin();
  const double alpha = (x - index_[i - 1]) / (index_[i] - index_[i - 1]);
  std::array<double, 3> out{};
  for (int c = 0; c < 3; ++c) out[c] = (color_[i - 1][c] * (1.0 - alpha) + color_[i][c] * alpha) / 255.0;
  return out;
}

std::array<Rgb, 256> ColorMap::palette(double level) const {
  std::array<Rgb, 256> p{};
  for (int k = 0; k < 256; ++k) {
    const double t = (-1.0 + 2.0 * k / 255.0) * level;
    const auto rgb = (*this)(std::clamp((t + 1.0) / 2.0, 0.0, 1.0));
    std::uint8_t v[3];
    for (int c = 0; c < 3; ++c) {
      // Rounded to 12 decimals first so that 254.99999999999997 reads as 255.
      const double s = std::round(rgb[c] * 255.0 * 1e12) / 1e12;
      v[c] = static_cast<std::uint8_t>(std::clamp(std::floor(s), 0.0, 255.0));
    }
    p[k] = {v[0], v[1], v[2]};
  }
  return p;
}

// ---- heatmaps -------------------------------------------------------------------------

Normalization parse_normalization(std::string_view name) {
  if (name == "symmetric") return Normalization::Symmetric;
  if (name == "absolute") return Normalization::Absolute;
  if (name == "unaligned") return Normalization::Unaligned;
  throw ValueError("normalisation '" + std::string(name) + "' is not one of symmetric, absolute, unaligned");
}

std::vector<double> normalized_map(const Tensor& relevance, Normalization norm, int* height, int* width) {
  Tensor r = relevance;
  if (r.dim() == 4) {
    if (r.shape()[0] != 1)
      throw ShapeError("heatmap of relevance " + r.str_shape() + ": one sample at a time (batch of 1)");
    r = r.select(0, 0);
  }
  if (r.dim() == 2) r = r.unsqueeze(0);
  if (r.dim() != 3)
    throw ShapeError("heatmap of relevance " + relevance.str_shape() + ": expected (H, W), (C, H, W) or (1, C, H, W)");
  const std::int64_t C = r.shape()[0], H = r.shape()[1], W = r.shape()[2];
  if (H <= 0 || W <= 0 || H > 1 << 15 || W > 1 << 15)
    throw ShapeError("heatmap of relevance " + relevance.str_shape() + ": each side must be 1..32768");
  // In float32 and in the order Zennit's examples use (channel sum, then the
  // normalisation), so that the palette indices come out identical.
  const auto v = r.contiguous().to_vector();
  std::vector<float> m(static_cast<std::size_t>(H * W), 0.0f);
  for (std::int64_t c = 0; c < C; ++c)
    for (std::int64_t i = 0; i < H * W; ++i) m[i] += v[c * H * W + i];
  float lo = m[0], hi = m[0], amax = 0.0f;
  for (float x : m) {
    lo = std::min(lo, x);
    hi = std::max(hi, x);
    amax = std::max(amax, std::abs(x));
  }
  std::vector<double> out(m.size());
  for (std::size_t i = 0; i < m.size(); ++i) {
    const float x = m[i];
    float y = 0.0f;
    switch (norm) {
      case Normalization::Symmetric: y = amax > 0 ? (x + amax) / 2.0f / amax : 0.5f; break;
      case Normalization::Absolute: y = amax > 0 ? std::abs(x) / amax : 0.0f; break;
      case Normalization::Unaligned: y = hi > lo ? (x - lo) / (hi - lo) : 0.0f; break;
    }
    out[i] = y;
  }
  *height = static_cast<int>(H);
  *width = static_cast<int>(W);
  return out;
}

namespace {
// Zennit's imgify: (v * 255).clip(0, 255).astype(uint8), in float32.
std::uint8_t palette_index(double v) {
  const float x = std::clamp(static_cast<float>(v) * 255.0f, 0.0f, 255.0f);
  return static_cast<std::uint8_t>(x);
}

void check_magnification(int factor, const char* what) {
  if (factor < 1 || factor > kMaxMagnification)
    throw ValueError(std::string(what) + " must lie in 1.." + std::to_string(kMaxMagnification) + ", got " +
                     std::to_string(factor));
}

// A map of W x H relevance values magnified `scale` times: checked before it is drawn.
void check_magnified(int W, int H, int scale, const char* what) {
  check_magnification(scale, "heatmap magnification (--scale)");
  check_image_size(double(W) * scale, double(H) * scale, 3,
                   std::string(what) + " of a " + std::to_string(W) + " x " + std::to_string(H) +
                       " map magnified by --scale " + std::to_string(scale));
}
}  // namespace

Image heatmap(const Tensor& relevance, const HeatmapOptions& o) {
  int H = 0, W = 0;
  const auto m = normalized_map(relevance, o.normalization, &H, &W);
  check_magnified(W, H, o.scale, "heatmap");
  const auto pal = ColorMap::named(o.cmap).palette(o.level);
  Image im = Image::blank(W, H, 3);
  for (std::size_t i = 0; i < m.size(); ++i) {
    const Rgb c = pal[palette_index(m[i])];
    im.pixels[i * 3] = c.r;
    im.pixels[i * 3 + 1] = c.g;
    im.pixels[i * 3 + 2] = c.b;
  }
  return o.scale > 1 ? magnify(im, o.scale) : im;
}

Image overlay(const Tensor& relevance, const Image& base, const HeatmapOptions& o, double opacity) {
  if (!(opacity >= 0 && opacity <= 1)) throw ValueError("overlay opacity must lie in [0, 1]");
  int H = 0, W = 0;
  const auto m = normalized_map(relevance, o.normalization, &H, &W);
  check_magnified(W, H, o.scale, "overlay");
  const auto pal = ColorMap::named(o.cmap).palette(o.level);
  // Magnitude relative to the largest: symmetric maps measure from the centre.
  std::vector<double> weight(m.size());
  for (std::size_t i = 0; i < m.size(); ++i)
    weight[i] = o.normalization == Normalization::Symmetric ? std::abs(2 * m[i] - 1) : m[i];
  // Pixel relevance is sparse: opacity saturates at the 99th percentile of the non-zero
  // magnitudes, not at the single largest, so that the map shows over the picture.
  std::vector<double> nz;
  for (double w : weight)
    if (w > 0) nz.push_back(w);
  double q = 1.0;
  if (!nz.empty()) {
    const std::size_t k = static_cast<std::size_t>(0.99 * static_cast<double>(nz.size() - 1));
    std::nth_element(nz.begin(), nz.begin() + static_cast<std::ptrdiff_t>(k), nz.end());
    q = nz[k];
  }
  for (double& w : weight) w = q > 0 ? std::min(1.0, w / q) : 0.0;
  const int scale = o.scale;
  const int OW = W * scale, OH = H * scale;  // within the limits (checked above)
  Image pic = base.to_rgb();
  if (pic.width != OW || pic.height != OH) pic = resize(pic, OW, OH);
  Image out = Image::blank(OW, OH, 3);
  for (int y = 0; y < OH; ++y)
    for (int x = 0; x < OW; ++x) {
      const std::size_t i = static_cast<std::size_t>(y / scale) * W + x / scale;
      const Rgb c = pal[palette_index(m[i])];
      const double a = opacity * std::min(1.0, weight[i]);
      const std::uint8_t* p = pic.at(x, y);
      std::uint8_t* q = out.at(x, y);
      // The picture desaturated a little so the colours read.
      const double grey = 0.299 * p[0] + 0.587 * p[1] + 0.114 * p[2];
      const double col[3] = {double(c.r), double(c.g), double(c.b)};
      for (int k = 0; k < 3; ++k) {
        const double under = 0.5 * p[k] + 0.5 * grey;
        q[k] = static_cast<std::uint8_t>(std::lround(std::clamp(under * (1 - a) + col[k] * a, 0.0, 255.0)));
      }
    }
  return out;
}

Image grid(const std::vector<Image>& images, int columns, int gap, std::uint8_t fill) {
  if (images.empty()) throw ValueError("grid of no images");
  const int w = images[0].width, h = images[0].height, ch = images[0].channels;
  for (const auto& im : images)
    if (im.width != w || im.height != h || im.channels != ch)
      throw ShapeError("grid: every image must have the size of the first (" + std::to_string(w) + "x" +
                       std::to_string(h) + "x" + std::to_string(ch) + ")");
  const GridExtent e = grid_extent(static_cast<std::int64_t>(images.size()), w, h, ch, columns, gap);
  gap = std::max(0, gap);
  Image out = Image::blank(e.width, e.height, ch, fill);
  for (std::size_t k = 0; k < images.size(); ++k) {
    const int ox = static_cast<int>(k % e.columns) * (w + gap), oy = static_cast<int>(k / e.columns) * (h + gap);
    for (int y = 0; y < h; ++y)
      std::copy_n(images[k].at(0, y), static_cast<std::size_t>(w) * ch, out.at(ox, oy + y));
  }
  return out;
}

GridExtent grid_extent(std::int64_t count, std::int64_t cell_width, std::int64_t cell_height, int channels,
                       int columns, int gap) {
  if (count < 1) throw ValueError("grid of no images");
  const std::string what = "grid of " + std::to_string(count) + " pictures of " + std::to_string(cell_width) + " x " +
                           std::to_string(cell_height);
  check_image_size(double(cell_width), double(cell_height), channels, what);
  const std::int64_t n = count;
  std::int64_t cols = columns > 0 ? columns : std::max<std::int64_t>(1, static_cast<std::int64_t>(std::sqrt(double(n))));
  cols = std::min(cols, n);
  const std::int64_t rows = (n + cols - 1) / cols;
  const double g = std::max(0, gap);
  const double width = double(cols) * double(cell_width) + double(cols - 1) * g;
  const double height = double(rows) * double(cell_height) + double(rows - 1) * g;
  check_image_size(width, height, channels, what);
  return {static_cast<int>(cols), static_cast<int>(rows), static_cast<int>(width), static_cast<int>(height)};
}

Image magnify(const Image& im, int f) {
  check_magnification(f, "magnification");
  if (f == 1) return im;
  check_image_size(double(im.width) * f, double(im.height) * f, im.channels,
                   "a " + std::to_string(im.width) + " x " + std::to_string(im.height) + " picture magnified " +
                       std::to_string(f) + " times");
  Image out = Image::blank(im.width * f, im.height * f, im.channels);
  for (int y = 0; y < out.height; ++y)
    for (int x = 0; x < out.width; ++x) std::copy_n(im.at(x / f, y / f), im.channels, out.at(x, y));
  return out;
}

Image resize(const Image& im, int width, int height) {
  if (width <= 0 || height <= 0) throw ValueError("resize to a non-positive size");
  if (im.width <= 0 || im.height <= 0 ||
      im.pixels.size() != static_cast<std::size_t>(im.width) * im.height * im.channels)
    throw ValueError("resize: empty or inconsistent image");
  if (im.width == width && im.height == height) return im;
  check_image_size(width, height, im.channels,
                   "resizing a " + std::to_string(im.width) + " x " + std::to_string(im.height) + " picture");
  Image out = Image::blank(width, height, im.channels);
  // Within the limits every offset stb_image_resize computes in int fits (2^30 bytes).
  if (!stbir_resize_uint8(im.pixels.data(), im.width, im.height, 0, out.pixels.data(), width, height, 0,
                          im.channels))
    throw ResourceError("resizing a " + std::to_string(im.width) + " x " + std::to_string(im.height) + " picture to " +
                        std::to_string(width) + " x " + std::to_string(height) + ": stb_image_resize ran out of memory");
  return out;
}

// ---- files ----------------------------------------------------------------------------

std::string encode_png(const Image& im) {
  if (im.width <= 0 || im.height <= 0 || im.pixels.size() != static_cast<std::size_t>(im.width) * im.height * im.channels)
    throw ValueError("PNG of an empty or inconsistent image");
  std::string bytes;
  const auto append = [](void* context, void* data, int size) {
    static_cast<std::string*>(context)->append(static_cast<const char*>(data), static_cast<std::size_t>(size));
  };
  if (!stbi_write_png_to_func(append, &bytes, im.width, im.height, im.channels, im.pixels.data(), im.width * im.channels))
    throw ValueError("encoding a PNG failed");
  return bytes;
}

void write_png(const std::string& path, const Image& im) {
  if (im.width <= 0 || im.height <= 0 || im.pixels.size() != static_cast<std::size_t>(im.width) * im.height * im.channels)
    throw ValueError("write_png '" + path + "': empty or inconsistent image");
  save_file(path, encode_png(im));
}

// ---- preprocessing --------------------------------------------------------------------

Tensor image_to_tensor(const Image& image, int channels, int height, int width, const Preprocess& pre) {
  if (channels != 1 && channels != 3) throw ShapeError("image inputs have 1 or 3 channels, the model wants " + std::to_string(channels));
  if (height <= 0 || width <= 0) throw ShapeError("image input size must be positive");
  if (static_cast<int>(pre.mean.size()) != channels || static_cast<int>(pre.std.size()) != channels)
    throw ValueError("--mean and --std need " + std::to_string(channels) + " values each for this model");
  for (double s : pre.std)
    if (!(s > 0)) throw ValueError("--std values must be positive");
  if (!(pre.crop_fraction > 0 && pre.crop_fraction <= 1)) throw ValueError("crop fraction must lie in (0, 1]");
  if (image.width <= 0 || image.height <= 0 ||
      image.pixels.size() != static_cast<std::size_t>(image.width) * image.height * image.channels)
    throw ShapeError("image input: empty or inconsistent picture (" + std::to_string(image.width) + " x " +
                     std::to_string(image.height) + ")");
  const std::string source = pre.source.empty() ? "" : "'" + pre.source + "': ";
  const std::string for_input = "a " + std::to_string(image.width) + " x " + std::to_string(image.height) +
                                " picture for the model's " + std::to_string(width) + " x " +
                                std::to_string(height) + " input";
  check_image_size(width, height, channels, source + for_input);
  // Shorter side to round(target / crop_fraction), then the centre crop (or straight to
  // the target size when stretching). The size is checked in floating point first: a tiny
  // crop fraction or a long thin picture asks for billions of pixels.
  double fw = width, fh = height;
  if (!pre.stretch) {
    const double target_short = std::min(height, width) / pre.crop_fraction;
    const double s = target_short / std::min(image.width, image.height);
    fw = std::max<double>(width, std::round(image.width * s));
    fh = std::max<double>(height, std::round(image.height * s));
    char crop[32];
    std::snprintf(crop, sizeof crop, "%g", pre.crop_fraction);
    check_image_size(fw, fh, channels,
                     source + "resizing " + for_input + ", its shorter side to " + size_str(target_short) + " (" +
                         std::to_string(std::min(height, width)) + " / --crop " + crop + ")");
  }
  const int rw = static_cast<int>(fw), rh = static_cast<int>(fh);
  Image im = channels == 3 ? image.to_rgb() : image.to_grey();
  im = resize(im, rw, rh);
  const int ox = (rw - width) / 2, oy = (rh - height) / 2;
  Tensor t = Tensor::empty({1, channels, height, width});
  float* out = t.data<float>();
  for (int c = 0; c < channels; ++c)
    for (int y = 0; y < height; ++y)
      for (int x = 0; x < width; ++x)
        out[(static_cast<std::size_t>(c) * height + y) * width + x] =
            static_cast<float>((im.at(ox + x, oy + y)[c] / 255.0 - pre.mean[c]) / pre.std[c]);
  return t;
}

Image tensor_to_image(const Tensor& input, const Preprocess* pre) {
  Tensor t = input;
  if (t.dim() == 4) {
    if (t.shape()[0] != 1) throw ShapeError("picture of input " + t.str_shape() + ": one sample at a time");
    t = t.select(0, 0);
  }
  if (t.dim() == 2) t = t.unsqueeze(0);
  if (t.dim() != 3 || (t.shape()[0] != 1 && t.shape()[0] != 3))
    throw ShapeError("picture of input " + input.str_shape() + ": expected (1 or 3, H, W)");
  if (t.shape()[1] < 1 || t.shape()[2] < 1) throw ShapeError("picture of input " + input.str_shape() + ": empty");
  check_image_size(double(t.shape()[2]), double(t.shape()[1]), static_cast<int>(t.shape()[0]),
                   "picture of input " + input.str_shape());
  const int C = static_cast<int>(t.shape()[0]), H = static_cast<int>(t.shape()[1]), W = static_cast<int>(t.shape()[2]);
  const auto v = t.contiguous().to_vector_f64();
  double lo = 0, hi = 1;
  if (!pre) {
    lo = *std::min_element(v.begin(), v.end());
    hi = *std::max_element(v.begin(), v.end());
    if (hi <= lo) hi = lo + 1;
  } else if (static_cast<int>(pre->mean.size()) != C || static_cast<int>(pre->std.size()) != C) {
    throw ValueError("picture of input: mean/std need " + std::to_string(C) + " values");
  }
  Image im = Image::blank(W, H, C);
  const std::size_t HW = static_cast<std::size_t>(H) * W;
  for (int c = 0; c < C; ++c)
    for (std::size_t i = 0; i < HW; ++i) {
      double x = v[c * HW + i];
      x = pre ? x * pre->std[c] + pre->mean[c] : (x - lo) / (hi - lo);
      im.pixels[i * C + c] =
          static_cast<std::uint8_t>(std::lround(std::clamp(x, 0.0, 1.0) * 255.0));
    }
  return im;
}

}  // namespace relprop::viz
