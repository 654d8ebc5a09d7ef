// node_links.cc - the thread hop between the libev loop and the kj link loop.
#include "host-backend/nodes/node_links.h"

#include <spdlog/spdlog.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "host-backend/nodes/link_loop.h"

namespace vdvk::nodes {

NodeLinks::NodeLinks(const LinkConfig& cfg, struct ev_loop* loop, LinkIn* in)
    : cfg_(cfg), loop_(loop), in_(in) {
  ev_async_init(&async_w_, &NodeLinks::OnAsync);
  async_w_.data = this;
}

NodeLinks::~NodeLinks() {
  if (thread_.joinable()) {
    PostCommand(Command{});  // kStop
    thread_.join();
  }
  ev_async_stop(loop_, &async_w_);
  if (kj_wake_fd_ >= 0) close(kj_wake_fd_);
}

bool NodeLinks::Start(std::string* error) {
  kj_wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (kj_wake_fd_ < 0) {
    *error = std::string("eventfd: ") + std::strerror(errno);
    return false;
  }
  ev_async_start(loop_, &async_w_);
  std::promise<void> started;
  std::future<void> ready = started.get_future();
  std::string start_error;
  thread_ = std::thread([this, &start_error, &started] { ThreadMain(&start_error, &started); });
  ready.wait();
  if (!start_error.empty()) {
    thread_.join();
    *error = start_error;
    return false;
  }
  return true;
}

void NodeLinks::ThreadMain(std::string* start_error, std::promise<void>* started) {
  try {
    LinkLoop loop(cfg_, this, kj_wake_fd_, &to_kj_);
    loop.Run(start_error, started);
  } catch (const std::exception& e) {
    // Run() reports startup failures itself; this is a failure afterwards.
    spdlog::critical("node links: link thread died: {}", e.what());
  }
}

void NodeLinks::PostCommand(Command c) {
  to_kj_.Push(std::move(c));
  const uint64_t one = 1;
  // EAGAIN only when the counter is about to overflow: a wakeup is pending anyway.
  if (write(kj_wake_fd_, &one, sizeof(one)) < 0 && errno != EAGAIN) {
    spdlog::error("node links: cannot wake link thread: {}", std::strerror(errno));
  }
}

void NodeLinks::Forward(const RemoteOp& op) {
  Command c;
  c.kind = Command::kForward;
  c.op = op;
  PostCommand(std::move(c));
}

void NodeLinks::Done(int32_t node, uint64_t id, int32_t result, const vdvk_msg* reply) {
  Command c;
  c.kind = Command::kDone;
  c.node = node;
  c.id = id;
  c.result = result;
  if (reply != nullptr) c.reply = *reply;
  PostCommand(std::move(c));
}

void NodeLinks::Cancel(int32_t node, uint64_t op_id) {
  Command c;
  c.kind = Command::kCancel;
  c.node = node;
  c.id = op_id;
  PostCommand(std::move(c));
}

void NodeLinks::LookupDone(uint64_t id, int32_t result) {
  Command c;
  c.kind = Command::kLookupDone;
  c.id = id;
  c.result = result;
  PostCommand(std::move(c));
}

void NodeLinks::StartVcopy(const RemoteVcopyGrant& g) {
  Command c;
  c.kind = Command::kVcopy;
  c.grant = g;
  PostCommand(std::move(c));
}

void NodeLinks::Lookup(int32_t node, int32_t dcid, int32_t ep, uint64_t id) {
  Command c;
  c.kind = Command::kLookup;
  c.node = node;
  c.dcid = dcid;
  c.ep = ep;
  c.id = id;
  PostCommand(std::move(c));
}

void NodeLinks::PostEvent(Event e) {
  to_ev_.Push(std::move(e));
  ev_async_send(loop_, &async_w_);
}

void NodeLinks::OnAsync(struct ev_loop*, ev_async* w, int) {
  auto* self = static_cast<NodeLinks*>(w->data);
  for (Event& e : self->to_ev_.TakeAll()) {
    switch (e.kind) {
      case Event::kNodeState:
        self->in_->NodeState(e.node, e.up);
        break;
      case Event::kResult:
        self->in_->RemoteResult(e.id, e.result, e.reply ? &*e.reply : nullptr);
        break;
      case Event::kOp:
        self->in_->RemoteOpArrived(e.op);
        break;
      case Event::kWithdrawn:
        self->in_->RemoteOpWithdrawn(e.node, e.id);
        break;
      case Event::kLookup:
        self->in_->LookupArrived(e.id, e.dcid, e.ep);
        break;
      case Event::kVcopyDone:
        self->in_->RemoteVcopyDone(e.node, e.id, e.result);
        break;
      case Event::kLookupResult:
        self->in_->LookupResult(e.id, e.node, e.result);
        break;
    }
  }
  self->in_->LinkBatchDone();
}

}  // namespace vdvk::nodes
