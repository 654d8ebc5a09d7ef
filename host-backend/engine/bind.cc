// bind.cc - binding processes to slots, unbinding, process death, getep and
// wait4bind. FreeSlot is the one place a slot is released, so every peer that
// waits on a vanished process is told (EDVSSRCDIED / EDVSDSTDIED).
#include <csignal>

#include "host-backend/engine/engine_impl.h"

namespace vdvk {

namespace {

// The checks bind and unbind share. Returns 0 and the slot index, or EDVS*.
int32_t CheckSlotArgs(const std::vector<Dc>& dcs, int32_t node_id, int32_t dcid, int32_t ep,
                      int32_t* idx) {
  if (dcid < 0 || dcid >= static_cast<int32_t>(dcs.size())) return EDVSBADDCID;
  const Dc& dc = dcs[dcid];
  if (!dc.running) return EDVSDCNOTRUN;
  *idx = dc.IndexOfNr(EndpointNr(ep));
  if (*idx < 0) return EDVSBADPROC;
  if (!((dc.nodes >> node_id) & 1u)) return EDVSNODCNODE;
  return 0;
}

}  // namespace

void Engine::Impl::DoBind(const Call& c) {
  const int32_t cmd = c.arg[0];
  const int32_t dcid = c.arg[1];
  const int32_t pid = c.arg[2];
  const int32_t ep = c.arg[3];
  const int32_t nodeid = c.arg[4];
  int32_t idx = -1;
  if (int32_t err = CheckSlotArgs(dcs_, cfg_.node_id, dcid, ep, &idx); err != 0) return Done(c, err);

  ProcKey owner;
  switch (cmd) {
    case SELF_BIND:
      owner = c.caller;
      break;
    case LCL_BIND:
      // The transport has checked that the process exists in the caller's
      // pid namespace; a caller can only bind processes of its own domain.
      if (pid <= 0) return Done(c, EDVSBADPID);
      owner = ProcKey{c.caller.domain, pid};
      break;
    case RMT_BIND:
      if (nodeid == cfg_.node_id || nodeid < 0 || nodeid >= cfg_.nr_nodes) {
        return Done(c, EDVSBADNODEID);
      }
      if (!NodeUp(nodeid)) return Done(c, EDVSNOPROXY);
      if (!((dcs_[dcid].nodes >> nodeid) & 1u)) return Done(c, EDVSNODCNODE);
      if (Slot& s = dcs_[dcid].slots[idx]; s.state == SlotState::kRemote && s.auto_remote) {
        // An explicit rmtbind wins over the engine's own guess.
        if (s.nodeid == nodeid && s.ep == ep) {
          s.auto_remote = false;
          std::memset(s.name, 0, sizeof(s.name));
          std::memcpy(s.name, c.name, strnlen(c.name, sizeof(s.name) - 1));
          return Done(c, ep);
        }
        FreeSlot(dcid, idx, EDVSDSTDIED);
      }
      return Done(c, BindRemote(dcid, idx, ep, nodeid, c.name));
    case BKUP_BIND:
    case REPLICA_BIND:
      return Done(c, EDVSNOSYS);
    default:
      return Done(c, EDVSBINDTYPE);
  }
  if (bound_.Find(owner) != nullptr) return Done(c, EDVSBUSY);
  Slot& s = dcs_[dcid].slots[idx];
  if (s.state != SlotState::kFree) return Done(c, EDVSSLOTUSED);

  s = Slot{};
  s.state = SlotState::kLocal;
  s.ep = ep;
  s.owner = owner;
  s.lpid = owner.pid;
  s.nodeid = cfg_.node_id;
  std::memcpy(s.name, c.name, sizeof(s.name));
  s.name[sizeof(s.name) - 1] = '\0';
  bound_.Insert(owner, SlotRef{dcid, idx});
  sink_->ProcessBound(owner);
  WakeBindWaiters(dcid, idx);
  Done(c, ep);
}

void Engine::Impl::WakeBindWaiters(int32_t dcid, int32_t idx) {
  const Slot& s = dcs_[dcid].slots[idx];
  const int32_t ep = s.ep;
  const ProcKey owner = s.owner;
  size_t i = 0;
  while (i < waiters_.size()) {
    const Request& r = pool_[waiters_[i]];
    const bool match = r.kind == Kind::kWaitBind &&
                       (r.wait_ep == SELF ? r.caller == owner
                                          : (r.wait_dc == dcid && r.wait_ep == ep));
    if (match) {
      Finish(waiters_[i], ep);  // swap-removes entry i
    } else {
      ++i;
    }
  }
}

void Engine::Impl::FreeSlot(int32_t dcid, int32_t idx, int32_t owner_err) {
  Dc& dc = dcs_[dcid];
  const int32_t ep = dc.slots[idx].ep;
  const ProcKey owner = dc.slots[idx].owner;
  const bool local = dc.slots[idx].state == SlotState::kLocal;

  // Waiting for this unbind is success, so it goes first: a process waiting
  // for its own unbind gets 0, not owner_err.
  for (size_t i = 0; i < waiters_.size();) {
    const Request& r = pool_[waiters_[i]];
    if (r.kind == Kind::kWaitUnbind && r.wait_dc == dcid && r.wait_ep == ep) {
      Finish(waiters_[i], 0);
    } else {
      ++i;
    }
  }
  // A REMOTE slot's owner key holds the pending operation from its node.
  if (int32_t p = PendingOf(owner); p >= 0) Finish(p, owner_err);
  while (dc.slots[idx].q_head >= 0) Finish(dc.slots[idx].q_head, EDVSDSTDIED);
  for (Slot& peer : dc.slots) {
    if (peer.req >= 0 && (peer.rts & RECEIVING) && !(peer.rts & SENDING) && peer.getfrom == ep) {
      Finish(peer.req, EDVSSRCDIED);
    }
  }
  ClearNotifyFrom(dc, idx);
  dc.slots[idx] = Slot{};
  if (local) bound_.Erase(owner);
}

void Engine::Impl::DoUnbind(const Call& c, const SlotRef* me) {
  const int32_t dcid = c.arg[0];
  const int32_t ep = c.arg[1];
  int32_t idx = -1;
  if (int32_t err = CheckSlotArgs(dcs_, cfg_.node_id, dcid, ep, &idx); err != 0) return Done(c, err);
  const Slot& s = dcs_[dcid].slots[idx];
  if (s.state == SlotState::kFree) return Done(c, EDVSNOTBIND);
  if (s.ep != ep) return Done(c, EDVSENDPOINT);
  const bool self = me != nullptr && me->dc == dcid && me->idx == idx;
  // vdvk: a user process may unbind itself, not a server.
  if (!self && me != nullptr && !dcs_[me->dc].IsSystem(me->idx)) return Done(c, EDVSBADCALL);
  const ProcKey owner = s.owner;
  const bool local = s.state == SlotState::kLocal;
  FreeSlot(dcid, idx, EDVSNOTBIND);
  if (!self && local && cfg_.sigterm_on_foreign_unbind) sink_->SignalProcess(owner, SIGTERM);
  Done(c, 0);
}

void Engine::Impl::DoGetEp(const Call& c) {
  const SlotRef* r = BoundSlot(ProcKey{c.caller.domain, c.arg[0]});
  if (r == nullptr) return Done(c, EDVSNOTBIND);
  Done(c, SlotAt(*r).ep);
}

void Engine::Impl::DoWait4Bind(const Call& c, const SlotRef* me, Nanos now) {
  const int32_t cmd = c.arg[0];
  int32_t ep = c.arg[1];
  if (cmd != WAIT_BIND && cmd != WAIT_UNBIND) return Done(c, EDVSINVAL);
  int32_t dcid = me != nullptr ? me->dc : 0;
  if (ep == SELF) {
    if (cmd == WAIT_BIND && me != nullptr) return Done(c, SlotAt(*me).ep);
    if (cmd == WAIT_UNBIND) {
      if (me == nullptr) return Done(c, 0);
      ep = SlotAt(*me).ep;  // wait for someone to unbind us
    }
  } else {
    const Dc& dc = dcs_[dcid];
    if (!dc.running) return Done(c, EDVSDCNOTRUN);
    const int32_t idx = dc.IndexOfNr(EndpointNr(ep));
    if (idx < 0) return Done(c, EDVSBADPROC);
    const Slot& s = dc.slots[idx];
    const bool is_bound = s.state != SlotState::kFree && s.ep == ep;
    if (cmd == WAIT_BIND && is_bound) return Done(c, ep);
    if (cmd == WAIT_UNBIND && !is_bound) return Done(c, 0);
  }
  if (c.timeout_ms == TIMEOUT_NOWAIT) return Done(c, EDVSAGAIN);
  const int32_t idx = NewRequest(c, cmd == WAIT_BIND ? Kind::kWaitBind : Kind::kWaitUnbind,
                                 me != nullptr ? *me : SlotRef{}, now);
  pool_[idx].wait_dc = dcid;
  pool_[idx].wait_ep = ep;
  waiters_.push_back(idx);
}

void Engine::Impl::ProcessExited(ProcKey who) {
  if (const SlotRef* r = BoundSlot(who); r != nullptr) {
    ++counters_.deaths;
    const SlotRef ref = *r;  // FreeSlot erases (and may move) the entry r points at
    FreeSlot(ref.dc, ref.idx, EDVSINTR);
  }
  if (int32_t p = PendingOf(who); p >= 0) Finish(p, EDVSINTR);
}

void Engine::Impl::DomainGone(uint32_t domain) {
  std::vector<ProcKey> gone;
  bound_.ForEach([&](const ProcKey& k, const SlotRef&) {
    if (k.domain == domain) gone.push_back(k);
  });
  by_proc_.ForEach([&](const ProcKey& k, int32_t) {
    if (k.domain == domain && bound_.Find(k) == nullptr) gone.push_back(k);
  });
  for (ProcKey k : gone) ProcessExited(k);
}

}  // namespace vdvk
