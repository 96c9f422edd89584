#pragma once
// The files relprop writes. Each one is created under a unique temporary name in its
// destination folder (open with O_CREAT | O_EXCL | O_NOFOLLOW, so nothing that is already
// there, a planted link included, is opened), locked while it lives, flushed, and renamed
// into place whole: a reader sees the old file or the new one, never half of one; a link at
// the destination is replaced, not followed; two runs writing one name each write their
// own temporary and the last rename wins. A temporary is named
//   .NAME.relprop-XXXXXXXX.tmp
// (NAME the destination's name, cut short so the whole fits the folder's NAME_MAX; eight
// random characters): temporaries left by a killed run are recognised by that pattern and
// removed by remove_stale_temporaries, which never touches one that a live process holds.

#include <cstddef>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace relprop {

class OutputFile {
 public:
  // Creates the temporary beside `target`. IoError naming `target` when it cannot.
  explicit OutputFile(std::filesystem::path target);
  OutputFile(OutputFile&&) noexcept;
  OutputFile& operator=(OutputFile&&) noexcept;
  OutputFile(const OutputFile&) = delete;
  OutputFile& operator=(const OutputFile&) = delete;
  // Removes the temporary unless commit() renamed it into place.
  ~OutputFile();

  void write(const void* data, std::size_t size);
  void write(std::string_view bytes) { write(bytes.data(), bytes.size()); }
  // Flushes the bytes to the disk: the temporary is complete, not yet in place.
  void finish();
  // finish(), then renames the temporary over the target. IoError naming the target.
  void commit();

  const std::filesystem::path& target() const;
  const std::filesystem::path& temporary() const;

 private:
  struct State;
  std::unique_ptr<State> s_;
};

// Files that appear together or not at all: each written through add()'s OutputFile, then
// commit() renames them in the order they were added (put the one that marks the whole as
// done last). Until commit() returns, a failure (or destroying the set) removes every
// temporary and every target that commit() had already created; a target that existed
// before keeps its new content.
class OutputSet {
 public:
  OutputSet() = default;
  OutputSet(OutputSet&&) noexcept = default;
  OutputSet& operator=(OutputSet&&) noexcept = default;
  ~OutputSet();
  OutputFile& add(std::filesystem::path target);
  void commit();
  std::vector<std::filesystem::path> targets() const;

 private:
  std::vector<OutputFile> files_;
};

// Writes `bytes` to `path` through an OutputFile: whole or not at all.
void save_file(const std::filesystem::path& path, std::string_view bytes);

// Whether `filename` (a name, not a path) is an OutputFile temporary.
bool is_output_temporary(std::string_view filename);
// Removes from `dir` (not its subfolders) the OutputFile temporaries that no process holds
// any more: regular files named by the pattern above whose lock is free. Returns their
// paths; a folder that cannot be read removes nothing.
std::vector<std::filesystem::path> remove_stale_temporaries(const std::filesystem::path& dir);

// The longest file name `dir` takes (pathconf's NAME_MAX; 255 when it cannot tell).
std::size_t name_max(const std::filesystem::path& dir);

// The identity of a file's contents: "xxh3:" and XXH3's 64-bit hash in hex. IoError when it
// cannot be read.
std::string file_digest(const std::filesystem::path& path);

}  // namespace relprop
