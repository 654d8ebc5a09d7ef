#include "proxies/common/checksum.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

namespace vdvk::tools {

void Fnv1a64::Update(const void* data, size_t len) {
  const auto* p = static_cast<const unsigned char*>(data);
  uint64_t h = h_;
  for (size_t i = 0; i < len; ++i) {
    h ^= p[i];
    h *= 0x100000001b3ull;  // FNV prime
  }
  h_ = h;
}

bool HashFile(const std::string& path, uint64_t* out, uint64_t* size_out) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  std::vector<char> buf(1 << 20);
  Fnv1a64 h;
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
