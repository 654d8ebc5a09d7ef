// guest_link_vcopy.cc - a vcopy between a process in one of our UML guests and
// a process on another node.
//
// The link layer moves such a vcopy chunk by chunk (nodes/vcopy_xfer.cc); a
// host party is read or written with process_vm_*, a guest party through
// CopyGuestParty: a memcpy between the chunk and the party's pinned pages in
// the mapped guest memory. Where the pages come from:
//  - our guest process made the call (the vcopy was forwarded from here):
//    the pages its guest kernel pinned with the VCOPY; they stay pinned
//    while the call waits, and the party is dropped when the call ends
//    (RemoteResult) or is cancelled (CancelForward), before the guest can
//    unpin them.
//  - our guest process is the other party (a third party's forwarded vcopy,
//    or a peer's vcopy granted here): a peer pin (guest_pin.cc) first; the
//    forward or the transfer starts when the guest answered, and the pin is
//    released when the vcopy ends.
// A guest that goes away fails every chunk from then on (and its pages are
// never touched again: a new guest may own the same physical addresses).
#include <spdlog/spdlog.h>

#include "dvk/dvk.h"
#include "host-backend/rings/backend.h"
#include "host-backend/rings/backend_internal.h"

namespace vdvk::rings {

namespace {

nodes::VcopyPartyKey ForwardKey(uint64_t op_id) { return nodes::VcopyPartyKey{true, 0, op_id}; }

}  // namespace

bool Backend::PrepareForwardedGuestParty(const RemoteOp& op) {
  const nodes::VcopyPartyKey key = ForwardKey(op.id);
  const bool src = !op.vcopy_party_is_src;  // the party here is the source
  Attachment* a = GuestAttachment(op.vcopy_local.domain);
  LinkParty p;
  p.node = op.node;
  p.domain = op.vcopy_local.domain;
  p.attach_id = a == nullptr ? 0 : a->id;
  p.src = src;
  if (a == nullptr) {
    p.error = src ? EDVSSRCDIED : EDVSDSTDIED;
  } else if (op.vcopy_local_is_caller) {
    auto it = pending_.find(op.vcopy_request);
    if (it != pending_.end() && it->second.attach_id == a->id) p.ext = src ? it->second.phys.src : it->second.phys.dst;
    if (p.ext.empty()) p.error = EDVSFAULT;  // its guest kernel could not pin the range
  } else {
    // A third party's vcopy: ask the guest to pin the range, forward then.
    uint64_t id = 0;
    Attachment* ga = nullptr;
    vdvk_cqe cqe;
    const PinWait w{p.domain, 0, src, op.vcopy_bytes, key};
    const int32_t r = PreparePin(op.vcopy_local, op.vcopy_local_addr, op.vcopy_bytes, w, &id, &ga, &cqe);
    if (r == 0) {
      p.pin_id = id;
      p.forward = op;
      link_parties_[key] = std::move(p);
      PostCqe(ga, cqe);
      return false;
    }
    p.error = r;
  }
  // Errors go over the link too: the peer's first chunk fails with them, so
  // the vcopy ends the way any failed remote vcopy does.
  link_parties_[key] = std::move(p);
  return true;
}

void Backend::StartGuestRemoteVcopy(const RemoteVcopyGrant& g) {
  const nodes::VcopyPartyKey key{false, g.node, g.op_id};
  uint64_t id = 0;
  Attachment* a = nullptr;
  vdvk_cqe cqe;
  const PinWait w{g.party.domain, 0, g.party_is_src, g.bytes, key};
  const int32_t r = PreparePin(g.party, g.addr, g.bytes, w, &id, &a, &cqe);
  if (r != 0) return FailLinkParty(key, r);
  LinkParty p;
  p.node = g.node;
  p.domain = g.party.domain;
  p.attach_id = a->id;
  p.src = g.party_is_src;
  p.pin_id = id;
  p.grant = g;
  link_parties_[key] = std::move(p);
  PostCqe(a, cqe);
}

void Backend::LinkPinAnswered(const PinWait& w, uint64_t pin_id, int32_t result, std::vector<vdvk_phys_extent> ext) {
  const nodes::VcopyPartyKey key = *w.link;
  auto it = link_parties_.find(key);
  if (it == link_parties_.end() || it->second.pin_id != pin_id) {
    // The vcopy ended while its guest was pinning (cancelled, node down).
    if (result == 0) ReleasePins({PinHold{w.domain, pin_id}});
    return;
  }
  if (result != 0) return FailLinkParty(key, result);
  LinkParty& p = it->second;
  p.pinned = true;
  p.ext = std::move(ext);
  if (link_out_ == nullptr) return FailLinkParty(key, EDVSNOTCONN);
  if (p.grant) {
    const RemoteVcopyGrant g = *p.grant;
    p.grant.reset();
    link_out_->StartVcopy(g);  // its end comes back as RemoteVcopyDone
  } else if (p.forward) {
    const RemoteOp op = *p.forward;
    p.forward.reset();
    link_out_->Forward(op);  // its end comes back as RemoteResult
  }
}

void Backend::FailLinkParty(const nodes::VcopyPartyKey& key, int32_t result) {
  // Before the link layer had the vcopy: end it here, as the link would have
  // (from inside an engine call, once it returns).
  DropLinkParty(key);
  Deferred d{};
  d.kind = Deferred::kLinkFail;
  d.link = key;
  d.result = result;
  deferred_.push_back(std::move(d));
  if (!in_engine_) WithEngine([] {});
}

void Backend::DropLinkParty(const nodes::VcopyPartyKey& key) {
  auto it = link_parties_.find(key);
  if (it == link_parties_.end()) return;
  if (it->second.pinned) ReleasePins({PinHold{it->second.domain, it->second.pin_id}});
  link_parties_.erase(it);
}

void Backend::LinkPartiesGuestGone(uint32_t domain) {
  // Unanswered pins of this guest were failed by FailPinsOf already.
  for (auto& [key, p] : link_parties_) {
    if (p.domain != domain || p.error != 0) continue;
    p.error = p.src ? EDVSSRCDIED : EDVSDSTDIED;
    p.pinned = false;  // nothing to release: the guest is gone
    p.ext.clear();
  }
}

void Backend::LinkPartiesNodeDown(int32_t node) {
  // The engine ends the vcopies with that node without a RemoteResult or a
  // CancelForward, and a guest caller unpins its pages once told: forget
  // them first (and release peer pins).
  std::vector<nodes::VcopyPartyKey> gone;
  for (const auto& [key, p] : link_parties_)
    if (p.node == node) gone.push_back(key);
  for (const auto& key : gone) DropLinkParty(key);
}

int32_t Backend::CopyGuestParty(const nodes::VcopyPartyKey& key, uint64_t off, uint8_t* buf, uint32_t len,
                                bool to_party) {
  const int32_t died = to_party ? EDVSDSTDIED : EDVSSRCDIED;
  auto it = link_parties_.find(key);
  if (it == link_parties_.end()) return died;  // the vcopy ended here meanwhile
  const LinkParty& p = it->second;
  if (p.error != 0) return p.error;
  if (p.src == to_party) return EDVSFAULT;  // a peer asking for the wrong direction
  Attachment* a = GuestAttachment(p.domain);
  GuestMemory* mem = MemoryOf(p.domain);
  if (a == nullptr || a->id != p.attach_id || mem == nullptr || !mem->mapped()) return died;
  int32_t r = CopyGuestBuffer(*mem, p.ext, off, buf, len, to_party);
  return mem->lost() ? died : r;  // shrunk under us: the chunk is zeros
}

}  // namespace vdvk::rings
