// backend_internal.h - the per-connection records of Backend (private to rings/).
#pragma once

#include <ev.h>

#include <deque>
#include <memory>
#include <unordered_map>

#include "host-backend/rings/backend.h"

namespace vdvk::rings {

// A connection that has not said hello yet.
struct Backend::Greeting {
  Backend* backend = nullptr;
  int fd = -1;
  ev_io io;
  ev_timer timeout;
};

struct Backend::Attachment {
  Backend* backend = nullptr;
  uint64_t id = 0;
  pid_t pid = 0;  // SO_PEERCRED at accept time: the only identity we trust
  // 0: a host process. >= 1: a UML guest ring (guest_ring.cc); callers are
  // then ProcKey{domain, sqe.caller_pid} as filled by the guest kernel, and
  // pid is the guest's host pid, for log lines only.
  uint32_t domain = 0;
  int sock_fd = -1;
  std::unique_ptr<SharedRing> ring;
  uint32_t sq_head = 0;   // private shadow of what we consumed
  uint32_t cq_tail = 0;   // private shadow of what we produced
  uint32_t inflight = 0;  // requests submitted to the engine, not yet completed
  std::unordered_map<uint64_t, RequestId> by_tag;  // pending requests by client tag
  std::deque<vdvk_cqe> backlog;  // CQEs that did not fit (client slow to consume)
  ev_io sock_io;
  ev_io kick_io;
};

struct Backend::PidWatch {
  Backend* backend = nullptr;
  pid_t pid = 0;
  int fd = -1;
  ev_io io;
};

// Every engine call goes through here: the sink callbacks it triggers may
// queue work that needs the engine again, which runs once it has returned.
template <class F>
void Backend::WithEngine(F&& f) {
  bool outer = !in_engine_;
  in_engine_ = true;
  f();
  if (!outer) return;
  in_engine_ = false;
  RunDeferred();
  RearmTimer();
}

}  // namespace vdvk::rings
