// link_loop.cc - outgoing links (connect, hello, heartbeat, reconnect),
// accepting the peers' links, and the command mailbox.
#include "host-backend/nodes/link_loop.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>

#include "dvk/dvk.h"
#include "host-backend/nodes/node_server.h"
#include "host-backend/nodes/op_codec.h"
#include "host-backend/nodes/read_buffered_stream.h"
#include "host-backend/nodes/vcopy_xfer.h"

namespace vdvk::nodes {

capnp::ReaderOptions LinkReaderOptions() {
  capnp::ReaderOptions o;
  // A vcopy chunk is the largest message; capnp may traverse one more than
  // once (the RPC layer, then us), so allow a few chunks' worth.
  o.traversalLimitInWords = 4 * (kVcopyChunk / sizeof(capnp::word)) + 64 * 1024;
  o.nestingLimit = 16;
  return o;
}

std::string PeerAddress(kj::AsyncIoStream& stream) {
  sockaddr_storage ss{};
  uint len = sizeof(ss);
  try {
    stream.getpeername(reinterpret_cast<sockaddr*>(&ss), &len);
  } catch (...) {
    return "?";
  }
  char host[INET6_ADDRSTRLEN] = "?";
  int port = 0;
  if (ss.ss_family == AF_INET) {
    auto* a = reinterpret_cast<sockaddr_in*>(&ss);
    inet_ntop(AF_INET, &a->sin_addr, host, sizeof(host));
    port = ntohs(a->sin_port);
  } else if (ss.ss_family == AF_INET6) {
    auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
    inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof(host));
    port = ntohs(a->sin6_port);
  }
  return std::string(host) + ":" + std::to_string(port);
}

LinkLoop::LinkLoop(const LinkConfig& cfg, NodeLinks* links)
    : cfg_(cfg), links_(links), io_(kj::setupAsyncIo()),
      // UnixEventPort's timer is a TimerImpl (async-unix.h); only the
      // concrete type tells when its next event is due.
      timer_(dynamic_cast<kj::TimerImpl&>(io_.unixEventPort.getTimer())),
      tasks_(*this) {}

LinkLoop::~LinkLoop() noexcept(false) {
  // Connections before the objects their callbacks use (waiters_, peers_).
  for (auto& [id, p] : peers_) {
    p->task = nullptr;
    Teardown(*p);
  }
  xfers_.clear();
  inbound_.clear();
  waiters_.clear();
  lookups_.clear();
}

void LinkLoop::taskFailed(kj::Exception&& e) {
  // A failed connection task is routine (a peer vanished or sent garbage);
  // the link layer recovers, so this is informational.
  spdlog::debug("node links: task failed: {}", e.getDescription().cStr());
}

bool LinkLoop::Start(std::string* error) {
  if (!cfg_.listen.empty()) {
    try {
      auto addr = io_.provider->getNetwork().parseAddress(cfg_.listen).wait(io_.waitScope);
      receiver_ = addr->listen();
    } catch (const kj::Exception& e) {
      *error = "cannot listen on " + cfg_.listen + ": " + e.getDescription().cStr();
      return false;
    }
    tasks_.add(AcceptLoop(*receiver_));
    spdlog::info("node links: node {} listening on {}", cfg_.node_id, cfg_.listen);
  }
  for (const LinkConfig::Peer& pc : cfg_.peers) {
    auto p = std::make_unique<Peer>();
    p->id = pc.id;
    p->address = pc.address;
    p->backoff_ms = cfg_.backoff_min_ms;
    Peer& ref = *p;
    peers_[pc.id] = std::move(p);
    ref.task = RunPeer(ref).eagerlyEvaluate([](kj::Exception&& e) {
      spdlog::error("node links: peer task ended: {}", e.getDescription().cStr());
    });
  }
  return true;
}

// ---- the engine's requests -------------------------------------------------------

void LinkLoop::Done(uint64_t id, int32_t result, const vdvk_msg* reply) {
  xfers_.erase(id);  // finished (it reported), or refused before it started
  auto it = waiters_.find(id);
  if (it == waiters_.end()) return;  // that peer went down meanwhile
  Answer a;
  a.result = result;
  if (reply != nullptr) a.reply = *reply;
  it->second.fulfiller->fulfill(kj::mv(a));
  waiters_.erase(it);
}

void LinkLoop::Cancel(uint64_t op_id) {
  auto it = in_flight_.find(op_id);
  if (it == in_flight_.end()) return;  // answered meanwhile
  it->second->fulfill();
  in_flight_.erase(it);
}

void LinkLoop::LookupDone(uint64_t id, int32_t result) {
  auto it = lookups_.find(id);
  if (it == lookups_.end()) return;
  it->second->fulfill(kj::cp(result));
  lookups_.erase(it);
}

void LinkLoop::PostResult(uint64_t id, int32_t result, const vdvk_msg* reply) {
  Event e;
  e.kind = Event::kResult;
  e.id = id;
  e.result = result;
  if (reply != nullptr) e.reply = *reply;
  links_->PostEvent(std::move(e));
}

wire::Node::Client* LinkLoop::UpCap(int32_t node) {
  auto it = peers_.find(node);
  if (it == peers_.end() || !it->second->up) return nullptr;
  KJ_IF_MAYBE(c, it->second->cap) { return c; }
  return nullptr;
}

void LinkLoop::Forward(const RemoteOp& op) {
  wire::Node::Client* cap = UpCap(op.node);
  if (cap == nullptr) return PostResult(op.id, EDVSNOTCONN, nullptr);
  const uint64_t id = op.id;
  if (op.kind == RemoteKind::kVcopy) return ForwardVcopy(*cap, op);
  auto req = cap->deliverRequest();
  EncodeOp(op, req.initOp());
  const bool sendrec = op.kind == RemoteKind::kSendrec;
  auto cancel = kj::newPromiseAndFulfiller<void>();
  in_flight_[id] = kj::mv(cancel.fulfiller);
  auto sent = req.send();
  // The previous answer's Finish now goes right behind this call.
  peers_.at(op.node)->unfinished = nullptr;
  const int32_t node = op.node;
  tasks_.add(kj::mv(sent).then(
      [this, id, sendrec, node](capnp::Response<wire::Node::DeliverResults>&& r) {
        in_flight_.erase(id);
        int32_t result = r.getResult();
        vdvk_msg reply;
        bool has_reply = r.hasReply() && DecodeMessage(r.getReply(), &reply);
        if (result > 0) result = EDVSBADVALUE;  // DVK results here are 0 or EDVS*
        // A sendrec acknowledged without its answer is the peer's bug; the
        // engine turns the missing reply into an error, never a hang.
        PostResult(id, result, sendrec && result == 0 && has_reply ? &reply : nullptr);
        KeepUnfinished(node, kj::mv(r));
      },
      [this, id](kj::Exception&& e) {
        in_flight_.erase(id);
        spdlog::debug("node links: deliver {} failed: {}", id, e.getDescription().cStr());
        PostResult(id, EDVSNOTCONN, nullptr);
      }).exclusiveJoin(kj::mv(cancel.promise)));  // the cancel side drops the call
}

void LinkLoop::KeepUnfinished(int32_t node,
                              capnp::Response<wire::Node::DeliverResults>&& r) {
  auto it = peers_.find(node);
  // Replacing an older one sends its Finish now (several callers at once).
  if (it != peers_.end() && it->second->up) it->second->unfinished = kj::mv(r);
}

// The vcopyRemote call for `op`; a copy into the callee's party of at most
// kVcopyInlineMax bytes carries them (one round trip, not two). If our
// party cannot be read, the call goes without them, and the copy is pushed:
// the chunk carrying the read error fails it after the callee's own checks,
// as the callee's read of our party used to.
static capnp::Request<wire::Node::VcopyRemoteParams, wire::Node::VcopyRemoteResults> VcopyCall(
    wire::Node::Client& cap, const RemoteOp& op, const PartyRef& party) {
  if (!op.vcopy_party_is_src && op.vcopy_bytes > 0 && op.vcopy_bytes <= kVcopyInlineMax) {
    auto req = cap.vcopyRemoteRequest(capnp::MessageSize{op.vcopy_bytes / 8 + 64, 1});
    if (ReadParty(party, 0, req.initData(op.vcopy_bytes)) == 0) return req;
  }
  return cap.vcopyRemoteRequest();
}

void LinkLoop::ForwardVcopy(wire::Node::Client& cap, const RemoteOp& op) {
  // Our party is served to the callee, which drives the transfer once its
  // engine granted it; the answer comes when every byte is in place.
  const PartyRef party{op.vcopy_local, op.vcopy_local_addr, links_->guest_io(), VcopyPartyKey{true, 0, op.id}};
  auto req = VcopyCall(cap, op, party);
  EncodeOp(op, req.initOp());
  // A bigger copy into the callee's party: we push the chunks right behind
  // the call instead of waiting for the callee's reads (a round trip less).
  const bool push = !op.vcopy_party_is_src && !req.hasData() && op.vcopy_bytes > 0;
  const uint64_t push_id = push ? next_push_id_++ : 0;
  req.setPushId(push_id);
  // The callee's party is the source: it streams into ours, its answer 0
  // means "all sent", and the copy is done when the bytes landed here.
  const bool lands_here = op.vcopy_party_is_src;
  ChunkPeerHandle peer = MakeChunkPeer(party, op.vcopy_bytes, lands_here);
  req.setPeer(kj::mv(peer.server));
  const uint64_t id = op.id;
  auto cancel = kj::newPromiseAndFulfiller<void>();
  in_flight_[id] = kj::mv(cancel.fulfiller);
  auto finish = [this, id](int32_t result) {
    in_flight_.erase(id);
    PostResult(id, result > 0 ? EDVSBADVALUE : result, nullptr);
  };
  auto answer = req.send();
  kj::Promise<void> pushing = kj::READY_NOW;
  if (push) {
    // One turn later: capnp writes the call on its own turn, and the callee's
    // engine can check the copy while we read the first chunk.
    pushing = kj::evalLater([cap, push_id, party, bytes = op.vcopy_bytes]() mutable {
                return PushChunks(kj::mv(cap), push_id, party, bytes);
              })
                  .catch_([id](kj::Exception&& e) {
                    // The answer to the call says how the copy ended.
                    spdlog::debug("node links: vcopy {}: pushing chunks stopped: {}", id, e.getDescription().cStr());
                  })
                  .eagerlyEvaluate(nullptr);
  }
  tasks_.add(kj::mv(answer)
                 .then([lands_here, landed = kj::mv(peer.landed)](
                           capnp::Response<wire::Node::VcopyRemoteResults>&& r) mutable -> kj::Promise<int32_t> {
                   const int32_t result = r.getResult();
                   if (result != 0 || !lands_here) return result;
                   return kj::mv(landed);
                 })
                 .then(kj::cp(finish),
                       [finish, id](kj::Exception&& e) {
                         spdlog::debug("node links: vcopy {} failed: {}", id, e.getDescription().cStr());
                         finish(EDVSNOTCONN);
                       })
                 .exclusiveJoin(kj::mv(cancel.promise))
                 .attach(kj::mv(pushing)));  // the answer ends the pushing
}

// Node.lookup on a peer, for the engine's automatic endpoint resolution. A
// peer that stalls is declared down by its heartbeats, which the engine
// counts as "not there"; the late answer is then ignored.
void LinkLoop::AskLookup(int32_t node, uint64_t id, int32_t dcid, int32_t ep) {
  auto post = [this, node, id](int32_t result) { PostAnswer(Event::kLookupResult, node, id, result); };
  wire::Node::Client* cap = UpCap(node);
  if (cap == nullptr) return post(EDVSNOTCONN);
  auto req = cap->lookupRequest();
  req.setDcid(dcid);
  req.setEp(ep);
  tasks_.add(req.send().then(
      [post](capnp::Response<wire::Node::LookupResults>&& r) { post(r.getNodeId()); },
      [post, id](kj::Exception&& e) {
        spdlog::debug("node links: lookup {} failed: {}", id, e.getDescription().cStr());
        post(EDVSNOTCONN);
      }));
}

// ---- requests from peers (NodeImpl) ----------------------------------------------

kj::Promise<Answer> LinkLoop::SubmitOp(const RemoteOp& in) {
  RemoteOp op = in;
  op.id = next_waiter_++;
  auto paf = kj::newPromiseAndFulfiller<Answer>();
  waiters_.emplace(op.id, Waiter{op.node, kj::mv(paf.fulfiller)});
  Event e;
  e.kind = Event::kOp;
  e.op = op;
  links_->PostEvent(std::move(e));
  // Runs when the call ends either way; still waiting means the caller gave
  // up (cancel, or its connection dropped): the engine must withdraw the op,
  // or a message whose sender got an error would be delivered later.
  return paf.promise.attach(kj::defer([this, id = op.id, node = op.node] {
    auto it = waiters_.find(id);
    if (it == waiters_.end()) return;
    waiters_.erase(it);
    Event w;
    w.kind = Event::kWithdrawn;
    w.node = node;
    w.id = id;
    links_->PostEvent(std::move(w));
  }));
}

kj::Promise<Answer> LinkLoop::SubmitVcopy(const RemoteOp& op, wire::ChunkPeer::Client peer,
                                          kj::ArrayPtr<const kj::byte> inline_data, uint64_t push_id) {
  // The waiter id SubmitOp picks is the one the engine's grant names.
  const uint64_t id = next_waiter_;
  const auto push_key = std::make_pair(op.node, push_id);
  kj::Own<PushSink> sink;
  if (push_id != 0) {
    KJ_REQUIRE(pushes_.count(push_key) == 0, "vcopy pushId already in use", push_id);
    sink = kj::heap<PushSink>(op.vcopy_bytes);
    pushes_[push_key] = id;
  }
  xfers_.emplace(id, Xfer{kj::mv(peer), inline_data, kj::mv(sink), nullptr});
  return SubmitOp(op).attach(kj::defer([this, id, push_id, push_key] {
    // Chunks still on their way find nothing and are dropped.
    if (push_id != 0) pushes_.erase(push_key);
    xfers_.erase(id);
  }));
}

kj::Promise<void> LinkLoop::PushChunk(int32_t node, uint64_t push_id, uint64_t off,
                                      kj::ArrayPtr<const kj::byte> data, int32_t error) {
  auto p = pushes_.find(std::make_pair(node, push_id));
  if (p == pushes_.end()) return kj::READY_NOW;  // that copy ended (or was refused)
  auto x = xfers_.find(p->second);
  if (x == xfers_.end() || x->second.sink.get() == nullptr) return kj::READY_NOW;
  return x->second.sink->Chunk(off, data, error);
}

void LinkLoop::StartVcopy(const RemoteVcopyGrant& g) {
  auto it = xfers_.find(g.op_id);
  if (it == xfers_.end()) {
    // The caller gave up meanwhile (the engine withdraws it); a grant for an
    // op that came through deliver() cannot move bytes either.
    return PostAnswer(Event::kVcopyDone, g.node, g.op_id, EDVSNOTCONN);
  }
  const PartyRef party{g.party, g.addr, links_->guest_io(), VcopyPartyKey{false, g.node, g.op_id}};
  Xfer& x = it->second;
  auto moving = x.sink.get() != nullptr && !g.party_is_src ? x.sink->Start(party, g.bytes)
                                                            : RunVcopy(g, party, x.peer, x.inline_data);
  x.task = kj::mv(moving).then([this, g](int32_t result) {
    PostAnswer(Event::kVcopyDone, g.node, g.op_id, result);
  }).eagerlyEvaluate(nullptr);
}

void LinkLoop::PostAnswer(Event::Kind kind, int32_t node, uint64_t id, int32_t result) {
  Event e;
  e.kind = kind;
  e.node = node;
  e.id = id;
  e.result = result;
  links_->PostEvent(std::move(e));
}

kj::Promise<int32_t> LinkLoop::Lookup(int32_t dcid, int32_t ep) {
  const uint64_t id = next_waiter_++;
  auto paf = kj::newPromiseAndFulfiller<int32_t>();
  lookups_.emplace(id, kj::mv(paf.fulfiller));
  Event e;
  e.kind = Event::kLookup;
  e.id = id;
  e.dcid = dcid;
  e.ep = ep;
  links_->PostEvent(std::move(e));
  return kj::mv(paf.promise);
}

void LinkLoop::DcViews(int32_t node, std::vector<DcView> views) {
  Event e;
  e.kind = Event::kDcViews;
  e.node = node;
  e.views = std::move(views);
  links_->PostEvent(std::move(e));
}

void LinkLoop::SendDcViews(int32_t node, const std::vector<DcView>& views) {
  wire::Node::Client* cap = UpCap(node);
  if (cap == nullptr || views.empty()) return;
  auto req = cap->dcViewsRequest();
  auto list = req.initViews(static_cast<unsigned>(views.size()));
  for (unsigned i = 0; i < views.size(); ++i) {
    list[i].setDcid(views[i].dcid);
    list[i].setRunning(views[i].running);
    list[i].setNodes(views[i].nodes);
  }
  // No answer to wait for; a peer of an older build answers
  // "unimplemented", which only means it does not compare.
  tasks_.add(req.send().ignoreResult().catch_([node](kj::Exception&& e) {
    spdlog::debug("node links: dcViews to node {}: {}", node, e.getDescription().cStr());
  }));
}

bool LinkLoop::FirstWarning(const std::string& key) {
  if (warned_.count(key) != 0) return false;
  if (warned_.size() >= 1024) return true;  // hostile variety: stop remembering, keep warning
  warned_.insert(key);
  return true;
}

// ---- outgoing links ------------------------------------------------------------------

kj::Promise<void> LinkLoop::RunPeer(Peer& p) {
  return Connect(p)
      .then([this, &p] {
        // Up until the connection ends or a heartbeat goes unanswered.
        return Heartbeats(p).exclusiveJoin(p.net->onDisconnect().then([this, &p] {
          NoteFailure(p, "connection closed");
        }));
      })
      .catch_([this, &p](kj::Exception&& e) { NoteFailure(p, e.getDescription().cStr()); })
      .then([this, &p] {
        MarkDown(p);
        // Not from inside the RPC system's own callbacks: one turn later.
        return kj::evalLater([this, &p] { Teardown(p); });
      })
      .then([this, &p] {
        const int32_t delay = p.backoff_ms;
        p.backoff_ms = std::min(p.backoff_ms * 2, cfg_.backoff_max_ms);
        return io_.provider->getTimer().afterDelay(delay * kj::MILLISECONDS).then([this, &p] {
          return RunPeer(p);
        });
      });
}

kj::Promise<void> LinkLoop::Connect(Peer& p) {
  return io_.provider->getNetwork()
      .parseAddress(p.address)
      .then([](kj::Own<kj::NetworkAddress> a) { return a->connect(); })
      .then([this, &p](kj::Own<kj::AsyncIoStream> s) {
        p.stream = kj::heap<ReadBufferedStream>(kj::mv(s));
        p.net = kj::heap<capnp::TwoPartyVatNetwork>(*p.stream, capnp::rpc::twoparty::Side::CLIENT,
                                                    LinkReaderOptions());
        p.rpc = kj::heap(capnp::makeRpcClient(*p.net));
        capnp::word scratch[4] = {};
        capnp::MallocMessageBuilder vat(scratch);
        auto vat_id = vat.getRoot<capnp::rpc::twoparty::VatId>();
        vat_id.setSide(capnp::rpc::twoparty::Side::SERVER);
        auto cap = p.rpc->bootstrap(vat_id).castAs<wire::Node>();
        auto req = cap.helloRequest();
        req.setNodeId(cfg_.node_id);
        req.setProtocolVersion(wire::PROTOCOL_VERSION);
        req.setClusterToken(cfg_.token);
        p.cap = kj::mv(cap);
        return io_.provider->getTimer().timeoutAfter(cfg_.dead_ms * kj::MILLISECONDS,
                                                      req.send());
      })
      .then([this, &p](capnp::Response<wire::Node::HelloResults>&& r) {
        if (r.getProtocolVersion() != wire::PROTOCOL_VERSION) {
          KJ_FAIL_REQUIRE("peer speaks another protocol version", r.getProtocolVersion());
        }
        if (r.getNodeId() != p.id) {
          KJ_FAIL_REQUIRE("peer answered as another node id", r.getNodeId(), p.id);
        }
        p.up = true;
        p.backoff_ms = cfg_.backoff_min_ms;
        p.last_error.clear();
        spdlog::info("node links: link to node {} at {} is up", p.id, p.address);
        Event e;
        e.kind = Event::kNodeState;
        e.node = p.id;
        e.up = true;
        links_->PostEvent(std::move(e));
      });
}

kj::Promise<void> LinkLoop::Heartbeats(Peer& p) {
  // Each heartbeat may take at most what is left of the dead-peer timeout
  // after the period, so silence is noticed within about dead_ms.
  const int32_t wait_ms = std::max(cfg_.dead_ms - cfg_.heartbeat_ms, cfg_.heartbeat_ms);
  auto& timer = io_.provider->getTimer();
  return timer.afterDelay(cfg_.heartbeat_ms * kj::MILLISECONDS)
      .then([this, &p, &timer, wait_ms] {
        KJ_IF_MAYBE(cap, p.cap) {
          auto beat = cap->heartbeatRequest().send().ignoreResult();
          p.unfinished = nullptr;  // a kept Finish waits at most one heartbeat period
          return timer.timeoutAfter(wait_ms * kj::MILLISECONDS, kj::mv(beat));
        }
        return kj::Promise<void>(KJ_EXCEPTION(DISCONNECTED, "no capability"));
      })
      .then([this, &p] { return Heartbeats(p); });
}

void LinkLoop::NoteFailure(Peer& p, const std::string& why) {
  // One line per distinct reason: a refused peer retries every couple of
  // seconds and must not flood the log.
  if (why == p.last_error) return;
  p.last_error = why;
  if (p.up) {
    spdlog::warn("node links: link to node {} at {} lost: {}", p.id, p.address, why);
  } else {
    spdlog::warn("node links: cannot link to node {} at {}: {}", p.id, p.address, why);
  }
}

void LinkLoop::MarkDown(Peer& p) {
  if (!p.up) return;
  p.up = false;
  Event e;
  e.kind = Event::kNodeState;
  e.node = p.id;
  e.up = false;
  links_->PostEvent(std::move(e));
  // The engine forgets that node's pending operations; so do we.
  for (auto it = waiters_.begin(); it != waiters_.end();) {
    if (it->second.node == p.id) {
      it->second.fulfiller->reject(KJ_EXCEPTION(DISCONNECTED, "node link down"));
      it = waiters_.erase(it);
    } else {
      ++it;
    }
  }
}

void LinkLoop::Teardown(Peer& p) {
  p.unfinished = nullptr;  // it belongs to the RPC system below
  p.cap = nullptr;
  p.rpc = nullptr;
  p.net = nullptr;
  p.stream = nullptr;
}

// ---- incoming links ------------------------------------------------------------------

kj::Promise<void> LinkLoop::AcceptLoop(kj::ConnectionReceiver& receiver) {
  return receiver.accept()
      .then([this](kj::Own<kj::AsyncIoStream> s) { Accepted(kj::mv(s)); },
            [](kj::Exception&& e) {
              // EMFILE and friends: keep accepting after a pause.
              spdlog::warn("node links: accept failed: {}", e.getDescription().cStr());
            })
      .then([this, &receiver] { return AcceptLoop(receiver); });
}

void LinkLoop::Accepted(kj::Own<kj::AsyncIoStream> stream) {
  auto c = std::make_unique<Inbound>();
  c->address = PeerAddress(*stream);
  c->stream = kj::heap<ReadBufferedStream>(kj::mv(stream));
  c->net = kj::heap<capnp::TwoPartyVatNetwork>(*c->stream, capnp::rpc::twoparty::Side::SERVER,
                                               LinkReaderOptions());
  c->rpc = kj::heap(capnp::makeRpcServer(*c->net, MakeNodeServer(*this, c->address)));
  Inbound* raw = c.get();
  spdlog::debug("node links: connection from {}", raw->address);
  tasks_.add(raw->net->onDisconnect().then([this, raw] {
    spdlog::debug("node links: connection from {} closed", raw->address);
    // One turn later: we are inside this connection's disconnect callback.
    return kj::evalLater([this, raw] { inbound_.erase(raw); });
  }));
  inbound_[raw] = std::move(c);
}

}  // namespace vdvk::nodes
