// vcopy.cc - authorising copies between two processes' memory. The engine only
// checks and marks the parties (ONCOPY); the transport moves the bytes and
// reports back through VcopyDone.
#include "host-backend/engine/engine_impl.h"

namespace vdvk {

void Engine::Impl::DoVcopy(const Call& c, SlotRef me, Nanos now) {
  Dc& dc = dcs_[me.dc];
  Slot& self = dc.slots[me.idx];
  const int32_t bytes = c.arg[2];
  if (bytes < 0 || bytes > dc.max_copylen) return Done(c, EDVSRANGE);

  auto party = [&](int32_t ep, int32_t free_err) -> Target {
    if (ep == SELF || ep == self.ep) return {0, me.idx};
    return Resolve(dc, ep, self.ep, free_err);
  };
  const Target src = party(c.arg[0], EDVSSRCDIED);
  if (src.free && TryPark(c, me, c.arg[0], now)) return;
  if (src.err != 0) return Done(c, src.err);
  const Target dst = party(c.arg[1], EDVSDSTDIED);
  if (dst.free && TryPark(c, me, c.arg[1], now)) return;
  if (dst.err != 0) return Done(c, dst.err);
  if (src.idx == dst.idx) return Done(c, EDVSINVAL);
  const bool src_remote = dc.slots[src.idx].state == SlotState::kRemote;
  const bool dst_remote = dc.slots[dst.idx].state == SlotState::kRemote;
  if (src_remote || dst_remote) {
    // One node moves the bytes of its own party only: a copy between two
    // other nodes would need a relay (DVS has none either).
    if (src_remote && dst_remote) return Done(c, EDVSNOPROXY);
    return ForwardVcopy(c, me, src.idx, dst.idx);
  }

  // A party other than the caller must sit still in a receive (its memory is
  // not being used by a call of its own).
  for (int32_t i : {src.idx, dst.idx}) {
    if (i == me.idx) continue;
    const Slot& p = dc.slots[i];
    if (p.req < 0 || !(p.rts & RECEIVING) || (p.rts & SENDING)) return Done(c, EDVSPROCSTS);
  }
  Slot& s = dc.slots[src.idx];
  Slot& d = dc.slots[dst.idx];
  if ((s.rts & ONCOPY) || (d.rts & ONCOPY)) return Done(c, EDVSBUSY);
  if (bytes == 0) return Done(c, 0);

  // No deadline: once granted, the copy ends only through VcopyDone.
  const int32_t idx = NewRequest(c, Kind::kVcopy, me, 0, /*timed=*/false);
  Request& r = pool_[idx];
  r.vsrc = {me.dc, src.idx};
  r.vdst = {me.dc, dst.idx};
  r.vsrc_owner = s.owner;
  r.vdst_owner = d.owner;
  r.bytes = static_cast<uint32_t>(bytes);
  s.rts |= ONCOPY;
  d.rts |= ONCOPY;

  VcopyGrant g;
  g.id = c.id;
  g.caller = c.caller;
  g.src = s.owner;
  g.src_addr = c.addr[0];
  g.dst = d.owner;
  g.dst_addr = c.addr[1];
  g.bytes = r.bytes;
  sink_->StartVcopy(g);
}

// A party may have died (and its slot been reused) during the copy: only
// touch a slot still owned by the process the grant named.
void Engine::Impl::ClearOnCopy(const Request& r) {
  for (auto [ref, owner] : {std::pair{r.vsrc, r.vsrc_owner}, std::pair{r.vdst, r.vdst_owner}}) {
    Slot& s = SlotAt(ref);
    if (s.state == SlotState::kLocal && s.owner == owner) s.rts &= ~static_cast<uint32_t>(ONCOPY);
  }
}

void Engine::Impl::VcopyDone(RequestId id, int32_t result) {
  const int32_t* found = ids_.Find(id);
  if (found == nullptr) return;
  const int32_t idx = *found;
  const Request& r = pool_[idx];
  if (r.kind != Kind::kVcopy) return;
  if (result >= 0) {
    ++counters_.vcopies;
    counters_.vcopy_bytes += r.bytes;
    Slot& s = SlotAt(r.vsrc);
    if (s.state == SlotState::kLocal && s.owner == r.vsrc_owner) ++s.lclcopy;
  }
  Finish(idx, result);
}

// One party is a REMOTE slot: check and mark the local one here, and let the
// remote node check its own party (SubmitRemote, kVcopy) and move the bytes
// with our transport; its acknowledgement (RemoteResult) ends the vcopy.
void Engine::Impl::ForwardVcopy(const Call& c, SlotRef me, int32_t src_idx, int32_t dst_idx) {
  Dc& dc = dcs_[me.dc];
  Slot& self = dc.slots[me.idx];
  const bool src_remote = dc.slots[src_idx].state == SlotState::kRemote;
  const int32_t local_idx = src_remote ? dst_idx : src_idx;
  const int32_t remote_idx = src_remote ? src_idx : dst_idx;
  Slot& local = dc.slots[local_idx];
  const Slot& remote = dc.slots[remote_idx];
  if (!NodeUp(remote.nodeid)) return Done(c, EDVSNOPROXY);
  if (local_idx != me.idx &&
      (local.req < 0 || !(local.rts & RECEIVING) || (local.rts & SENDING))) {
    return Done(c, EDVSPROCSTS);
  }
  if (local.rts & ONCOPY) return Done(c, EDVSBUSY);
  const int32_t bytes = c.arg[2];
  if (bytes == 0) return Done(c, 0);

  const int32_t idx = NewRequest(c, Kind::kVcopy, me, 0, /*timed=*/false);
  Request& r = pool_[idx];
  // ClearOnCopy touches only LOCAL slots owned by the named process: the
  // remote slot's mark is its own node's business.
  r.vsrc = {me.dc, src_idx};
  r.vdst = {me.dc, dst_idx};
  r.vsrc_owner = dc.slots[src_idx].owner;
  r.vdst_owner = dc.slots[dst_idx].owner;
  r.bytes = static_cast<uint32_t>(bytes);
  r.fwd_node = remote.nodeid;
  r.fwd_op = next_fwd_op_++;
  r.fwd_dst = remote.ep;
  fwd_ops_[r.fwd_op] = idx;
  ++node_sent_[static_cast<size_t>(remote.nodeid)];
  local.rts |= ONCOPY;

  RemoteOp op;
  op.id = r.fwd_op;
  op.node = remote.nodeid;
  op.kind = RemoteKind::kVcopy;
  op.dcid = me.dc;
  op.src_ep = self.ep;
  op.dst_ep = remote.ep;
  op.vcopy_party_is_src = src_remote;
  op.vcopy_addr = src_remote ? c.addr[0] : c.addr[1];
  op.vcopy_bytes = r.bytes;
  op.vcopy_local = local.owner;
  op.vcopy_local_addr = src_remote ? c.addr[1] : c.addr[0];
  op.vcopy_request = c.id;
  op.vcopy_local_is_caller = local_idx == me.idx;
  sink_->ForwardToNode(op);
}

// The non-caller party of a vcopy from node op.node lives here: the same
// rules as a local vcopy apply to it (blocked in a receive, not busy).
void Engine::Impl::DoRemoteVcopy(const Call& c, const RemoteOp& op, SlotRef me) {
  Dc& dc = dcs_[me.dc];
  const int32_t free_err = op.vcopy_party_is_src ? EDVSSRCDIED : EDVSDSTDIED;
  if (op.vcopy_bytes == 0 || op.vcopy_bytes > static_cast<uint32_t>(dc.max_copylen)) {
    return Done(c, EDVSRANGE);
  }
  const Target t = Resolve(dc, op.dst_ep, dc.slots[me.idx].ep, free_err);
  if (t.err != 0) return Done(c, t.err);
  Slot& p = dc.slots[t.idx];
  if (p.state != SlotState::kLocal) return Done(c, EDVSNOPROXY);  // no relay to a third node
  // A sendrec forwarded to the caller's node counts as receiving: its request
  // went there as one op and stays "sending" here until the answer comes
  // (the m3ftp pattern: the server vcopies to a client blocked in sendrec).
  const bool sendrec_there = p.req >= 0 && pool_[p.req].kind == Kind::kSendrec &&
                             pool_[p.req].fwd_node == op.node;
  if (p.req < 0 || !(p.rts & RECEIVING) || ((p.rts & SENDING) && !sendrec_there)) {
    return Done(c, EDVSPROCSTS);
  }
  if (p.rts & ONCOPY) return Done(c, EDVSBUSY);

  const int32_t idx = NewRequest(c, Kind::kVcopy, me, 0, /*timed=*/false);
  Request& r = pool_[idx];
  const SlotRef party{me.dc, t.idx};
  r.vsrc = op.vcopy_party_is_src ? party : me;
  r.vdst = op.vcopy_party_is_src ? me : party;
  r.vsrc_owner = SlotAt(r.vsrc).owner;
  r.vdst_owner = SlotAt(r.vdst).owner;
  r.bytes = op.vcopy_bytes;
  p.rts |= ONCOPY;

  RemoteVcopyGrant g;
  g.node = op.node;
  g.op_id = op.id;
  g.party = p.owner;
  g.addr = op.vcopy_addr;
  g.bytes = op.vcopy_bytes;
  g.party_is_src = op.vcopy_party_is_src;
  sink_->StartRemoteVcopy(g);
}

void Engine::Impl::RemoteVcopyDone(int32_t node, uint64_t op_id, int32_t result) {
  for (const auto& [rid, from] : incoming_) {
    if (from.node != node || from.peer_id != op_id) continue;
    const int32_t* idx = ids_.Find(rid);
    if (idx == nullptr || pool_[*idx].kind != Kind::kVcopy) return;
    return Finish(*idx, result > 0 ? EDVSBADVALUE : result);  // Emit acknowledges it
  }
  // Absent: withdrawn, or its node went down; the marks went with it.
}

}  // namespace vdvk
