// vcopy_xfer.h - the bytes of a remote vcopy (wire: Node.vcopyRemote and
// ChunkPeer). One copy per node: process_vm_readv straight into the outgoing
// capnp message on the source node, process_vm_writev straight out of the
// received message on the destination node.
//
// Runs in kj callbacks on the backend's thread. The caller's node serves a ChunkPeer over its own
// party; the callee's node drives the transfer (reads with a window in
// flight, or streaming writes) once its engine granted the copy.
#pragma once

#include <kj/async.h>

#include <cstdint>

#include "host-backend/engine/engine.h"
#include "wire/node.capnp.h"

namespace vdvk::nodes {

// Chunk size: well under the link's per-message bound (LinkReaderOptions).
inline constexpr uint32_t kVcopyChunk = 256 * 1024;
// Reads in flight when pulling: enough to keep a LAN link busy.
inline constexpr int kVcopyWindow = 4;

// The caller's party, served to the callee: `bytes` at `addr` in `who`.
// Offsets and lengths a peer asks for are checked against that range.
kj::Own<wire::ChunkPeer::Server> MakeChunkPeer(ProcKey who, uint64_t addr, uint32_t bytes);

// Callee side: move the bytes between our party (g) and the caller's peer.
// Resolves with 0 or EDVS* (a broken link: EDVSNOTCONN); never rejects.
kj::Promise<int32_t> RunVcopy(const RemoteVcopyGrant& g, wire::ChunkPeer::Client peer);

// process_vm_readv/writev of one whole range (partial transfers looped).
int32_t ReadProcess(ProcKey who, uint64_t addr, kj::ArrayPtr<kj::byte> out);
int32_t WriteProcess(ProcKey who, uint64_t addr, kj::ArrayPtr<const kj::byte> in);

}  // namespace vdvk::nodes
