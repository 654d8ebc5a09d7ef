// op_codec_test.cc - RemoteOp round trips through node.capnp, and hostile
// field values are refused (an exception, never a crash or a wrong op).
#include "host-backend/nodes/op_codec.h"

#include <capnp/message.h>
#include <gtest/gtest.h>
#include <kj/exception.h>

#include <cstring>

#include "dvk/dvk.h"

namespace vdvk::nodes {
namespace {

RemoteOp Sample(RemoteKind k) {
  RemoteOp op;
  op.kind = k;
  op.dcid = 3;
  op.src_ep = 100;
  op.dst_ep = -2;
  op.timeout_ms = 250;
  op.notify_src = SELF;
  op.notify_value = 77;
  for (size_t i = 0; i < sizeof(op.msg); ++i) reinterpret_cast<uint8_t*>(&op.msg)[i] = uint8_t(i * 7);
  return op;
}

TEST(OpCodec, RoundTripsEveryKind) {
  for (RemoteKind k : {RemoteKind::kSend, RemoteKind::kSendrec, RemoteKind::kReply, RemoteKind::kNotify}) {
    capnp::MallocMessageBuilder mb;
    const RemoteOp in = Sample(k);
    EncodeOp(in, mb.initRoot<wire::Op>());
    const RemoteOp out = DecodeOp(mb.getRoot<wire::Op>().asReader(), 5);
    EXPECT_EQ(out.node, 5);
    EXPECT_EQ(out.kind, k);
    EXPECT_EQ(out.dcid, 3);
    EXPECT_EQ(out.src_ep, 100);
    EXPECT_EQ(out.dst_ep, -2);
    EXPECT_EQ(out.timeout_ms, 250);
    if (k == RemoteKind::kNotify) {
      EXPECT_EQ(out.notify_src, SELF);
      EXPECT_EQ(out.notify_value, 77);
    } else {
      EXPECT_EQ(std::memcmp(&out.msg, &in.msg, sizeof(in.msg)), 0);
    }
  }
}

TEST(OpCodec, RoundTripsVcopyFields) {
  capnp::MallocMessageBuilder mb;
  RemoteOp in = Sample(RemoteKind::kVcopy);
  in.vcopy_party_is_src = true;
  in.vcopy_addr = 0x7fff12345678u;
  in.vcopy_bytes = 1 << 20;
  EncodeOp(in, mb.initRoot<wire::Op>());
  EXPECT_FALSE(mb.getRoot<wire::Op>().hasMessage());  // a vcopy carries no message
  const RemoteOp out = DecodeOp(mb.getRoot<wire::Op>().asReader(), 5);
  EXPECT_EQ(out.kind, RemoteKind::kVcopy);
  EXPECT_TRUE(out.vcopy_party_is_src);
  EXPECT_EQ(out.vcopy_addr, 0x7fff12345678u);
  EXPECT_EQ(out.vcopy_bytes, 1u << 20);
  EXPECT_EQ(out.dst_ep, -2);
}

// Builds a valid send, lets `spoil` break one field, expects a refusal.
template <class F>
void ExpectRefused(F spoil) {
  capnp::MallocMessageBuilder mb;
  auto b = mb.initRoot<wire::Op>();
  EncodeOp(Sample(RemoteKind::kSend), b);
  spoil(b);
  EXPECT_THROW(DecodeOp(b.asReader(), 1), kj::Exception);
}

TEST(OpCodec, RefusesHostileFields) {
  ExpectRefused([](wire::Op::Builder b) { b.setDcid(-1); });
  ExpectRefused([](wire::Op::Builder b) { b.setDcid(NR_DCS); });
  ExpectRefused([](wire::Op::Builder b) { b.setSrcEp(ANY); });
  ExpectRefused([](wire::Op::Builder b) { b.setSrcEp(-NR_TASKS - 1); });
  ExpectRefused([](wire::Op::Builder b) { b.setDstEp(SELF); });
  ExpectRefused([](wire::Op::Builder b) { b.setDstEp(kMaxWireEp); });
  ExpectRefused([](wire::Op::Builder b) { b.setTimeoutMs(-2); });
  ExpectRefused([](wire::Op::Builder b) { b.initMessage(63); });
  ExpectRefused([](wire::Op::Builder b) { b.initMessage(65); });
  ExpectRefused([](wire::Op::Builder b) { b.disownMessage(); });
  ExpectRefused([](wire::Op::Builder b) { b.setKind(static_cast<wire::OpKind>(9)); });
  ExpectRefused([](wire::Op::Builder b) {
    b.setKind(wire::OpKind::NOTIFY);
    b.disownMessage();
    b.setNotifySrc(ANY);
  });
}

TEST(OpCodec, NotifyWithoutMessageIsFine) {
  capnp::MallocMessageBuilder mb;
  auto b = mb.initRoot<wire::Op>();
  EncodeOp(Sample(RemoteKind::kNotify), b);
  EXPECT_FALSE(b.hasMessage());
  EXPECT_NO_THROW(DecodeOp(b.asReader(), 1));
  b.initMessage(64);  // but a notify carrying a message is malformed
  EXPECT_THROW(DecodeOp(b.asReader(), 1), kj::Exception);
}

TEST(OpCodec, ReplyMustBeExactlyOneMessage) {
  vdvk_msg m;
  kj::byte buf[65] = {};
  EXPECT_TRUE(DecodeMessage(kj::arrayPtr(buf, 64), &m));
  EXPECT_FALSE(DecodeMessage(kj::arrayPtr(buf, 65), &m));
  EXPECT_FALSE(DecodeMessage(kj::arrayPtr(buf, 0), &m));
}

}  // namespace
}  // namespace vdvk::nodes
