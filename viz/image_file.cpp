// Image files: formats told apart by their magic bytes, and decoding within the size
// limits (viz/image.hpp).

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <stb/stb_image.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <climits>
#include <cstring>
#include <memory>

#include "relprop/tensor/error.hpp"
#include "relprop/viz/image.hpp"

namespace relprop::viz {

namespace {

bool starts_with(std::span<const std::uint8_t> b, std::size_t at, std::string_view sig) {
  if (b.size() < at + sig.size()) return false;
  return std::equal(sig.begin(), sig.end(), b.begin() + static_cast<std::ptrdiff_t>(at),
                    [](char c, std::uint8_t u) { return static_cast<std::uint8_t>(c) == u; });
}

std::uint32_t le32(std::span<const std::uint8_t> b, std::size_t at) {
  return std::uint32_t(b[at]) | std::uint32_t(b[at + 1]) << 8 | std::uint32_t(b[at + 2]) << 16 |
         std::uint32_t(b[at + 3]) << 24;
}
std::uint16_t le16(std::span<const std::uint8_t> b, std::size_t at) {
  return static_cast<std::uint16_t>(b[at] | b[at + 1] << 8);
}

bool is_space(std::uint8_t c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

// An ISO base media file ("....ftypBRAND"): HEIF and AVIF.
ImageFormat iso_brand(std::span<const std::uint8_t> b) {
  if (!starts_with(b, 4, "ftyp") || b.size() < 12) return ImageFormat::Unknown;
  const std::string_view brand(reinterpret_cast<const char*>(b.data()) + 8, 4);
  if (brand == "avif" || brand == "avis") return ImageFormat::Avif;
  for (std::string_view h : {"heic", "heix", "hevc", "hevx", "heim", "heis", "mif1", "msf1"})
    if (brand == h) return ImageFormat::Heif;
  return ImageFormat::Unknown;
}

// An uncompressed BMP shorter than its header says: stb_image fills the missing rows
// with zeros, so it is checked here. 0 when complete (or compressed), else the size due.
double bmp_size_due(std::span<const std::uint8_t> b) {
  if (b.size() < 26) return 0;
  const std::uint32_t offset = le32(b, 10), dib = le32(b, 14);
  double width = 0, height = 0, bpp = 0;
  if (dib == 12) {
    width = le16(b, 18);
    height = le16(b, 20);
    bpp = le16(b, 24);
  } else {
    if (b.size() < 34) return 0;
    width = static_cast<std::int32_t>(le32(b, 18));
    height = std::abs(double(static_cast<std::int32_t>(le32(b, 22))));
    bpp = le16(b, 28);
    const std::uint32_t compression = le32(b, 30);
    if (compression != 0 && compression != 3) return 0;  // RLE: stb_image does not read it anyway
  }
  const double row = std::floor((bpp * width + 31) / 32) * 4;
  const double due = double(offset) + row * height;
  return due > double(b.size()) ? due : 0;
}

// The size a PNG's header declares, for a picture stb_image refuses to read without
// saying why (it keeps PNGs under 2^30 bytes). False when the header is cut short.
bool png_declared_size(std::span<const std::uint8_t> b, double* width, double* height, int* channels) {
  if (b.size() < 26 || !starts_with(b, 12, "IHDR")) return false;
  auto be32 = [&](std::size_t at) { return double(std::uint32_t(b[at]) << 24 | std::uint32_t(b[at + 1]) << 16 |
                                                  std::uint32_t(b[at + 2]) << 8 | b[at + 3]); };
  *width = be32(16);
  *height = be32(20);
  const int colour = b[25];
  *channels = colour == 0 ? 1 : colour == 4 ? 2 : colour == 6 ? 4 : 3;
  return true;
}

// stb_image reads a binary PGM/PPM header's width, height and maximum value into an int
// with no overflow check (a signed overflow, undefined behaviour, on a 10-digit number):
// a header number that would not fit is refused here, before stb_image reads it. The
// header is scanned as stb_image scans it: after "P5"/"P6", whitespace and #-comments
// (to the end of the line) before each number.
void check_pnm_header(std::span<const std::uint8_t> b, const std::string& q) {
  const char* what[] = {"width", "height", "maximum value"};
  std::size_t i = 2;
  const auto space = [](std::uint8_t c) { return c == ' ' || (c >= '\t' && c <= '\r'); };
  for (const char* name : what) {
    while (i < b.size()) {
      if (space(b[i])) ++i;
      else if (b[i] == '#')
        while (i < b.size() && b[i] != '\n' && b[i] != '\r') ++i;
      else break;
    }
    double v = 0;
    std::size_t digits = 0;
    for (; i < b.size() && b[i] >= '0' && b[i] <= '9'; ++i, ++digits) v = v * 10 + (b[i] - '0');
    if (digits == 0) return;  // not a number: stb_image refuses the header itself
    if (v > INT_MAX)
      throw FormatError(q + " is a binary PGM/PPM picture whose header declares a " + name + " of " +
                        std::to_string(digits) + " digits, too large to read");
  }
}

}  // namespace

ImageFormat image_format(std::span<const std::uint8_t> b) {
  using F = ImageFormat;
  if (starts_with(b, 0, "\x89PNG\r\n\x1a\n")) return F::Png;
  if (starts_with(b, 0, "\xff\xd8\xff")) return F::Jpeg;
  if (starts_with(b, 0, "GIF87a") || starts_with(b, 0, "GIF89a")) return F::Gif;
  if (starts_with(b, 0, "8BPS")) return F::Psd;
  if (starts_with(b, 0, "#?RADIANCE") || starts_with(b, 0, "#?RGBE")) return F::Hdr;
  if (starts_with(b, 0, "\x53\x80\xf6\x34")) return F::Pic;
  if (b.size() >= 3 && b[0] == 'P' && is_space(b[2])) {
    if (b[1] == '5' || b[1] == '6') return F::Pnm;
    if (b[1] >= '1' && b[1] <= '4') return F::PnmText;
    if (b[1] == '7') return F::Pam;
  }
  if (starts_with(b, 0, "RIFF") && starts_with(b, 8, "WEBP")) return F::WebP;
  if (starts_with(b, 0, std::string_view("II*\0", 4)) || starts_with(b, 0, std::string_view("MM\0*", 4)) ||
      starts_with(b, 0, std::string_view("II+\0", 4)) || starts_with(b, 0, std::string_view("MM\0+", 4)))
    return F::Tiff;
  if (const F iso = iso_brand(b); iso != F::Unknown) return iso;
  if (starts_with(b, 0, std::string_view("\0\0\0\x0cjP  \r\n\x87\n", 12)) ||
      starts_with(b, 0, std::string_view("\xff\x4f\xff\x51", 4)))
    return F::Jpeg2000;
  if (starts_with(b, 0, std::string_view("\xff\x0a", 2)) ||
      starts_with(b, 0, std::string_view("\0\0\0\x0cJXL \r\n\x87\n", 12)))
    return F::JpegXl;
  if (starts_with(b, 0, "qoif")) return F::Qoi;
  if (starts_with(b, 0, "\x76\x2f\x31\x01")) return F::OpenExr;
  if (starts_with(b, 0, "DDS ")) return F::Dds;
  // Icons and cursors: reserved 0, type 1 or 2, a non-zero count (a safetensors header
  // length of 65536 begins with the same four bytes, then zeros).
  if (b.size() >= 6 && b[0] == 0 && b[1] == 0 && (b[2] == 1 || b[2] == 2) && b[3] == 0 && le16(b, 4) != 0)
    return F::Ico;
  // "BM" alone begins many files: the DIB header's size must be one BMP defines.
  if (starts_with(b, 0, "BM") && b.size() >= 18) {
    const std::uint32_t dib = le32(b, 14);
    for (std::uint32_t d : {12u, 40u, 52u, 56u, 64u, 108u, 124u})
      if (dib == d) return F::Bmp;
  }
  return F::Unknown;
}

ImageFormat image_format_of_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return ImageFormat::Unknown;
  struct stat st {};
  std::uint8_t head[32];
  ssize_t n = -1;
  if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) n = ::read(fd, head, sizeof head);
  ::close(fd);
  return n > 0 ? image_format({head, static_cast<std::size_t>(n)}) : ImageFormat::Unknown;
}

std::string_view image_format_name(ImageFormat f) {
  switch (f) {
    case ImageFormat::Png: return "PNG";
    case ImageFormat::Jpeg: return "JPEG";
    case ImageFormat::Bmp: return "BMP";
    case ImageFormat::Gif: return "GIF";
    case ImageFormat::Psd: return "PSD";
    case ImageFormat::Hdr: return "Radiance HDR";
    case ImageFormat::Pic: return "Softimage PIC";
    case ImageFormat::Pnm: return "binary PGM/PPM";
    case ImageFormat::PnmText: return "PBM or text PGM/PPM";
    case ImageFormat::Pam: return "PAM";
    case ImageFormat::WebP: return "WebP";
    case ImageFormat::Tiff: return "TIFF";
    case ImageFormat::Heif: return "HEIF";
    case ImageFormat::Avif: return "AVIF";
    case ImageFormat::Jpeg2000: return "JPEG 2000";
    case ImageFormat::JpegXl: return "JPEG XL";
    case ImageFormat::Qoi: return "QOI";
    case ImageFormat::OpenExr: return "OpenEXR";
    case ImageFormat::Ico: return "ICO";
    case ImageFormat::Dds: return "DDS";
    case ImageFormat::Unknown: break;
  }
  return "unknown";
}

bool image_format_readable(ImageFormat f) {
  switch (f) {
    case ImageFormat::Png:
    case ImageFormat::Jpeg:
    case ImageFormat::Bmp:
    case ImageFormat::Gif:
    case ImageFormat::Psd:
    case ImageFormat::Hdr:
    case ImageFormat::Pic:
    case ImageFormat::Pnm: return true;
    default: return false;
  }
}

std::string readable_image_formats() { return "PNG, JPEG, BMP, GIF, PSD, TGA, HDR, PIC and binary PGM/PPM"; }

Image decode_image(std::span<const std::uint8_t> bytes, const std::string& name, std::int64_t max_bytes) {
  const std::string q = "'" + name + "'";
  const ImageFormat f = image_format(bytes.first(std::min<std::size_t>(bytes.size(), 32)));
  const std::string fname(image_format_name(f));
  if (f != ImageFormat::Unknown && !image_format_readable(f))
    throw FormatError(q + " is a " + fname + " picture; relprop reads " + readable_image_formats());
  if (bytes.size() > static_cast<std::size_t>(INT_MAX))
    throw ResourceError(q + ": a picture file of " + std::to_string(bytes.size()) + " bytes, above 2 GiB");
  auto undecodable = [&](const std::string& why) {
    if (f == ImageFormat::Unknown)
      return FormatError(q + " is not a picture in a format relprop reads (" + readable_image_formats() + ")");
    return FormatError(q + " is a " + fname + " picture that cannot be decoded (" + why + ")");
  };
  // stb_image tries each decoder in turn and keeps the last one's failure: a JPEG it
  // cannot read says "bad png sig". The reason is shown only when it is the detected
  // format's own.
  auto reason = [&]() -> std::string {
    const char* r = stbi_failure_reason();
    std::string s = r ? r : "";
    std::string low = s, me(fname);
    for (std::string* t : {&low, &me})
      std::transform(t->begin(), t->end(), t->begin(), [](unsigned char c) { return char(std::tolower(c)); });
    bool own = !s.empty() && s != "unknown image type";
    for (std::string_view other : {"png", "jpeg", "jpg", "bmp", "gif", "psd", "pnm", "pic", "hdr", "tga"})
      if (low.find(other) != std::string::npos && me.find(other) == std::string::npos &&
          !(f == ImageFormat::Jpeg && other == "jpg"))
        own = false;
    if (own) return s;
    return "corrupt, truncated, or a kind of " + fname + " stb_image does not read" +
           (f == ImageFormat::Jpeg ? " such as arithmetic-coded or 12-bit" : "");
  };
  const int len = static_cast<int>(bytes.size());
  // (stb_image takes "P5"/"P6" for a PGM/PPM even with no whitespace after it.)
  if (bytes.size() >= 2 && bytes[0] == 'P' && (bytes[1] == '5' || bytes[1] == '6')) check_pnm_header(bytes, q);
  int w = 0, h = 0, comp = 0;
  if (!stbi_info_from_memory(bytes.data(), len, &w, &h, &comp)) {
    const std::string why = reason();
    double dw = 0, dh = 0;
    int dc = 0;
    if (f == ImageFormat::Png && png_declared_size(bytes, &dw, &dh, &dc)) check_image_size(dw, dh, dc, q);
    throw undecodable(why);
  }
  if (h < 0 && h != INT_MIN) h = -h;  // a top-down BMP: its height negative in the header
  // The header's size, checked before stb_image allocates and decodes it.
  check_image_size(w, h, comp, q);
  if (double(w) * h * comp > double(max_bytes))
    throw ResourceError(q + ": a " + std::to_string(w) + " x " + std::to_string(h) + " picture with " +
                        std::to_string(comp) + " channels, above the limit of " + std::to_string(max_bytes) + " bytes");
  if (f == ImageFormat::Bmp)
    if (const double due = bmp_size_due(bytes); due > 0)
      throw FormatError(q + " is a BMP picture that is truncated (" + std::to_string(bytes.size()) + " of " +
                        std::to_string(static_cast<std::int64_t>(due)) + " bytes)");
  int ch = 0;
  std::unique_ptr<stbi_uc, void (*)(void*)> data(stbi_load_from_memory(bytes.data(), len, &w, &h, &ch, 0),
                                                 stbi_image_free);
  if (!data) throw undecodable(reason());
  if (w <= 0 || h <= 0 || ch < 1 || ch > 4) throw undecodable("no pixels");
  const std::size_t n = static_cast<std::size_t>(w) * static_cast<std::size_t>(h);
  // Grey+alpha and RGBA: the alpha channel is dropped.
  Image out = Image::blank(w, h, ch == 2 ? 1 : ch == 4 ? 3 : ch);
  for (std::size_t i = 0; i < n; ++i)
    for (int c = 0; c < out.channels; ++c) out.pixels[i * out.channels + c] = data.get()[i * ch + c];
  return out;
}

Image read_image(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) throw IoError("cannot open image '" + path + "': " + std::strerror(errno));
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  struct stat st {};
  if (::fstat(fd, &st) != 0) throw IoError("cannot read image '" + path + "': " + std::strerror(errno));
  if (S_ISDIR(st.st_mode)) throw IoError("image '" + path + "' is a folder, not a picture");
  if (!S_ISREG(st.st_mode)) throw IoError("image '" + path + "' is not a regular file (a pipe or a device)");
  if (st.st_size > kMaxImageBytes)
    throw ResourceError("image '" + path + "': a file of " + std::to_string(st.st_size) +
                        " bytes, above relprop's limit of 1 GiB per picture");
  std::vector<std::uint8_t> bytes(static_cast<std::size_t>(st.st_size));
  std::size_t got = 0;
  while (got < bytes.size()) {
    const ssize_t n = ::read(fd, bytes.data() + got, bytes.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw IoError("cannot read image '" + path + "': " + std::strerror(errno));
    if (n == 0) break;  // the file shrank while read
    got += static_cast<std::size_t>(n);
  }
  bytes.resize(got);
  return decode_image(bytes, path);
}

}  // namespace relprop::viz
