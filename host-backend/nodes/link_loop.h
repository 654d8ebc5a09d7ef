// link_loop.h - the kj side of the node links: one outgoing connection per
// configured peer (connect with backoff, hello, heartbeats, reconnect) and
// the listening socket for the peers' connections to us (served by NodeImpl).
//
// Threading: a LinkLoop lives on the backend's libev thread (node_links.h
// says how the two loops share it). Its public methods are called there, but
// never from inside a kj callback; kj callbacks reach the engine only through
// NodeLinks::PostEvent, which queues until the kj turn is over.
//
// Invariants:
//  - A peer is "up" (and the engine told so) from a valid hello answer until
//    its connection fails, a heartbeat is not answered within the dead-peer
//    timeout, or the connection ends; then the engine is told "down" exactly
//    once and the connection is torn down before the next attempt.
//  - Every op the engine forwarded gets exactly one result event (the peer's
//    answer, or EDVSNOTCONN).
//  - waiters_ holds one fulfiller per op a peer delivered to us that the
//    engine has not acknowledged yet; those of a peer that goes down are
//    dropped (the engine forgets them too).
#pragma once

#include <capnp/rpc-twoparty.h>
#include <capnp/rpc.h>
#include <kj/async-io.h>
#include <kj/async-unix.h>

#include <kj/timer.h>

#include <map>
#include <set>
#include <memory>
#include <string>
#include <unordered_map>

#include "host-backend/nodes/node_links.h"
#include "host-backend/nodes/node_server.h"
#include "host-backend/nodes/vcopy_xfer.h"
#include "wire/node.capnp.h"

namespace vdvk::nodes {

class LinkLoop final : public NodeHost, private kj::TaskSet::ErrorHandler {
 public:
  LinkLoop(const LinkConfig& cfg, NodeLinks* links);
  ~LinkLoop() noexcept(false) override;

  // Binds the listen address (blocking: startup only) and starts the peers'
  // connection tasks. false with *error set if the address is unusable.
  bool Start(std::string* error);

  // The engine's requests (LinkOut, via NodeLinks). Each only queues kj work;
  // the caller pumps the kj loop afterwards.
  void Forward(const RemoteOp& op);
  void Done(uint64_t id, int32_t result, const vdvk_msg* reply);
  void Cancel(uint64_t op_id);
  void LookupDone(uint64_t id, int32_t result);
  void StartVcopy(const RemoteVcopyGrant& g);
  // Node.dcViews on `node` (dropped if its link is down; the views go again
  // when it comes up).
  void SendDcViews(int32_t node, const std::vector<DcView>& views);
  // Node.lookup on `node`; exactly one Event::kLookupResult follows.
  void AskLookup(int32_t node, uint64_t id, int32_t dcid, int32_t ep);

  // For NodeLinks, which drives the kj loop from libev.
  kj::WaitScope& wait_scope() { return io_.waitScope; }
  kj::TimerImpl& timer() { return timer_; }

  // NodeHost, for NodeImpl (inbound connections).
  const LinkConfig& config() const override { return cfg_; }
  kj::Promise<Answer> SubmitOp(const RemoteOp& op) override;
  kj::Promise<int32_t> Lookup(int32_t dcid, int32_t ep) override;
  void DcViews(int32_t node, std::vector<DcView> views) override;
  kj::Promise<Answer> SubmitVcopy(const RemoteOp& op, wire::ChunkPeer::Client peer,
                                  kj::ArrayPtr<const kj::byte> inline_data, uint64_t push_id) override;
  kj::Promise<void> PushChunk(int32_t node, uint64_t push_id, uint64_t off, kj::ArrayPtr<const kj::byte> data,
                              int32_t error) override;
  // A refused peer retries forever; one warning per (host, reason) is what
  // an operator needs.
  bool FirstWarning(const std::string& key) override;

 private:
  struct Peer {
    int32_t id = 0;
    std::string address;
    kj::Own<kj::AsyncIoStream> stream;
    kj::Own<capnp::TwoPartyVatNetwork> net;
    kj::Own<capnp::RpcSystem<capnp::rpc::twoparty::VatId>> rpc;
    kj::Maybe<wire::Node::Client> cap;
    bool up = false;
    int32_t backoff_ms = 0;
    std::string last_error;  // logged once until it changes or the link comes up
    kj::Promise<void> task = nullptr;
    // The last deliver() answer, kept: capnp sends the callee a Finish when
    // it is dropped, and dropped right after the next call on this link the
    // Finish travels with that call instead of waking the peer on its own.
    kj::Maybe<capnp::Response<wire::Node::DeliverResults>> unfinished;
  };
  struct Inbound {
    std::string address;
    kj::Own<kj::AsyncIoStream> stream;
    kj::Own<capnp::TwoPartyVatNetwork> net;
    kj::Own<capnp::RpcSystem<capnp::rpc::twoparty::VatId>> rpc;
  };
  struct Waiter {
    int32_t node;
    kj::Own<kj::PromiseFulfiller<Answer>> fulfiller;
  };

  void taskFailed(kj::Exception&& exception) override;
  void PostResult(uint64_t id, int32_t result, const vdvk_msg* reply);
  // A kLookupResult (AskLookup) or kVcopyDone (StartVcopy) event for LinkIn.
  void PostAnswer(Event::Kind kind, int32_t node, uint64_t id, int32_t result);
  void ForwardVcopy(wire::Node::Client& cap, const RemoteOp& op);
  // The capability of `node` while its link is up, else nullptr.
  wire::Node::Client* UpCap(int32_t node);
  void KeepUnfinished(int32_t node, capnp::Response<wire::Node::DeliverResults>&& r);

  kj::Promise<void> RunPeer(Peer& p);
  kj::Promise<void> Connect(Peer& p);
  kj::Promise<void> Heartbeats(Peer& p);
  void NoteFailure(Peer& p, const std::string& why);
  void MarkDown(Peer& p);
  void Teardown(Peer& p);

  kj::Promise<void> AcceptLoop(kj::ConnectionReceiver& receiver);
  void Accepted(kj::Own<kj::AsyncIoStream> stream);

  LinkConfig cfg_;
  NodeLinks* links_;
  kj::AsyncIoContext io_;
  // The port's timer: NodeLinks arms an ev_timer at its next event.
  kj::TimerImpl& timer_;
  kj::TaskSet tasks_;
  kj::Own<kj::ConnectionReceiver> receiver_;
  std::map<int32_t, std::unique_ptr<Peer>> peers_;
  std::map<Inbound*, std::unique_ptr<Inbound>> inbound_;
  std::unordered_map<uint64_t, Waiter> waiters_;
  std::unordered_map<uint64_t, kj::Own<kj::PromiseFulfiller<int32_t>>> lookups_;
  // Forwarded ops in flight: fulfilling one drops its deliver() call.
  std::unordered_map<uint64_t, kj::Own<kj::PromiseFulfiller<void>>> in_flight_;
  // Remote vcopies from peers, by waiter id: the caller's ChunkPeer (and the
  // bytes it sent with the call, if any, kept in the call's params) until the
  // engine grants the copy, then the running transfer as well.
  // A copy the caller pushes has a sink, found by (caller's node, pushId).
  struct Xfer {
    wire::ChunkPeer::Client peer;
    kj::ArrayPtr<const kj::byte> inline_data;
    kj::Own<PushSink> sink;
    kj::Maybe<kj::Promise<void>> task;  // after sink: destroyed first
  };
  std::unordered_map<uint64_t, Xfer> xfers_;
  std::map<std::pair<int32_t, uint64_t>, uint64_t> pushes_;  // -> xfers_ key
  uint64_t next_push_id_ = 1;
  uint64_t next_waiter_ = 1;
  std::set<std::string> warned_;
};

// Peer input is bounded: our largest message is one vcopy chunk
// (kVcopyChunk), so a frame claiming much more is garbage and the connection
// is dropped.
capnp::ReaderOptions LinkReaderOptions();
// "a.b.c.d:port" of the other end of a connection, or "?" if unknown.
std::string PeerAddress(kj::AsyncIoStream& stream);

}  // namespace vdvk::nodes
