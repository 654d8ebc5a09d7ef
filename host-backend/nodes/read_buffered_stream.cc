#include "host-backend/nodes/read_buffered_stream.h"

#include <algorithm>
#include <cstring>

namespace vdvk::nodes {

size_t ReadBufferedStream::Drain(kj::byte* out, size_t max) {
  const size_t n = std::min(max, len_);
  std::memcpy(out, buf_ + head_, n);
  head_ += n;
  len_ -= n;
  if (len_ == 0) head_ = 0;
  return n;
}

kj::Promise<size_t> ReadBufferedStream::tryRead(void* buffer, size_t min_bytes, size_t max_bytes) {
  auto* out = static_cast<kj::byte*>(buffer);
  const size_t have = Drain(out, max_bytes);
  if (have >= min_bytes) return have;
  // The buffer is empty now. A big read goes to the socket directly.
  if (max_bytes - have >= kBufferBytes) {
    return inner_->tryRead(out + have, min_bytes - have, max_bytes - have).then([have](size_t n) {
      return have + n;
    });
  }
  return inner_->tryRead(buf_, min_bytes - have, kBufferBytes).then([this, out, have, max_bytes](size_t n) {
    len_ = n;  // fewer than asked only at the end of the stream
    return have + Drain(out + have, max_bytes - have);
  });
}

}  // namespace vdvk::nodes
