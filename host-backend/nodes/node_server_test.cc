// node_server_test.cc - the Node capability in process: a real capnp RPC
// client and server over a kj pipe pair, with a fake link host in place of
// the engine. Checks hello's refusals, call ordering, validation, the
// acknowledgement path, withdrawal on cancel, and garbage on the wire.
#include "host-backend/nodes/node_server.h"

#include <capnp/rpc-twoparty.h>
#include <gtest/gtest.h>
#include <kj/async-io.h>

#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <set>
#include <vector>

#include "dvk/dvk.h"
#include "host-backend/nodes/link_loop.h"
#include "host-backend/nodes/node_links.h"
#include "host-backend/nodes/vcopy_xfer.h"

namespace vdvk::nodes {
namespace {

class FakeHost final : public NodeHost {
 public:
  FakeHost() {
    cfg.node_id = 1;
    cfg.token = "tok";
  }
  ~FakeHost() noexcept override = default;
  const LinkConfig& config() const override { return cfg; }
  kj::Promise<Answer> SubmitOp(const RemoteOp& op) override {
    ops.push_back(op);
    auto paf = kj::newPromiseAndFulfiller<Answer>();
    pending.push_back(kj::mv(paf.fulfiller));
    return paf.promise.attach(kj::defer([this] { ++ended; }));
  }
  kj::Promise<Answer> SubmitVcopy(const RemoteOp& op, wire::ChunkPeer::Client,
                                  kj::ArrayPtr<const kj::byte> inline_data, uint64_t push_id) override {
    vcopy_data.push_back(inline_data);
    push_ids.push_back(push_id);
    return SubmitOp(op);
  }
  kj::Promise<void> PushChunk(int32_t node, uint64_t push_id, uint64_t off, kj::ArrayPtr<const kj::byte> data,
                              int32_t error) override {
    chunks.push_back(Chunk{node, push_id, off, std::vector<kj::byte>(data.begin(), data.end()), error});
    return kj::READY_NOW;
  }
  kj::Promise<int32_t> Lookup(int32_t dcid, int32_t ep) override { return dcid * 1000 + ep; }
  bool FirstWarning(const std::string& key) override { return warned.insert(key).second; }
  void DcViews(int32_t node, std::vector<DcView> v) override {
    views_from = node;
    views = std::move(v);
  }

  LinkConfig cfg;
  int32_t views_from = -1;
  std::vector<DcView> views;
  std::vector<RemoteOp> ops;
  std::vector<kj::ArrayPtr<const kj::byte>> vcopy_data;  // per SubmitVcopy
  std::vector<uint64_t> push_ids;                         // per SubmitVcopy
  struct Chunk {
    int32_t node;
    uint64_t push_id, off;
    std::vector<kj::byte> data;
    int32_t error;
  };
  std::vector<Chunk> chunks;  // per PushChunk
  std::vector<kj::Own<kj::PromiseFulfiller<Answer>>> pending;
  int ended = 0;  // SubmitOp promises destroyed (answered or dropped)
  std::set<std::string> warned;
};

// kj objects may throw from destructors (noexcept(false)), gtest fixtures may
// not: the fixture owns them through a unique_ptr.
struct Rig {
  Rig()
      : io(kj::setupAsyncIo()),
        pipe(io.provider->newTwoWayPipe()),
        server_net(*pipe.ends[0], capnp::rpc::twoparty::Side::SERVER, LinkReaderOptions()),
        server(capnp::makeRpcServer(server_net, MakeNodeServer(host, "10.0.0.9:4242"))),
        client_net(*pipe.ends[1], capnp::rpc::twoparty::Side::CLIENT),
        client(capnp::makeRpcClient(client_net)),
        cap(Bootstrap()) {}

  wire::Node::Client Bootstrap() {
    capnp::word scratch[4] = {};
    capnp::MallocMessageBuilder b(scratch);
    auto id = b.getRoot<capnp::rpc::twoparty::VatId>();
    id.setSide(capnp::rpc::twoparty::Side::SERVER);
    return client.bootstrap(id).castAs<wire::Node>();
  }

  FakeHost host;
  kj::AsyncIoContext io;
  kj::TwoWayPipe pipe;
  capnp::TwoPartyVatNetwork server_net;
  capnp::RpcSystem<capnp::rpc::twoparty::VatId> server;
  capnp::TwoPartyVatNetwork client_net;
  capnp::RpcSystem<capnp::rpc::twoparty::VatId> client;
  wire::Node::Client cap;
};

class NodeServerTest : public ::testing::Test {
 protected:
  // The exception text of a call that must fail, "" if it succeeded.
  template <class P>
  std::string FailureOf(P&& promise) {
    try {
      promise.wait(io.waitScope);
    } catch (const kj::Exception& e) {
      return e.getDescription().cStr();
    }
    return "";
  }

  std::string Hello(int32_t id, const char* token, uint32_t version = wire::PROTOCOL_VERSION) {
    auto req = cap.helloRequest();
    req.setNodeId(id);
    req.setClusterToken(token);
    req.setProtocolVersion(version);
    return FailureOf(req.send());
  }

  capnp::Request<wire::Node::DeliverParams, wire::Node::DeliverResults> Deliver(
      wire::OpKind kind, size_t msg_bytes = 64) {
    auto req = cap.deliverRequest();
    auto op = req.initOp();
    op.setKind(kind);
    op.setDcid(0);
    op.setSrcEp(100);
    op.setDstEp(10);
    auto m = op.initMessage(msg_bytes);
    for (size_t i = 0; i < msg_bytes; ++i) m[i] = static_cast<kj::byte>(i);
    return req;
  }

  // vcopyRemote into the callee's party (or out of it: party_is_src) of
  // `bytes`, with `data_bytes` of inline data (byte i is i * 7).
  capnp::Request<wire::Node::VcopyRemoteParams, wire::Node::VcopyRemoteResults> Vcopy(
      bool party_is_src, uint32_t bytes, uint32_t data_bytes, uint64_t push_id = 0) {
    auto req = cap.vcopyRemoteRequest();
    req.setPushId(push_id);
    auto op = req.initOp();
    op.setKind(wire::OpKind::VCOPY);
    op.setDcid(0);
    op.setSrcEp(100);
    op.setDstEp(10);
    op.setVcopyPartyIsSrc(party_is_src);
    op.setVcopyAddr(0x10000);
    op.setVcopyBytes(bytes);
    req.setPeer(MakeChunkPeer(PartyRef{}, bytes, party_is_src).server);
    if (data_bytes > 0) {
      auto d = req.initData(data_bytes);
      for (uint32_t i = 0; i < data_bytes; ++i) d[i] = static_cast<kj::byte>(i * 7);
    }
    return req;
  }

  void Turn() {
    for (int i = 0; i < 20; ++i) io.waitScope.poll();
  }

  std::unique_ptr<Rig> rig = std::make_unique<Rig>();
  FakeHost& host = rig->host;
  kj::AsyncIoContext& io = rig->io;
  wire::Node::Client& cap = rig->cap;
};

TEST_F(NodeServerTest, HelloRefusesWithAReason) {
  EXPECT_NE(Hello(2, "bad").find("wrong cluster token"), std::string::npos);
  EXPECT_NE(Hello(2, "tok", wire::PROTOCOL_VERSION + 1).find("protocol version"), std::string::npos);
  EXPECT_NE(Hello(1, "tok").find("node id clash"), std::string::npos);
  EXPECT_NE(Hello(64, "tok").find("out of range"), std::string::npos);
  EXPECT_NE(Hello(-1, "tok").find("out of range"), std::string::npos);
  // Refusals do not count as a hello.
  EXPECT_NE(FailureOf(cap.heartbeatRequest().send()).find("before hello"), std::string::npos);
  // Warned once per (host, reason).
  EXPECT_EQ(Hello(2, "bad2").find("wrong cluster token") != std::string::npos, true);
  EXPECT_EQ(host.warned.count("10.0.0.9 wrong cluster token"), 1u);
}

TEST_F(NodeServerTest, HelloAnswersWhoWeAre) {
  auto req = cap.helloRequest();
  req.setNodeId(2);
  req.setClusterToken("tok");
  req.setProtocolVersion(wire::PROTOCOL_VERSION);
  auto r = req.send().wait(io.waitScope);
  EXPECT_EQ(r.getNodeId(), 1);
  EXPECT_EQ(r.getProtocolVersion(), wire::PROTOCOL_VERSION);
  // A second hello as another node on the same connection is refused.
  EXPECT_NE(Hello(3, "tok").find("another node"), std::string::npos);
}

TEST_F(NodeServerTest, CallsBeforeHelloAreRefused) {
  EXPECT_NE(FailureOf(cap.heartbeatRequest().send()).find("before hello"), std::string::npos);
  EXPECT_NE(FailureOf(Deliver(wire::OpKind::SEND).send()).find("before hello"), std::string::npos);
  auto l = cap.lookupRequest();
  EXPECT_NE(FailureOf(l.send()).find("before hello"), std::string::npos);
  EXPECT_TRUE(host.ops.empty());
}

TEST_F(NodeServerTest, DeliverWaitsForTheEngineAndCarriesTheReply) {
  ASSERT_EQ(Hello(2, "tok"), "");
  auto call = Deliver(wire::OpKind::SENDREC).send();
  Turn();
  ASSERT_EQ(host.ops.size(), 1u);
  EXPECT_EQ(host.ops[0].node, 2);  // from the hello, not from the op
  EXPECT_EQ(host.ops[0].kind, RemoteKind::kSendrec);
  EXPECT_EQ(host.ops[0].src_ep, 100);
  EXPECT_EQ(reinterpret_cast<const uint8_t*>(&host.ops[0].msg)[63], 63);
  EXPECT_FALSE(call.poll(io.waitScope));  // not acknowledged before the engine says so

  Answer a;
  vdvk_msg reply;
  std::memset(&reply, 0x5c, sizeof(reply));
  a.reply = reply;
  host.pending[0]->fulfill(kj::mv(a));
  auto r = call.wait(io.waitScope);
  EXPECT_EQ(r.getResult(), 0);
  ASSERT_EQ(r.getReply().size(), 64u);
  EXPECT_EQ(r.getReply()[10], 0x5c);
}

TEST_F(NodeServerTest, DeliverPassesEngineErrors) {
  ASSERT_EQ(Hello(2, "tok"), "");
  auto call = Deliver(wire::OpKind::SEND).send();
  Turn();
  ASSERT_EQ(host.pending.size(), 1u);
  Answer a;
  a.result = EDVSDSTDIED;
  host.pending[0]->fulfill(kj::mv(a));
  auto r = call.wait(io.waitScope);
  EXPECT_EQ(r.getResult(), EDVSDSTDIED);
  EXPECT_FALSE(r.hasReply());
}

TEST_F(NodeServerTest, MalformedOpsNeverReachTheEngine) {
  ASSERT_EQ(Hello(2, "tok"), "");
  EXPECT_NE(FailureOf(Deliver(wire::OpKind::SEND, 63).send()).find("64 bytes"), std::string::npos);
  EXPECT_NE(FailureOf(Deliver(wire::OpKind::SEND, 4096).send()).find("64 bytes"), std::string::npos);
  auto bad_dc = Deliver(wire::OpKind::SEND);
  bad_dc.getOp().setDcid(1 << 20);
  EXPECT_NE(FailureOf(bad_dc.send()).find("dcid"), std::string::npos);
  auto no_op = cap.deliverRequest();
  EXPECT_NE(FailureOf(no_op.send()).find("without an op"), std::string::npos);
  EXPECT_TRUE(host.ops.empty());
  // The connection survives refused calls.
  EXPECT_EQ(FailureOf(cap.heartbeatRequest().send()), "");
}

TEST_F(NodeServerTest, DroppedCallWithdrawsTheOp) {
  ASSERT_EQ(Hello(2, "tok"), "");
  {
    auto call = Deliver(wire::OpKind::SEND).send();
    Turn();
    ASSERT_EQ(host.ops.size(), 1u);
    EXPECT_EQ(host.ended, 0);
  }  // the caller gives up
  Turn();
  EXPECT_EQ(host.ended, 1);
}

TEST_F(NodeServerTest, LookupAsksTheHost) {
  ASSERT_EQ(Hello(2, "tok"), "");
  auto l = cap.lookupRequest();
  l.setDcid(3);
  l.setEp(7);
  EXPECT_EQ(l.send().wait(io.waitScope).getNodeId(), 3007);
  auto bad = cap.lookupRequest();
  bad.setDcid(-1);
  EXPECT_NE(FailureOf(bad.send()).find("dcid"), std::string::npos);
}

TEST_F(NodeServerTest, GarbageOnTheWireOnlyEndsThatConnection) {
  // A second connection whose "client" writes random bytes.
  auto raw = io.provider->newTwoWayPipe();
  capnp::TwoPartyVatNetwork net(*raw.ends[0], capnp::rpc::twoparty::Side::SERVER,
                                LinkReaderOptions());
  auto rpc = capnp::makeRpcServer(net, MakeNodeServer(host, "10.0.0.66:1"));
  kj::byte junk[512];
  for (size_t i = 0; i < sizeof(junk); ++i) junk[i] = static_cast<kj::byte>(i * 37 + 11);
  // A segment table claiming a huge first segment, then noise.
  junk[0] = 0;
  junk[4] = 0xff, junk[5] = 0xff, junk[6] = 0xff, junk[7] = 0x0f;
  raw.ends[1]->write(junk, sizeof(junk)).wait(io.waitScope);
  net.onDisconnect().wait(io.waitScope);
  // The good connection still works.
  EXPECT_EQ(Hello(2, "tok"), "");
  EXPECT_TRUE(host.ops.empty());
}

TEST_F(NodeServerTest, DcViewsReachTheHostAfterHelloOnly) {
  auto early = cap.dcViewsRequest();
  early.initViews(1)[0].setDcid(0);
  EXPECT_NE(FailureOf(early.send()).find("before hello"), std::string::npos);
  EXPECT_EQ(host.views_from, -1);

  ASSERT_EQ(Hello(2, "tok"), "");
  auto req = cap.dcViewsRequest();
  auto list = req.initViews(2);
  list[0].setDcid(0);
  list[0].setRunning(true);
  list[0].setNodes(0x7);
  list[1].setDcid(5);
  EXPECT_EQ(FailureOf(req.send()), "");
  Turn();
  EXPECT_EQ(host.views_from, 2);  // the node that said hello, not a claimed one
  ASSERT_EQ(host.views.size(), 2u);
  EXPECT_EQ(host.views[0].dcid, 0);
  EXPECT_TRUE(host.views[0].running);
  EXPECT_EQ(host.views[0].nodes, 0x7u);
  EXPECT_EQ(host.views[1].dcid, 5);
  EXPECT_FALSE(host.views[1].running);

  host.views.clear();
  auto bad = cap.dcViewsRequest();
  bad.initViews(1)[0].setDcid(NR_DCS);
  EXPECT_NE(FailureOf(bad.send()).find("dcid"), std::string::npos);
  auto many = cap.dcViewsRequest();
  many.initViews(NR_DCS + 1);
  EXPECT_NE(FailureOf(many.send()).find("more DC views"), std::string::npos);
  Turn();
  EXPECT_TRUE(host.views.empty());
}

TEST_F(NodeServerTest, VcopyDataReachesTheHostWholeAndLastsUntilTheAnswer) {
  ASSERT_EQ(Hello(2, "tok"), "");
  auto call = Vcopy(false, 4096, 4096).send();
  auto plain = Vcopy(false, 4096, 0).send();  // no data: the callee reads through the peer
  Turn();
  ASSERT_EQ(host.vcopy_data.size(), 2u);
  EXPECT_EQ(host.ops[0].kind, RemoteKind::kVcopy);
  EXPECT_EQ(host.vcopy_data[1].size(), 0u);
  // Still the caller's bytes after other traffic: the params were kept.
  EXPECT_EQ(FailureOf(cap.heartbeatRequest().send()), "");
  ASSERT_EQ(host.vcopy_data[0].size(), 4096u);
  bool same = true;
  for (uint32_t i = 0; i < 4096; ++i) same = same && host.vcopy_data[0][i] == static_cast<kj::byte>(i * 7);
  EXPECT_TRUE(same);
  host.pending[0]->fulfill(Answer{});
  host.pending[1]->fulfill(Answer{});
  EXPECT_EQ(call.wait(io.waitScope).getResult(), 0);
  EXPECT_EQ(plain.wait(io.waitScope).getResult(), 0);
}

TEST_F(NodeServerTest, VcopyDataThatIsNotTheWholeCopyIntoTheCalleeIsRefused) {
  ASSERT_EQ(Hello(2, "tok"), "");
  EXPECT_NE(FailureOf(Vcopy(true, 4096, 4096).send()).find("copy into the caller"), std::string::npos);
  EXPECT_NE(FailureOf(Vcopy(false, 4096, 4095).send()).find("whole copy"), std::string::npos);
  EXPECT_NE(FailureOf(Vcopy(false, 4096, 4097).send()).find("whole copy"), std::string::npos);
  const uint32_t over = kVcopyInlineMax + 8;
  EXPECT_NE(FailureOf(Vcopy(false, over, over).send()).find("at most one chunk"), std::string::npos);
  Turn();
  EXPECT_TRUE(host.ops.empty());
  EXPECT_TRUE(host.vcopy_data.empty());
}

TEST_F(NodeServerTest, PushedVcopyChunksReachTheHostForTheirCopy) {
  EXPECT_NE(FailureOf(Vcopy(false, 600000, 0, 7).send()).find("before hello"), std::string::npos);
  ASSERT_EQ(Hello(2, "tok"), "");
  auto call = Vcopy(false, 600000, 0, 7).send();
  Turn();
  ASSERT_EQ(host.push_ids.size(), 1u);
  EXPECT_EQ(host.push_ids[0], 7u);
  // The caller side: PushChunks reads its party and streams it in chunks.
  std::vector<kj::byte> src(600000);
  for (size_t i = 0; i < src.size(); ++i) src[i] = static_cast<kj::byte>(i * 13 + 5);
  const PartyRef party{ProcKey{0, getpid()}, reinterpret_cast<uintptr_t>(src.data()), nullptr, VcopyPartyKey{}};
  PushChunks(cap, 7, party, static_cast<uint32_t>(src.size())).wait(io.waitScope);
  // Streaming calls resolve as the window allows; a later call on the same
  // capability is answered after they ran.
  EXPECT_EQ(FailureOf(cap.heartbeatRequest().send()), "");
  std::vector<kj::byte> got(src.size());
  size_t total = 0;
  for (const auto& c : host.chunks) {
    EXPECT_EQ(c.node, 2);  // from the hello
    EXPECT_EQ(c.push_id, 7u);
    EXPECT_EQ(c.error, 0);
    ASSERT_LE(c.off + c.data.size(), got.size());
    std::copy(c.data.begin(), c.data.end(), got.begin() + static_cast<long>(c.off));
    total += c.data.size();
  }
  EXPECT_EQ(host.chunks.size(), 3u);  // 256 KiB chunks
  EXPECT_EQ(total, src.size());
  EXPECT_EQ(got, src);
  // A party we cannot read: one chunk carrying the error, and the stream ends.
  host.chunks.clear();
  const PartyRef bad{ProcKey{0, getpid()}, 0x10, nullptr, VcopyPartyKey{}};
  PushChunks(cap, 7, bad, static_cast<uint32_t>(src.size())).wait(io.waitScope);
  EXPECT_EQ(FailureOf(cap.heartbeatRequest().send()), "");
  ASSERT_EQ(host.chunks.size(), 1u);
  EXPECT_EQ(host.chunks[0].error, EDVSFAULT);
  EXPECT_TRUE(host.chunks[0].data.empty());
  host.pending[0]->fulfill(Answer{});
  EXPECT_EQ(call.wait(io.waitScope).getResult(), 0);
}

TEST_F(NodeServerTest, VcopyChunkBeforeHelloIsRefused) {
  auto early = cap.vcopyChunkRequest();
  early.setPushId(7);
  early.initData(16);
  // A streaming call's send() does not carry its failure; the next call on
  // the capability does (and so does every later one: this test's own).
  EXPECT_NE(FailureOf(early.send().then([&] { return cap.heartbeatRequest().send(); })).find("before hello"),
            std::string::npos);
  EXPECT_TRUE(host.chunks.empty());
}

TEST_F(NodeServerTest, PushIdOnlyForACopyIntoTheCalleeWithoutData) {
  ASSERT_EQ(Hello(2, "tok"), "");
  EXPECT_NE(FailureOf(Vcopy(true, 600000, 0, 7).send()).find("into the caller"), std::string::npos);
  EXPECT_NE(FailureOf(Vcopy(false, 4096, 4096, 7).send()).find("data and pushed chunks"), std::string::npos);
  Turn();
  EXPECT_TRUE(host.ops.empty());
}

}  // namespace
}  // namespace vdvk::nodes
