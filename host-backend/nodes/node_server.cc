// node_server.cc - NodeImpl: thin handlers (validate, hand to the engine
// through LinkLoop, fill results). Everything a peer sends is checked with
// KJ_REQUIRE; a failed check becomes an exception for that peer's call.
#include "host-backend/nodes/node_server.h"

#include <kj/debug.h>
#include <spdlog/spdlog.h>

#include <cstring>

#include "dvk/dvk.h"
#include "host-backend/nodes/node_links.h"
#include "host-backend/nodes/op_codec.h"
#include "host-backend/nodes/vcopy_xfer.h"

namespace vdvk::nodes {
namespace {

class NodeImpl final : public wire::Node::Server {
 public:
  NodeImpl(NodeHost& host, std::string address) : loop_(host), address_(std::move(address)) {}

 protected:
  kj::Promise<void> hello(HelloContext ctx) override {
    auto p = ctx.getParams();
    const LinkConfig& cfg = loop_.config();
    const int32_t id = p.getNodeId();
    std::string reason;
    if (p.getProtocolVersion() != wire::PROTOCOL_VERSION) {
      reason = "protocol version " + std::to_string(p.getProtocolVersion()) + ", we speak " +
               std::to_string(wire::PROTOCOL_VERSION);
    } else if (p.getClusterToken() != kj::StringPtr(cfg.token.c_str())) {
      reason = "wrong cluster token";
    } else if (id < 0 || id >= cfg.nr_nodes) {
      reason = "node id " + std::to_string(id) + " out of range";
    } else if (id == cfg.node_id) {
      reason = "node id clash: it claims our own id " + std::to_string(id);
    } else if (node_ >= 0 && node_ != id) {
      reason = "second hello as another node";
    }
    if (!reason.empty()) {
      const std::string host = address_.substr(0, address_.rfind(':'));
      const auto level = loop_.FirstWarning(host + " " + reason) ? spdlog::level::warn
                                                                  : spdlog::level::debug;
      spdlog::log(level, "node links: refused link from {}: {}", address_, reason);
      KJ_FAIL_REQUIRE("hello refused", reason);
    }
    if (node_ < 0) spdlog::info("node links: node {} linked in from {}", id, address_);
    node_ = id;
    auto r = ctx.getResults();
    r.setNodeId(cfg.node_id);
    r.setProtocolVersion(wire::PROTOCOL_VERSION);
    r.setNodeName(cfg.node_name);
    return kj::READY_NOW;
  }

  kj::Promise<void> heartbeat(HeartbeatContext) override {
    KJ_REQUIRE(node_ >= 0, "heartbeat before hello");
    return kj::READY_NOW;
  }

  kj::Promise<void> deliver(DeliverContext ctx) override {
    KJ_REQUIRE(node_ >= 0, "deliver before hello");
    KJ_REQUIRE(ctx.getParams().hasOp(), "deliver without an op");
    const RemoteOp op = DecodeOp(ctx.getParams().getOp(), node_);
    KJ_REQUIRE(op.kind != RemoteKind::kVcopy, "vcopy travels through vcopyRemote");
    ctx.releaseParams();
    // A sender that gives up (cancel, death) drops the call: let that reach
    // SubmitOp's guard so the engine withdraws the message.
    ctx.allowCancellation();
    return loop_.SubmitOp(op).then([ctx](Answer a) mutable {
      auto r = ctx.getResults();
      r.setResult(a.result);
      if (a.reply) {
        r.setReply(kj::arrayPtr(reinterpret_cast<const kj::byte*>(&*a.reply), sizeof(vdvk_msg)));
      }
    });
  }

  kj::Promise<void> lookup(LookupContext ctx) override {
    KJ_REQUIRE(node_ >= 0, "lookup before hello");
    const int32_t dcid = ctx.getParams().getDcid();
    const int32_t ep = ctx.getParams().getEp();
    KJ_REQUIRE(dcid >= 0 && dcid < NR_DCS, "dcid out of range", dcid);
    KJ_REQUIRE(ep >= -NR_TASKS && ep < kMaxWireEp, "endpoint out of range", ep);
    return loop_.Lookup(dcid, ep).then([ctx](int32_t node) mutable {
      ctx.getResults().setNodeId(node);
    });
  }

  kj::Promise<void> dcViews(DcViewsContext ctx) override {
    KJ_REQUIRE(node_ >= 0, "dcViews before hello");
    auto in = ctx.getParams().getViews();
    KJ_REQUIRE(in.size() <= NR_DCS, "more DC views than DCs", in.size());
    std::vector<DcView> views;
    for (auto v : in) {
      KJ_REQUIRE(v.getDcid() >= 0 && v.getDcid() < NR_DCS, "dcid out of range", v.getDcid());
      views.push_back(DcView{v.getDcid(), v.getRunning(), v.getNodes()});
    }
    loop_.DcViews(node_, std::move(views));
    return kj::READY_NOW;
  }

  kj::Promise<void> vcopy(VcopyContext) override {
    KJ_REQUIRE(node_ >= 0, "vcopy before hello");
    KJ_UNIMPLEMENTED("superseded by vcopyRemote");
  }

  kj::Promise<void> vcopyRemote(VcopyRemoteContext ctx) override {
    KJ_REQUIRE(node_ >= 0, "vcopy before hello");
    auto p = ctx.getParams();
    KJ_REQUIRE(p.hasOp() && p.hasPeer(), "vcopy without an op or a peer");
    const RemoteOp op = DecodeOp(p.getOp(), node_);
    KJ_REQUIRE(op.kind == RemoteKind::kVcopy, "vcopyRemote carries a vcopy op");
    auto peer = p.getPeer();
    const uint64_t push_id = p.getPushId();
    KJ_REQUIRE(push_id == 0 || !op.vcopy_party_is_src, "vcopy pushed for a copy into the caller");
    kj::ArrayPtr<const kj::byte> data = nullptr;
    if (p.hasData() && p.getData().size() > 0) {
      data = p.getData();
      KJ_REQUIRE(!op.vcopy_party_is_src, "vcopy data sent for a copy into the caller");
      KJ_REQUIRE(push_id == 0, "vcopy with data and pushed chunks");
      KJ_REQUIRE(data.size() == op.vcopy_bytes && data.size() <= kVcopyInlineMax,
                 "vcopy data must be the whole copy, at most one chunk", data.size(), op.vcopy_bytes);
    } else {
      // Kept otherwise: `data` lives in the params until the call ends.
      ctx.releaseParams();
    }
    // A caller that gives up drops the call: the transfer stops, the engine
    // withdraws the grant (and its busy mark).
    ctx.allowCancellation();
    return loop_.SubmitVcopy(op, kj::mv(peer), data, push_id).then([ctx](Answer a) mutable {
      ctx.getResults().setResult(a.result);
    });
  }

  kj::Promise<void> vcopyChunk(VcopyChunkContext ctx) override {
    KJ_REQUIRE(node_ >= 0, "vcopy before hello");
    auto p = ctx.getParams();
    // Not cancellable: the call, and with it `data`, lasts until the chunk
    // is written or dropped.
    return loop_.PushChunk(node_, p.getPushId(), p.getOffset(), p.getData(), p.getError());
  }

 private:
  NodeHost& loop_;
  std::string address_;
  int32_t node_ = -1;  // the peer's node id once hello succeeded
};

}  // namespace

kj::Own<wire::Node::Server> MakeNodeServer(NodeHost& host, std::string address) {
  return kj::heap<NodeImpl>(host, std::move(address));
}

}  // namespace vdvk::nodes
