#pragma once
// safetensors: validate the header as a pure function over the file's bytes, then use the
// memory-mapped data (aligned F32 without a copy). Writer: sorted, padded, atomic.
//
// Layout: u64 little-endian N | N bytes of UTF-8 JSON header | data section. Each header
// entry is {"dtype", "shape", "data_offsets": [BEGIN, END]} relative to the data section;
// "__metadata__" is an optional string -> string map.

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tensor/tensor.hpp"

namespace relprop {

// Every way a safetensors file can be malformed; each is its own typed error.
#define RELPROP_SAFETENSORS_ERRORS(X)                                                     \
  X(FileTooSmall, "file shorter than the 8-byte header length")                           \
  X(HeaderLengthZero, "header length is 0")                                               \
  X(HeaderLengthOverflow, "8 + header length overflows")                                  \
  X(HeaderTooLarge, "header length above 100,000,000 bytes")                              \
  X(HeaderLengthExceedsFile, "header extends past the end of the file")                   \
  X(HeaderNotUtf8, "header is not valid UTF-8")                                           \
  X(InvalidJson, "header is not valid JSON")                                              \
  X(HeaderNotObject, "header JSON is not an object")                                      \
  X(DuplicateName, "a tensor name appears twice")                                         \
  X(EntryNotObject, "a tensor entry is not an object")                                    \
  X(UnknownEntryKey, "a tensor entry has an unknown key")                                 \
  X(MissingDtype, "a tensor entry has no dtype")                                          \
  X(InvalidDtypeType, "dtype is not a string")                                            \
  X(UnknownDtype, "unknown dtype")                                                        \
  X(MissingShape, "a tensor entry has no shape")                                          \
  X(InvalidShapeType, "shape is not a list of non-negative integers")                     \
  X(RankTooLarge, "rank above 8")                                                         \
  X(DimensionTooLarge, "a dimension is 2^48 or more")                                     \
  X(MissingDataOffsets, "a tensor entry has no data_offsets")                             \
  X(InvalidDataOffsetsType, "data_offsets is not a list of two non-negative integers")    \
  X(OffsetTooLarge, "an offset is 2^48 or more")                                          \
  X(EndBeforeBegin, "data_offsets END < BEGIN")                                           \
  X(ShapeOverflow, "the element count of the shape overflows")                            \
  X(BitSizeOverflow, "the bit size of the tensor overflows")                              \
  X(FractionalByteSize, "the tensor's size is not a whole number of bytes")               \
  X(SizeMismatch, "END - BEGIN differs from shape x dtype size")                          \
  X(GapAtStart, "the first tensor does not start at offset 0")                            \
  X(GapBetweenTensors, "a gap between two tensors")                                       \
  X(OverlappingTensors, "two tensors overlap or alias one range")                         \
  X(TrailingBytes, "bytes after the last tensor")                                         \
  X(MissingBytes, "the data section is shorter than the tensors need")                    \
  X(InvalidMetadata, "__metadata__ is not an object of strings")                          \
  X(MetadataNameAsTensor, "a tensor named __metadata__")

enum class SafetensorsErrorKind {
#define X(e, s) e,
  RELPROP_SAFETENSORS_ERRORS(X)
#undef X
};

// A short description of the kind ("header is not valid UTF-8").
std::string_view to_string(SafetensorsErrorKind kind);

class SafetensorsError : public FormatError {
 public:
  SafetensorsError(SafetensorsErrorKind kind, const std::string& msg) : FormatError(msg), kind_(kind) {}
  SafetensorsErrorKind kind() const { return kind_; }

 private:
  SafetensorsErrorKind kind_;
};

// X(enum, name, bits)
#define RELPROP_ST_DTYPES(X) \
  X(BOOL, "BOOL", 8)         \
  X(U8, "U8", 8)             \
  X(I8, "I8", 8)             \
  X(F8_E4M3, "F8_E4M3", 8)   \
  X(F8_E5M2, "F8_E5M2", 8)   \
  X(F8_E8M0, "F8_E8M0", 8)   \
  X(I16, "I16", 16)          \
  X(U16, "U16", 16)          \
  X(F16, "F16", 16)          \
  X(BF16, "BF16", 16)        \
  X(I32, "I32", 32)          \
  X(U32, "U32", 32)          \
  X(F32, "F32", 32)          \
  X(I64, "I64", 64)          \
  X(U64, "U64", 64)          \
  X(F64, "F64", 64)          \
  X(C64, "C64", 64)          \
  X(F4, "F4", 4)             \
  X(F6_E2M3, "F6_E2M3", 6)   \
  X(F6_E3M2, "F6_E3M2", 6)

// Element types a safetensors file may declare (more than relprop computes with).
enum class StDType {
#define X(e, s, b) e,
  RELPROP_ST_DTYPES(X)
#undef X
};
std::string_view st_dtype_name(StDType d);
std::size_t st_dtype_bits(StDType d);

struct SafetensorsTensorInfo {
  std::string name;
  StDType dtype = StDType::F32;
  Shape shape;
  std::uint64_t begin = 0, end = 0;  // offsets in the data section
};

struct SafetensorsHeader {
  std::uint64_t header_size = 0;  // N
  std::uint64_t data_offset = 0;  // 8 + N
  std::vector<SafetensorsTensorInfo> tensors;  // by begin offset, then name
  std::map<std::string, std::string> metadata;
  const SafetensorsTensorInfo* find(std::string_view name) const;
};

// Validates the whole file: header, entries, and that the tensors tile the data section
// exactly. A pure function of the bytes; SafetensorsError otherwise.
SafetensorsHeader parse_safetensors_header(std::span<const std::byte> file);

class SafetensorsFile {
 public:
  // Memory-maps `path` (read-only) and validates it. IoError if it cannot be read;
  // SafetensorsError (message prefixed with the path) if it is malformed.
  static SafetensorsFile open(const std::filesystem::path& path);
  static SafetensorsFile from_bytes(std::vector<std::byte> bytes, std::string origin = "<memory>");

  const SafetensorsHeader& header() const { return header_; }
  const std::map<std::string, std::string>& metadata() const { return header_.metadata; }
  std::vector<std::string> names() const;  // sorted
  bool contains(std::string_view name) const { return header_.find(name) != nullptr; }
  // NotFoundError naming the tensor and the file, listing some of the names present.
  const SafetensorsTensorInfo& info(std::string_view name) const;
  // Floating dtypes -> F32 (aligned F32: a zero-copy view of the mapping); integers ->
  // I64 (ids); BOOL -> BOOL. UnsupportedError for complex and sub-byte types.
  Tensor get(std::string_view name) const;
  // The tensor in its own dtype when relprop has it (F32, F64, F16, BF16, I32, I64, U8,
  // BOOL): zero-copy when aligned, else copied. UnsupportedError otherwise.
  Tensor get_raw(std::string_view name) const;
  const std::string& origin() const { return origin_; }

 private:
  std::span<const std::byte> data(const SafetensorsTensorInfo& info) const;
  std::shared_ptr<const void> owner_;  // keeps the mapping or the bytes alive
  std::span<const std::byte> bytes_;
  SafetensorsHeader header_;
  std::string origin_;
};

// The file's bytes for `tensors` (any dtype and layout) and `metadata`. Tensors sorted by
// dtype alignment (largest first) then name; header padded with spaces to a multiple of
// 8. ValueError for empty, duplicate or reserved ("__metadata__") names.
std::vector<std::byte> serialize_safetensors(const std::vector<std::pair<std::string, Tensor>>& tensors,
                                             const std::map<std::string, std::string>& metadata = {});
// Writes a temporary file beside `path`, then renames it over `path`: a reader of the old
// file is never hurt, and a failed write leaves the old file as it was. IoError on failure.
void save_safetensors(const std::filesystem::path& path,
                      const std::vector<std::pair<std::string, Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata = {});

}  // namespace relprop
