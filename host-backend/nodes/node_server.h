// node_server.h - the Node capability we serve on each accepted connection.
#pragma once

#include <kj/async.h>
#include <kj/exception.h>

#include <optional>
#include <string>
#include <vector>

#include "host-backend/engine/engine.h"
#include "host-backend/nodes/link_api.h"
#include "wire/node.capnp.h"

namespace vdvk::nodes {

struct LinkConfig;

struct Answer {
  int32_t result = 0;
  std::optional<vdvk_msg> reply;
};

// What a served connection needs from the link layer (LinkLoop; a fake in
// node_server_test). Called from kj callbacks (on the backend's thread).
class NodeHost {
 public:
  virtual ~NodeHost() noexcept(false) = default;  // kj: destructors may throw
  virtual const LinkConfig& config() const = 0;
  // Hands a validated op to the engine; resolves with its acknowledgement.
  // Dropping the promise withdraws the op.
  virtual kj::Promise<Answer> SubmitOp(const RemoteOp& op) = 0;
  virtual kj::Promise<int32_t> Lookup(int32_t dcid, int32_t ep) = 0;
  // A vcopy op (kind kVcopy): like SubmitOp, and once the engine grants it
  // the bytes move between our party and `peer` (vcopy_xfer.h), or come
  // from `inline_data` (validated; it stays valid until the promise is gone).
  // `push_id` (nonzero): the caller pushes the bytes as PushChunk calls.
  virtual kj::Promise<Answer> SubmitVcopy(const RemoteOp& op, wire::ChunkPeer::Client peer,
                                          kj::ArrayPtr<const kj::byte> inline_data, uint64_t push_id) {
    (void)op, (void)peer, (void)inline_data, (void)push_id;
    return kj::Exception(kj::Exception::Type::UNIMPLEMENTED, __FILE__, __LINE__,
                         kj::str("remote vcopy not served here"));
  }
  // A chunk (Node.vcopyChunk) of node `node`'s pushed copy `push_id`
  // (PushSink::Chunk); dropped if that copy is not in progress.
  virtual kj::Promise<void> PushChunk(int32_t node, uint64_t push_id, uint64_t off,
                                      kj::ArrayPtr<const kj::byte> data, int32_t error) {
    (void)node, (void)push_id, (void)off, (void)data, (void)error;
    return kj::READY_NOW;
  }
  // Node `node`'s view of DC membership (validated).
  virtual void DcViews(int32_t node, std::vector<DcView> views) { (void)node, (void)views; }
  // True the first time `key` is seen (one warning per refused peer/reason).
  virtual bool FirstWarning(const std::string& key) = 0;
};

// `address` names the connection's other end in log lines.
kj::Own<wire::Node::Server> MakeNodeServer(NodeHost& host, std::string address);

}  // namespace vdvk::nodes
