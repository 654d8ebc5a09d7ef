// vcopy_xfer.h - the bytes of a remote vcopy (wire: Node.vcopyRemote and
// ChunkPeer). One copy per node: process_vm_readv straight into the outgoing
// capnp message on the source node, process_vm_writev straight out of the
// received message on the destination node (for a party inside a UML
// guest: a memcpy from/to its pinned pages in the mapped guest memory).
//
// Runs in kj callbacks on the backend's thread. The caller's node serves a ChunkPeer over its own
// party; the callee's node drives the transfer (reads with a window in
// flight, or streaming writes) once its engine granted the copy.
#pragma once

#include <kj/async.h>
#include <kj/vector.h>

#include <cstdint>
#include <optional>

#include "host-backend/engine/engine.h"
#include "host-backend/nodes/link_api.h"
#include "wire/node.capnp.h"

namespace vdvk::nodes {

// Chunk size: well under the link's per-message bound (LinkReaderOptions).
inline constexpr uint32_t kVcopyChunk = 256 * 1024;
// Reads in flight when pulling: enough to keep a LAN link busy.
inline constexpr int kVcopyWindow = 4;
// Copies into the callee's party up to this size travel inside the
// vcopyRemote call (its `data`): the callee reads nothing back, which saves
// a round trip. Bigger ones keep the reads, which overlap their chunks'
// copies on both nodes; the price of inlining is bytes sent for nothing when
// the callee refuses the copy, at most one chunk.
inline constexpr uint32_t kVcopyInlineMax = kVcopyChunk;

// This node's party of one remote vcopy: a host process (process_vm_* at
// addr) or a guest process (through io, by key; no io: EDVSPERM).
struct PartyRef {
  ProcKey who;
  uint64_t addr = 0;
  GuestPartyIo* io = nullptr;
  VcopyPartyKey key;
};
// Offset `off` of the party's range from/to `data`; 0 or EDVS*.
int32_t ReadParty(const PartyRef& p, uint64_t off, kj::ArrayPtr<kj::byte> out);
int32_t WriteParty(const PartyRef& p, uint64_t off, kj::ArrayPtr<const kj::byte> in);

// The caller's party, served to the callee: `bytes` of `party`. Offsets and
// lengths a peer asks for are checked against that range, and the peer only
// moves bytes the way the copy goes: writes when `callee_writes` (the
// callee's party is the source), else reads; the other kind is refused.
//
// `landed` is for a callee that streams into the party (the callee's party is
// the source): its vcopyRemote answer 0 only says every chunk was sent, so
// the caller completes when they are in place. It resolves with 0 once all
// `bytes` were written, with the first write's EDVS* error at once, or, if
// the peer is dropped short of that (a callee that skipped chunks),
// EDVSFAULT. Never rejects. Unused when the callee reads from the party.
struct ChunkPeerHandle {
  kj::Own<wire::ChunkPeer::Server> server;
  kj::Promise<int32_t> landed;
};
ChunkPeerHandle MakeChunkPeer(const PartyRef& party, uint32_t bytes, bool callee_writes);

// Callee side of a copy into our party that the caller pushes (vcopyRemote
// with a pushId, then Node.vcopyChunk calls). Chunks that come before the
// engine's grant wait (their calls stay open, which keeps their bytes and
// holds the caller's stream window); Start (the grant) writes them and the
// later ones as they come. Destroying the sink ends the waiting calls.
class PushSink {
 public:
  explicit PushSink(uint32_t bytes) : bytes_(bytes) {}
  ~PushSink() noexcept(false);
  // One chunk: `data` at `off` (valid until the promise resolves), or, with
  // no data, the caller's read error there. Outside the copy, or more bytes
  // than it has in all: KJ_REQUIRE (an exception to the caller). Overlaps
  // are the caller's business: the bytes are its own either way.
  kj::Promise<void> Chunk(uint64_t off, kj::ArrayPtr<const kj::byte> data, int32_t error);
  // The grant: resolves with 0 once every byte is in `party`, else with the
  // first error (the caller's, or a write's). `bytes` is the granted length
  // (another than the sink's: EDVSBADVALUE).
  kj::Promise<int32_t> Start(const PartyRef& party, uint32_t bytes);

 private:
  struct Waiting {
    uint64_t off;
    kj::ArrayPtr<const kj::byte> data;
    kj::Own<kj::PromiseFulfiller<void>> written;
  };
  void Write(uint64_t off, kj::ArrayPtr<const kj::byte> data);
  void Settle();

  uint32_t bytes_;
  uint64_t received_ = 0;  // bytes of the chunks accepted so far
  uint64_t landed_ = 0;
  int32_t err_ = 0;
  std::optional<PartyRef> party_;
  kj::Vector<Waiting> waiting_;
  kj::Own<kj::PromiseFulfiller<int32_t>> finished_;
};

// Caller side of a pushed copy: `bytes` of our `party` as vcopyChunk calls
// naming `push_id` on `node`, one after the other as capnp's stream window
// allows; a read error goes as a chunk carrying it, and ends the stream.
// Rejects if a call fails (the vcopyRemote answer says how the copy ended).
kj::Promise<void> PushChunks(wire::Node::Client node, uint64_t push_id, PartyRef party, uint32_t bytes);

// Callee side: move the bytes between our party (g, reached as `party`) and
// the caller's peer. Resolves with 0 or EDVS* (a broken link: EDVSNOTCONN);
// never rejects. Our party the source: 0 once every chunk is on its way (the
// caller waits for them to land, see ChunkPeerHandle; no done() round trip).
// Our party the destination: 0 once every byte is in it; `inline_data`
// (the bytes the caller sent with its call, or empty) is written as it is,
// with no read from the peer, and must be the whole copy (else EDVSBADVALUE).
kj::Promise<int32_t> RunVcopy(const RemoteVcopyGrant& g, const PartyRef& party, wire::ChunkPeer::Client peer,
                              kj::ArrayPtr<const kj::byte> inline_data = nullptr);

// process_vm_readv/writev of one whole range (partial transfers looped).
int32_t ReadProcess(ProcKey who, uint64_t addr, kj::ArrayPtr<kj::byte> out);
int32_t WriteProcess(ProcKey who, uint64_t addr, kj::ArrayPtr<const kj::byte> in);

}  // namespace vdvk::nodes
