#pragma once
// Opening the files relprop reads. Only regular files are read: a FIFO, a socket, a
// device or a directory is refused by its type before it is opened for reading (a FIFO
// would block the open until some writer came, a device such as /dev/zero would never
// end), and checked again on the open descriptor, so a path swapped in between is
// refused too. Every reader of the library (graphs, weights, tokenizers, configs, images,
// name lists) goes through these.

#include <filesystem>
#include <string>
#include <string_view>

namespace relprop {

// A read-only descriptor (O_CLOEXEC) of the regular file `path`; the caller closes it.
// IoError naming `what` and the path when it does not exist, is not a regular file, or
// cannot be opened.
int open_regular_file(const std::filesystem::path& path, std::string_view what = "file");

// The whole of the regular file `path` (as open_regular_file; IoError on a read error).
std::string read_regular_file(const std::filesystem::path& path, std::string_view what = "file");

}  // namespace relprop
