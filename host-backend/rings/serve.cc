// serve.cc - draining submission queues, posting completions, vcopy grants,
// and the adaptive poll/sleep cycle.
#include <spdlog/spdlog.h>
#include <sched.h>
#include <time.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdio>
#include <cstring>

#include "dvk/dvk.h"
#include "host-backend/rings/backend.h"
#include "host-backend/rings/backend_internal.h"
#include "host-backend/rings/instance_lock.h"
#include "host-backend/rings/sqe_check.h"
#include "host-backend/rings/sqe_decode.h"

namespace vdvk::rings {
namespace {

// An empty poll iteration gives the CPU away: when the client shares our CPU
// (pinned, or only 2 vCPUs for three busy processes) pure spinning would keep
// it from producing the very work we wait for (measured on a loaded machine,
// all three processes pinned to one CPU: sendrec 340 us with a pause-only
// spin, 217 us with the yield, 191 us with polling off). On an idle other
// CPU sched_yield returns at once and we keep polling.
inline void PollRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
  sched_yield();
}

int64_t NowUs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000 + ts.tv_nsec / 1000;
}

// Longest stretch spent serving rings before the loop handles other events
// (timers, signals, attaches) again.
constexpr int64_t kMaxBusyUs = 2000;

}  // namespace

// ---- the poll / sleep cycle ------------------------------------------------------

void Backend::SetAllSleeping(bool sleeping) {
  for (auto& [id, a] : attachments_) a->ring->SetBackendSleeping(sleeping);
}

bool Backend::AnyWork() {
  for (auto& [id, a] : attachments_)
    if (a->ring->LoadSqTail() != a->sq_head) return true;
  return false;
}

size_t Backend::ServeRound(size_t* host_work) {
  size_t total = 0, host = 0;
  // Snapshot: serving may detach attachments (erasing from the map).
  // serve_ids_ is reused: this runs on every poll iteration.
  serve_ids_.clear();
  for (auto& [id, a] : attachments_) serve_ids_.push_back(id);
  for (uint64_t id : serve_ids_) {
    if (Attachment* a = Find(id)) {
      const bool native = a->domain == 0;
      const size_t n = Serve(a);
      total += n;
      if (native) host += n;
    }
  }
  if (host_work != nullptr) *host_work = host;
  return total;
}

void Backend::ServeAll() {
  ev_idle_stop(loop_, &resume_w_);
  // Awake: clients need not ring our doorbell while we look at their rings.
  SetAllSleeping(false);
  const int64_t start = NowUs();
  size_t host_work = 0;
  const size_t work = ServeRound(&host_work);
  // A cross-vCPU wakeup costs ~20-25 us here (perf-notes.md): after work,
  // watch the rings for a bounded window before paying for a sleep. The
  // window is bounded because spinning unboundedly starves the other vCPU.
  // Host-native clients skip their doorbell while we are awake; a UML
  // guest's driver always kicks, so for guests the window only saves our
  // wakeup, and on shared CPUs the spin takes CPU from the guests, whose
  // every syscall costs several host context switches: off by default
  // (--guest-poll-us). Measured with vdvk-uml-bench on the quiet 2-vCPU VM,
  // window for all vs none for guests, 4 alternations: guest<->guest round
  // trip avg 128 -> 117 us (guests on CPU0 and CPU1), 166 -> 132 us (all on
  // CPU0). But two processes of one guest (on CPU0, the backend free to use
  // CPU1) got slower in 6 of 6 alternations (avg 113 -> 146 us): a backend
  // with a CPU of its own gains from spinning for guests too.
  auto window_after = [this](size_t host, size_t all) -> int64_t {
    return host > 0 ? cfg_.poll_us : all > 0 ? cfg_.guest_poll_us : 0;
  };
  const int64_t window = window_after(host_work, work);
  if (window > 0) {
    int64_t deadline = NowUs() + window;
    for (int64_t now = NowUs(); now < deadline && now - start < kMaxBusyUs; now = NowUs()) {
      size_t host_n = 0;
      size_t n = ServeRound(&host_n);
      if (n > 0) {
        ctr_.poll_hits += n;
        deadline = std::max(deadline, NowUs() + window_after(host_n, n));
      } else if (link_out_ != nullptr && link_out_->HasInput()) {
        break;  // a peer's answer is waiting: the loop hands it to the engine now
      } else {
        PollRelax();
      }
    }
  }
  for (;;) {
    SetAllSleeping(true);
    // Pairs with the client's fence between publishing sq_tail and reading
    // backend_flags: either it sees SLEEPING and kicks, or we see its tail.
    std::atomic_thread_fence(std::memory_order_seq_cst);
    if (!AnyWork()) break;
    SetAllSleeping(false);
    if (NowUs() - start > kMaxBusyUs) {
      // Under steady load, still let timers, signals and new clients in:
      // the idle watcher brings us back as soon as they are handled.
      ev_idle_start(loop_, &resume_w_);
      break;
    }
    ServeRound();
  }
  DropShrunkGuests();
  bool backlog = false;
  for (auto& [id, a] : attachments_)
    if (!a->backlog.empty()) backlog = true;
  if (backlog && !ev_is_active(&backlog_w_)) ev_timer_start(loop_, &backlog_w_);
  if (!backlog && ev_is_active(&backlog_w_)) ev_timer_stop(loop_, &backlog_w_);
}

// ---- submission side ---------------------------------------------------------------

size_t Backend::Serve(Attachment* a) {
  FlushBacklog(a);
  if (!Find(a->id)) return 0;
  SharedRing& r = *a->ring;
  uint32_t tail = r.LoadSqTail();
  int64_t n = PendingSqEntries(tail, a->sq_head, r.geometry().sq_entries);
  if (n < 0) {
    Detach(a->id, VDVK_DEAD_BAD_INDEX, "bad sq_tail");
    return 0;
  }
  uint64_t id = a->id;
  for (int64_t i = 0; i < n; ++i) {
    vdvk_sqe sqe;
    // The one read of this entry from shared memory: everything below
    // looks only at the private copy (no double fetch).
    std::memcpy(&sqe, r.shm_sqe(a->sq_head), sizeof(sqe));
    a->sq_head++;
    // false: `a` was dropped (a violation, or a detach queued by a sink
    // callback that ran when the engine returned).
    if (!HandleSqe(a, sqe)) return static_cast<size_t>(i + 1);
  }
  if (Find(id)) r.StoreSqHead(a->sq_head);  // pairs with the client's acquire of sq_head
  return static_cast<size_t>(n);
}

bool Backend::HandleSqe(Attachment* a, const vdvk_sqe& sqe) {
  if (a->domain != 0 && sqe.opcode == VDVK_OP_PROC_EXIT) {
    uint64_t id = a->id;
    HandleProcExit(a, sqe);
    return Find(id) != nullptr;
  }
  if (a->domain != 0 && sqe.opcode == VDVK_OP_PIN_DONE) {
    uint64_t id = a->id;
    HandlePinDone(a, sqe);
    return Find(id) != nullptr;
  }
  SqeVerdict v = CheckSqe(sqe, a->ring->geometry());
  if (v.dead_reason != VDVK_DEAD_NONE) {
    DetachNow(a->id, v.dead_reason, "");
    return false;
  }
  switch (sqe.opcode) {
    case VDVK_OP_CANCEL: {
      auto it = a->by_tag.find(sqe.u.arg64[0]);
      if (it == a->by_tag.end()) return true;  // already completed: nothing to do
      RequestId rid = it->second;
      WithEngine([&] { engine_->Cancel(rid, Now()); });
      return Find(a->id) != nullptr;
    }
    case VDVK_OP_VCOPY_DONE: {
      uint64_t id = a->id;
      HandleVcopyDone(a, sqe);
      return Find(id) != nullptr;
    }
    default: {
      uint64_t id = a->id;
      SubmitCall(a, sqe, v.error);
      return Find(id) != nullptr;
    }
  }
}

void Backend::HandleVcopyDone(Attachment* a, const vdvk_sqe& sqe) {
  auto it = a->by_tag.find(sqe.tag);
  auto pit = it == a->by_tag.end() ? pending_.end() : pending_.find(it->second);
  if (pit == pending_.end() || !pit->second.granted) {
    DetachNow(a->id, VDVK_DEAD_BAD_TAG, "");
    return;
  }
  Pending& p = pit->second;
  p.granted = false;  // one VCOPY_DONE per grant
  VcopyGrant g = p.grant;
  int32_t result = sqe.arg[0];
  // Only 0 or a DVK error code is meaningful; anything else is a client bug.
  if (result > 0 || result < -1000) result = EDVSINVAL;
  if (sqe.arg[1] == 1) {
    // The client could not reach the other process (EPERM): copy for it.
    result = copier_->Copy(g);
    if (result == 0) ctr_.vcopy_bounce_bytes += g.bytes;
  } else if (result == 0) {
    ctr_.vcopy_zero_copy_bytes += g.bytes;
  }
  WithEngine([&] { engine_->VcopyDone(g.id, result, Now()); });
}

void Backend::SubmitCall(Attachment* a, const vdvk_sqe& sqe, int32_t early_error) {
  ctr_.requests++;
  auto post_now = [&](int32_t res) {
    vdvk_cqe cqe{};
    cqe.tag = sqe.tag;
    cqe.res = res;
    ctr_.completions++;
    PostCqe(a, cqe);
  };
  if (early_error != 0) return post_now(early_error);
  if (a->inflight >= a->ring->geometry().cq_entries) {
    // More requests in flight than completions the CQ can hold.
    DetachNow(a->id, VDVK_DEAD_OVERFLOW, "");
    return;
  }
  // A tag names one pending request (CANCEL and VCOPY_DONE look it up).
  if (a->by_tag.count(sqe.tag)) return post_now(EDVSINVAL);
  if (sqe.opcode == VDVK_OP_STATS) {
    FillStats(a->ring->shm_buf(sqe.buf_index));
    return post_now(0);
  }

  // Guest rings: the guest kernel names the caller (never guest user space).
  const ProcKey caller = a->domain != 0 ? ProcKey{a->domain, sqe.caller_pid} : ProcKey{0, a->pid};
  PhysLists phys;
  if (a->domain != 0) {
    if (sqe.caller_pid <= 0) return post_now(EDVSINVAL);
    // Guest memory is reached through its mapping and the pages the guest
    // kernel pinned (guest_ring.cc).
    if (sqe.opcode == VDVK_OP_VCOPY)
      if (int32_t r = PrepareGuestVcopy(a, sqe, &phys); r != 0) return post_now(r);
  } else if (sqe.flags != 0) {
    return post_now(EDVSINVAL);  // guest-physical ranges mean nothing for a host process
  }
  // Payload input is copied out of shared memory before the engine sees it.
  std::array<uint8_t, sizeof(vdvk_dc_init)> in_copy{};
  std::span<const uint8_t> in;
  if (sqe.opcode == VDVK_OP_DCINIT) {
    std::memcpy(in_copy.data(), a->ring->shm_buf(sqe.buf_index), in_copy.size());
    in = std::span<const uint8_t>(in_copy.data(), in_copy.size());
  }
  RequestId rid = next_request_id_++;
  Call call = DecodeSqe(sqe, rid, caller, in);
  if (sqe.opcode == VDVK_OP_BIND) {
    int32_t cmd = sqe.arg[0];
    pid_t named = a->pid;
    if (a->domain != 0 && cmd != RMT_BIND) {
      // Guest pids mean nothing in the host's /proc: name it after the guest.
      std::snprintf(call.name, sizeof(call.name), "g%u.%d", a->domain,
                    cmd == LCL_BIND || cmd == REPLICA_BIND ? sqe.arg[2] : sqe.caller_pid);
    } else if (cmd == LCL_BIND || cmd == REPLICA_BIND) {
      named = sqe.arg[2];
      if (!ProcessExists(named)) return post_now(EDVSBADPID);
    }
    if (cmd == RMT_BIND) {
      // The remote process' name travels in the payload buffer.
      if (sqe.buf_len > 0)
        std::memcpy(call.name, a->ring->shm_buf(sqe.buf_index),
                    std::min<size_t>(sqe.buf_len, sizeof(call.name) - 1));
      call.name[sizeof(call.name) - 1] = '\0';
    } else if (a->domain == 0) {
      ReadProcessName(named, call.name);
    }
  }
  Pending p;
  p.attach_id = a->id;
  p.tag = sqe.tag;
  p.buf_index = sqe.buf_index;
  p.buf_len = sqe.buf_len;
  p.op = sqe.opcode;
  p.phys = std::move(phys);
  pending_.emplace(rid, std::move(p));
  a->by_tag.emplace(sqe.tag, rid);
  a->inflight++;
  WithEngine([&] { engine_->Submit(call, Now()); });
}

void Backend::FillStats(uint8_t* out) {
  const EngineCounters& e = engine_->counters();
  vdvk_stats s{};
  s.attachments = attachments_.size();
  s.attach_total = ctr_.attach_total;
  s.detach_total = ctr_.detach_total;
  s.requests = ctr_.requests;
  s.completions = ctr_.completions;
  s.rejects = ctr_.rejects;
  s.messages = e.messages;
  s.notifies = e.notifies;
  s.vcopies = e.vcopies;
  s.vcopy_bytes = e.vcopy_bytes;
  s.vcopy_zero_copy_bytes = ctr_.vcopy_zero_copy_bytes;
  s.vcopy_bounce_bytes = ctr_.vcopy_bounce_bytes;
  s.timeouts = e.timeouts;
  s.deaths = e.deaths;
  s.doorbells_sent = ctr_.doorbells_sent;
  s.poll_hits = ctr_.poll_hits;
  std::memcpy(out, &s, sizeof(s));
}

// ---- completion side -----------------------------------------------------------------

void Backend::Complete(const Completion& c) {
  auto it = pending_.find(c.id);
  if (it == pending_.end()) {
    spdlog::debug("completion for unknown request {}", c.id);
    return;
  }
  Pending p = std::move(it->second);
  pending_.erase(it);
  Attachment* a = Find(p.attach_id);
  if (!a) return;  // the client detached; nobody to tell
  auto tag_it = a->by_tag.find(p.tag);
  if (tag_it != a->by_tag.end() && tag_it->second == c.id) a->by_tag.erase(tag_it);
  a->inflight--;
  vdvk_cqe cqe{};
  cqe.tag = p.tag;
  cqe.res = c.result;
  if (c.msg) {
    cqe.flags |= VDVK_CQE_F_MSG;
    cqe.msg = *c.msg;
  }
  if (!c.out.empty()) {
    if (c.out.size() <= p.buf_len) {
      std::memcpy(a->ring->shm_buf(p.buf_index), c.out.data(), c.out.size());
    } else {
      cqe.res = EDVS2BIG;
    }
  }
  ctr_.completions++;
  PostCqe(a, cqe);
}

void Backend::StartVcopy(const VcopyGrant& g) {
  auto it = pending_.find(g.id);
  Attachment* a = it == pending_.end() ? nullptr : Find(it->second.attach_id);
  if (g.caller.domain != 0 || g.src.domain != 0 || g.dst.domain != 0) {
    // A guest takes part: only the guest-physical path can reach it.
    PlanGuestVcopy(g, it == pending_.end() || g.caller.domain == 0 ? nullptr : &it->second);
    return;
  }
  bool host_only = g.caller.domain == 0 && g.src.domain == 0 && g.dst.domain == 0;
  bool caller_is_party = g.caller == g.src || g.caller == g.dst;
  if (a && host_only && caller_is_party) {
    // Single copy: the caller moves the bytes itself with process_vm_*.
    Pending& p = it->second;
    p.granted = true;
    p.grant = g;
    vdvk_cqe cqe{};
    cqe.tag = p.tag;
    cqe.res = 0;
    cqe.flags = VDVK_CQE_F_GRANT;
    cqe.u.grant.src_pid = g.src.pid;
    cqe.u.grant.dst_pid = g.dst.pid;
    cqe.u.grant.src_addr = g.src_addr;
    cqe.u.grant.dst_addr = g.dst_addr;
    cqe.u.grant.bytes = g.bytes;
    PostCqe(a, cqe);
    return;
  }
  // Third-party copy (or a caller we cannot reach): we copy, after the
  // engine call that started it has returned.
  Deferred d{};
  d.kind = Deferred::kBounce;
  d.grant = g;
  deferred_.push_back(d);
}

void Backend::PostCqe(Attachment* a, const vdvk_cqe& cqe) {
  a->backlog.push_back(cqe);
  FlushBacklog(a);
}

void Backend::FlushBacklog(Attachment* a) {
  if (a->backlog.empty()) return;
  SharedRing& r = *a->ring;
  uint32_t entries = r.geometry().cq_entries;
  uint32_t head = r.LoadCqHead();  // pairs with the client's release of cq_head
  if (!CqHeadValid(head, a->cq_tail, entries)) {
    Detach(a->id, VDVK_DEAD_BAD_INDEX, "bad cq_head");
    return;
  }
  uint32_t space = CqSpace(head, a->cq_tail, entries);
  bool posted = false;
  while (space > 0 && !a->backlog.empty()) {
    *r.shm_cqe(a->cq_tail) = a->backlog.front();
    a->backlog.pop_front();
    a->cq_tail++;
    space--;
    posted = true;
  }
  if (a->backlog.size() > 2 * size_t{entries}) {
    // The client stopped consuming while requests keep completing.
    Detach(a->id, VDVK_DEAD_OVERFLOW, "cq overflow");
    return;
  }
  if (!posted) return;
  r.StoreCqTail(a->cq_tail);  // publishes the entries written above
  // Pairs with the client's fence between setting SLEEPING and re-reading
  // cq_tail: either it sees our tail or we see its flag.
  std::atomic_thread_fence(std::memory_order_seq_cst);
  if (r.LoadClientFlags() & VDVK_SLEEPING) {
    r.RingWake();
    ctr_.doorbells_sent++;
  }
}

}  // namespace vdvk::rings
