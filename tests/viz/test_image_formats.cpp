// viz/: image files told apart by their magic bytes; every seed of the image fuzzer's
// corpus (tests/fuzz/corpus/image/) decodes to its size or fails with a message naming its
// format, and formats relprop does not read are named as such.

#include <doctest/doctest.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "relprop/tensor/error.hpp"
#include "relprop/viz/image.hpp"

using namespace relprop;
using namespace relprop::viz;
namespace fs = std::filesystem;

namespace {

const std::string kCorpus = std::string(RELPROP_SOURCE_DIR) + "/tests/fuzz/corpus/image/";

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

std::string error_of(const std::string& path) {
  try {
    read_image(path);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

ImageFormat format_of(const std::string& bytes) {
  return image_format({reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()});
}

}  // namespace

TEST_SUITE("viz.formats") {
  TEST_CASE("the seed pictures decode to their sizes; alpha is dropped") {
    struct Seed {
      const char* file;
      ImageFormat format;
      int width, height, channels;
    };
    const Seed seeds[] = {
        {"png_rgb_4x3.png", ImageFormat::Png, 4, 3, 3},         {"png_grey_5x4.png", ImageFormat::Png, 5, 4, 1},
        {"png_grey_alpha_3x2.png", ImageFormat::Png, 3, 2, 1},  {"png_rgba_3x2.png", ImageFormat::Png, 3, 2, 3},
        {"png_palette_3x2.png", ImageFormat::Png, 3, 2, 3},     {"png_rgb16_2x2.png", ImageFormat::Png, 2, 2, 3},
        {"png_grey1_9x2.png", ImageFormat::Png, 9, 2, 1},       {"png_interlaced_5x5.png", ImageFormat::Png, 5, 5, 1},
        {"jpeg_baseline_4x3.jpg", ImageFormat::Jpeg, 4, 3, 3},  {"jpeg_grey_8x8.jpg", ImageFormat::Jpeg, 8, 8, 1},
        {"jpeg_progressive_16x8.jpg", ImageFormat::Jpeg, 16, 8, 3},
        {"jpeg_restart_16x8.jpg", ImageFormat::Jpeg, 16, 8, 3}, {"bmp_rgb_4x3.bmp", ImageFormat::Bmp, 4, 3, 3},
        {"bmp_pal8_4x2.bmp", ImageFormat::Bmp, 4, 2, 3},        {"bmp_bitfields_2x1.bmp", ImageFormat::Bmp, 2, 1, 3},
        {"gif_1x1.gif", ImageFormat::Gif, 1, 1, 3},             {"psd_rgb_2x2.psd", ImageFormat::Psd, 2, 2, 3},
        {"psd_rle_2x2.psd", ImageFormat::Psd, 2, 2, 3},         {"tga_rle_4x3.tga", ImageFormat::Unknown, 4, 3, 3},
        {"tga_grey_3x2.tga", ImageFormat::Unknown, 3, 2, 1},    {"hdr_2x2.hdr", ImageFormat::Hdr, 2, 2, 3},
        {"pnm_p6_2x2.ppm", ImageFormat::Pnm, 2, 2, 3},          {"pnm_p5_3x2.pgm", ImageFormat::Pnm, 3, 2, 1},
    };
    for (const auto& s : seeds) {
      CAPTURE(s.file);
      CHECK(image_format_of_file(kCorpus + s.file) == s.format);
      const Image im = read_image(kCorpus + s.file);
      CHECK(im.width == s.width);
      CHECK(im.height == s.height);
      CHECK(im.channels == s.channels);
      CHECK(im.pixels.size() == static_cast<std::size_t>(s.width) * s.height * s.channels);
    }
    // The PSD's pixels: red, green / blue, red (planar channels, raw and PackBits alike).
    for (const char* f : {"psd_rgb_2x2.psd", "psd_rle_2x2.psd"}) {
      const Image p = read_image(kCorpus + f);
      CHECK(int(p.at(0, 0)[0]) == (std::string(f) == "psd_rgb_2x2.psd" ? 255 : 10));
    }
    const Image p = read_image(kCorpus + "psd_rgb_2x2.psd");
    CHECK(int(p.at(1, 0)[1]) == 255);
    CHECK(int(p.at(0, 1)[2]) == 255);
  }

  TEST_CASE("a JPEG that fails to decode says JPEG, not 'bad png sig'") {
    const std::string e = error_of(kCorpus + "truncated_jpeg.jpg");
    CAPTURE(e);
    CHECK(contains(e, "JPEG"));
    CHECK_FALSE(contains(e, "png"));
    CHECK_THROWS_AS(read_image(kCorpus + "truncated_jpeg.jpg"), FormatError);
    const std::string a = error_of(kCorpus + "jpeg_arithmetic_16x8.jpg");
    CAPTURE(a);
    CHECK(contains(a, "JPEG"));
    CHECK_FALSE(contains(a, "png"));
    CHECK(contains(error_of(kCorpus + "truncated_png.png"), "a PNG picture"));
    // A truncated BMP: stb_image fills the missing rows with zeros; relprop refuses it.
    const std::string b = error_of(kCorpus + "truncated_bmp.bmp");
    CAPTURE(b);
    CHECK(contains(b, "BMP"));
    CHECK(contains(b, "truncated"));
  }

  // Found by the image fuzzer: stb_image's PGM/PPM header reader multiplies into an int
  // unchecked, a signed overflow (undefined) for a 10-digit number.
  TEST_CASE("a PGM/PPM header number too large for an int is refused before stb_image reads it") {
    const auto pnm = [](const std::string& header) {
      std::vector<std::uint8_t> b(header.begin(), header.end());
      b.resize(b.size() + 64, 7);
      return b;
    };
    for (const std::string& h : {std::string("P5") + std::string(126, '5'), std::string("P5 4 99999999999 255\n"),
                                 std::string("P6\n# a comment 9\n4 4 2147483648\n"),
                                 std::string("P5\t2147483648 4 255\n")}) {
      CAPTURE(h);
      const auto b = pnm(h);
      try {
        decode_image(b, "big.pgm");
        FAIL("decoded");
      } catch (const FormatError& e) {
        CHECK(contains(e.what(), "binary PGM/PPM"));
        CHECK(contains(e.what(), "too large to read"));
      }
    }
    // The largest that fits goes on to the size limits (a ResourceError), and a normal
    // header with a comment decodes.
    CHECK_THROWS_AS(decode_image(pnm("P5 2147483647 1 255\n"), "wide.pgm"), ResourceError);
    const std::string ok = "P5\n# fine\n2 1\n255\n";
    std::vector<std::uint8_t> b(ok.begin(), ok.end());
    b.push_back(10);
    b.push_back(200);
    const Image im = decode_image(b, "ok.pgm");
    CHECK(im.width == 2);
    CHECK(im.height == 1);
    CHECK(im.pixels == std::vector<std::uint8_t>{10, 200});
  }

  TEST_CASE("formats relprop does not read are named, with the ones it reads") {
    for (const auto& [file, name] : {std::pair{"webp_lossless.webp", "WebP"}, std::pair{"tiff_le.tif", "TIFF"}}) {
      const std::string e = error_of(kCorpus + file);
      CAPTURE(e);
      CHECK(contains(e, std::string("a ") + name + " picture"));
      CHECK(contains(e, "relprop reads PNG, JPEG, BMP"));
      CHECK_THROWS_AS(read_image(kCorpus + file), FormatError);
    }
    // Not a picture at all, whatever the name says.
    const fs::path junk = fs::temp_directory_path() / "relprop_test_formats_junk.png";
    std::ofstream(junk) << "not a picture";
    const std::string j = error_of(junk.string());
    CHECK(contains(j, "not a picture in a format relprop reads"));
    CHECK_THROWS_AS(read_image(junk.string()), FormatError);
    fs::remove(junk);
    CHECK_THROWS_AS(read_image("/nonexistent/x.png"), IoError);
    CHECK_THROWS_AS(read_image(fs::temp_directory_path().string()), IoError);  // a folder
  }

  TEST_CASE("magic bytes: each format by its signature; safetensors and text are none of them") {
    CHECK(format_of("\x89PNG\r\n\x1a\n") == ImageFormat::Png);
    CHECK(format_of(std::string("\xff\xd8\xff\xe0", 4)) == ImageFormat::Jpeg);
    CHECK(format_of("GIF87a") == ImageFormat::Gif);
    CHECK(format_of(std::string("8BPS\0\1", 6)) == ImageFormat::Psd);
    CHECK(format_of("#?RADIANCE\n") == ImageFormat::Hdr);
    CHECK(format_of("P6 2 2 255 ") == ImageFormat::Pnm);
    CHECK(format_of("P1\n2 2\n") == ImageFormat::PnmText);
    CHECK(format_of("P7\nWIDTH 2\n") == ImageFormat::Pam);
    CHECK(format_of(std::string("RIFF\x10\0\0\0WEBPVP8 ", 16)) == ImageFormat::WebP);
    CHECK(format_of(std::string("MM\0*\0\0\0\x08", 8)) == ImageFormat::Tiff);
    CHECK(format_of(std::string("\0\0\0\x18" "ftypheic", 12)) == ImageFormat::Heif);
    CHECK(format_of(std::string("\0\0\0\x1c" "ftypavif", 12)) == ImageFormat::Avif);
    CHECK(format_of(std::string("\0\0\0\x0cjP  \r\n\x87\n", 12)) == ImageFormat::Jpeg2000);
    CHECK(format_of(std::string("\xff\x0a\xfa", 3)) == ImageFormat::JpegXl);
    CHECK(format_of("qoif\0\0\0\1") == ImageFormat::Qoi);
    CHECK(format_of(std::string("\x76\x2f\x31\x01\x02\0\0\0", 8)) == ImageFormat::OpenExr);
    CHECK(format_of(std::string("\0\0\1\0\1\0\x10\x10", 8)) == ImageFormat::Ico);
    // A BMP needs its DIB header size too: "BM" alone could begin other files.
    CHECK(format_of(std::string("BM\0\0\0\0\0\0\0\0\0\0\0\0\x28\0\0\0", 18)) == ImageFormat::Bmp);
    CHECK(format_of(std::string("BM\0\0\0\0\0\0\0\0\0\0\0\0{\"a\"", 18)) == ImageFormat::Unknown);
    // A safetensors file: 8-byte header length, then JSON.
    CHECK(format_of(std::string("\x10\0\0\0\0\0\0\0{\"x\":{}}", 16)) == ImageFormat::Unknown);
    CHECK(format_of("hello") == ImageFormat::Unknown);
    CHECK(format_of("") == ImageFormat::Unknown);
    CHECK(image_format_name(ImageFormat::WebP) == "WebP");
    CHECK(image_format_readable(ImageFormat::Jpeg));
    CHECK_FALSE(image_format_readable(ImageFormat::Tiff));
    CHECK(contains(readable_image_formats(), "PNG, JPEG, BMP"));
  }
}
