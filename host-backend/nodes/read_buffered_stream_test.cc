// read_buffered_stream_test.cc - ReadBufferedStream over a kj pipe, with the
// reads that reach the pipe counted: the bytes come out whole and in order
// for any split of reads, messages that arrived together cost one read of
// the pipe, big reads bypass the buffer, and the end of the stream shows.
#include "host-backend/nodes/read_buffered_stream.h"

#include <gtest/gtest.h>

#include <memory>
#include <vector>

namespace vdvk::nodes {
namespace {

// Passes everything to the pipe end and counts its reads.
class CountingStream final : public kj::AsyncIoStream {
 public:
  CountingStream(kj::AsyncIoStream& inner, int* reads) : inner_(inner), reads_(reads) {}
  kj::Promise<size_t> tryRead(void* buffer, size_t min_bytes, size_t max_bytes) override {
    ++*reads_;
    return inner_.tryRead(buffer, min_bytes, max_bytes);
  }
  kj::Promise<void> write(const void* buffer, size_t size) override { return inner_.write(buffer, size); }
  kj::Promise<void> write(kj::ArrayPtr<const kj::ArrayPtr<const kj::byte>> pieces) override {
    return inner_.write(pieces);
  }
  kj::Promise<void> whenWriteDisconnected() override { return inner_.whenWriteDisconnected(); }
  void shutdownWrite() override { inner_.shutdownWrite(); }

 private:
  kj::AsyncIoStream& inner_;
  int* reads_;
};

struct Rig {
  Rig()
      : io(kj::setupAsyncIo()),
        pipe(io.provider->newTwoWayPipe()),
        stream(kj::heap<CountingStream>(*pipe.ends[0], &reads)) {}
  std::vector<kj::byte> Bytes(size_t n, size_t from = 0) {
    std::vector<kj::byte> v(n);
    for (size_t i = 0; i < n; ++i) v[i] = static_cast<kj::byte>((from + i) * 131 + 7);
    return v;
  }
  void Send(const std::vector<kj::byte>& v) { pipe.ends[1]->write(v.data(), v.size()).wait(io.waitScope); }
  // Reads min..max bytes through `stream`; returns what came.
  std::vector<kj::byte> Read(size_t min, size_t max) {
    std::vector<kj::byte> out(max);
    out.resize(stream.tryRead(out.data(), min, max).wait(io.waitScope));
    return out;
  }

  int reads = 0;
  kj::AsyncIoContext io;
  kj::TwoWayPipe pipe;
  ReadBufferedStream stream;
};

TEST(ReadBufferedStreamTest, MessagesThatArrivedTogetherCostOneRead) {
  auto rig = std::make_unique<Rig>();
  const auto all = rig->Bytes(8 + 72 + 8 + 32);
  rig->Send(all);
  // capnp's pattern: a segment table, then the rest of the message.
  std::vector<kj::byte> got;
  for (size_t n : {8, 72, 8, 32}) {
    auto part = rig->Read(n, n);
    ASSERT_EQ(part.size(), n);
    got.insert(got.end(), part.begin(), part.end());
  }
  EXPECT_EQ(got, all);
  EXPECT_EQ(rig->reads, 1);
}

TEST(ReadBufferedStreamTest, BigReadsGoStraightToTheStream) {
  auto rig = std::make_unique<Rig>();
  const auto all = rig->Bytes(300 * 1024);
  // Sent in the background: the pipe holds less than this.
  auto sent = rig->pipe.ends[1]->write(all.data(), all.size());
  auto head = rig->Read(8, 8);
  auto body = rig->Read(all.size() - 8, all.size() - 8);
  sent.wait(rig->io.waitScope);
  head.insert(head.end(), body.begin(), body.end());
  EXPECT_EQ(head, all);
  // The head filled the buffer (one read); the rest came with reads of the
  // body's remainder straight into it, not 4 KiB at a time.
  EXPECT_LT(rig->reads, 1 + static_cast<int>(all.size() / ReadBufferedStream::kBufferBytes) / 4);
}

TEST(ReadBufferedStreamTest, OddSplitsKeepTheOrder) {
  auto rig = std::make_unique<Rig>();
  const auto all = rig->Bytes(3 * ReadBufferedStream::kBufferBytes + 77);
  rig->Send(all);
  std::vector<kj::byte> got;
  size_t step = 1;
  while (got.size() < all.size()) {
    const size_t n = std::min(step, all.size() - got.size());
    auto part = rig->Read(n, n);
    ASSERT_EQ(part.size(), n);
    got.insert(got.end(), part.begin(), part.end());
    step = step * 3 + 1;
  }
  EXPECT_EQ(got, all);
}

TEST(ReadBufferedStreamTest, EndOfStreamGivesWhatIsLeftThenNothing) {
  auto rig = std::make_unique<Rig>();
  const auto all = rig->Bytes(10);
  rig->Send(all);
  rig->pipe.ends[1]->shutdownWrite();
  EXPECT_EQ(rig->Read(4, 4), std::vector<kj::byte>(all.begin(), all.begin() + 4));
  EXPECT_EQ(rig->Read(16, 16), std::vector<kj::byte>(all.begin() + 4, all.end()));  // short: the end
  EXPECT_TRUE(rig->Read(1, 16).empty());
}

}  // namespace
}  // namespace vdvk::nodes
