// requests.cc - lifecycle of pending requests: pool, FIFO links, deadlines,
// cancel. Every pending request ends in Finish(), which undoes all its traces
// before the completion leaves the engine.
#include <algorithm>
#include <functional>

#include "host-backend/engine/engine_impl.h"

namespace vdvk {

int32_t Engine::Impl::PendingOf(ProcKey k) const {
  const int32_t* idx = by_proc_.Find(k);
  return idx == nullptr ? -1 : *idx;
}

int32_t Engine::Impl::NewRequest(const Call& c, Kind k, SlotRef caller_slot, Nanos now,
                                 bool timed) {
  int32_t idx;
  if (!free_.empty()) {
    idx = free_.back();
    free_.pop_back();
  } else {
    idx = static_cast<int32_t>(pool_.size());
    pool_.emplace_back();
  }
  Request& r = pool_[idx];
  r = Request{};
  r.live = true;
  r.kind = k;
  r.seq = next_seq_++;
  r.id = c.id;
  r.caller = c.caller;
  r.slot = caller_slot;
  if (timed && c.timeout_ms > 0) {
    // Saturate: a hostile timeout must not wrap into the past.
    const __int128 d = static_cast<__int128>(now) + static_cast<__int128>(c.timeout_ms) * 1000000;
    r.deadline = d >= kNoDeadline ? kNoDeadline : static_cast<Nanos>(d);
  }
  if (r.deadline != kNoDeadline) {
    heap_.push_back(HeapEntry{r.deadline, r.seq, idx});
    std::push_heap(heap_.begin(), heap_.end(), std::greater<HeapEntry>());
    ++timed_live_;
  }
  ids_.Insert(c.id, idx);
  by_proc_.Insert(c.caller, idx);
  return idx;
}

void Engine::Impl::Enqueue(int32_t dst_dc, int32_t dst_idx, int32_t req) {
  Slot& dst = dcs_[dst_dc].slots[dst_idx];
  Request& r = pool_[req];
  r.queued_on = dst_idx;
  r.next = -1;
  r.prev = dst.q_tail;
  if (dst.q_tail >= 0) {
    pool_[dst.q_tail].next = req;
  } else {
    dst.q_head = req;
  }
  dst.q_tail = req;
}

void Engine::Impl::Unqueue(int32_t req) {
  Request& r = pool_[req];
  if (r.queued_on < 0) return;
  Slot& dst = dcs_[r.slot.dc].slots[r.queued_on];
  if (r.prev >= 0) {
    pool_[r.prev].next = r.next;
  } else {
    dst.q_head = r.next;
  }
  if (r.next >= 0) {
    pool_[r.next].prev = r.prev;
  } else {
    dst.q_tail = r.prev;
  }
  r.queued_on = r.next = r.prev = -1;
}

void Engine::Impl::Detach(int32_t idx) {
  Request& r = pool_[idx];
  Unqueue(idx);
  switch (r.kind) {
    case Kind::kSend:
    case Kind::kSendrec:
    case Kind::kReceive:
    case Kind::kRcvrqst: {
      Slot& s = SlotAt(r.slot);
      if (s.req == idx) {
        s.req = -1;
        s.rts &= ~static_cast<uint32_t>(SENDING | RECEIVING);
        s.getfrom = s.sendto = NONE;
        s.reply_phase = s.rcvrqst = false;
      }
      break;
    }
    case Kind::kVcopy:
      ClearOnCopy(r);
      break;
    case Kind::kForward:
      break;
    case Kind::kResolve:
      Unpark(idx);
      break;
    case Kind::kWaitBind:
    case Kind::kWaitUnbind: {
      auto it = std::find(waiters_.begin(), waiters_.end(), idx);
      if (it != waiters_.end()) {
        *it = waiters_.back();
        waiters_.pop_back();
      }
      break;
    }
  }
  if (r.fwd_node >= 0) {
    // Still forwarded: it ends here without an answer (RemoteResult and a
    // link going down clear fwd_node first), so the other node must drop it.
    fwd_ops_.erase(r.fwd_op);
    sink_->CancelForward(r.fwd_node, r.fwd_op);
    r.fwd_node = -1;
  }
  if (const int32_t* i = ids_.Find(r.id); i != nullptr && *i == idx) ids_.Erase(r.id);
  if (const int32_t* i = by_proc_.Find(r.caller); i != nullptr && *i == idx) by_proc_.Erase(r.caller);
}

void Engine::Impl::Release(int32_t idx) {
  if (pool_[idx].deadline != kNoDeadline) --timed_live_;
  pool_[idx].live = false;
  free_.push_back(idx);
}

void Engine::Impl::Finish(int32_t idx, int32_t result, const vdvk_msg* msg) {
  const RequestId id = pool_[idx].id;
  Detach(idx);
  Release(idx);
  PruneHeap();
  Completion comp;
  comp.id = id;
  comp.result = result;
  comp.msg = msg;
  Emit(comp);
}

void Engine::Impl::PruneHeap() {
  // Requests that end early (the usual case) leave stale entries behind the
  // top; rebuild once they outnumber the live ones so the heap stays
  // proportional to the pending timed requests (amortised O(1) per request).
  if (heap_.size() > 64 && heap_.size() > 2 * timed_live_) {
    std::erase_if(heap_, [this](const HeapEntry& e) {
      return !pool_[e.idx].live || pool_[e.idx].seq != e.seq;
    });
    std::make_heap(heap_.begin(), heap_.end(), std::greater<HeapEntry>());
  }
  while (!heap_.empty()) {
    const HeapEntry& top = heap_.front();
    const Request& r = pool_[top.idx];
    if (r.live && r.seq == top.seq) break;
    std::pop_heap(heap_.begin(), heap_.end(), std::greater<HeapEntry>());
    heap_.pop_back();
  }
}

void Engine::Impl::Tick(Nanos now) {
  for (;;) {
    PruneHeap();
    if (heap_.empty() || heap_.front().deadline > now) return;
    const int32_t idx = heap_.front().idx;
    std::pop_heap(heap_.begin(), heap_.end(), std::greater<HeapEntry>());
    heap_.pop_back();
    ++counters_.timeouts;
    Finish(idx, EDVSTIMEDOUT);
  }
}

std::optional<Nanos> Engine::Impl::NextDeadline() const {
  if (heap_.empty()) return std::nullopt;  // top is never stale (PruneHeap)
  return heap_.front().deadline;
}

void Engine::Impl::Cancel(RequestId id) {
  const int32_t* idx = ids_.Find(id);
  if (idx == nullptr) return;
  // A granted vcopy is in the transport's hands; it ends through VcopyDone.
  if (pool_[*idx].kind == Kind::kVcopy) return;
  Finish(*idx, EDVSINTR);
}

}  // namespace vdvk
