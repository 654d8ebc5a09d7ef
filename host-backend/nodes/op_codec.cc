#include "host-backend/nodes/op_codec.h"

#include <kj/debug.h>

#include <cstring>

#include "dvk/dvk.h"

namespace vdvk::nodes {

static_assert(sizeof(vdvk_msg) == wire::MESSAGE_BYTES, "node.capnp messageBytes matches vdvk_msg");

namespace {

wire::OpKind ToWire(RemoteKind k) {
  switch (k) {
    case RemoteKind::kSend: return wire::OpKind::SEND;
    case RemoteKind::kSendrec: return wire::OpKind::SENDREC;
    case RemoteKind::kReply: return wire::OpKind::REPLY;
    case RemoteKind::kNotify: return wire::OpKind::NOTIFY;
    case RemoteKind::kVcopy: return wire::OpKind::VCOPY;
  }
  KJ_FAIL_ASSERT("bad RemoteKind", static_cast<int>(k));
}

bool ValidEp(int32_t ep) { return ep >= -NR_TASKS && ep < kMaxWireEp; }

}  // namespace

void EncodeOp(const RemoteOp& op, wire::Op::Builder out) {
  out.setKind(ToWire(op.kind));
  out.setDcid(op.dcid);
  out.setSrcEp(op.src_ep);
  out.setDstEp(op.dst_ep);
  out.setTimeoutMs(op.timeout_ms);
  if (op.kind == RemoteKind::kNotify) {
    out.setNotifySrc(op.notify_src);
    out.setNotifyValue(op.notify_value);
  } else if (op.kind == RemoteKind::kVcopy) {
    out.setVcopyPartyIsSrc(op.vcopy_party_is_src);
    out.setVcopyAddr(op.vcopy_addr);
    out.setVcopyBytes(op.vcopy_bytes);
  } else {
    out.setMessage(kj::arrayPtr(reinterpret_cast<const kj::byte*>(&op.msg), sizeof(op.msg)));
  }
}

bool DecodeMessage(capnp::Data::Reader in, vdvk_msg* out) {
  if (in.size() != sizeof(vdvk_msg)) return false;
  std::memcpy(out, in.begin(), sizeof(*out));
  return true;
}

RemoteOp DecodeOp(wire::Op::Reader in, int32_t from_node) {
  RemoteOp op;
  op.node = from_node;
  const uint16_t kind = static_cast<uint16_t>(in.getKind());
  KJ_REQUIRE(kind <= static_cast<uint16_t>(wire::OpKind::VCOPY), "unknown op kind", kind);
  op.kind = static_cast<RemoteKind>(kind);
  op.dcid = in.getDcid();
  KJ_REQUIRE(op.dcid >= 0 && op.dcid < NR_DCS, "dcid out of range", op.dcid);
  op.src_ep = in.getSrcEp();
  op.dst_ep = in.getDstEp();
  KJ_REQUIRE(ValidEp(op.src_ep), "source endpoint out of range", op.src_ep);
  KJ_REQUIRE(ValidEp(op.dst_ep), "destination endpoint out of range", op.dst_ep);
  op.timeout_ms = in.getTimeoutMs();
  KJ_REQUIRE(op.timeout_ms >= -1, "negative timeout", op.timeout_ms);
  if (op.kind == RemoteKind::kNotify) {
    op.notify_src = in.getNotifySrc();
    KJ_REQUIRE(op.notify_src == SELF || op.notify_src == HARDWARE || ValidEp(op.notify_src),
               "notify source out of range", op.notify_src);
    op.notify_value = in.getNotifyValue();
    KJ_REQUIRE(!in.hasMessage() || in.getMessage().size() == 0, "notify carries no message");
  } else if (op.kind == RemoteKind::kVcopy) {
    // Length and addresses are the engine's and the kernel's to judge
    // (EDVSRANGE, EFAULT); only the shape is checked here.
    op.vcopy_party_is_src = in.getVcopyPartyIsSrc();
    op.vcopy_addr = in.getVcopyAddr();
    op.vcopy_bytes = in.getVcopyBytes();
  } else {
    KJ_REQUIRE(in.hasMessage() && DecodeMessage(in.getMessage(), &op.msg),
               "message must be exactly 64 bytes");
  }
  return op;
}

}  // namespace vdvk::nodes
