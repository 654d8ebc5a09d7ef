// remote.cc - endpoints on other nodes: forwarding to a REMOTE slot, taking
// operations from other nodes, link up/down. The I/O is the transport's; here
// only who waits for what (see RemoteOp in engine.h).
#include "host-backend/engine/engine_impl.h"

namespace vdvk {

void Engine::Impl::Emit(const Completion& comp) {
  if ((comp.id & kEngineRequestBit) == 0) return sink_->Complete(comp);
  auto it = incoming_.find(comp.id);
  // Absent: its node went down, nobody waits for the acknowledgement any more.
  if (it == incoming_.end()) return;
  const Incoming from = it->second;
  incoming_.erase(it);
  sink_->RemoteDone(from.node, from.peer_id, comp.result, comp.msg);
}

bool Engine::Impl::NodeUp(int32_t node) const {
  return node >= 0 && node < 64 && ((nodes_up_ >> node) & 1u);
}

void Engine::Impl::Forward(const Call& c, SlotRef me, int32_t dst_idx, RemoteKind kind, Nanos now) {
  Dc& dc = dcs_[me.dc];
  const Slot& dst = dc.slots[dst_idx];
  // An operation from another node is never relayed to a third: each node
  // links to every other one, so a relay would only hide a stale binding.
  if (from_remote_ || !NodeUp(dst.nodeid)) return Done(c, EDVSNOPROXY);
  // reply/notify do not block in DVK, so Submit's busy check skipped them;
  // waiting for the ack they need the caller's one request slot.
  if (PendingOf(c.caller) >= 0) return Done(c, EDVSBUSY);

  const Kind k = kind == RemoteKind::kSend      ? Kind::kSend
                 : kind == RemoteKind::kSendrec ? Kind::kSendrec
                                                : Kind::kForward;
  // Untimed here: the receiving node applies the timeout and answers; a dead
  // link ends the wait through SetNodeUp(false).
  const int32_t idx = NewRequest(c, k, me, now, /*timed=*/false);
  Request& r = pool_[idx];
  r.fwd_node = dst.nodeid;
  r.fwd_op = next_fwd_op_++;
  r.fwd_dst = dst.ep;
  fwd_ops_[r.fwd_op] = idx;
  ++node_sent_[static_cast<size_t>(dst.nodeid)];

  Slot& self = dc.slots[me.idx];
  if (k != Kind::kForward) {
    self.req = idx;
    self.rts |= SENDING;
    self.sendto = dst.ep;
    if (k == Kind::kSendrec) {
      self.rts |= RECEIVING;
      self.getfrom = dst.ep;
    }
  }
  RemoteOp op;
  op.id = r.fwd_op;
  op.node = dst.nodeid;
  op.kind = kind;
  op.dcid = me.dc;
  op.src_ep = self.ep;
  op.dst_ep = dst.ep;
  op.timeout_ms = c.timeout_ms;
  op.msg = c.msg;
  op.msg.m_source = self.ep;
  if (kind == RemoteKind::kNotify) {
    // SELF travels as SELF: the receiver resolves it to our endpoint there.
    op.notify_src = c.arg[0];
    op.notify_value = c.arg[2];
  }
  sink_->ForwardToNode(op);
}

void Engine::Impl::RemoteResult(uint64_t op_id, int32_t result, const vdvk_msg* reply) {
  auto it = fwd_ops_.find(op_id);
  if (it == fwd_ops_.end()) return;  // cancelled, or its node went down first
  const int32_t idx = it->second;
  Request& r = pool_[idx];
  fwd_ops_.erase(it);
  const int32_t node = r.fwd_node;
  r.fwd_node = -1;  // answered: nothing to cancel over there
  if (r.kind == Kind::kSendrec && result == 0) {
    if (reply == nullptr) return Finish(idx, EDVSINVAL);  // a peer bug, not a hang
    vdvk_msg m = *reply;
    m.m_source = r.fwd_dst;  // the answer can only come from the server
    ++counters_.messages;
    return Finish(idx, 0, &m);
  }
  if (r.kind == Kind::kSend && result == 0) ++SlotAt(r.slot).lclsent;
  if (r.kind == Kind::kVcopy && result == 0) {
    ++counters_.vcopies;
    counters_.vcopy_bytes += r.bytes;
  }
  const int32_t dcid = r.slot.dc;
  const int32_t dst = r.fwd_dst;
  Finish(idx, result > 0 ? 0 : result);
  DropStaleAutoSlot(dcid, dst, node, result);
}

void Engine::Impl::SetNodeUp(int32_t node, bool up, Nanos now) {
  if (node < 0 || node >= cfg_.nr_nodes || node == cfg_.node_id) return;
  const uint64_t bit = uint64_t{1} << node;
  if (up) {
    nodes_up_ |= bit;
    return;
  }
  nodes_up_ &= ~bit;
  std::vector<int32_t> doomed;
  for (auto it = fwd_ops_.begin(); it != fwd_ops_.end();) {
    if (pool_[it->second].fwd_node != node) {
      ++it;
      continue;
    }
    doomed.push_back(it->second);
    pool_[it->second].fwd_node = -1;  // the link is gone: nobody to cancel at
    it = fwd_ops_.erase(it);
  }
  // Operations from that node: forget the origin first (nobody to ack), then
  // withdraw them so a queued message is not delivered after all.
  for (auto it = incoming_.begin(); it != incoming_.end();) {
    if (it->second.node != node) {
      ++it;
      continue;
    }
    if (const int32_t* idx = ids_.Find(it->first); idx != nullptr) doomed.push_back(*idx);
    it = incoming_.erase(it);
  }
  for (int32_t idx : doomed) {
    if (pool_[idx].live) Finish(idx, EDVSNOTCONN);
  }
  LookupsNodeDown(node, now);
}

void Engine::Impl::WithdrawRemote(int32_t node, uint64_t id) {
  // Few operations from other nodes are pending at a time: a scan is fine.
  for (auto it = incoming_.begin(); it != incoming_.end(); ++it) {
    if (it->second.node != node || it->second.peer_id != id) continue;
    const RequestId rid = it->first;
    incoming_.erase(it);  // no RemoteDone: the sender stopped listening
    if (const int32_t* idx = ids_.Find(rid); idx != nullptr) Finish(*idx, EDVSINTR);
    return;
  }
}

int32_t Engine::Impl::BindRemote(int32_t dcid, int32_t idx, int32_t ep, int32_t node,
                                 const char* name) {
  Slot& s = dcs_[dcid].slots[idx];
  if (s.state != SlotState::kFree) return EDVSSLOTUSED;
  s = Slot{};
  s.state = SlotState::kRemote;
  s.ep = ep;
  s.owner = RemoteKey(dcid, idx);
  s.nodeid = node;
  // name may be a short literal or a 16-byte field: copy up to its NUL only.
  if (name != nullptr) std::memcpy(s.name, name, strnlen(name, sizeof(s.name) - 1));
  WakeBindWaiters(dcid, idx);
  return ep;
}

void Engine::Impl::SubmitRemote(const RemoteOp& op, Nanos now) {
  Call c;
  c.id = kEngineRequestBit | next_incoming_++;
  incoming_[c.id] = Incoming{op.node, op.id};
  c.op = VDVK_OP_SEND;
  c.timeout_ms = op.timeout_ms;
  c.msg = op.msg;

  if (op.node < 0 || op.node >= cfg_.nr_nodes || op.node == cfg_.node_id) {
    return Done(c, EDVSBADNODEID);
  }
  ++node_rcvd_[static_cast<size_t>(op.node)];
  if (op.dcid < 0 || op.dcid >= cfg_.nr_dcs) return Done(c, EDVSBADDCID);
  Dc& dc = dcs_[op.dcid];
  if (!dc.running) return Done(c, EDVSDCNOTRUN);
  if (!((dc.nodes >> op.node) & 1u)) return Done(c, EDVSNODCNODE);
  const int32_t idx = dc.IndexOfNr(EndpointNr(op.src_ep));
  if (idx < 0) return Done(c, EDVSRANGE);
  const Slot& s = dc.slots[idx];
  // The sender is represented by a REMOTE slot of its node, created on first
  // contact (DVS needs an explicit rmtbind; a peer that talks to us proves it).
  if (s.state == SlotState::kFree) {
    BindRemote(op.dcid, idx, op.src_ep, op.node, "remote");
    dc.slots[idx].auto_remote = true;
  } else if (s.state == SlotState::kLocal || s.nodeid != op.node) {
    return Done(c, EDVSSLOTUSED);
  } else if (s.ep != op.src_ep) {
    return Done(c, EDVSENDPOINT);
  }
  c.caller = RemoteKey(op.dcid, idx);
  const SlotRef me{op.dcid, idx};
  if (PendingOf(c.caller) >= 0) return Done(c, EDVSBUSY);

  from_remote_ = true;
  switch (op.kind) {
    case RemoteKind::kSend:
    case RemoteKind::kSendrec:
      c.op = op.kind == RemoteKind::kSend ? VDVK_OP_SEND : VDVK_OP_SENDREC;
      c.arg[0] = op.dst_ep;
      DoSend(c, me, now, op.kind == RemoteKind::kSendrec);
      break;
    case RemoteKind::kReply:
      c.op = VDVK_OP_REPLY;
      c.arg[0] = op.dst_ep;
      DoReply(c, me);
      break;
    case RemoteKind::kNotify:
      c.op = VDVK_OP_NOTIFY;
      c.arg[0] = op.notify_src;
      c.arg[1] = op.dst_ep;
      c.arg[2] = op.notify_value;
      DoNotify(c, me, now);
      break;
    case RemoteKind::kVcopy:
      c.op = VDVK_OP_VCOPY;
      DoRemoteVcopy(c, op, me);
      break;
    default:
      Done(c, EDVSINVAL);
  }
  from_remote_ = false;
}

int32_t Engine::Impl::LookupEndpoint(int32_t dcid, int32_t ep) const {
  if (dcid < 0 || dcid >= cfg_.nr_dcs) return EDVSBADDCID;
  const Dc& dc = dcs_[dcid];
  if (!dc.running) return EDVSDCNOTRUN;
  const int32_t idx = dc.IndexOfNr(EndpointNr(ep));
  if (idx < 0) return EDVSRANGE;
  const Slot& s = dc.slots[idx];
  if (s.state == SlotState::kFree) return EDVSNOTBIND;
  if (s.ep != ep) return EDVSENDPOINT;
  return s.state == SlotState::kLocal ? cfg_.node_id : s.nodeid;
}

}  // namespace vdvk
