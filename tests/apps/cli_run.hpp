#pragma once
// Running the command-line tool in-process for the CLI tests: run_cli with "relprop" in
// front of the arguments, its exit status and both streams captured.

#include <sstream>
#include <string>
#include <vector>

#include "apps/cli.hpp"

namespace relprop::testing {

struct Run {
  int status;
  std::string out, err;
};

inline Run cli(std::vector<std::string> args) {
  args.insert(args.begin(), "relprop");
  std::vector<const char*> argv;
  for (const auto& a : args) argv.push_back(a.c_str());
  std::ostringstream out, err;
  const int status = run_cli(static_cast<int>(argv.size()), argv.data(), out, err);
  return {status, out.str(), err.str()};
}

}  // namespace relprop::testing
