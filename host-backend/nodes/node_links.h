// node_links.h - Cap'n Proto links to the other nodes of the cluster.
//
// Threading: the backend's libev loop owns the Engine; Cap'n Proto runs on a
// kj event loop in a thread of its own (LinkLoop, link_loop.h). They meet in
// two mailboxes and never touch each other's objects:
//   libev -> kj : Command in to_kj_, then a write to an eventfd that the kj
//                 loop watches (UnixEventPort::FdObserver);
//   kj -> libev : Event in to_ev_, then ev_async_send (the libev-sanctioned
//                 cross-thread wakeup).
// Nothing busy-waits; each side sleeps in its own poller. A separate thread
// (rather than a kj EventPort driven by libev) keeps kj's own socket I/O
// provider usable, at the price of a thread hop per direction on each node:
// four per round trip. Measured: a cross-node sendrec round trip (libdvk
// client -> server -> answer) costs 200-340 us over veth between network
// namespaces on the 2-core test VM under load (tests/nodes, `latency`).
//
// Every method of NodeLinks is called on the libev thread.
#pragma once

#include <ev.h>

#include <cstdint>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "host-backend/nodes/link_api.h"
#include "host-backend/nodes/mailbox.h"

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

// libev -> kj
struct Command {
  enum Kind { kForward, kDone, kCancel, kLookupDone, kVcopy, kLookup, kStop } kind = kStop;
  RemoteOp op;             // kForward
  int32_t node = 0;        // kDone
  uint64_t id = 0;         // kDone, kCancel, kLookupDone
  int32_t result = 0;      // kDone, kLookupDone
  std::optional<vdvk_msg> reply;
  RemoteVcopyGrant grant;  // kVcopy
  int32_t dcid = 0, ep = 0;  // kLookup (+ node, id)
};

// kj -> libev
struct Event {
  enum Kind { kNodeState, kResult, kOp, kWithdrawn, kLookup, kVcopyDone, kLookupResult } kind = kNodeState;
  int32_t node = 0;        // kNodeState, kWithdrawn, kVcopyDone
  bool up = false;         // kNodeState
  uint64_t id = 0;         // kResult, kWithdrawn, kLookup, kVcopyDone
  int32_t result = 0;      // kResult, kVcopyDone
  std::optional<vdvk_msg> reply;
  RemoteOp op;             // kOp
  int32_t dcid = 0, ep = 0;  // kLookup
};

class LinkLoop;

class NodeLinks final : public LinkOut {
 public:
  NodeLinks(const LinkConfig& cfg, struct ev_loop* loop, LinkIn* in);
  ~NodeLinks() override;  // stops and joins the kj thread
  NodeLinks(const NodeLinks&) = delete;
  NodeLinks& operator=(const NodeLinks&) = delete;

  // Starts the kj thread; binds the listen address before returning so a
  // bad address is a startup error. false with *error set on failure.
  bool Start(std::string* error);

  void Forward(const RemoteOp& op) override;
  void Done(int32_t node, uint64_t id, int32_t result, const vdvk_msg* reply) override;
  void Cancel(int32_t node, uint64_t op_id) override;
  void LookupDone(uint64_t id, int32_t result) override;
  void StartVcopy(const RemoteVcopyGrant& g) override;
  void Lookup(int32_t node, int32_t dcid, int32_t ep, uint64_t id) override;

  // Called by LinkLoop on the kj thread.
  void PostEvent(Event e);

 private:
  void PostCommand(Command c);
  static void OnAsync(struct ev_loop* loop, ev_async* w, int revents);
  void ThreadMain(std::string* start_error, std::promise<void>* started);

  LinkConfig cfg_;
  struct ev_loop* loop_;
  LinkIn* in_;
  int kj_wake_fd_ = -1;  // eventfd: written by us, read by the kj loop
  Mailbox<Command> to_kj_;
  Mailbox<Event> to_ev_;
  ev_async async_w_;
  std::thread thread_;
};

}  // namespace vdvk::nodes
