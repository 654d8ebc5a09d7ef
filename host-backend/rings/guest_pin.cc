// guest_pin.cc - vcopy parties inside a guest that are not the caller.
//
// The caller's own pages arrive pinned with its VCOPY (VDVK_SQE_F_GUEST_PHYS).
// The other party sleeps in the guest (a receive, a sendrec): only its guest
// kernel can find and pin its range, so the backend asks it with a
// VDVK_CQE_F_PIN request and waits for VDVK_OP_PIN_DONE before copying. The
// copy then runs like any guest copy (RunGuestCopy), and every pin a guest
// granted is released with VDVK_CQE_F_UNPIN once the copy is over.
//
// Invariants: a PinJob exists while at least one PIN of its vcopy is
// unanswered; pin_waits_ holds exactly the unanswered PINs; an UNPIN goes out
// only for a pin whose PIN_DONE succeeded, exactly once. A guest that goes
// away fails its unanswered pins and every job that involves it. A pin left
// unanswered for --pin-timeout-ms fails with EDVSTIMEDOUT (a stuck or hostile
// guest must not block a caller forever); its id moves to late_pins_, so a
// late PIN_DONE is released rather than taken for a protocol violation.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstring>
#include <limits>

#include "dvk/dvk.h"
#include "host-backend/rings/backend.h"
#include "host-backend/rings/backend_internal.h"
#include "host-backend/rings/shared_ring.h"

namespace vdvk::rings {

GuestRing* Backend::GuestOf(uint32_t domain) {
  auto it = guests_.find(domain);
  return it == guests_.end() ? nullptr : it->second.get();
}

GuestMemory* Backend::MemoryOf(uint32_t domain) {
  GuestRing* g = GuestOf(domain);
  return g == nullptr ? nullptr : &g->mem;
}

SharedRing* Backend::RingOf(GuestRing* g) {
  Attachment* a = g->attach_id == 0 ? nullptr : Find(g->attach_id);
  return a != nullptr ? a->ring.get() : g->ring.get();
}

Backend::Attachment* Backend::GuestAttachment(uint32_t domain) {
  GuestRing* g = GuestOf(domain);
  return g == nullptr || g->attach_id == 0 ? nullptr : Find(g->attach_id);
}

int32_t Backend::PreparePin(const ProcKey& who, uint64_t addr, uint32_t bytes, const PinWait& w, uint64_t* id,
                            Attachment** a, vdvk_cqe* cqe) {
  *a = GuestAttachment(who.domain);
  if (*a == nullptr) return w.src_side ? EDVSSRCDIED : EDVSDSTDIED;
  GuestRing* gr = GuestOf(who.domain);
  // Without its memory, or with a driver that cannot pin for others, this
  // guest's processes can only be reached as vcopy callers.
  if (!gr->mem.mapped() || !((*a)->ring->LoadClientFeatures() & VDVK_CF_PEER_PIN)) return EDVSNOSYS;
  *id = next_pin_id_++;
  PinWait& wait = pin_waits_[*id] = w;
  wait.deadline = Now() + Nanos{cfg_.pin_timeout_ms} * 1000000;
  ArmPinTimer();
  *cqe = vdvk_cqe{};
  cqe->tag = *id;
  cqe->flags = VDVK_CQE_F_PIN;
  cqe->u.pin.tgid = who.pid;
  cqe->u.pin.write = w.src_side ? 0 : 1;
  cqe->u.pin.addr = addr;
  cqe->u.pin.bytes = bytes;
  return 0;
}

int32_t Backend::RequestPin(const VcopyGrant& g, bool src_side) {
  const ProcKey& who = src_side ? g.src : g.dst;
  uint64_t id = 0;
  Attachment* a = nullptr;
  vdvk_cqe cqe;
  const PinWait w{who.domain, g.id, src_side, g.bytes, std::nullopt};
  if (int32_t r = PreparePin(who, src_side ? g.src_addr : g.dst_addr, g.bytes, w, &id, &a, &cqe); r != 0) return r;
  pin_jobs_[g.id].waiting++;
  PostCqe(a, cqe);
  return 0;
}

void Backend::HandlePinDone(Attachment* a, const vdvk_sqe& sqe) {
  const uint64_t pin_id = sqe.u.arg64[0];
  auto it = pin_waits_.find(pin_id);
  if (sqe.flags != 0 || sqe.reserved0 != 0) {
    DetachNow(a->id, VDVK_DEAD_BAD_FIELD, "PIN_DONE with flags");
    return;
  }
  if (it == pin_waits_.end()) {
    auto late = late_pins_.find(pin_id);
    if (late != late_pins_.end() && late->second == a->domain) {
      // Answered after its vcopy gave up (ExpirePins): nobody uses the pages.
      late_pins_.erase(late);
      spdlog::info("guest domain {}: late answer to pin request {} ({}), released", a->domain, pin_id,
                   sqe.arg[0] == 0 ? "pinned" : "failed");
      if (sqe.arg[0] == 0) ReleasePins({PinHold{a->domain, pin_id}});
      return;
    }
  }
  if (it == pin_waits_.end() || it->second.domain != a->domain) {
    DetachNow(a->id, VDVK_DEAD_BAD_TAG, "PIN_DONE for a pin never asked");
    return;
  }
  int32_t result = sqe.arg[0];
  std::vector<vdvk_phys_extent> ext;
  if (result == 0) {
    // The guest holds pages now; a list we cannot use is a broken guest
    // (its pins fail with the detach, see FailPinsOf).
    const RingGeometry& geo = a->ring->geometry();
    GuestMemory* mem = MemoryOf(a->domain);
    PhysLists lists;
    bool ok = sqe.buf_len > 0 && sqe.buf_index < geo.nr_bufs && sqe.buf_len <= geo.buf_size &&
              mem != nullptr && mem->mapped();
    if (ok) {
      std::vector<uint8_t> copy(sqe.buf_len);  // one read out of shared memory
      std::memcpy(copy.data(), a->ring->shm_buf(sqe.buf_index), copy.size());
      ok = ParsePhysLists(copy.data(), sqe.buf_len, it->second.bytes, mem->size(), &lists) &&
           !lists.src.empty() && lists.dst.empty();
    }
    if (!ok) {
      DetachNow(a->id, VDVK_DEAD_BAD_FIELD, "bad PIN_DONE page list");
      return;
    }
    ext = std::move(lists.src);
  } else if (result > 0 || result < -1000) {
    result = EDVSINVAL;  // only 0 or an EDVS* code means something
  }
  PinAnswered(pin_id, result, std::move(ext));
}

void Backend::PinAnswered(uint64_t pin_id, int32_t result, std::vector<vdvk_phys_extent> ext) {
  auto it = pin_waits_.find(pin_id);
  if (it == pin_waits_.end()) return;
  const PinWait w = it->second;
  pin_waits_.erase(it);
  if (w.link) return LinkPinAnswered(w, pin_id, result, std::move(ext));
  auto jit = pin_jobs_.find(w.job);
  if (jit == pin_jobs_.end()) {
    if (result == 0) ReleasePins({PinHold{w.domain, pin_id}});
    return;
  }
  PinJob& job = jit->second;
  if (result == 0) {
    job.held.push_back(PinHold{w.domain, pin_id});
    (w.src_side ? job.src_ext : job.dst_ext) = std::move(ext);
  } else if (job.result == 0) {
    job.result = result;
  }
  if (--job.waiting > 0) return;
  Deferred d{};
  d.grant = job.grant;
  d.after_pins = true;
  d.unpin = std::move(job.held);
  if (job.result != 0) {
    d.kind = Deferred::kFail;
    d.result = job.result;
  } else {
    d.kind = Deferred::kGuestCopy;
    d.src_ext = std::move(job.src_ext);
    d.dst_ext = std::move(job.dst_ext);
  }
  pin_jobs_.erase(jit);
  deferred_.push_back(std::move(d));
  if (!in_engine_) WithEngine([] {});  // runs the copy and tells the engine
}

void Backend::FailPinsOf(uint32_t domain) {
  // Jobs that involve the guest: its pages (listed or pinned) mean nothing
  // any more, and a new guest may soon own the same physical addresses.
  for (auto& [id, job] : pin_jobs_) {
    const VcopyGrant& g = job.grant;
    if (g.src.domain != domain && g.dst.domain != domain && g.caller.domain != domain) continue;
    if (job.result == 0) job.result = g.src.domain == domain ? EDVSSRCDIED : EDVSDSTDIED;
    std::erase_if(job.held, [&](const PinHold& h) { return h.domain == domain; });
  }
  std::vector<std::pair<uint64_t, bool>> gone;
  for (const auto& [pin_id, w] : pin_waits_)
    if (w.domain == domain) gone.emplace_back(pin_id, w.src_side);
  for (const auto& [pin_id, src_side] : gone)
    PinAnswered(pin_id, src_side ? EDVSSRCDIED : EDVSDSTDIED, {});
  std::erase_if(late_pins_, [&](const auto& kv) { return kv.second == domain; });
  LinkPartiesGuestGone(domain);
}

void Backend::ArmPinTimer() {
  // Every pin gets the same timeout, so the oldest unanswered one is due
  // first; the timer runs for it and re-arms for the next (ExpirePins).
  if (ev_is_active(&pin_timer_w_) || pin_waits_.empty()) return;
  Nanos first = std::numeric_limits<Nanos>::max();
  for (const auto& [id, w] : pin_waits_) first = std::min(first, w.deadline);
  ev_now_update(loop_);
  const double delay = std::max(0.0, static_cast<double>(first - Now()) / 1e9);
  ev_timer_set(&pin_timer_w_, delay + 0.001, 0.0);
  ev_timer_start(loop_, &pin_timer_w_);
}

void Backend::OnPinTimer(struct ev_loop*, ev_timer* w, int) {
  static_cast<Backend*>(w->data)->ExpirePins();
}

void Backend::ExpirePins() {
  const Nanos now = Now();
  std::vector<std::pair<uint64_t, PinWait>> due;
  for (const auto& [id, w] : pin_waits_)
    if (w.deadline <= now) due.emplace_back(id, w);
  for (const auto& [id, w] : due) {
    spdlog::warn("guest domain {}: no answer to pin request {} ({} bytes) within {} ms: "
                 "its vcopy fails with EDVSTIMEDOUT; a late answer is released",
                 w.domain, id, w.bytes, cfg_.pin_timeout_ms);
    late_pins_[id] = w.domain;
    PinAnswered(id, EDVSTIMEDOUT, {});
  }
  ArmPinTimer();
}

void Backend::ReleasePins(const std::vector<PinHold>& holds) {
  for (const PinHold& h : holds) {
    Attachment* a = GuestAttachment(h.domain);
    if (a == nullptr) continue;
    vdvk_cqe cqe{};
    cqe.tag = h.pin_id;
    cqe.flags = VDVK_CQE_F_UNPIN;
    PostCqe(a, cqe);
  }
}

}  // namespace vdvk::rings
