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

#include "relprop/io/file.hpp"
#include "relprop/tensor/tensor.hpp"

namespace relprop {

// Every way a safetensors file can be malformed; each is its own typed error. Listed in
// the order the parser checks them. X(enumerator, description)
#define RELPROP_SAFETENSORS_ERRORS(X)                                                          \
  /* the length prefix */                                                                      \
  X(FileTooSmall, "file shorter than the 8-byte header length")                                \
  X(HeaderLengthZero, "header length is 0")                                                    \
  X(HeaderLengthOverflow, "8 + header length overflows 64 bits")                               \
  X(HeaderTooLarge, "header length above 100,000,000 bytes")                                   \
  X(HeaderLengthExceedsFile, "header runs past the end of the file")                           \
  /* the header text */                                                                        \
  X(HeaderNotUtf8, "header is not valid UTF-8")                                                \
  X(InvalidJson, "header is not valid JSON")                                                   \
  X(NestingTooDeep, "header JSON nests deeper than any valid header")                          \
  X(HeaderNotObject, "header JSON is not an object")                                           \
  X(DuplicateName, "a tensor name appears twice")                                              \
  X(DuplicateKey, "a key appears twice inside a tensor entry or __metadata__")                 \
  /* __metadata__ */                                                                           \
  X(MetadataNameAsTensor, "a tensor entry named __metadata__")                                 \
  X(MetadataNotObject, "__metadata__ is not an object")                                        \
  X(MetadataValueNotString, "a __metadata__ value is not a string")                            \
  /* one tensor entry */                                                                       \
  X(EntryNotObject, "a tensor entry is not an object")                                         \
  X(MissingDtype, "a tensor entry has no dtype")                                               \
  X(DtypeNotString, "dtype is not a string")                                                   \
  X(UnknownDtype, "unknown dtype")                                                             \
  X(MissingShape, "a tensor entry has no shape")                                               \
  X(ShapeNotArray, "shape is not a list")                                                      \
  X(RankTooLarge, "rank above 8")                                                              \
  X(MissingDataOffsets, "a tensor entry has no data_offsets")                                  \
  X(DataOffsetsNotArray, "data_offsets is not a list")                                         \
  X(DataOffsetsNotPair, "data_offsets does not have exactly 2 elements")                       \
  X(NotNonNegativeInteger, "a dimension or offset is negative, fractional or not a number")    \
  X(DimensionTooLarge, "a dimension is 2^48 or more")                                          \
  X(OffsetTooLarge, "an offset is 2^48 or more")                                               \
  X(UnknownEntryKey, "a tensor entry has a key other than dtype, shape, data_offsets")         \
  X(EndBeforeBegin, "data_offsets END < BEGIN")                                                \
  X(ShapeOverflow, "the element count of the shape overflows")                                 \
  X(BitSizeOverflow, "the bit size of the tensor overflows 64 bits")                           \
  X(FractionalByteSize, "the tensor's size is not a whole number of bytes")                    \
  X(SizeMismatch, "END - BEGIN differs from the shape's size in bytes")                        \
  /* the data section as a whole */                                                            \
  X(GapAtStart, "the data section's first bytes belong to no tensor")                          \
  X(GapBetweenTensors, "bytes between two tensors belong to no tensor")                        \
  X(OverlappingTensors, "two tensors' byte ranges overlap")                                    \
  X(AliasedTensors, "several tensors share one byte range")                                    \
  X(TrailingBytes, "bytes after the last tensor")                                              \
  X(MissingBytes, "the data section is shorter than the tensors need")

// One enumerator per malformation, in RELPROP_SAFETENSORS_ERRORS' order.
enum class SafetensorsErrorKind {
#define X(e, s) e,
  RELPROP_SAFETENSORS_ERRORS(X)
#undef X
};

// A short description of the kind ("header is not valid UTF-8").
std::string_view to_string(SafetensorsErrorKind kind);

// A malformed safetensors file; kind() says which check failed.
class SafetensorsError : public FormatError {
 public:
  SafetensorsError(SafetensorsErrorKind kind, const std::string& msg) : FormatError(msg), kind_(kind) {}
  SafetensorsErrorKind kind() const { return kind_; }  // what was wrong

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
std::string_view st_dtype_name(StDType d);  // as the header spells it ("BF16")
std::size_t st_dtype_bits(StDType d);       // bits per element (4 for F4)

// One tensor entry of a header.
struct SafetensorsTensorInfo {
  std::string name;
  StDType dtype = StDType::F32;
  Shape shape;
  std::uint64_t begin = 0, end = 0;  // offsets in the data section
};

// A validated header: sizes, tensor entries and metadata.
struct SafetensorsHeader {
  std::uint64_t header_size = 0;  // N
  std::uint64_t data_offset = 0;  // 8 + N
  std::vector<SafetensorsTensorInfo> tensors;  // by begin offset, then name
  std::map<std::string, std::string> metadata;
  const SafetensorsTensorInfo* find(std::string_view name) const;  // null when absent
};

// Validates the whole file: the length prefix, the header text, every entry, and that the
// tensors tile the data section exactly (no gap, overlap, or byte left over). A pure
// function of the bytes; throws SafetensorsError naming the part and what was wrong.
// Stricter than the reference implementation: duplicate keys, rank above 8, dimensions
// or offsets of 2^48 or more, unknown entry keys and a tensor named __metadata__ are
// rejected; shapes whose non-zero dimensions multiply past INT64_MAX are rejected even
// when another dimension is 0 (their strides would overflow).
SafetensorsHeader parse_safetensors_header(std::span<const std::byte> file);

// A validated safetensors file, memory-mapped (or in memory), handing out its tensors.
class SafetensorsFile {
 public:
  // Memory-maps `path` and validates it. IoError (naming the path) if it cannot be read;
  // SafetensorsError, its message prefixed with the path, if it is malformed.
  static SafetensorsFile open(const std::filesystem::path& path);
  // The same over bytes in memory; `origin` prefixes error messages.
  static SafetensorsFile from_bytes(std::vector<std::byte> bytes, std::string origin = "<memory>");

  // Tensors handed out share the mapping, so moving the file never invalidates them;
  // copying is refused to keep ownership obvious.
  SafetensorsFile(SafetensorsFile&&) noexcept = default;
  SafetensorsFile& operator=(SafetensorsFile&&) noexcept = default;
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;

  const SafetensorsHeader& header() const { return header_; }  // the parsed header
  // The header's __metadata__ (empty when absent).
  const std::map<std::string, std::string>& metadata() const { return header_.metadata; }
  std::vector<std::string> names() const;  // the tensor names, sorted
  bool contains(std::string_view name) const { return lookup(name) != nullptr; }  // has `name`
  // NotFoundError naming the tensor and the file, listing up to 10 of the names present.
  const SafetensorsTensorInfo& info(std::string_view name) const;
  // Floating dtypes (F32, F64, F16, BF16, F8_E4M3, F8_E5M2) -> F32, aligned F32 as a
  // zero-copy view of the mapping; integers (U8, I8 ... U64) -> I64 (ids), ValueError for
  // a U64 value above INT64_MAX; BOOL -> BOOL. UnsupportedError for C64, F4, F6_*, F8_E8M0.
  Tensor get(std::string_view name) const;
  // The tensor in its own dtype when relprop has it (F32, F64, F16, BF16, I32, I64, U8,
  // BOOL): zero-copy when aligned, else copied. UnsupportedError otherwise. BOOL bytes
  // other than 0 and 1 are read as true (a copy, so the tensor only ever holds 0 or 1).
  Tensor get_raw(std::string_view name) const;
  // Tells the kernel that tensor `name`'s bytes will not be read again soon (its whole
  // pages leave resident memory; a later read brings them back from the file). Contents
  // never change. A no-op for in-memory files, unknown names, or kernels without it.
  void release_pages(std::string_view name) const;
  const std::string& origin() const { return origin_; }  // the path, or from_bytes' origin
  // IoError naming the file when it has shrunk since open() mapped it (MappedFile::
  // check_intact, io/mmap.hpp); nothing for from_bytes. get() and get_raw() check after
  // every copy they make; a zero-copy tensor is checked by whoever reads it (the graph
  // after each run, GraphExplainer after each explanation).
  void check_intact() const;
  // The whole file as mapped (or as given to from_bytes); zero-copy tensors point into it.
  std::span<const std::byte> bytes() const { return bytes_; }

 private:
  SafetensorsFile() = default;
  static SafetensorsFile make(std::shared_ptr<const void> owner, std::span<const std::byte> bytes,
                              std::string origin);
  const SafetensorsTensorInfo* lookup(std::string_view name) const;
  Tensor read(std::string_view name) const;      // get() before the file's check
  Tensor read_raw(std::string_view name) const;  // get_raw() before the file's check
  std::span<const std::byte> data(const SafetensorsTensorInfo& info) const;
  [[noreturn]] void unsupported(const SafetensorsTensorInfo& info) const;

  std::shared_ptr<const void> owner_;  // keeps the mapping or the bytes alive
  std::span<const std::byte> bytes_;   // the whole file
  SafetensorsHeader header_;
  std::vector<std::size_t> by_name_;  // indices into header_.tensors, sorted by name
  std::string origin_;
  bool mapped_ = false;  // open()ed: bytes_ is a file mapping
};

// The file's bytes for `tensors` (any relprop dtype, any layout: written contiguous) and
// `metadata`. Tensors sorted by dtype alignment (largest first) then name, so each starts
// aligned to its element size; header padded with spaces to a multiple of 8. ValueError
// for empty, duplicate or reserved ("__metadata__") names, names or metadata that are not
// UTF-8, undefined tensors, and shapes a reader would reject (rank > 8, dimension >= 2^48).
std::vector<std::byte> serialize_safetensors(const std::vector<std::pair<std::string, Tensor>>& tensors,
                                             const std::map<std::string, std::string>& metadata = {});
// Writes a unique temporary file beside `path` (relprop::OutputFile), flushes it, then
// renames it over `path`: a reader of the old file is never hurt, a link at `path` is
// replaced rather than followed, and a failed write leaves the old file as it was.
// IoError (naming the path) on failure; the temporary file is removed.
void save_safetensors(const std::filesystem::path& path,
                      const std::vector<std::pair<std::string, Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata = {});
// The same bytes into `file` (not committed: the caller commits it, alone or with others).
void write_safetensors(OutputFile& file, const std::vector<std::pair<std::string, Tensor>>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

}  // namespace relprop
