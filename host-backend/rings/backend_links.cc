// backend_links.cc - the Backend's side of the node links: engine output for
// other nodes goes to the link layer, and what peers did comes back here as
// engine calls (on the loop thread, like everything else of the Backend).
#include <spdlog/spdlog.h>

#include "dvk/dvk.h"
#include "host-backend/rings/backend.h"
#include "host-backend/rings/backend_internal.h"

namespace vdvk::rings {

void Backend::ForwardToNode(const RemoteOp& op) {
  // A guest party's pages first (guest_link_vcopy.cc): that may take a pin.
  if (op.kind == RemoteKind::kVcopy && op.vcopy_local.domain != 0 && !PrepareForwardedGuestParty(op)) return;
  // The engine only forwards to nodes marked up, which only links do.
  if (link_out_ != nullptr) link_out_->Forward(op);
}

void Backend::RemoteDone(int32_t node, uint64_t id, int32_t result, const vdvk_msg* reply) {
  if (link_out_ != nullptr) link_out_->Done(node, id, result, reply);
}

void Backend::CancelForward(int32_t node, uint64_t op_id) {
  if (!link_parties_.empty()) DropLinkParty(nodes::VcopyPartyKey{true, 0, op_id});
  if (link_out_ != nullptr) link_out_->Cancel(node, op_id);
}

void Backend::StartRemoteVcopy(const RemoteVcopyGrant& g) {
  // The link layer moves the bytes (vcopy_xfer.cc), chunk by chunk in kj
  // callbacks between ring services: they come from or go to the peer anyway.
  // Only links make a node up, so link_out_ is set whenever this is called.
  // A guest party is pinned first (guest_link_vcopy.cc).
  if (g.party.domain != 0) return StartGuestRemoteVcopy(g);
  if (link_out_ != nullptr) link_out_->StartVcopy(g);
}

void Backend::RemoteVcopyDone(int32_t node, uint64_t id, int32_t result) {
  if (!link_parties_.empty()) DropLinkParty(nodes::VcopyPartyKey{false, node, id});
  WithEngine([&] { engine_->RemoteVcopyDone(node, id, result, Now()); });
}

void Backend::NodeState(int32_t node, bool up) {
  spdlog::info("host-backend: node {} is {}", node, up ? "up" : "down");
  if (!up) LinkPartiesNodeDown(node);
  WithEngine([&] { engine_->SetNodeUp(node, up, Now()); });
  if (up) SendDcViewsTo(node);
}

void Backend::RemoteResult(uint64_t op_id, int32_t result, const vdvk_msg* reply) {
  // The call ends now: its guest party's pages are not ours to touch after.
  if (!link_parties_.empty()) DropLinkParty(nodes::VcopyPartyKey{true, 0, op_id});
  WithEngine([&] { engine_->RemoteResult(op_id, result, reply, Now()); });
}

void Backend::RemoteOpArrived(const RemoteOp& op) {
  WithEngine([&] { engine_->SubmitRemote(op, Now()); });
}

void Backend::RemoteOpWithdrawn(int32_t node, uint64_t id) {
  WithEngine([&] { engine_->WithdrawRemote(node, id, Now()); });
}

void Backend::LookupArrived(uint64_t id, int32_t dcid, int32_t ep) {
  if (link_out_ != nullptr) link_out_->LookupDone(id, engine_->LookupEndpoint(dcid, ep));
}

// Automatic endpoint resolution (engine.h): the engine's question to one
// node, and that node's answer.
void Backend::LookupOnNode(int32_t node, uint64_t id, int32_t dcid, int32_t ep) {
  if (link_out_ != nullptr) link_out_->Lookup(node, dcid, ep, id);
}

void Backend::LookupResult(uint64_t id, int32_t node, int32_t result) {
  WithEngine([&] { engine_->LookupResult(id, node, result, Now()); });
}

void Backend::LinkBatchDone() {
  // Completions went to the rings; serve them once (and poll briefly, as
  // after any other wakeup: the client's next request is usually close).
  ServeAll();
}

}  // namespace vdvk::rings
