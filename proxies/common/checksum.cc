#include "proxies/common/checksum.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>
#include <vector>

namespace vdvk::tools {

namespace {

constexpr uint64_t kPrime = 0x100000001b3ull;  // the FNV-1a 64 prime

uint64_t LoadLe64(const unsigned char* p) {
  uint64_t w;
  std::memcpy(&w, p, sizeof(w));
  // Little-endian words, so both ends of a transfer agree on any host.
  if constexpr (std::endian::native == std::endian::big) w = __builtin_bswap64(w);
  return w;
}

// MurmurHash3's 64-bit finalizer: every input bit reaches every output bit.
uint64_t Mix(uint64_t h) {
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ull;
  h ^= h >> 33;
  return h;
}

}  // namespace

void Checksum64::Blocks(const unsigned char* p, size_t blocks) {
  uint64_t a = lane_[0], b = lane_[1], c = lane_[2], d = lane_[3];
  for (size_t i = 0; i < blocks; ++i, p += 32) {
    a = (a ^ LoadLe64(p)) * kPrime;
    b = (b ^ LoadLe64(p + 8)) * kPrime;
    c = (c ^ LoadLe64(p + 16)) * kPrime;
    d = (d ^ LoadLe64(p + 24)) * kPrime;
  }
  lane_[0] = a, lane_[1] = b, lane_[2] = c, lane_[3] = d;
}

void Checksum64::Update(const void* data, size_t len) {
  const auto* p = static_cast<const unsigned char*>(data);
  total_ += len;
  if (tail_len_ > 0) {  // complete the block begun by an earlier call
    const size_t n = std::min(len, sizeof(tail_) - tail_len_);
    std::memcpy(tail_ + tail_len_, p, n);
    tail_len_ += n;
    p += n;
    len -= n;
    if (tail_len_ < sizeof(tail_)) return;
    Blocks(tail_, 1);
    tail_len_ = 0;
  }
  Blocks(p, len / 32);
  std::memcpy(tail_, p + len / 32 * 32, len % 32);
  tail_len_ = len % 32;
}

uint64_t Checksum64::Value() const {
  uint64_t t = 0xcbf29ce484222325ull;  // the tail, byte-wise FNV-1a
  for (size_t i = 0; i < tail_len_; ++i) t = (t ^ tail_[i]) * kPrime;
  uint64_t h = Mix(total_);
  for (uint64_t l : lane_) h = Mix(h ^ l);
  return Mix(h ^ t);
}

bool HashFile(const std::string& path, uint64_t* out, uint64_t* size_out) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  std::vector<char> buf(1 << 20);
  Checksum64 h;
  uint64_t total = 0;
  for (;;) {
    ssize_t n = read(fd, buf.data(), buf.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      int e = errno;
      close(fd);
      errno = e;
      return false;
    }
    if (n == 0) break;
    h.Update(buf.data(), static_cast<size_t>(n));
    total += static_cast<uint64_t>(n);
  }
  close(fd);
  *out = h.Value();
  if (size_out != nullptr) *size_out = total;
  return true;
}

void FillPattern(void* buf, size_t len, uint64_t seed) {
  auto* p = static_cast<unsigned char*>(buf);
  uint64_t x = seed * 0x9e3779b97f4a7c15ull + 0x2545f4914f6cdd1dull;
  size_t i = 0;
  while (i < len) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    size_t n = len - i < 8 ? len - i : 8;
    std::memcpy(p + i, &x, n);
    i += n;
  }
}

}  // namespace vdvk::tools
