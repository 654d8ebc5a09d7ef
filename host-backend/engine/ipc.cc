// ipc.cc - rendezvous IPC: send, sendrec, receive, rcvrqst, reply, and the
// wait-cycle check that turns a would-be deadlock into EDVSLOCKED.
#include "host-backend/engine/engine_impl.h"

namespace vdvk {

Engine::Impl::Target Engine::Impl::Resolve(const Dc& dc, int32_t ep, int32_t self_ep,
                                           int32_t free_err) const {
  if (ep == ANY || ep == NONE) return {EDVSBADDEST, -1};
  if (ep == SELF) ep = self_ep;
  const int32_t idx = dc.IndexOfNr(EndpointNr(ep));
  if (idx < 0) return {EDVSRANGE, -1};
  const Slot& s = dc.slots[idx];
  if (s.state == SlotState::kFree) return {free_err, -1, true};
  if (s.ep != ep) return {EDVSENDPOINT, -1};
  // A REMOTE slot resolves too: the caller either forwards to its node or,
  // when the remote process waits for an answer from the caller, delivers here.
  return {0, idx};
}

bool Engine::Impl::CanDeliver(const Slot& s, int32_t from_ep) const {
  // A REMOTE slot has a request only while its sendrec from the other node
  // waits for the answer (reply phase): delivering to it acknowledges that sendrec.
  return s.state != SlotState::kFree && s.req >= 0 && (s.rts & RECEIVING) &&
         !(s.rts & SENDING) && (s.getfrom == ANY || s.getfrom == from_ep);
}

// Follows who-waits-for-whom from the target. The walk is bounded by the slot
// count so a (corrupt) cycle not through the caller cannot loop forever.
bool Engine::Impl::WaitsForAnswerFrom(const Slot& s, int32_t from_ep) const {
  return s.req >= 0 && (s.rts & RECEIVING) && !(s.rts & SENDING) && s.getfrom == from_ep;
}

bool Engine::Impl::WouldDeadlock(const Dc& dc, int32_t caller_idx, int32_t target_idx) const {
  int32_t cur = target_idx;
  for (int32_t steps = 0; steps <= dc.nr_slots(); ++steps) {
    if (cur == caller_idx) return true;
    const Slot& s = dc.slots[cur];
    if (s.state != SlotState::kLocal) return false;
    int32_t next_ep;
    if (s.rts & SENDING) {
      next_ep = s.sendto;
    } else if ((s.rts & RECEIVING) && s.getfrom != ANY) {
      next_ep = s.getfrom;
    } else {
      return false;
    }
    cur = dc.IndexOfNr(EndpointNr(next_ep));
    if (cur < 0) return false;
  }
  return false;
}

void Engine::Impl::DeliverTo(Slot& dst, Slot& sender, const vdvk_msg& msg, int32_t sender_ep) {
  vdvk_msg m = msg;
  m.m_source = sender_ep;  // never trust the sender's m_source
  ++counters_.messages;
  ++sender.lclsent;
  Finish(dst.req, 0, &m);
}

void Engine::Impl::DoSend(const Call& c, SlotRef me, Nanos now, bool sendrec) {
  Dc& dc = dcs_[me.dc];
  Slot& self = dc.slots[me.idx];
  const Target t = Resolve(dc, c.arg[0], self.ep, sendrec ? EDVSDEADSRCDST : EDVSDSTDIED);
  if (t.free && TryPark(c, me, c.arg[0], now)) return;
  if (t.err != 0) return Done(c, t.err);
  if (t.idx == me.idx) return Done(c, EDVSENDPOINT);
  Slot& dst = dc.slots[t.idx];
  if (dst.state == SlotState::kRemote && !CanDeliver(dst, self.ep)) {
    return Forward(c, me, t.idx, sendrec ? RemoteKind::kSendrec : RemoteKind::kSend, now);
  }

  if (CanDeliver(dst, self.ep)) {
    DeliverTo(dst, self, c.msg, self.ep);
    if (!sendrec) return Done(c, 0);
    // Reply phase. NOWAIT only governs the request half: the request was
    // delivered, so the answer must not be lost to an EDVSAGAIN.
    const int32_t idx = NewRequest(c, Kind::kSendrec, me, now);
    self.req = idx;
    self.rts |= RECEIVING;
    self.getfrom = dst.ep;
    self.reply_phase = true;
    return;
  }
  if (c.timeout_ms == TIMEOUT_NOWAIT) return Done(c, EDVSAGAIN);
  if (WouldDeadlock(dc, me.idx, t.idx)) {
    ++counters_.deadlocks;
    return Done(c, EDVSLOCKED);
  }
  const int32_t idx = NewRequest(c, sendrec ? Kind::kSendrec : Kind::kSend, me, now);
  pool_[idx].msg = c.msg;
  pool_[idx].msg.m_source = self.ep;
  Enqueue(me.dc, t.idx, idx);
  self.req = idx;
  self.rts |= SENDING;
  self.sendto = dst.ep;
  if (sendrec) {
    self.rts |= RECEIVING;
    self.getfrom = dst.ep;
  }
}

bool Engine::Impl::TakeQueued(const Call& c, Dc& dc, SlotRef me, int32_t src_ep) {
  Slot& self = dc.slots[me.idx];
  int32_t q = self.q_head;
  while (q >= 0 && !(src_ep == ANY || pool_[q].msg.m_source == src_ep)) q = pool_[q].next;
  if (q < 0) return false;

  Request& s = pool_[q];
  const vdvk_msg m = s.msg;  // the pool entry may be recycled below
  const RequestId sender_id = s.id;
  const bool sendrec = s.kind == Kind::kSendrec;
  Slot& sender = SlotAt(s.slot);
  ++counters_.messages;
  ++sender.lclsent;
  if (sendrec) {
    // The request is delivered; the client now waits for our answer only.
    Unqueue(q);
    sender.rts &= ~static_cast<uint32_t>(SENDING);
    sender.sendto = NONE;
    sender.reply_phase = true;
  } else {
    Detach(q);
    Release(q);
    PruneHeap();
  }
  DoneMsg(c, m);
  if (!sendrec) {
    Completion done;
    done.id = sender_id;
    Emit(done);
  }
  return true;
}

void Engine::Impl::DoReceive(const Call& c, SlotRef me, Nanos now, bool rcvrqst) {
  Dc& dc = dcs_[me.dc];
  Slot& self = dc.slots[me.idx];
  const int32_t src = rcvrqst ? ANY : c.arg[0];
  int32_t src_idx = -1;
  if (src != ANY) {
    if (src == NONE) return Done(c, EDVSBADDEST);
    if (src == SELF) return Done(c, EDVSENDPOINT);
    src_idx = dc.IndexOfNr(EndpointNr(src));
    if (src_idx < 0) return Done(c, EDVSRANGE);
    if (src_idx == me.idx) return Done(c, EDVSENDPOINT);
    const Slot& s = dc.slots[src_idx];
    // A free source is only an error once nothing pending from it is left
    // (a notification may name any nr, bound or not).
    if (s.state != SlotState::kFree && s.ep != src) return Done(c, EDVSENDPOINT);
    // From a remote source the message arrives as an operation from its node.
    if (s.state == SlotState::kRemote && !NodeUp(s.nodeid)) return Done(c, EDVSNOPROXY);
  }
  if (self.wakeup) {
    self.wakeup = false;
    return Done(c, EDVSWOKENUP);
  }
  if (!rcvrqst && TakeNotification(c, dc, self, src, now)) return;
  if (TakeQueued(c, dc, me, src)) return;
  if (src_idx >= 0 && dc.slots[src_idx].state == SlotState::kFree) return Done(c, EDVSSRCDIED);
  if (c.timeout_ms == TIMEOUT_NOWAIT) return Done(c, EDVSAGAIN);
  if (src_idx >= 0 && WouldDeadlock(dc, me.idx, src_idx)) {
    ++counters_.deadlocks;
    return Done(c, EDVSLOCKED);
  }
  const int32_t idx = NewRequest(c, rcvrqst ? Kind::kRcvrqst : Kind::kReceive, me, now);
  self.req = idx;
  self.rts |= RECEIVING;
  self.getfrom = src;
  self.rcvrqst = rcvrqst;
}

void Engine::Impl::DoReply(const Call& c, SlotRef me) {
  Dc& dc = dcs_[me.dc];
  Slot& self = dc.slots[me.idx];
  const Target t = Resolve(dc, c.arg[0], self.ep, EDVSDSTDIED);
  if (t.err != 0) return Done(c, t.err);
  if (t.idx == me.idx) return Done(c, EDVSENDPOINT);
  Slot& dst = dc.slots[t.idx];
  const bool waits = WaitsForAnswerFrom(dst, self.ep);
  // The other node checks that its process waits for us.
  if (dst.state == SlotState::kRemote && !waits) {
    return Forward(c, me, t.idx, RemoteKind::kReply, Nanos{0});
  }
  // Reply never blocks: the client must already wait for us.
  if (!waits) return Done(c, EDVSPROCSTS);
  DeliverTo(dst, self, c.msg, self.ep);
  Done(c, 0);
}

}  // namespace vdvk
