// checksum.h - 64-bit FNV-1a, incremental. Used by m3ftp/m3ftpd and the demo
// to check a transfer end to end: each side hashes what it read from or wrote
// to its own file, independently of the transfer code.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace vdvk::tools {

class Fnv1a64 {
 public:
  void Update(const void* data, size_t len);
  uint64_t Value() const { return h_; }

 private:
  uint64_t h_ = 0xcbf29ce484222325ull;  // FNV offset basis
};

// Hashes a whole file; returns false (errno set) if it cannot be read.
bool HashFile(const std::string& path, uint64_t* out, uint64_t* size_out);

// Deterministic pattern bytes for tests and generated files (xorshift-based,
// so a misplaced or stale chunk does not hash or compare equal).
void FillPattern(void* buf, size_t len, uint64_t seed);

}  // namespace vdvk::tools
