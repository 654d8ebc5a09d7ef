// node_links.h - Cap'n Proto links to the other nodes of the cluster.
//
// Threading: one thread. The backend's libev loop owns the Engine, and Cap'n
// Proto's kj event loop (LinkLoop, link_loop.h) runs on the same thread,
// driven by libev:
//  - kj keeps its own UnixEventPort (epoll on Linux) so its socket I/O
//    provider works unchanged. An epoll fd is itself pollable: libev watches
//    kj's epoll fd with an ev_io and, when it is readable, pumps the kj loop
//    without blocking (WaitScope::poll: run queued callbacks, epoll_wait(0),
//    until idle).
//  - kj timers (connect backoff, heartbeats, dead-peer timeouts): after every
//    pump an ev_timer is armed at the TimerImpl's next event; when it fires
//    the pump's epoll_wait advances kj's clock and fires them.
//  - Engine -> links (LinkOut, called inside engine calls): the kj work is
//    queued and the kj loop pumped at once, so a forwarded op is on the wire
//    before the call returns.
//  - Links -> engine (LinkIn): kj callbacks never call the engine (it may be
//    mid-call, and a kj callback must not re-enter kj). They queue an Event;
//    the queue is handed to LinkIn from a libev callback, outside any engine
//    or kj call: right after a pump started by libev, or, for events queued
//    during a LinkOut call, by feeding the watcher an event so libev calls it
//    once the current callback returns.
// No other thread, no mailbox, no busy waiting: idle, the process sleeps in
// libev's epoll_wait, which covers kj's fds through kj's epoll fd.
//
// Every method of NodeLinks is called on the libev thread.
#pragma once

#include <ev.h>

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "host-backend/nodes/link_api.h"

namespace vdvk::nodes {

struct LinkConfig {
  int32_t node_id = 0;
  int32_t nr_nodes = 32;
  std::string node_name;
  std::string listen;  // HOST:PORT, or empty: accept no links
  struct Peer {
    int32_t id = 0;
    std::string address;
  };
  std::vector<Peer> peers;
  std::string token;
  int32_t heartbeat_ms = 500;
  int32_t dead_ms = 2000;
  int32_t backoff_min_ms = 100;
  int32_t backoff_max_ms = 2000;
};

// kj -> libev
struct Event {
  enum Kind {
    kNodeState, kResult, kOp, kWithdrawn, kLookup, kVcopyDone, kLookupResult, kDcViews
  } kind = kNodeState;
  int32_t node = 0;        // kNodeState, kWithdrawn, kVcopyDone
  bool up = false;         // kNodeState
  uint64_t id = 0;         // kResult, kWithdrawn, kLookup, kVcopyDone
  int32_t result = 0;      // kResult, kVcopyDone
  std::optional<vdvk_msg> reply;
  RemoteOp op;             // kOp
  int32_t dcid = 0, ep = 0;  // kLookup
  std::vector<DcView> views;  // kDcViews (+ node)
};

class LinkLoop;

class NodeLinks final : public LinkOut {
 public:
  NodeLinks(const LinkConfig& cfg, struct ev_loop* loop, LinkIn* in);
  ~NodeLinks() override;  // closes every link; no LinkIn call from here on
  NodeLinks(const NodeLinks&) = delete;
  NodeLinks& operator=(const NodeLinks&) = delete;

  // Sets up the kj loop on this thread and binds the listen address, so a
  // bad address is a startup error. false with *error set on failure.
  bool Start(std::string* error);

  void Forward(const RemoteOp& op) override;
  void Done(int32_t node, uint64_t id, int32_t result, const vdvk_msg* reply) override;
  void Cancel(int32_t node, uint64_t op_id) override;
  void LookupDone(uint64_t id, int32_t result) override;
  void StartVcopy(const RemoteVcopyGrant& g) override;
  bool HasInput() override;
  void Lookup(int32_t node, int32_t dcid, int32_t ep, uint64_t id) override;
  void SendDcViews(int32_t node, const std::vector<DcView>& views) override;

  // Called by LinkLoop from kj callbacks: queued for LinkIn (see above).
  void PostEvent(Event e);
  // How guest parties of remote vcopies are reached (nullptr: they are
  // refused with EDVSPERM). Set before Start.
  void SetGuestPartyIo(GuestPartyIo* io) { guest_io_ = io; }
  GuestPartyIo* guest_io() const { return guest_io_; }

 private:
  // Runs kj until it has nothing left to do, without blocking.
  void Pump();
  // Hands the queued events to LinkIn (never nested).
  void Deliver();
  // After a LinkOut call: pump, and have libev deliver what it produced.
  void AfterRequest();
  void ArmTimer();
  static void OnKj(struct ev_loop* loop, ev_io* w, int revents);
  static void OnKjTimer(struct ev_loop* loop, ev_timer* w, int revents);

  LinkConfig cfg_;
  struct ev_loop* loop_;
  LinkIn* in_;
  GuestPartyIo* guest_io_ = nullptr;
  std::deque<Event> events_;  // declared before kj_: its teardown may still post
  std::unique_ptr<LinkLoop> kj_;
  ev_io kj_fd_w_;       // kj's epoll fd
  ev_timer kj_timer_w_;  // kj's next timer event
  bool pumping_ = false;
  bool delivering_ = false;
  bool stopping_ = false;
};

}  // namespace vdvk::nodes
