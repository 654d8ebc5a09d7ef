// vcopy_xfer_test.cc - the bytes of a remote vcopy in process: the caller's
// ChunkPeer served over a real capnp connection (a kj pipe pair), the
// callee's RunVcopy driving it, both parties buffers of this process
// (process_vm_* on our own pid). Checks that a streamed copy is complete only
// once every byte landed (the callee's "all sent" comes first), that a write
// error or a callee that skips chunks fails the copy, and the read direction.
#include "host-backend/nodes/vcopy_xfer.h"

#include <capnp/rpc-twoparty.h>
#include <gtest/gtest.h>
#include <kj/async-io.h>
#include <unistd.h>

#include <algorithm>
#include <memory>
#include <vector>

#include "dvk/dvk.h"
#include "host-backend/nodes/link_loop.h"

namespace vdvk::nodes {
namespace {

// Serves `peer` as the bootstrap capability of one end of a pipe; the other
// end holds a client of it, as the callee's node does.
struct Rig {
  explicit Rig(kj::Own<wire::ChunkPeer::Server> peer)
      : io(kj::setupAsyncIo()),
        pipe(io.provider->newTwoWayPipe()),
        caller_net(*pipe.ends[0], capnp::rpc::twoparty::Side::SERVER, LinkReaderOptions()),
        caller(kj::heap(capnp::makeRpcServer(caller_net, kj::mv(peer)))),
        callee_net(*pipe.ends[1], capnp::rpc::twoparty::Side::CLIENT, LinkReaderOptions()),
        callee(capnp::makeRpcClient(callee_net)) {}

  wire::ChunkPeer::Client Peer() {
    capnp::word scratch[4] = {};
    capnp::MallocMessageBuilder b(scratch);
    auto id = b.getRoot<capnp::rpc::twoparty::VatId>();
    id.setSide(capnp::rpc::twoparty::Side::SERVER);
    return callee.bootstrap(id).castAs<wire::ChunkPeer>();
  }

  kj::AsyncIoContext io;
  kj::TwoWayPipe pipe;
  capnp::TwoPartyVatNetwork caller_net;
  // A heap object so that a test can end the caller's side (and with it the
  // bootstrap reference to the peer, which a real vcopy passes as a call
  // parameter and loses when the call ends).
  kj::Own<capnp::RpcSystem<capnp::rpc::twoparty::VatId>> caller;
  capnp::TwoPartyVatNetwork callee_net;
  capnp::RpcSystem<capnp::rpc::twoparty::VatId> callee;
};

PartyRef Self(const std::vector<uint8_t>& buf) {
  return PartyRef{ProcKey{0, getpid()}, reinterpret_cast<uintptr_t>(buf.data()), nullptr, VcopyPartyKey{}};
}

std::vector<uint8_t> Pattern(size_t n, uint8_t seed) {
  std::vector<uint8_t> v(n);
  uint32_t x = 0x9e3779b9u + seed;
  for (auto& c : v) {
    x ^= x << 13, x ^= x >> 17, x ^= x << 5;
    c = static_cast<uint8_t>(x);
  }
  return v;
}

RemoteVcopyGrant Grant(uint32_t bytes, bool party_is_src) {
  RemoteVcopyGrant g;
  g.bytes = bytes;
  g.party_is_src = party_is_src;
  return g;
}

// One streaming write of the chunk of `src` at `off`, as the callee sends it.
void WriteChunk(Rig& rig, wire::ChunkPeer::Client& peer, const std::vector<uint8_t>& src, uint64_t off) {
  auto req = peer.writeRequest();
  req.setOffset(off);
  req.setData(kj::arrayPtr(src.data() + off, kVcopyChunk));
  req.send().wait(rig.io.waitScope);
}

// A read of `n` bytes at `off`. Calls on one peer run in order, so it is
// answered only after every write sent before it ran.
capnp::RemotePromise<wire::ChunkPeer::ReadResults> Read(wire::ChunkPeer::Client& peer, uint64_t off, uint32_t n) {
  auto req = peer.readRequest();
  req.setOffset(off);
  req.setBytes(n);
  return req.send();
}

// More than kVcopyWindow chunks, the last one short.
constexpr uint32_t kBytes = 5 * kVcopyChunk + 4097;

TEST(VcopyXferTest, StreamedCopyCompletesWhenEveryByteLanded) {
  const std::vector<uint8_t> src = Pattern(kBytes, 1);
  std::vector<uint8_t> dst(kBytes, 0);
  ChunkPeerHandle h = MakeChunkPeer(Self(dst), kBytes, true);
  auto rig = std::make_unique<Rig>(kj::mv(h.server));
  // The callee's party is the source: it streams into the caller's peer.
  EXPECT_EQ(RunVcopy(Grant(kBytes, true), Self(src), rig->Peer()).wait(rig->io.waitScope), 0);
  EXPECT_EQ(h.landed.wait(rig->io.waitScope), 0);
  EXPECT_TRUE(dst == src);
}

TEST(VcopyXferTest, LandedWaitsForTheLastChunk) {
  const std::vector<uint8_t> src = Pattern(2 * kVcopyChunk, 2);
  std::vector<uint8_t> dst(src.size(), 0);
  ChunkPeerHandle h = MakeChunkPeer(Self(dst), static_cast<uint32_t>(src.size()), true);
  auto rig = std::make_unique<Rig>(kj::mv(h.server));
  auto peer = rig->Peer();
  WriteChunk(*rig, peer, src, 0);
  rig->io.waitScope.poll();
  EXPECT_FALSE(h.landed.poll(rig->io.waitScope)) << "complete after half of the bytes";
  WriteChunk(*rig, peer, src, kVcopyChunk);
  EXPECT_EQ(h.landed.wait(rig->io.waitScope), 0);
  EXPECT_TRUE(dst == src);
  // A write after the copy completed (a buggy or hostile callee) must not
  // reach memory the caller's process may already use for something else.
  WriteChunk(*rig, peer, Pattern(src.size(), 7), 0);
  // A streaming write's send() resolves before the write ran; a call on the
  // same peer is answered only after it. That one is a read, which a peer
  // the callee writes into refuses.
  EXPECT_ANY_THROW(Read(peer, 0, 1).wait(rig->io.waitScope)) << "read from a destination served";
  EXPECT_TRUE(dst == src) << "a late write landed";
}

TEST(VcopyXferTest, CalleeThatSkipsAChunkFailsTheCopy) {
  const std::vector<uint8_t> src = Pattern(2 * kVcopyChunk, 3);
  std::vector<uint8_t> dst(src.size(), 0);
  ChunkPeerHandle h = MakeChunkPeer(Self(dst), static_cast<uint32_t>(src.size()), true);
  auto rig = std::make_unique<Rig>(kj::mv(h.server));
  {
    auto peer = rig->Peer();
    WriteChunk(*rig, peer, src, kVcopyChunk);  // the second chunk only
  }
  rig->io.waitScope.poll();
  EXPECT_FALSE(h.landed.poll(rig->io.waitScope)) << "settled while the peer was still reachable";
  // The peer is gone: nothing can land any more.
  rig->caller = nullptr;
  EXPECT_EQ(h.landed.wait(rig->io.waitScope), EDVSFAULT);
}

TEST(VcopyXferTest, FirstWriteErrorFailsTheCopyAtOnce) {
  const std::vector<uint8_t> src = Pattern(2 * kVcopyChunk, 4);
  // A destination address nothing is mapped at: process_vm_writev fails.
  const PartyRef bad{ProcKey{0, getpid()}, 4096, nullptr, VcopyPartyKey{}};
  ChunkPeerHandle h = MakeChunkPeer(bad, static_cast<uint32_t>(src.size()), true);
  auto rig = std::make_unique<Rig>(kj::mv(h.server));
  auto peer = rig->Peer();  // still held: the error alone settles the copy
  WriteChunk(*rig, peer, src, 0);
  EXPECT_EQ(h.landed.wait(rig->io.waitScope), EDVSFAULT);
}

TEST(VcopyXferTest, ReadDirectionFillsTheCalleesParty) {
  const std::vector<uint8_t> src = Pattern(kBytes, 5);
  std::vector<uint8_t> dst(kBytes, 0);
  ChunkPeerHandle h = MakeChunkPeer(Self(src), kBytes, false);
  auto rig = std::make_unique<Rig>(kj::mv(h.server));
  // The callee's party is the destination: it reads from the caller's peer.
  EXPECT_EQ(RunVcopy(Grant(kBytes, false), Self(dst), rig->Peer()).wait(rig->io.waitScope), 0);
  EXPECT_TRUE(dst == src);
  // The caller's party is the source here: a callee may not write into it.
  auto peer = rig->Peer();
  const std::vector<uint8_t> before = src;
  WriteChunk(*rig, peer, Pattern(kBytes, 8), 0);  // streaming: returns before the write ran
  // The next call is answered after the write ran, and capnp fails it with
  // the refused write's error.
  EXPECT_ANY_THROW(Read(peer, 0, 1).wait(rig->io.waitScope)) << "write into a source accepted";
  EXPECT_TRUE(src == before) << "a write into the source party landed";
}

TEST(VcopyXferTest, ReadBeyondThePartyIsRefused) {
  const std::vector<uint8_t> src = Pattern(kVcopyChunk, 6);
  ChunkPeerHandle h = MakeChunkPeer(Self(src), kVcopyChunk, false);
  auto rig = std::make_unique<Rig>(kj::mv(h.server));
  auto peer = rig->Peer();
  EXPECT_ANY_THROW(Read(peer, 1, kVcopyChunk).wait(rig->io.waitScope));
}

TEST(VcopyXferTest, InlineDataIsTheCopyAndNothingIsRead) {
  constexpr uint32_t kSmall = 4096 + 3;
  const std::vector<uint8_t> sent = Pattern(kSmall, 9);
  const std::vector<uint8_t> peers = Pattern(kSmall, 10);  // what a read would bring
  ChunkPeerHandle h = MakeChunkPeer(Self(peers), kSmall, false);
  auto rig = std::make_unique<Rig>(kj::mv(h.server));
  auto& ws = rig->io.waitScope;
  std::vector<uint8_t> dst(kSmall, 0);
  const auto data = kj::arrayPtr(sent.data(), sent.size());
  EXPECT_EQ(RunVcopy(Grant(kSmall, false), Self(dst), rig->Peer(), data).wait(ws), 0);
  EXPECT_TRUE(dst == sent) << "not the inline bytes (read from the peer?)";
  // Not the whole copy, or a copy out of our party: refused, nothing written.
  std::vector<uint8_t> untouched(kSmall + 1, 0);
  EXPECT_EQ(RunVcopy(Grant(kSmall + 1, false), Self(untouched), rig->Peer(), data).wait(ws), EDVSBADVALUE);
  EXPECT_EQ(RunVcopy(Grant(kSmall, true), Self(untouched), rig->Peer(), data).wait(ws), EDVSBADVALUE);
  EXPECT_TRUE(untouched == std::vector<uint8_t>(kSmall + 1, 0));
}

// The chunk of `src` at `off` (at most one chunk's worth).
kj::ArrayPtr<const kj::byte> ChunkOf(const std::vector<uint8_t>& src, uint64_t off) {
  return kj::arrayPtr(src.data() + off, std::min<size_t>(kVcopyChunk, src.size() - off));
}

TEST(PushSinkTest, ChunksBeforeTheGrantWaitAndLandAtIt) {
  kj::EventLoop loop;
  kj::WaitScope ws(loop);
  constexpr uint32_t kPushed = 2 * kVcopyChunk + 5;
  const std::vector<uint8_t> src = Pattern(kPushed, 21);
  std::vector<uint8_t> dst(kPushed, 0);
  PushSink sink(kPushed);
  auto first = sink.Chunk(kVcopyChunk, ChunkOf(src, kVcopyChunk), 0);  // any order
  auto second = sink.Chunk(0, ChunkOf(src, 0), 0);
  EXPECT_FALSE(first.poll(ws)) << "a chunk was taken before the grant";
  EXPECT_TRUE(dst == std::vector<uint8_t>(kPushed, 0));
  auto done = sink.Start(Self(dst), kPushed);
  EXPECT_TRUE(first.poll(ws) && second.poll(ws));
  first.wait(ws);
  second.wait(ws);
  EXPECT_FALSE(done.poll(ws)) << "complete without its last chunk";
  sink.Chunk(2 * kVcopyChunk, ChunkOf(src, 2 * kVcopyChunk), 0).wait(ws);  // after the grant: at once
  EXPECT_EQ(done.wait(ws), 0);
  EXPECT_TRUE(dst == src);
}

TEST(PushSinkTest, BadChunksAreRefusedAndErrorsComeAfterTheGrant) {
  kj::EventLoop loop;
  kj::WaitScope ws(loop);
  const std::vector<uint8_t> src = Pattern(kVcopyChunk + 10, 22);
  PushSink sink(kVcopyChunk);
  EXPECT_ANY_THROW(sink.Chunk(8, ChunkOf(src, 0), 0)) << "past the end";
  EXPECT_ANY_THROW(sink.Chunk(0, kj::arrayPtr(src.data(), kVcopyChunk + 1), 0)) << "over a chunk";
  EXPECT_ANY_THROW(sink.Chunk(0, nullptr, 0)) << "empty";
  EXPECT_ANY_THROW(sink.Chunk(0, ChunkOf(src, 0), 5)) << "positive error";
  auto whole = sink.Chunk(0, ChunkOf(src, 0), 0);
  EXPECT_ANY_THROW(sink.Chunk(0, kj::arrayPtr(src.data(), 1), 0)) << "more bytes than the copy";
  // The caller's read error: the copy fails with it, but only at the grant
  // (its engine's refusal would have come first).
  sink.Chunk(0, nullptr, EDVSFAULT).wait(ws);
  std::vector<uint8_t> dst(kVcopyChunk, 0);
  EXPECT_EQ(sink.Start(Self(dst), kVcopyChunk).wait(ws), EDVSFAULT);
  whole.wait(ws);
  EXPECT_TRUE(dst == std::vector<uint8_t>(kVcopyChunk, 0)) << "written after the copy failed";

  PushSink other(kVcopyChunk);
  EXPECT_EQ(other.Start(Self(dst), kVcopyChunk - 1).wait(ws), EDVSBADVALUE);
}

TEST(PushSinkTest, DroppedSinkEndsItsWaitingChunks) {
  kj::EventLoop loop;
  kj::WaitScope ws(loop);
  const std::vector<uint8_t> src = Pattern(kVcopyChunk, 23);
  auto sink = kj::heap<PushSink>(2 * kVcopyChunk);
  auto waiting = sink->Chunk(0, ChunkOf(src, 0), 0);
  EXPECT_FALSE(waiting.poll(ws));
  sink = nullptr;  // the copy was refused or withdrawn
  waiting.wait(ws);
}

}  // namespace
}  // namespace vdvk::nodes
