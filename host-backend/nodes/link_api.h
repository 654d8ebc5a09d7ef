// link_api.h - the two narrow interfaces between the host backend (owns the
// Engine) and the node link layer (Cap'n Proto on a kj loop). Both run on the
// backend's libev thread: kj is driven from libev (see node_links.h). LinkIn
// is never called from inside a LinkOut call or a kj callback.
#pragma once

#include <compare>
#include <cstdint>
#include <vector>

#include "host-backend/engine/engine.h"

namespace vdvk::nodes {

// One node's view of one DC's membership (wire: DcView).
struct DcView {
  int32_t dcid = 0;
  bool running = false;
  uint64_t nodes = 0;  // member-node bitmap
};

// The local party of one remote vcopy: of an op we forwarded (forwarded,
// id = RemoteOp::id; node unused) or of a peer's op our engine granted
// (node = RemoteVcopyGrant::node, id = its op_id).
struct VcopyPartyKey {
  bool forwarded = false;
  int32_t node = 0;
  uint64_t id = 0;
  auto operator<=>(const VcopyPartyKey&) const = default;
};

// A local party inside a UML guest has no host pid for process_vm_*: the
// backend reaches it through the guest pages pinned for that vcopy. The link
// layer moves each chunk through this, synchronously on the loop thread
// (from kj callbacks too: implementations must not call the engine).
class GuestPartyIo {
 public:
  virtual ~GuestPartyIo() = default;
  // Copies [off, off + len) of the party's range to buf, or buf into it when
  // to_party. 0, or an EDVS* code (EDVSSRCDIED/EDVSDSTDIED once the party or
  // its guest is gone, EDVSFAULT, ...).
  virtual int32_t CopyGuestParty(const VcopyPartyKey& key, uint64_t off, uint8_t* buf, uint32_t len,
                                 bool to_party) = 0;
};

// Backend -> links: engine output addressed to other nodes.
class LinkOut {
 public:
  virtual ~LinkOut() = default;
  // Send op to op.node; the answer comes back as LinkIn::RemoteResult(op.id).
  virtual void Forward(const RemoteOp& op) = 0;
  // Acknowledge op `id` that node `node` delivered to us (LinkIn::RemoteOpArrived).
  virtual void Done(int32_t node, uint64_t id, int32_t result, const vdvk_msg* reply) = 0;
  // Our forwarded op `op_id` ended without its answer: drop the call, so
  // that node withdraws it.
  virtual void Cancel(int32_t node, uint64_t op_id) = 0;
  // Answer a peer's lookup query `id` (LinkIn::LookupArrived).
  virtual void LookupDone(uint64_t id, int32_t result) = 0;
  // The engine granted vcopy op g.op_id from node g.node: move the bytes,
  // then report LinkIn::RemoteVcopyDone. A guest party (g.party.domain != 0)
  // is reached through GuestPartyIo, key {false, g.node, g.op_id}; so is the
  // guest party of a forwarded vcopy (key {true, 0, op.id}).
  virtual void StartVcopy(const RemoteVcopyGrant& g) { (void)g; }
  // True when link input is waiting (a peer's answer, a new op): a backend
  // that is polling its rings should return to its event loop now rather
  // than finish its poll window. Cheap (one poll(2)); never consumes input.
  virtual bool HasInput() { return false; }
  // Ask node `node` where endpoint ep of DC dcid is bound (Node.lookup);
  // exactly one LinkIn::LookupResult(id, node, ...) follows (EDVSNOTCONN
  // when the link is down or the call fails).
  virtual void Lookup(int32_t node, int32_t dcid, int32_t ep, uint64_t id) = 0;
  // Tell node `node` our view of these DCs (Node.dcViews); no answer.
  virtual void SendDcViews(int32_t node, const std::vector<DcView>& views) {
    (void)node, (void)views;
  }
};

// Links -> backend: what the peers did. Every call ends in an engine call.
class LinkIn {
 public:
  virtual ~LinkIn() = default;
  virtual void NodeState(int32_t node, bool up) = 0;
  virtual void RemoteResult(uint64_t op_id, int32_t result, const vdvk_msg* reply) = 0;
  virtual void RemoteOpArrived(const RemoteOp& op) = 0;
  // The call that brought op `id` from `node` is gone (cancelled by the
  // sender, or its connection dropped) before we acknowledged it.
  virtual void RemoteOpWithdrawn(int32_t node, uint64_t id) = 0;
  virtual void LookupArrived(uint64_t id, int32_t dcid, int32_t ep) = 0;
  virtual void RemoteVcopyDone(int32_t node, uint64_t id, int32_t result) {
    (void)node, (void)id, (void)result;
  }
  // The answer to LinkOut::Lookup: a node id, or EDVS*.
  virtual void LookupResult(uint64_t id, int32_t node, int32_t result) = 0;
  // Node `node` told us its view of these DCs (already validated).
  virtual void DcViewsArrived(int32_t node, const std::vector<DcView>& views) {
    (void)node, (void)views;
  }
  // After a batch of the calls above: a chance to serve the rings once.
  virtual void LinkBatchDone() = 0;
};

}  // namespace vdvk::nodes
