// resolve.cc - automatic resolution of which node owns an endpoint (see the
// comment above RemoteKind in engine.h): parking calls whose target is free
// here, asking the other member nodes, and resubmitting the calls once the
// answer is known.
#include <algorithm>

#include "host-backend/engine/engine_impl.h"

namespace vdvk {

// Returns false when resolution does not apply (the caller then fails the
// call as before); true when the call is parked (or ended with EDVSBUSY).
bool Engine::Impl::TryPark(const Call& c, SlotRef me, int32_t ep, Nanos now) {
  // An operation from another node is never relayed (see Forward), and a call
  // resubmitted because nobody owns ep must not ask again.
  if (from_remote_ || (me.dc == no_resolve_dc_ && ep == no_resolve_ep_)) return false;
  const uint64_t ask = dcs_[me.dc].nodes & nodes_up_ & ~(uint64_t{1} << cfg_.node_id);
  if (ask == 0) return false;
  // notify does not block in DVK, so Submit's busy check skipped it; parked,
  // it needs the caller's one request slot (as a forwarded notify does).
  if (PendingOf(c.caller) >= 0) {
    Done(c, EDVSBUSY);
    return true;
  }
  uint64_t id = 0;
  // Few lookups are in flight (each holds at least one blocked process).
  for (const auto& [lid, lk] : lookups_) {
    if (lk.dc == me.dc && lk.ep == ep) {
      id = lid;
      break;
    }
  }
  const bool ask_now = id == 0;
  if (ask_now) {
    id = next_lookup_++;
    Lookup& lk = lookups_[id];
    lk.dc = me.dc;
    lk.ep = ep;
    lk.waiting = ask;
  }
  // Timed like the call itself: a deadline passing while parked is EDVSTIMEDOUT.
  const int32_t idx = NewRequest(c, Kind::kResolve, me, now);
  pool_[idx].lookup_id = id;
  lookups_[id].parked.push_back(Parked{idx, pool_[idx].seq, c});
  if (ask_now) {
    for (int32_t n = 0; n < cfg_.nr_nodes; ++n) {
      if ((ask >> n) & 1u) sink_->LookupOnNode(n, id, me.dc, ep);
    }
  }
  return true;
}

// Detach of a kResolve request (it ended early: timeout, cancel, death).
void Engine::Impl::Unpark(int32_t idx) {
  auto it = lookups_.find(pool_[idx].lookup_id);
  if (it == lookups_.end()) return;
  auto& v = it->second.parked;
  v.erase(std::remove_if(v.begin(), v.end(), [idx](const Parked& p) { return p.idx == idx; }),
          v.end());
  // The lookup stays until answered: a new call for ep joins it.
}

void Engine::Impl::LookupResult(uint64_t id, int32_t node, int32_t result, Nanos now) {
  auto it = lookups_.find(id);
  if (it == lookups_.end() || node < 0 || node >= 64) return;
  Lookup& lk = it->second;
  const uint64_t bit = uint64_t{1} << node;
  if (!(lk.waiting & bit)) return;  // not asked, or answered already
  lk.waiting &= ~bit;
  // Only the owner's own word counts: another node's REMOTE slot may be stale.
  if (result == node) return ResolveDone(id, node, now);
  if (lk.waiting == 0) ResolveDone(id, -1, now);
}

void Engine::Impl::LookupsNodeDown(int32_t node, Nanos now) {
  std::vector<uint64_t> ids;
  for (const auto& [id, lk] : lookups_) {
    if ((lk.waiting >> node) & 1u) ids.push_back(id);
  }
  // A node that went away owns nothing we can reach: a "no".
  for (uint64_t id : ids) LookupResult(id, node, EDVSNOTCONN, now);
}

void Engine::Impl::ResolveDone(uint64_t id, int32_t owner, Nanos now) {
  auto it = lookups_.find(id);
  if (it == lookups_.end()) return;
  const Lookup lk = std::move(it->second);
  lookups_.erase(it);  // later answers for id are ignored
  Dc& dc = dcs_[lk.dc];
  if (owner >= 0 && dc.running && NodeUp(owner) && ((dc.nodes >> owner) & 1u)) {
    const int32_t idx = dc.IndexOfNr(EndpointNr(lk.ep));
    // Bound meanwhile (locally, or by rmtbind): that binding wins.
    if (idx >= 0 && dc.slots[idx].state == SlotState::kFree) {
      BindRemote(lk.dc, idx, lk.ep, owner, "auto");
      dc.slots[idx].auto_remote = true;
    }
  }
  for (const Parked& p : lk.parked) {
    const Request& r = pool_[p.idx];
    if (!r.live || r.seq != p.seq) continue;  // ended by a completion of an earlier resubmit
    Call c = p.call;
    // The receiving node applies what is left of the timeout (at least 1 ms:
    // 0 would mean NOWAIT).
    if (r.deadline != kNoDeadline) c.timeout_ms = std::max<Nanos>(1, (r.deadline - now + 999999) / 1000000);
    Detach(p.idx);  // no completion: the call goes on as a new submission
    Release(p.idx);
    PruneHeap();
    if (owner < 0) {
      no_resolve_dc_ = lk.dc;
      no_resolve_ep_ = lk.ep;
    }
    Submit(c, now);
    no_resolve_dc_ = -1;
    no_resolve_ep_ = NONE;
  }
}

// A forwarded op says endpoint ep is not (or no longer) bound on node `node`:
// an automatic REMOTE slot for it is stale; drop it so the next call asks again.
void Engine::Impl::DropStaleAutoSlot(int32_t dcid, int32_t ep, int32_t node, int32_t result) {
  switch (result) {
    case EDVSDSTDIED:
    case EDVSDEADSRCDST:
    case EDVSSRCDIED:
    case EDVSNOTBIND:
    case EDVSENDPOINT:
    case EDVSNOPROXY:  // bound there as a REMOTE slot itself: no relay
      break;
    default:
      return;
  }
  if (dcid < 0 || dcid >= cfg_.nr_dcs || !dcs_[dcid].running) return;
  Dc& dc = dcs_[dcid];
  const int32_t idx = dc.IndexOfNr(EndpointNr(ep));
  if (idx < 0) return;
  const Slot& s = dc.slots[idx];
  if (s.state != SlotState::kRemote || !s.auto_remote || s.nodeid != node || s.ep != ep) return;
  FreeSlot(dcid, idx, EDVSDSTDIED);
}

}  // namespace vdvk
