// vcopy.cc - authorising copies between two processes' memory. The engine only
// checks and marks the parties (ONCOPY); the transport moves the bytes and
// reports back through VcopyDone.
#include "host-backend/engine/engine_impl.h"

namespace vdvk {

void Engine::Impl::DoVcopy(const Call& c, SlotRef me) {
  Dc& dc = dcs_[me.dc];
  Slot& self = dc.slots[me.idx];
  const int32_t bytes = c.arg[2];
  if (bytes < 0 || bytes > dc.max_copylen) return Done(c, EDVSRANGE);

  auto party = [&](int32_t ep, int32_t free_err) -> Target {
    if (ep == SELF || ep == self.ep) return {0, me.idx};
    Target t = Resolve(dc, ep, self.ep, free_err);
    // Remote vcopy (a chunk stream on the link) is not implemented yet.
    if (t.err == 0 && dc.slots[t.idx].state == SlotState::kRemote) t = {EDVSNOPROXY, -1};
    return t;
  };
  const Target src = party(c.arg[0], EDVSSRCDIED);
  if (src.err != 0) return Done(c, src.err);
  const Target dst = party(c.arg[1], EDVSDSTDIED);
  if (dst.err != 0) return Done(c, dst.err);
  if (src.idx == dst.idx) return Done(c, EDVSINVAL);

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

}  // namespace vdvk
