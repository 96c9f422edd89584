#pragma once
// Pictures of relevance: Zennit's colour maps, heatmaps of image relevance, overlays and
// grids, PNG/JPEG reading and PNG writing (through stb from Debian's libstb-dev), and the
// ImageNet-style preprocessing that turns a photograph into a model input.

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "relprop/tensor/tensor.hpp"

namespace relprop::viz {

// ---- limits ---------------------------------------------------------------------------
// Every picture relprop decodes, resizes or draws (Image::blank, read_image, resize,
// image_to_tensor's resized picture, heatmap, overlay, magnify, grid) holds at most
// kMaxImageBytes bytes (width x height x channels, 8 bits each) and kMaxImageSide pixels
// a side. A size computed past them (from a file's header, an option, a tensor's shape) is
// refused with a ResourceError before anything is allocated; sizes are computed in
// floating point, so no product wraps around.
inline constexpr std::int64_t kMaxImageBytes = std::int64_t{1} << 30;  // 1 GiB
inline constexpr std::int64_t kMaxImageSide = std::int64_t{1} << 24;   // stb_image's own bound
// Nearest-neighbour magnification (magnify, HeatmapOptions::scale): 1..kMaxMagnification.
inline constexpr int kMaxMagnification = 1024;

// Throws ResourceError "WHAT: a W x H picture with C channels is N GiB, above relprop's
// limit of 1 GiB per picture" (or its side limit) when a picture of that size would pass
// a limit; ShapeError for a negative size.
void check_image_size(double width, double height, int channels, const std::string& what);

// An 8-bit image, rows top to bottom, channels interleaved (1 = grey, 3 = RGB).
struct Image {
  int width = 0, height = 0, channels = 0;
  std::vector<std::uint8_t> pixels;

  static Image blank(int width, int height, int channels, std::uint8_t value = 0);
  std::uint8_t* at(int x, int y) { return pixels.data() + (static_cast<std::size_t>(y) * width + x) * channels; }
  const std::uint8_t* at(int x, int y) const {
    return pixels.data() + (static_cast<std::size_t>(y) * width + x) * channels;
  }
  Image to_rgb() const;   // grey → RGB (copies RGB as is)
  Image to_grey() const;  // RGB → grey (ITU-R 601 luma, as PIL's "L")
};

struct Rgb {
  std::uint8_t r = 0, g = 0, b = 0;
  bool operator==(const Rgb&) const = default;
};

// A linear colour map written in Zennit's colour-map language: comma-separated colours
// (3 or 6 hex digits), each optionally preceded by a hex index 0..ff and ':' placing it on
// the 0..255 scale; unplaced colours are spaced evenly between placed ones.
class ColorMap {
 public:
  static ColorMap parse(std::string_view source);  // ValueError naming the bad token
  // A built-in map (Zennit's: gray, wred, wblue, hot, cold, coldnhot, bwr, france,
  // seismic, coolio, coleus) or else a source in the language above.
  static ColorMap named(std::string_view name_or_source);
  static std::vector<std::string> builtin_names();

  const std::string& source() const { return source_; }
  // x in [0, 1] (clipped) → RGB in [0, 1].
  std::array<double, 3> operator()(double x) const;
  // 256 colours for the values -level..level mapped onto 0..255 (Zennit's palette()).
  std::array<Rgb, 256> palette(double level = 1.0) const;

 private:
  std::string source_;
  std::vector<double> index_;                // node positions on 0..256 (last one 256)
  std::vector<std::array<double, 3>> color_;  // node colours, 0..255
};

// How a relevance map is put onto 0..1 before the colour map.
enum class Normalization {
  Symmetric,  // ±max|R| → 0..1, zero at the centre (0.5)
  Absolute,   // |R| / max|R|
  Unaligned,  // min..max → 0..1
};
Normalization parse_normalization(std::string_view name);  // ValueError for others

struct HeatmapOptions {
  std::string cmap = "bwr";
  double level = 1.0;
  Normalization normalization = Normalization::Symmetric;
  int scale = 1;  // nearest-neighbour magnification (small inputs such as 8×8 digits), 1..kMaxMagnification
};

// Values (H, W) in [0, 1] after normalisation, row-major, from relevance of shape (H, W),
// (C, H, W) or (1, C, H, W) summed over channels.
std::vector<double> normalized_map(const Tensor& relevance, Normalization norm, int* height, int* width);

// A coloured heatmap of image relevance: channels summed, normalised, each value v mapped
// to the palette entry floor(255·v) as Zennit's imgify does.
Image heatmap(const Tensor& relevance, const HeatmapOptions& options = {});

// The heatmap over `base` (resized to the heatmap when sizes differ): each pixel blends
// toward its heatmap colour by `opacity` × its relevance magnitude relative to the 99th
// percentile of the non-zero magnitudes (capped at 1), so irrelevant regions show the
// picture and relevant ones the colour.
Image overlay(const Tensor& relevance, const Image& base, const HeatmapOptions& options = {},
              double opacity = 0.85);

// Images of one size side by side in `columns` columns (0: ⌊√n⌋ as Zennit's gridify),
// `gap` pixels of `fill` between them.
Image grid(const std::vector<Image>& images, int columns = 0, int gap = 2, std::uint8_t fill = 255);
// The layout and size grid() gives `count` cells of cell_width x cell_height, checked
// against the limits (ResourceError) before any cell is drawn.
struct GridExtent {
  int columns = 0, rows = 0, width = 0, height = 0;
};
GridExtent grid_extent(std::int64_t count, std::int64_t cell_width, std::int64_t cell_height, int channels,
                       int columns = 0, int gap = 2);

// Nearest-neighbour magnification by an integer factor, 1..kMaxMagnification.
Image magnify(const Image& image, int factor);
// Resampling to width × height (stb's filters: box-like down, Catmull-Rom up).
Image resize(const Image& image, int width, int height);

// ---- image files ----------------------------------------------------------------------
// Formats told apart by their magic bytes. stb_image (Debian's libstb) reads PNG, JPEG
// (baseline and progressive, 8-bit, Huffman-coded), BMP, GIF (the first frame), PSD (the
// composite image), TGA, Radiance HDR, Softimage PIC and binary PGM/PPM; the others are
// recognised only to be named in the error. TGA has no magic bytes (Unknown).
enum class ImageFormat {
  Unknown, Png, Jpeg, Bmp, Gif, Psd, Hdr, Pic, Pnm,  // read
  PnmText, Pam, WebP, Tiff, Heif, Avif, Jpeg2000, JpegXl, Qoi, OpenExr, Ico, Dds,  // not read
};
ImageFormat image_format(std::span<const std::uint8_t> head);  // the first 32 bytes suffice
// The format of a regular file's first bytes; Unknown when it cannot be read (or is not a
// regular file: nothing is opened that could block, such as a FIFO).
ImageFormat image_format_of_file(const std::string& path);
std::string_view image_format_name(ImageFormat format);  // "PNG", "WebP", ...
bool image_format_readable(ImageFormat format);
std::string readable_image_formats();  // "PNG, JPEG, BMP, GIF, PSD, TGA, HDR, PIC and binary PGM/PPM"

// A picture from the bytes of a file (`name` names it in errors). FormatError naming the
// format when the bytes are a format relprop does not read, or do not decode (truncated,
// corrupt); ResourceError when the header declares a picture past the limits (checked
// before decoding) or `max_bytes`.
Image decode_image(std::span<const std::uint8_t> bytes, const std::string& name,
                   std::int64_t max_bytes = kMaxImageBytes);
// read_image: the file whole (at most kMaxImageBytes), then decode_image. IoError when
// the file cannot be read or is not a regular file.
Image read_image(const std::string& path);
// PNG; the file appears complete or not at all (relprop::save_file: a unique temporary
// beside it, renamed into place).
void write_png(const std::string& path, const Image& image);
// The PNG file's bytes (what write_png writes).
std::string encode_png(const Image& image);

// Photograph → model input (1, C, H, W), F32: with `stretch`, resized straight to H x W;
// otherwise the shorter side resized to
// round(H / crop_fraction) (keeping the aspect), centre-cropped to H × W (torchvision's
// Resize + CenterCrop; crop_fraction 1 resizes the shorter side straight to H), values
// /255, then (v - mean[c]) / std[c]. Grey images feed 3-channel models as RGB and
// colour images feed 1-channel models as luma.
struct Preprocess {
  std::vector<double> mean{0.485, 0.456, 0.406};  // ImageNet's
  std::vector<double> std{0.229, 0.224, 0.225};
  double crop_fraction = 0.875;  // 224 of 256
  bool stretch = false;          // resize straight to H x W, ignoring the aspect (HF's ViTImageProcessor)
  std::string source;            // names the picture (its file) in errors
};
Tensor image_to_tensor(const Image& image, int channels, int height, int width, const Preprocess& pre = {});
// A model input (C, H, W) or (1, C, H, W) back to a picture: undoing `pre`'s mean/std
// when given, else stretching the input's min..max onto 0..255.
Image tensor_to_image(const Tensor& input, const Preprocess* pre = nullptr);

}  // namespace relprop::viz
