#pragma once
// Typed errors. User mistakes (bad shapes, unknown names, malformed files, unsupported
// rule/op pairs) throw a subclass of relprop::Error whose message says what was wrong
// and where. Broken internal invariants are asserts (RELPROP_ASSERT), kept on in tests.

#include <stdexcept>
#include <string>

namespace relprop {

// Base of every error relprop throws on purpose.
class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}  // `what`: the message
};

// A tensor shape does not fit what an op or a file expects.
class ShapeError : public Error {
 public:
  using Error::Error;
};

// A tensor has the wrong element type, or a type cannot be converted.
class DtypeError : public Error {
 public:
  using Error::Error;
};

// An index or dimension is out of range.
class IndexError : public Error {
 public:
  using Error::Error;
};

// An argument has an invalid value (negative epsilon, alpha - beta != 1, ...).
class ValueError : public Error {
 public:
  using Error::Error;
};

// A name (weight, node, input, op, rule, composite) is not known.
class NotFoundError : public Error {
 public:
  using Error::Error;
};

// A rule that an op does not support, or a feature not built in (CUDA).
class UnsupportedError : public Error {
 public:
  using Error::Error;
};

// The operating system refused a file operation.
class IoError : public Error {
 public:
  using Error::Error;
};

// A file's contents are malformed (safetensors, graph JSON).
class FormatError : public Error {
 public:
  using Error::Error;
};

// A model graph is inconsistent (input used before definition, wrong weight shape, ...).
class GraphError : public Error {
 public:
  using Error::Error;
};

// A size is too large for memory or for one of relprop's stated limits: a run whose
// planned memory passes the limit (max_memory(), tensor/memory.hpp), a picture above its
// byte limit, or an allocation the system refused.
class ResourceError : public Error {
 public:
  using Error::Error;
};

// Prints a failed RELPROP_ASSERT (message, expression, file, line) to stderr and aborts.
[[noreturn]] void assert_fail(const char* expr, const char* file, int line, const char* msg);

}  // namespace relprop

// Internal invariant; a failure is a bug in relprop, not in the caller's input.
#define RELPROP_ASSERT(cond, msg)                                      \
  do {                                                                 \
    if (!(cond)) ::relprop::assert_fail(#cond, __FILE__, __LINE__, msg); \
  } while (0)
