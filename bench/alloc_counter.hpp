// Counts calls of the global operator new in the benchmark's process (alloc_counter.cpp
// replaces it), so that a benchmark can print allocations per operation.
#pragma once

#include <cstdint>

namespace opencode_cache::bench {

// Allocations made through operator new (every form) since the process started.
std::uint64_t allocations() noexcept;

}  // namespace opencode_cache::bench
