// read_buffered_stream.h - a link's socket with a small read buffer in front.
//
// capnp reads each message with two reads (its segment table, then the
// rest), so a node link paid two read(2) calls per message, plus one that
// finds the socket empty: 5-7 reads per cross-node round trip in each
// backend. With 4 KiB buffered, the messages that arrived together cost one
// read. A read of 4 KiB or more that finds the buffer empty goes straight to
// the socket, so a 256 KiB vcopy chunk is copied out of the kernel once and
// at most the buffer's worth of it twice.
#pragma once

#include <kj/async-io.h>

#include <cstddef>

namespace vdvk::nodes {

class ReadBufferedStream final : public kj::AsyncIoStream {
 public:
  static constexpr size_t kBufferBytes = 4096;

  explicit ReadBufferedStream(kj::Own<kj::AsyncIoStream> inner) : inner_(kj::mv(inner)) {}

  // Returns fewer than min_bytes only at the end of the stream, like any
  // tryRead; bytes come out in the order they arrived.
  kj::Promise<size_t> tryRead(void* buffer, size_t min_bytes, size_t max_bytes) override;

  kj::Promise<void> write(const void* buffer, size_t size) override { return inner_->write(buffer, size); }
  kj::Promise<void> write(kj::ArrayPtr<const kj::ArrayPtr<const kj::byte>> pieces) override {
    return inner_->write(pieces);
  }
  kj::Promise<void> whenWriteDisconnected() override { return inner_->whenWriteDisconnected(); }
  void shutdownWrite() override { inner_->shutdownWrite(); }
  void abortRead() override { inner_->abortRead(); }
  void getsockopt(int level, int option, void* value, kj::uint* length) override {
    inner_->getsockopt(level, option, value, length);
  }
  void setsockopt(int level, int option, const void* value, kj::uint length) override {
    inner_->setsockopt(level, option, value, length);
  }
  void getsockname(struct sockaddr* addr, kj::uint* length) override { inner_->getsockname(addr, length); }
  void getpeername(struct sockaddr* addr, kj::uint* length) override { inner_->getpeername(addr, length); }

 private:
  // Moves up to `max` buffered bytes to `out`; returns how many.
  size_t Drain(kj::byte* out, size_t max);

  kj::Own<kj::AsyncIoStream> inner_;
  kj::byte buf_[kBufferBytes];
  size_t head_ = 0;  // first unread byte in buf_
  size_t len_ = 0;   // unread bytes from head_
};

}  // namespace vdvk::nodes
