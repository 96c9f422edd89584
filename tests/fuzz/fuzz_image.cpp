// libFuzzer target: arbitrary bytes through the picture decoder (format detection,
// stb_image within the size limits) and then the path a picture takes to a model input:
// resizing with and without the centre crop, to a few tiny sizes, and back to a picture.
// A relprop::Error is the expected answer to garbage; any other exception, a crash, a
// sanitizer report, or a broken invariant below is a bug.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <string>

#include "relprop/tensor/error.hpp"
#include "relprop/viz/image.hpp"

namespace {

void require(bool ok, const char* what) {
  if (ok) return;
  std::fprintf(stderr, "fuzz_image: invariant broken: %s\n", what);
  std::abort();
}

// Pictures up to 4 MiB decoded: enough for every branch of every decoder, small enough
// that a run stays fast.
constexpr std::int64_t kFuzzMaxBytes = std::int64_t{1} << 22;

void to_model_input(const relprop::viz::Image& im, std::uint8_t knob) {
  using namespace relprop::viz;
  const int channels = knob & 1 ? 3 : 1;
  const int side = 1 + (knob >> 1 & 7);  // 1..8
  Preprocess pre;
  if (channels == 1) {
    pre.mean = {0.5};
    pre.std = {0.25};
  }
  // Straight to the size, whatever the aspect.
  pre.stretch = true;
  const relprop::Tensor s = image_to_tensor(im, channels, side, side + 1, pre);
  require(s.shape() == relprop::Shape{1, channels, side, side + 1}, "stretched input has the model's shape");
  // Shorter side to side / crop, then the centre crop: only for pictures whose resized
  // size stays small (a 1 x 100000 picture is refused or costs gigabytes, by design).
  pre.stretch = false;
  pre.crop_fraction = 0.25 + (knob >> 4) / 20.0;  // 0.25..1
  const double longest = std::max(im.width, im.height), shortest = std::min(im.width, im.height);
  if (longest / shortest <= 64) {
    const relprop::Tensor c = image_to_tensor(im, channels, side + 1, side, pre);
    require(c.shape() == relprop::Shape{1, channels, side + 1, side}, "cropped input has the model's shape");
    const Image back = tensor_to_image(c, &pre);
    require(back.width == side && back.height == side + 1 && back.channels == channels, "picture of the input");
  }
  // Resizing itself, up and down, and nearest-neighbour magnification.
  const Image r = resize(im, side, 2 * side);
  require(r.width == side && r.height == 2 * side && r.channels == im.channels, "resize keeps the channels");
  const Image m = magnify(r, 1 + (knob & 3));
  require(m.width == r.width * (1 + (knob & 3)), "magnify's width");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace relprop::viz;
  const std::span<const std::uint8_t> bytes(data, size);
  const ImageFormat f = image_format(bytes.first(std::min<std::size_t>(size, 32)));
  require(!image_format_name(f).empty(), "every format has a name");
  try {
    const Image im = decode_image(bytes, "fuzz", kFuzzMaxBytes);
    require(im.width > 0 && im.height > 0, "a decoded picture has pixels");
    require(im.channels == 1 || im.channels == 3, "alpha dropped: 1 or 3 channels");
    require(im.pixels.size() == static_cast<std::size_t>(im.width) * im.height * im.channels, "pixel count");
    require(static_cast<std::int64_t>(im.pixels.size()) <= kFuzzMaxBytes, "within max_bytes");
    require(image_format_readable(f) || f == ImageFormat::Unknown, "only readable formats decode");
    // Resizing costs time in proportion to the picture (stb_image_resize under the
    // sanitizers: seconds for a 2 x 131075 picture): pictures up to 2^18 pixels go on.
    if (static_cast<std::int64_t>(im.width) * im.height <= std::int64_t{1} << 18)
      to_model_input(im, size > 0 ? data[size / 2] : 0);
  } catch (const relprop::Error&) {
    // the expected answer to bytes that are not a picture relprop reads
  }
  return 0;
}
