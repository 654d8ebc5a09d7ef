// checksum.h - a fast incremental 64-bit checksum. Used by m3ftp/m3ftpd and
// the demo to check a transfer end to end: each side hashes what it read from
// or wrote to its own file, independently of the transfer code.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace vdvk::tools {

// The value depends only on the bytes, not on how they were split into
// Update calls. Four lanes of FNV-1a-style xor-multiply over 64-bit
// little-endian words (word k goes to lane k % 4), so the lanes'
// multiplications overlap: several GB/s, where byte-at-a-time FNV-1a
// (the first version) ran near 1 GB/s and cost m3ftp as much CPU as the
// transfer itself. Each lane step is a bijection of the lane for a given
// word, so streams that differ in one word always differ in the end; Value()
// mixes the lanes, the < 32 tail bytes and the length through a finalizer.
class Checksum64 {
 public:
  void Update(const void* data, size_t len);
  uint64_t Value() const;

 private:
  void Blocks(const unsigned char* p, size_t blocks);
  uint64_t lane_[4] = {0xcbf29ce484222325ull, 0x84222325cbf29ce4ull, 0x9ce484222325cbf2ull,
                       0x2325cbf29ce48422ull};
  unsigned char tail_[32] = {};
  size_t tail_len_ = 0;
  uint64_t total_ = 0;
};

// Hashes a whole file; returns false (errno set) if it cannot be read.
bool HashFile(const std::string& path, uint64_t* out, uint64_t* size_out);

// Deterministic pattern bytes for tests and generated files (xorshift-based,
// so a misplaced or stale chunk does not hash or compare equal).
void FillPattern(void* buf, size_t len, uint64_t seed);

}  // namespace vdvk::tools
