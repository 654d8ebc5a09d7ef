// backend.cc - listening, the attach handshake, detach, timers and signals.
// Ring serving and the EngineSink side live in serve.cc.
#include "host-backend/rings/backend.h"

#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>

#include "dvk/dvk.h"
#include "host-backend/rings/backend_internal.h"

namespace vdvk::rings {

Backend::Backend(const BackendConfig& cfg, const EngineConfig& ecfg, struct ev_loop* loop)
    : cfg_(cfg), node_name_("node" + std::to_string(cfg.node_id)), loop_(loop),
      copier_(std::make_unique<HostBounceCopy>()) {
  EngineConfig e = ecfg;
  e.node_id = cfg.node_id;
  e.node_name = node_name_;
  engine_ = std::make_unique<Engine>(e, this);
  ev_timer_init(&timer_w_, &Backend::OnTimer, 0., 0.);
  timer_w_.data = this;
  ev_timer_init(&backlog_w_, &Backend::OnBacklogRetry, 0.001, 0.001);
  backlog_w_.data = this;
  ev_timer_init(&pin_timer_w_, &Backend::OnPinTimer, 0.0, 0.0);
  pin_timer_w_.data = this;
  ev_idle_init(&resume_w_, &Backend::OnResume);
  resume_w_.data = this;
  ev_signal_init(&sigterm_w_, &Backend::OnSignal, SIGTERM);
  sigterm_w_.data = this;
  ev_signal_init(&sigint_w_, &Backend::OnSignal, SIGINT);
  sigint_w_.data = this;
}

Backend::~Backend() {
  // Attachments first: their watchers belong to the loop.
  for (auto& [id, a] : attachments_) {
    ev_io_stop(loop_, &a->sock_io);
    ev_io_stop(loop_, &a->kick_io);
    close(a->sock_fd);
  }
  attachments_.clear();
  for (auto& [p, g] : greetings_) {
    ev_io_stop(loop_, &g->io);
    ev_timer_stop(loop_, &g->timeout);
    close(g->fd);
  }
  for (auto& [pid, w] : pid_watches_) {
    ev_io_stop(loop_, &w->io);
    close(w->fd);
  }
  if (listen_fd_ >= 0) {
    ev_io_stop(loop_, &listen_w_);
    close(listen_fd_);
  }
  ev_timer_stop(loop_, &timer_w_);
  ev_timer_stop(loop_, &backlog_w_);
  ev_timer_stop(loop_, &pin_timer_w_);
  ev_idle_stop(loop_, &resume_w_);
  ev_signal_stop(loop_, &sigterm_w_);
  ev_signal_stop(loop_, &sigint_w_);
}

Nanos Backend::Now() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<Nanos>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

bool Backend::Listen(std::string* error) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (cfg_.socket_path.size() >= sizeof(addr.sun_path)) {
    *error = "socket path too long: " + cfg_.socket_path;
    return false;
  }
  std::memcpy(addr.sun_path, cfg_.socket_path.c_str(), cfg_.socket_path.size() + 1);
  listen_fd_ = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (listen_fd_ < 0) {
    *error = std::string("socket: ") + std::strerror(errno);
    return false;
  }
  // We hold the instance lock, so an existing socket file is a dead backend's.
  unlink(cfg_.socket_path.c_str());
  if (bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      listen(listen_fd_, 64) != 0) {
    *error = "cannot listen on " + cfg_.socket_path + ": " + std::strerror(errno);
    return false;
  }
  // Any local user may attach; identity is checked per connection.
  chmod(cfg_.socket_path.c_str(), 0666);
  ev_io_init(&listen_w_, &Backend::OnListen, listen_fd_, EV_READ);
  listen_w_.data = this;
  ev_io_start(loop_, &listen_w_);
  return true;
}

int Backend::Run() {
  ev_signal_start(loop_, &sigterm_w_);
  ev_signal_start(loop_, &sigint_w_);
  spdlog::info("host-backend: node {} ready on {}", cfg_.node_id, cfg_.socket_path);
  RearmTimer();
  ev_run(loop_, 0);
  return exit_code_;
}

void Backend::RunDeferred() {
  if (draining_) return;
  draining_ = true;
  while (!deferred_.empty()) {
    Deferred d = std::move(deferred_.front());
    deferred_.pop_front();
    switch (d.kind) {
      case Deferred::kBounce: {
        int32_t r = copier_->Copy(d.grant);
        if (r == 0) ctr_.vcopy_bounce_bytes += d.grant.bytes;
        in_engine_ = true;
        engine_->VcopyDone(d.grant.id, r, Now());
        in_engine_ = false;
        break;
      }
      case Deferred::kGuestCopy:
      case Deferred::kFail: {
        int32_t r = d.result;
        // After waiting for pins the caller may have given up (signal,
        // death): then nobody expects the bytes, and none are moved.
        if (d.kind == Deferred::kGuestCopy)
          r = !d.after_pins || pending_.count(d.grant.id) ? RunGuestCopy(d) : EDVSINTR;
        ReleasePins(d.unpin);
        in_engine_ = true;
        engine_->VcopyDone(d.grant.id, r, Now());
        in_engine_ = false;
        break;
      }
      case Deferred::kLinkFail:
        // A cross-node vcopy with a guest party that ended before the link
        // layer had it (guest_link_vcopy.cc): end it as the link would.
        in_engine_ = true;
        if (d.link.forwarded)
          engine_->RemoteResult(d.link.id, d.result, nullptr, Now());
        else
          engine_->RemoteVcopyDone(d.link.node, d.link.id, d.result, Now());
        in_engine_ = false;
        break;
      case Deferred::kExited:
        in_engine_ = true;
        engine_->ProcessExited(d.who, Now());
        in_engine_ = false;
        break;
      case Deferred::kDetach:
        DetachNow(d.attach_id, d.reason, "deferred");
        break;
    }
  }
  draining_ = false;
}

void Backend::RearmTimer() {
  ev_timer_stop(loop_, &timer_w_);
  std::optional<Nanos> d = engine_->NextDeadline();
  if (!d) return;
  // ev_timer counts from the loop's cached time; refresh it so a deadline
  // armed after a long serving stretch does not fire early.
  ev_now_update(loop_);
  Nanos delta = *d - Now();
  double after = delta > 0 ? static_cast<double>(delta) / 1e9 : 0.;
  ev_timer_set(&timer_w_, after, 0.);
  ev_timer_start(loop_, &timer_w_);
}

void Backend::OnTimer(struct ev_loop*, ev_timer* w, int) {
  auto* self = static_cast<Backend*>(w->data);
  self->WithEngine([&] { self->engine_->Tick(Now()); });
  self->ServeAll();
}

void Backend::OnBacklogRetry(struct ev_loop*, ev_timer* w, int) {
  // A client that does not consume its CQ gives us no doorbell when it does;
  // retry the backlog on a slow timer while one exists.
  static_cast<Backend*>(w->data)->ServeAll();
}

void Backend::OnResume(struct ev_loop*, ev_idle* w, int) {
  static_cast<Backend*>(w->data)->ServeAll();
}

void Backend::OnSignal(struct ev_loop*, ev_signal* w, int) {
  auto* self = static_cast<Backend*>(w->data);
  spdlog::info("host-backend: node {} shutting down (signal {})", self->cfg_.node_id, w->signum);
  self->Shutdown();
}

void Backend::Shutdown() {
  // Clients blocked on their wake fd must see DEAD at once, not hang.
  for (auto& [id, a] : attachments_) {
    a->ring->MarkDead(VDVK_DEAD_SHUTDOWN);
    a->ring->RingWake();
    ev_io_stop(loop_, &a->sock_io);
    ev_io_stop(loop_, &a->kick_io);
    close(a->sock_fd);
  }
  attachments_.clear();
  if (listen_fd_ >= 0) {
    ev_io_stop(loop_, &listen_w_);
    close(listen_fd_);
    listen_fd_ = -1;
    unlink(cfg_.socket_path.c_str());
  }
  exit_code_ = 0;
  ev_break(loop_, EVBREAK_ALL);
}

// ---- attach ------------------------------------------------------------------

void Backend::OnListen(struct ev_loop* loop, ev_io* w, int) {
  auto* self = static_cast<Backend*>(w->data);
  for (;;) {
    int fd = accept4(w->fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno != EAGAIN && errno != EINTR)
        spdlog::warn("accept: {}", std::strerror(errno));
      return;
    }
    auto g = std::make_unique<Greeting>();
    g->backend = self;
    g->fd = fd;
    ev_io_init(&g->io, &Backend::OnHello, fd, EV_READ);
    g->io.data = g.get();
    ev_timer_init(&g->timeout, &Backend::OnHelloTimeout, self->cfg_.hello_timeout_s, 0.);
    g->timeout.data = g.get();
    ev_io_start(loop, &g->io);
    ev_timer_start(loop, &g->timeout);
    Greeting* key = g.get();
    self->greetings_.emplace(key, std::move(g));
  }
}

void Backend::DropGreeting(Greeting* g) {
  ev_io_stop(loop_, &g->io);
  ev_timer_stop(loop_, &g->timeout);
  if (g->fd >= 0) close(g->fd);
  greetings_.erase(g);
}

void Backend::OnHelloTimeout(struct ev_loop*, ev_timer* w, int) {
  auto* g = static_cast<Greeting*>(w->data);
  spdlog::debug("dropping a connection that sent no hello");
  g->backend->ctr_.rejects++;
  g->backend->DropGreeting(g);
}

namespace {

void SendWelcome(int fd, const vdvk_welcome& w, const int* fds, int nfds) {
  iovec iov{const_cast<vdvk_welcome*>(&w), sizeof(w)};
  msghdr mh{};
  mh.msg_iov = &iov;
  mh.msg_iovlen = 1;
  alignas(cmsghdr) char ctl[CMSG_SPACE(3 * sizeof(int))] = {};
  if (nfds > 0) {
    mh.msg_control = ctl;
    mh.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
    cmsghdr* c = CMSG_FIRSTHDR(&mh);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(nfds * sizeof(int));
    std::memcpy(CMSG_DATA(c), fds, nfds * sizeof(int));
  }
  [[maybe_unused]] ssize_t n = sendmsg(fd, &mh, MSG_NOSIGNAL);
}

void Refuse(int fd, int32_t status, int32_t node) {
  vdvk_welcome w{};
  w.magic = VDVK_HELLO_MAGIC;
  w.status = status;
  w.node_id = node;
  SendWelcome(fd, w, nullptr, 0);
}

}  // namespace

void Backend::OnHello(struct ev_loop*, ev_io* w, int) {
  auto* g = static_cast<Greeting*>(w->data);
  Backend* self = g->backend;
  vdvk_hello hello{};
  // One extra byte so an oversized datagram is noticed (MSG_TRUNC semantics).
  char buf[sizeof(vdvk_hello) + 1];
  ssize_t n = recv(g->fd, buf, sizeof(buf), MSG_DONTWAIT);
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
  if (n != static_cast<ssize_t>(sizeof(hello))) {
    if (n > 0) Refuse(g->fd, EDVSINVAL, self->cfg_.node_id);
    self->ctr_.rejects++;
    self->DropGreeting(g);
    return;
  }
  std::memcpy(&hello, buf, sizeof(hello));
  auto sq = NormalizeEntries(hello.sq_entries, self->cfg_.default_sq_entries);
  auto cq = NormalizeEntries(hello.cq_entries, self->cfg_.default_cq_entries);
  if (hello.magic != VDVK_HELLO_MAGIC || hello.version != VDVK_RING_VERSION || !sq || !cq) {
    spdlog::warn("refusing attach: bad hello (magic {:#x} version {} sq {} cq {})", hello.magic,
                 hello.version, hello.sq_entries, hello.cq_entries);
    Refuse(g->fd, EDVSINVAL, self->cfg_.node_id);
    self->ctr_.rejects++;
    self->DropGreeting(g);
    return;
  }
  ucred cred{};
  socklen_t len = sizeof(cred);
  if (getsockopt(g->fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 || cred.pid <= 0) {
    spdlog::warn("refusing attach: no peer credentials");
    Refuse(g->fd, EDVSPERM, self->cfg_.node_id);
    self->DropGreeting(g);
    return;
  }
  auto geo = ComputeGeometry(*sq, *cq, self->cfg_.nr_bufs, self->cfg_.buf_size);
  int err = 0;
  std::unique_ptr<SharedRing> ring;
  if (geo) ring = SharedRing::Create(*geo, self->cfg_.node_id, &err);
  if (!ring) {
    spdlog::error("cannot create a ring for pid {}: {}", cred.pid, std::strerror(-err));
    Refuse(g->fd, EDVSNOMEM, self->cfg_.node_id);
    self->DropGreeting(g);
    return;
  }
  vdvk_welcome wel{};
  wel.magic = VDVK_HELLO_MAGIC;
  wel.status = 0;
  wel.file_size = geo->file_size;
  wel.node_id = self->cfg_.node_id;
  int fds[3] = {ring->memfd(), ring->kick_fd(), ring->wake_fd()};
  SendWelcome(g->fd, wel, fds, 3);
  ring->ReleaseMemfd();  // the client has its own; our mapping stays valid

  auto a = std::make_unique<Attachment>();
  a->backend = self;
  a->id = self->next_attach_id_++;
  a->pid = cred.pid;
  a->sock_fd = g->fd;
  a->ring = std::move(ring);
  g->fd = -1;  // now owned by the attachment
  self->DropGreeting(g);
  ev_io_init(&a->sock_io, &Backend::OnSocket, a->sock_fd, EV_READ);
  a->sock_io.data = a.get();
  ev_io_init(&a->kick_io, &Backend::OnKick, a->ring->kick_fd(), EV_READ);
  a->kick_io.data = a.get();
  ev_io_start(self->loop_, &a->sock_io);
  ev_io_start(self->loop_, &a->kick_io);
  // We are about to sleep in ev_run: the client must kick for its first call.
  a->ring->SetBackendSleeping(true);
  spdlog::debug("client pid {} attached (sq {} cq {})", a->pid, *sq, *cq);
  self->ctr_.attach_total++;
  self->attachments_.emplace(a->id, std::move(a));
  self->ServeAll();
}

void Backend::OnSocket(struct ev_loop*, ev_io* w, int) {
  auto* a = static_cast<Attachment*>(w->data);
  char buf[64];
  ssize_t n = recv(a->sock_fd, buf, sizeof(buf), MSG_DONTWAIT);
  if (n > 0) return;  // nothing is expected after hello; ignore chatter
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
  Backend* self = a->backend;
  self->Detach(a->id, VDVK_DEAD_NONE, n == 0 ? "socket closed" : "socket error");
  self->ServeAll();
}

void Backend::OnKick(struct ev_loop*, ev_io* w, int) {
  auto* a = static_cast<Attachment*>(w->data);
  Backend* self = a->backend;
  a->ring->DrainKick();
  if (a->domain != 0) self->WatchGuestPid(a);  // may end `a` (guest already dead)
  self->ServeAll();
}

// ---- detach and process exit ---------------------------------------------------

Backend::Attachment* Backend::Find(uint64_t attach_id) {
  auto it = attachments_.find(attach_id);
  return it == attachments_.end() ? nullptr : it->second.get();
}

void Backend::Detach(uint64_t attach_id, uint32_t reason, const char* why) {
  if (in_engine_ || draining_) {
    Deferred d{};
    d.kind = Deferred::kDetach;
    d.attach_id = attach_id;
    d.reason = reason;
    deferred_.push_back(d);
    return;
  }
  DetachNow(attach_id, reason, why);
}

namespace {
const char* DeadReasonName(uint32_t r) {
  switch (r) {
    case VDVK_DEAD_BAD_INDEX: return "bad index";
    case VDVK_DEAD_BAD_OPCODE: return "bad opcode";
    case VDVK_DEAD_BAD_FIELD: return "bad field";
    case VDVK_DEAD_OVERFLOW: return "overflow";
    case VDVK_DEAD_SHUTDOWN: return "shutdown";
    case VDVK_DEAD_BAD_TAG: return "bad tag";
    case VDVK_DEAD_SHRUNK: return "shrank a mapped file";
    default: return "none";
  }
}
}  // namespace

void Backend::DetachNow(uint64_t attach_id, uint32_t reason, const char* why) {
  auto it = attachments_.find(attach_id);
  if (it == attachments_.end()) return;
  std::unique_ptr<Attachment> a = std::move(it->second);
  attachments_.erase(it);
  if (reason != VDVK_DEAD_NONE) {
    a->ring->MarkDead(reason);
    a->ring->RingWake();
    ctr_.rejects++;
    spdlog::warn("client pid {} disconnected: protocol violation ({})", a->pid,
                 DeadReasonName(reason));
    why = DeadReasonName(reason);
  }
  if (a->domain != 0) return GuestDetachNow(std::move(a), why);
  ev_io_stop(loop_, &a->sock_io);
  ev_io_stop(loop_, &a->kick_io);
  close(a->sock_fd);
  ctr_.detach_total++;
  spdlog::info("client pid {} detached ({})", a->pid, why);

  // Another live attachment of the same process keeps its binding: only this
  // attachment's requests go away. Otherwise the process is gone for DVK.
  bool pid_still_attached = false;
  for (auto& [id, other] : attachments_)
    if (other->pid == a->pid) pid_still_attached = true;
  std::vector<RequestId> mine;
  for (auto& [tag, rid] : a->by_tag) mine.push_back(rid);
  pid_t pid = a->pid;
  a.reset();  // completions for it are dropped from here on
  WithEngine([&] {
    if (pid_still_attached) {
      for (RequestId rid : mine) engine_->Cancel(rid, Now());
    } else {
      engine_->ProcessExited(ProcKey{0, pid}, Now());
    }
  });
  // Requests the engine did not complete (none, by its contract) must not leak.
  for (RequestId rid : mine) pending_.erase(rid);
}

void Backend::ProcessBound(ProcKey who) {
  if (who.domain != 0 || who.pid <= 0 || pid_watches_.count(who.pid)) return;
  int fd = static_cast<int>(syscall(SYS_pidfd_open, who.pid, 0));
  if (fd < 0) {
    // Already gone (or not ours to see): treat as an exit once the engine returns.
    Deferred d{};
    d.kind = Deferred::kExited;
    d.who = who;
    deferred_.push_back(d);
    return;
  }
  auto w = std::make_unique<PidWatch>();
  w->backend = this;
  w->pid = who.pid;
  w->fd = fd;
  ev_io_init(&w->io, &Backend::OnPidExit, fd, EV_READ);
  w->io.data = w.get();
  ev_io_start(loop_, &w->io);
  pid_watches_.emplace(who.pid, std::move(w));
}

void Backend::OnPidExit(struct ev_loop* loop, ev_io* w, int) {
  auto* pw = static_cast<PidWatch*>(w->data);
  Backend* self = pw->backend;
  pid_t pid = pw->pid;
  ev_io_stop(loop, &pw->io);
  close(pw->fd);
  self->pid_watches_.erase(pid);  // frees pw
  spdlog::debug("bound process {} exited", pid);
  self->WithEngine([&] { self->engine_->ProcessExited(ProcKey{0, pid}, Now()); });
  self->ServeAll();
}

void Backend::SignalProcess(ProcKey who, int signo) {
  if (who.domain != 0 || who.pid <= 0 || who.pid == getpid()) return;
  kill(who.pid, signo);
}

}  // namespace vdvk::rings
