// notify.cc - notifications (one pending bit per source, never blocking) and
// WAKEUPEP.
#include "host-backend/engine/engine_impl.h"

namespace vdvk {

namespace {

bool TestBit(const Slot& s, int32_t i) {
  return (s.ntfy_bits[static_cast<size_t>(i) / 64] >> (i % 64)) & 1u;
}

}  // namespace

void Engine::Impl::BuildNotify(vdvk_msg* out, int32_t src_ep, int32_t src_nr, int32_t value,
                               Nanos now) const {
  message m;
  std::memset(&m, 0, sizeof(m));
  m.m_source = src_ep;
  // As DVS: 0x1000 | nr even for negative nr (the sign bits swallow the flag).
  m.m_type = NOTIFY_FROM(src_nr);
  m.NOTIFY_FLAGS = 0;
  m.NOTIFY_ARG = value;
  m.NOTIFY_TIMESTAMP.tv_sec = now / 1000000000;
  m.NOTIFY_TIMESTAMP.tv_nsec = now % 1000000000;
  std::memcpy(out, &m, sizeof(*out));
}

void Engine::Impl::DoNotify(const Call& c, SlotRef me, Nanos now) {
  Dc& dc = dcs_[me.dc];
  Slot& self = dc.slots[me.idx];
  const int32_t src_arg = c.arg[0];
  int32_t src_ep;
  int32_t src_nr;
  int32_t src_index;
  if (src_arg == SELF) {
    src_ep = self.ep;
    src_nr = me.idx - dc.nr_tasks;
    src_index = me.idx;
  } else if (src_arg == HARDWARE) {
    src_ep = src_nr = HARDWARE;
    src_index = dc.IndexOfNr(HARDWARE);
    if (src_index < 0) src_index = dc.nr_slots();  // DC without task slots: spare bit
  } else {
    src_index = dc.IndexOfNr(src_arg);
    if (src_index < 0) return Done(c, EDVSRANGE);
    src_ep = src_nr = src_arg;
  }

  const Target t = Resolve(dc, c.arg[1], self.ep, EDVSDSTDIED);
  if (t.free && TryPark(c, me, c.arg[1], now)) return;
  if (t.err != 0) return Done(c, t.err);
  if (t.idx == me.idx) return Done(c, EDVSENDPOINT);
  // The destination's node decides whether it is a system process.
  if (dc.slots[t.idx].state == SlotState::kRemote) {
    return Forward(c, me, t.idx, RemoteKind::kNotify, now);
  }
  if (!dc.IsSystem(t.idx)) return Done(c, EDVSTRAPDENIED);
  Slot& dst = dc.slots[t.idx];

  // A sendrec client waits for its answer only, and rcvrqst takes requests
  // only: both leave the notification pending.
  if (CanDeliver(dst, src_ep) && !dst.reply_phase && !dst.rcvrqst) {
    vdvk_msg m;
    BuildNotify(&m, src_ep, src_nr, c.arg[2], now);
    ++counters_.notifies;
    Finish(dst.req, 0, &m);
    return Done(c, 0);
  }
  if (dst.ntfy_bits.empty()) {
    const size_t n = static_cast<size_t>(dc.nr_slots()) + 1;
    dst.ntfy_bits.assign((n + 63) / 64, 0);
    dst.ntfy_value.assign(n, 0);
    dst.ntfy_src.assign(n, NONE);
  }
  if (!TestBit(dst, src_index)) {
    dst.ntfy_bits[static_cast<size_t>(src_index) / 64] |= uint64_t{1} << (src_index % 64);
    ++dst.ntfy_count;
  }
  // Repeated notifies merge into one; the latest value wins.
  dst.ntfy_value[src_index] = c.arg[2];
  dst.ntfy_src[src_index] = src_ep;
  Done(c, 0);
}

bool Engine::Impl::TakeNotification(const Call& c, const Dc& dc, Slot& me, int32_t src_ep,
                                    Nanos now) {
  if (me.ntfy_count == 0) return false;
  int32_t found = -1;
  if (src_ep == ANY) {
    for (size_t w = 0; w < me.ntfy_bits.size() && found < 0; ++w) {
      if (me.ntfy_bits[w] != 0) {
        found = static_cast<int32_t>(w * 64) + __builtin_ctzll(me.ntfy_bits[w]);
      }
    }
  } else {
    const int32_t i = dc.IndexOfNr(EndpointNr(src_ep));
    if (i >= 0 && TestBit(me, i) && me.ntfy_src[i] == src_ep) found = i;
  }
  if (found < 0) return false;
  me.ntfy_bits[static_cast<size_t>(found) / 64] &= ~(uint64_t{1} << (found % 64));
  --me.ntfy_count;
  const int32_t nr = found == dc.nr_slots() ? HARDWARE : found - dc.nr_tasks;
  vdvk_msg m;
  BuildNotify(&m, me.ntfy_src[found], nr, me.ntfy_value[found], now);
  ++counters_.notifies;
  DoneMsg(c, m);
  return true;
}

void Engine::Impl::ClearNotifyFrom(Dc& dc, int32_t src_index) {
  for (Slot& s : dc.slots) {
    if (s.ntfy_count == 0 || !TestBit(s, src_index)) continue;
    s.ntfy_bits[static_cast<size_t>(src_index) / 64] &= ~(uint64_t{1} << (src_index % 64));
    --s.ntfy_count;
  }
}

void Engine::Impl::DoWakeup(const Call& c) {
  const int32_t dcid = c.arg[0];
  const int32_t ep = c.arg[1];
  if (dcid < 0 || dcid >= cfg_.nr_dcs) return Done(c, EDVSBADDCID);
  Dc& dc = dcs_[dcid];
  if (!dc.running) return Done(c, EDVSDCNOTRUN);
  const int32_t idx = dc.IndexOfNr(EndpointNr(ep));
  if (idx < 0) return Done(c, EDVSBADPROC);
  Slot& s = dc.slots[idx];
  if (s.state == SlotState::kFree) return Done(c, EDVSNOTBIND);
  if (s.ep != ep) return Done(c, EDVSENDPOINT);
  if (s.state == SlotState::kRemote) return Done(c, EDVSNOPROXY);
  if (s.req >= 0) {
    Finish(s.req, EDVSWOKENUP);
  } else {
    s.wakeup = true;
  }
  Done(c, 0);
}

}  // namespace vdvk
