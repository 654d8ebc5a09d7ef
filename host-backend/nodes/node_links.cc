// node_links.cc - the kj link loop driven from the backend's libev loop, on
// one thread (the design is described in node_links.h).
#include "host-backend/nodes/node_links.h"

#include <dirent.h>
#include <malloc.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <kj/time.h>

#include <cstdlib>
#include <cstring>
#include <set>

#include "host-backend/nodes/link_loop.h"

namespace vdvk::nodes {
namespace {

constexpr size_t kHeapKeep = 64u << 20;

// The epoll instances this process has open. kj keeps the fd of its
// UnixEventPort private; the one that appears while the port is made is it.
std::set<int> EpollFds() {
  std::set<int> out;
  DIR* d = opendir("/proc/self/fd");
  if (d == nullptr) return out;
  while (dirent* e = readdir(d)) {
    char* end = nullptr;
    const long fd = std::strtol(e->d_name, &end, 10);
    if (end == e->d_name || *end != '\0') continue;
    const std::string path = std::string("/proc/self/fd/") + e->d_name;
    char target[64];
    const ssize_t n = readlink(path.c_str(), target, sizeof(target) - 1);
    if (n <= 0) continue;
    target[n] = '\0';
    if (std::strcmp(target, "anon_inode:[eventpoll]") == 0) out.insert(static_cast<int>(fd));
  }
  closedir(d);
  return out;
}

}  // namespace

NodeLinks::NodeLinks(const LinkConfig& cfg, struct ev_loop* loop, LinkIn* in)
    : cfg_(cfg), loop_(loop), in_(in) {
  ev_init(&kj_fd_w_, &NodeLinks::OnKj);
  kj_fd_w_.data = this;
  ev_init(&kj_timer_w_, &NodeLinks::OnKjTimer);
  kj_timer_w_.data = this;
}

NodeLinks::~NodeLinks() {
  stopping_ = true;
  ev_io_stop(loop_, &kj_fd_w_);  // also drops a fed, not yet handled event
  ev_timer_stop(loop_, &kj_timer_w_);
  // Closing the links may still queue events (withdrawals): nobody hears them.
  kj_.reset();
  events_.clear();
}

bool NodeLinks::Start(std::string* error) {
  // Every vcopy chunk is a ~256 KiB capnp message, allocated and freed on
  // each side. glibc's defaults hand such blocks back to the kernel (heap
  // trimming above 2x its dynamic mmap threshold), so each chunk paid brk()
  // plus 64 page faults and page clears. Keep up to kHeapKeep of freed heap.
  mallopt(M_MMAP_THRESHOLD, static_cast<int>(kHeapKeep / 4));
  mallopt(M_TRIM_THRESHOLD, static_cast<int>(kHeapKeep));
  const std::set<int> before = EpollFds();
  try {
    kj_ = std::make_unique<LinkLoop>(cfg_, this);
  } catch (const kj::Exception& e) {
    *error = std::string("node links: cannot set up the kj event loop: ") +
             e.getDescription().cStr();
    return false;
  }
  std::set<int> fresh;
  for (int fd : EpollFds())
    if (before.count(fd) == 0) fresh.insert(fd);
  if (fresh.size() != 1) {
    // Another kj (poll() instead of epoll) or a thread making epoll fds at
    // the same moment: refuse rather than watch the wrong fd.
    *error = "node links: cannot identify the kj event loop's epoll fd (" +
             std::to_string(fresh.size()) + " new epoll fds)";
    kj_.reset();
    return false;
  }
  if (!kj_->Start(error)) {
    kj_.reset();
    return false;
  }
  ev_io_set(&kj_fd_w_, *fresh.begin(), EV_READ);
  ev_io_start(loop_, &kj_fd_w_);
  AfterRequest();  // the first connection attempts
  return true;
}

// ---- driving kj from libev ---------------------------------------------------------

void NodeLinks::Pump() {
  // Never nested: kj callbacks do not call back into NodeLinks except
  // PostEvent, and poll() may not run inside a kj callback.
  if (pumping_ || kj_ == nullptr) return;
  pumping_ = true;
  try {
    kj_->wait_scope().poll();
  } catch (const kj::Exception& e) {
    // Callbacks report their failures through their promises; this would be
    // a kj bug or exhaustion. The links stay usable for the next pump.
    spdlog::error("node links: kj loop: {}", e.getDescription().cStr());
  }
  pumping_ = false;
  ArmTimer();
}

void NodeLinks::ArmTimer() {
  kj::TimerImpl& t = kj_->timer();
  KJ_IF_MAYBE(next, t.nextEvent()) {
    const kj::Duration left = *next - kj::systemPreciseMonotonicClock().now();
    const double after = left > 0 * kj::NANOSECONDS ? static_cast<double>(left / kj::NANOSECONDS) / 1e9 : 0.;
    // ev_timer counts from libev's cached time: refresh it, or a timer armed
    // late in a long callback fires early (harmless, but a wasted wakeup).
    ev_now_update(loop_);
    ev_timer_stop(loop_, &kj_timer_w_);
    ev_timer_set(&kj_timer_w_, after, 0.);
    ev_timer_start(loop_, &kj_timer_w_);
  } else {
    ev_timer_stop(loop_, &kj_timer_w_);
  }
}

void NodeLinks::AfterRequest() {
  Pump();
  // What the pump produced reaches LinkIn once the current libev callback
  // (inside which the engine called us) has returned.
  if (!events_.empty() && !delivering_) ev_feed_event(loop_, &kj_fd_w_, EV_CUSTOM);
}

void NodeLinks::OnKj(struct ev_loop*, ev_io* w, int) {
  auto* self = static_cast<NodeLinks*>(w->data);
  self->Pump();
  self->Deliver();
}

void NodeLinks::OnKjTimer(struct ev_loop*, ev_timer* w, int) {
  // The pump's epoll_wait advances kj's clock, which fires the due timers.
  auto* self = static_cast<NodeLinks*>(w->data);
  self->Pump();
  self->Deliver();
}

bool NodeLinks::HasInput() {
  if (!events_.empty()) return true;
  if (!ev_is_active(&kj_fd_w_)) return false;
  // poll(2) on an epoll fd reports whether its ready list is non-empty
  // without taking anything from it (epoll_wait would: kj's fds are
  // edge-triggered, so kj must be the one to see them).
  pollfd p{kj_fd_w_.fd, POLLIN, 0};
  return poll(&p, 1, 0) > 0;
}


void NodeLinks::PostEvent(Event e) {
  if (!stopping_) events_.push_back(std::move(e));
}

void NodeLinks::Deliver() {
  if (delivering_ || stopping_ || events_.empty()) return;
  delivering_ = true;
  // LinkIn calls end in engine calls, which may call LinkOut, pump kj and
  // queue more events: those are taken by this same loop.
  while (!events_.empty()) {
    Event e = std::move(events_.front());
    events_.pop_front();
    switch (e.kind) {
      case Event::kNodeState:
        in_->NodeState(e.node, e.up);
        break;
      case Event::kResult:
        in_->RemoteResult(e.id, e.result, e.reply ? &*e.reply : nullptr);
        break;
      case Event::kOp:
        in_->RemoteOpArrived(e.op);
        break;
      case Event::kWithdrawn:
        in_->RemoteOpWithdrawn(e.node, e.id);
        break;
      case Event::kLookup:
        in_->LookupArrived(e.id, e.dcid, e.ep);
        break;
      case Event::kVcopyDone:
        in_->RemoteVcopyDone(e.node, e.id, e.result);
        break;
      case Event::kLookupResult:
        in_->LookupResult(e.id, e.node, e.result);
        break;
      case Event::kDcViews:
        in_->DcViewsArrived(e.node, e.views);
        break;
    }
  }
  delivering_ = false;
  in_->LinkBatchDone();
}

// ---- LinkOut: the engine's requests -------------------------------------------------

void NodeLinks::Forward(const RemoteOp& op) {
  if (kj_ == nullptr) return;
  kj_->Forward(op);
  AfterRequest();
}

void NodeLinks::Done(int32_t, uint64_t id, int32_t result, const vdvk_msg* reply) {
  if (kj_ == nullptr) return;
  kj_->Done(id, result, reply);
  AfterRequest();
}

void NodeLinks::Cancel(int32_t, uint64_t op_id) {
  if (kj_ == nullptr) return;
  kj_->Cancel(op_id);
  AfterRequest();
}

void NodeLinks::LookupDone(uint64_t id, int32_t result) {
  if (kj_ == nullptr) return;
  kj_->LookupDone(id, result);
  AfterRequest();
}

void NodeLinks::Lookup(int32_t node, int32_t dcid, int32_t ep, uint64_t id) {
  if (kj_ == nullptr) return;  // no links, no node is up: the engine never asks
  kj_->AskLookup(node, id, dcid, ep);
  AfterRequest();
}

void NodeLinks::SendDcViews(int32_t node, const std::vector<DcView>& views) {
  if (kj_ == nullptr) return;
  kj_->SendDcViews(node, views);
  AfterRequest();
}

void NodeLinks::StartVcopy(const RemoteVcopyGrant& g) {
  if (kj_ == nullptr) return;
  kj_->StartVcopy(g);
  AfterRequest();
}

}  // namespace vdvk::nodes
