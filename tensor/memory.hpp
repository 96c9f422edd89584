#pragma once
// How much memory relprop may use, and byte counts as text.
//
// Before a graph runs, every node's output shape and byte size is inferred from the graph
// and the inputs, and the memory the run would hold is estimated (Graph::plan,
// nn/graph.hpp); a run whose estimate passes max_memory() is refused with a ResourceError
// naming the node, before any kernel runs. A single host block larger than the limit is
// refused as well, and an allocation the system refuses is a ResourceError, never
// std::bad_alloc.

#include <cstdint>
#include <string>
#include <string_view>

namespace relprop {

// The limit in bytes: set_max_memory's value, or by default what the machine has
// available (available_memory()).
std::uint64_t max_memory();
// Sets the limit (bytes) for the whole process; 0 restores the default.
void set_max_memory(std::uint64_t bytes);
// Whether set_max_memory gave a limit (else max_memory() is the default).
bool max_memory_set();
// Memory available to this process now: MemAvailable of /proc/meminfo, lowered to what
// the control group's limit leaves (cgroup v2 memory.max - memory.current, or v1's
// memory.limit_in_bytes - memory.usage_in_bytes) when one is set; the physical memory when
// /proc/meminfo cannot be read. Re-read at most once a second.
std::uint64_t available_memory();

// "300 bytes", "64.0 KiB", "1.5 GiB".
std::string format_bytes(std::uint64_t bytes);
// A byte count as the command line takes it: a number with an optional unit, K, M, G or T
// (powers of 1024; "KiB", "MB", "GiB" and lower case are read alike), e.g. "512M",
// "1.5G", "4096". ValueError naming `what` for anything else, zero, or more than 2^63.
std::uint64_t parse_bytes(std::string_view text, std::string_view what = "memory size");

}  // namespace relprop
