#pragma once
// The `relprop` command-line tool as a function, so tests can run it in-process.

#include <ostream>

namespace relprop {

// Runs `relprop ARGS...`; returns the exit status (0 ok, 1 bad input or failure,
// 2 usage error). Errors are written to `err` as one line.
int run_cli(int argc, const char* const* argv, std::ostream& out, std::ostream& err);

}  // namespace relprop
