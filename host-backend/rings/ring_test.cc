// ring_test - ring layout and the validator of hostile SQEs.
#include <gtest/gtest.h>

#include <cstring>
#include <random>

#include "dvk/dvk.h"
#include "host-backend/rings/ring_layout.h"
#include "host-backend/rings/sqe_check.h"
#include "host-backend/rings/sqe_decode.h"

namespace vdvk::rings {
namespace {

RingGeometry Geo() { return *ComputeGeometry(64, 64, 4, 4096); }

vdvk_sqe GoodSqe(uint16_t op) {
  vdvk_sqe s{};
  s.opcode = op;
  s.timeout_ms = -1;
  return s;
}

TEST(RingLayout, AbiOffsetsAndSizes) {
  EXPECT_EQ(sizeof(vdvk_sqe), 128u);
  EXPECT_EQ(sizeof(vdvk_cqe), 128u);
  EXPECT_EQ(sizeof(vdvk_ring_hdr), 4096u);
  EXPECT_EQ(offsetof(vdvk_ring_hdr, sq_head), 128u);
  EXPECT_EQ(offsetof(vdvk_ring_hdr, sq_tail), 192u);
  EXPECT_EQ(offsetof(vdvk_ring_hdr, cq_head), 256u);
  EXPECT_EQ(offsetof(vdvk_ring_hdr, cq_tail), 320u);
  EXPECT_EQ(offsetof(vdvk_ring_hdr, backend_flags), 384u);
  EXPECT_EQ(offsetof(vdvk_ring_hdr, client_flags), 448u);
  EXPECT_EQ(offsetof(vdvk_ring_hdr, state), 512u);
  EXPECT_EQ(offsetof(vdvk_sqe, u), 64u);
  EXPECT_EQ(offsetof(vdvk_sqe, tag), 16u);
  EXPECT_EQ(offsetof(vdvk_cqe, msg), 64u);
  EXPECT_EQ(sizeof(vdvk_hello), 16u);
  EXPECT_EQ(sizeof(vdvk_welcome), 24u);
}

TEST(RingLayout, GeometryIsPageAlignedAndDisjoint) {
  for (uint32_t sq : {1u, 2u, 64u, 4096u}) {
    for (uint32_t cq : {1u, 32u, 4096u}) {
      auto g = ComputeGeometry(sq, cq, 4, 4096);
      ASSERT_TRUE(g);
      EXPECT_EQ(g->sq_off, 4096u);
      EXPECT_EQ(g->cq_off % 4096, 0u);
      EXPECT_EQ(g->buf_off % 4096, 0u);
      EXPECT_GE(g->cq_off, g->sq_off + sq * sizeof(vdvk_sqe));
      EXPECT_GE(g->buf_off, g->cq_off + cq * sizeof(vdvk_cqe));
      EXPECT_EQ(g->file_size, g->buf_off + 4 * 4096);
    }
  }
  auto g = ComputeGeometry(64, 64, 4, 4096);
  EXPECT_EQ(g->cq_off, 4096u + 8192u);
  EXPECT_EQ(g->buf_off, 4096u + 8192u + 8192u);
}

TEST(RingLayout, GeometryRejectsOutOfAbi) {
  EXPECT_FALSE(ComputeGeometry(0, 64, 4, 4096));
  EXPECT_FALSE(ComputeGeometry(3, 64, 4, 4096));
  EXPECT_FALSE(ComputeGeometry(8192, 64, 4, 4096));
  EXPECT_FALSE(ComputeGeometry(64, 100, 4, 4096));
  EXPECT_FALSE(ComputeGeometry(64, 64, VDVK_MAX_BUFS + 1, 4096));
  EXPECT_FALSE(ComputeGeometry(64, 64, 4, 100));
  EXPECT_FALSE(ComputeGeometry(64, 64, 4, 0));
  EXPECT_FALSE(ComputeGeometry(64, 64, 4, VDVK_MAX_BUF_SIZE * 2));
}

TEST(RingLayout, NormalizeEntries) {
  EXPECT_EQ(NormalizeEntries(0, 64), 64u);
  EXPECT_EQ(NormalizeEntries(16, 64), 16u);
  EXPECT_EQ(NormalizeEntries(4096, 64), 4096u);
  EXPECT_FALSE(NormalizeEntries(4097, 64));
  EXPECT_FALSE(NormalizeEntries(8192, 64));
  EXPECT_FALSE(NormalizeEntries(48, 64));
  EXPECT_FALSE(NormalizeEntries(0xffffffffu, 64));
}

TEST(RingLayout, InitHeader) {
  auto g = Geo();
  vdvk_ring_hdr h;
  std::memset(&h, 0xab, sizeof(h));
  InitRingHeader(&h, g, 7);
  EXPECT_EQ(h.magic, VDVK_RING_MAGIC);
  EXPECT_EQ(h.version, VDVK_RING_VERSION);
  EXPECT_EQ(h.hdr_size, VDVK_RING_HDR_SIZE);
  EXPECT_EQ(h.features & VDVK_F_VCOPY_GRANT, VDVK_F_VCOPY_GRANT);
  EXPECT_EQ(h.sq_entries, 64u);
  EXPECT_EQ(h.sqe_size, 128u);
  EXPECT_EQ(h.cqe_size, 128u);
  EXPECT_EQ(h.nr_bufs, 4u);
  EXPECT_EQ(h.buf_size, 4096u);
  EXPECT_EQ(h.node_id, 7);
  EXPECT_EQ(h.file_size, g.file_size);
  EXPECT_EQ(h.sq_head, 0u);
  EXPECT_EQ(h.sq_tail, 0u);
  EXPECT_EQ(h.state, VDVK_STATE_LIVE);
  EXPECT_EQ(h.reserved_tail[0], 0);
}

TEST(SqIndices, PendingAndWrap) {
  EXPECT_EQ(PendingSqEntries(0, 0, 64), 0);
  EXPECT_EQ(PendingSqEntries(64, 0, 64), 64);
  EXPECT_EQ(PendingSqEntries(65, 0, 64), -1);
  EXPECT_EQ(PendingSqEntries(0xffffffffu, 0, 64), -1);  // tail behind head
  EXPECT_EQ(PendingSqEntries(3, 0xfffffffeu, 64), 5);    // across wrap-around
  EXPECT_EQ(PendingSqEntries(1000000, 5, 64), -1);
}

TEST(CqIndices, HeadValidity) {
  EXPECT_TRUE(CqHeadValid(0, 0, 64));
  EXPECT_TRUE(CqHeadValid(0, 64, 64));
  EXPECT_FALSE(CqHeadValid(0, 65, 64));
  EXPECT_FALSE(CqHeadValid(11, 10, 64));  // head passed our tail
  EXPECT_TRUE(CqHeadValid(0xfffffff0u, 0x10u, 64));
  EXPECT_EQ(CqSpace(0, 0, 64), 64u);
  EXPECT_EQ(CqSpace(0, 64, 64), 0u);
  EXPECT_EQ(CqSpace(0xfffffff0u, 0x10u, 64), 32u);
}

TEST(SqeCheck, AcceptsEveryKnownOpcode) {
  auto g = Geo();
  for (uint32_t op = 0; op < 70000; ++op) {
    vdvk_sqe s = GoodSqe(static_cast<uint16_t>(op));
    if (op > 0xffff) break;
    uint32_t need = RequiredBufLen(op);
    if (need) s.buf_len = need;
    SqeVerdict v = CheckSqe(s, g);
    bool known = (op >= 1 && op <= 34) || (op >= 64 && op <= 66);
    if (known) {
      EXPECT_TRUE(v.ok()) << op;
    } else {
      EXPECT_EQ(v.dead_reason, VDVK_DEAD_BAD_OPCODE) << op;
    }
  }
}

TEST(SqeCheck, BadOpcode) {
  auto g = Geo();
  for (uint16_t op : {0, 35, 63, 67, 200, 0xffff})
    EXPECT_EQ(CheckSqe(GoodSqe(op), g).dead_reason, VDVK_DEAD_BAD_OPCODE) << op;
}

TEST(SqeCheck, ReservedFields) {
  auto g = Geo();
  vdvk_sqe s = GoodSqe(VDVK_OP_SEND);
  s.flags = 1;
  EXPECT_EQ(CheckSqe(s, g).dead_reason, VDVK_DEAD_BAD_FIELD);
  // The guest-physical flag is legal on VCOPY only.
  s = GoodSqe(VDVK_OP_VCOPY);
  s.flags = VDVK_SQE_F_GUEST_PHYS;
  EXPECT_EQ(CheckSqe(s, g).dead_reason, VDVK_DEAD_NONE);
  s.flags = 2;
  EXPECT_EQ(CheckSqe(s, g).dead_reason, VDVK_DEAD_BAD_FIELD);
  s = GoodSqe(VDVK_OP_SEND);
  s.reserved0 = 0x8000;
  EXPECT_EQ(CheckSqe(s, g).dead_reason, VDVK_DEAD_BAD_FIELD);
}

TEST(SqeCheck, Buffers) {
  auto g = Geo();
  vdvk_sqe s = GoodSqe(VDVK_OP_GETDCINFO);
  s.buf_len = sizeof(vdvk_dc_info);
  s.buf_index = 3;
  EXPECT_TRUE(CheckSqe(s, g).ok());
  s.buf_index = 4;  // == nr_bufs
  EXPECT_EQ(CheckSqe(s, g).dead_reason, VDVK_DEAD_BAD_FIELD);
  s.buf_index = 0;
  s.buf_len = 4097;  // > buf_size
  EXPECT_EQ(CheckSqe(s, g).dead_reason, VDVK_DEAD_BAD_FIELD);
  s.buf_len = 4096;
  EXPECT_TRUE(CheckSqe(s, g).ok());
  // buf_index is irrelevant without a length.
  vdvk_sqe t = GoodSqe(VDVK_OP_SEND);
  t.buf_index = 999;
  EXPECT_TRUE(CheckSqe(t, g).ok());
}

TEST(SqeCheck, SemanticErrorsDoNotDisconnect) {
  auto g = Geo();
  for (uint16_t op : {VDVK_OP_DCINIT, VDVK_OP_GETDCINFO, VDVK_OP_GETPROCINFO,
                      VDVK_OP_GETNODEINFO, VDVK_OP_GETDVSINFO, VDVK_OP_STATS}) {
    vdvk_sqe s = GoodSqe(op);
    s.buf_len = RequiredBufLen(op) - 1;
    SqeVerdict v = CheckSqe(s, g);
    EXPECT_EQ(v.dead_reason, VDVK_DEAD_NONE) << op;
    EXPECT_EQ(v.error, EDVSINVAL) << op;
  }
  vdvk_sqe s = GoodSqe(VDVK_OP_RECEIVE);
  s.timeout_ms = -2;
  EXPECT_EQ(CheckSqe(s, g).error, EDVSINVAL);
  s.timeout_ms = INT64_MIN;
  EXPECT_EQ(CheckSqe(s, g).error, EDVSINVAL);
  s.timeout_ms = 0;
  EXPECT_TRUE(CheckSqe(s, g).ok());
}

TEST(SqeDecode, IgnoresClaimedIdentityAndSource) {
  vdvk_sqe s = GoodSqe(VDVK_OP_SEND);
  s.caller_pid = 1;
  s.caller_tid = 1;
  s.arg[0] = 42;
  s.u.msg.m_source = 999;
  s.u.msg.m_type = 5;
  Call c = DecodeSqe(s, 77, ProcKey{0, 1234}, {});
  EXPECT_EQ(c.id, 77u);
  EXPECT_EQ(c.caller.pid, 1234);
  EXPECT_EQ(c.caller.domain, 0u);
  EXPECT_EQ(c.arg[0], 42);
  EXPECT_EQ(c.msg.m_type, 5);
  EXPECT_EQ(c.msg.m_source, 0);
  EXPECT_EQ(c.timeout_ms, -1);
}

TEST(SqeDecode, VcopyAddresses) {
  vdvk_sqe s = GoodSqe(VDVK_OP_VCOPY);
  s.arg[2] = 100;
  s.u.arg64[0] = 0x1000;
  s.u.arg64[1] = 0x2000;
  Call c = DecodeSqe(s, 1, ProcKey{0, 5}, {});
  EXPECT_EQ(c.addr[0], 0x1000u);
  EXPECT_EQ(c.addr[1], 0x2000u);
  EXPECT_EQ(c.arg[2], 100);
}

// Seeded fuzz: random bytes for SQEs and indices. The validator must never
// crash, must reject exactly what the rules say, and anything it accepts must
// be safe to use (buffer in range).
TEST(Fuzz, RandomSqesAndIndices) {
  std::mt19937_64 rng(0x5eed1234);
  auto g = Geo();
  size_t accepted = 0, disconnected = 0, failed = 0;
  for (int iter = 0; iter < 200000; ++iter) {
    vdvk_sqe s;
    auto* bytes = reinterpret_cast<uint8_t*>(&s);
    for (size_t i = 0; i < sizeof(s); ++i) bytes[i] = static_cast<uint8_t>(rng());
    // Bias half the inputs towards plausible values so deep paths run too.
    if (iter % 2) {
      s.opcode = static_cast<uint16_t>(rng() % 70);
      s.flags = (rng() % 8 == 0) ? 1 : 0;
      s.reserved0 = (rng() % 8 == 0) ? 1 : 0;
      s.buf_index = static_cast<uint16_t>(rng() % 6);
      s.buf_len = static_cast<uint32_t>(rng() % 5000);
      s.timeout_ms = static_cast<int64_t>(rng() % 5) - 3;
    }
    SqeVerdict v = CheckSqe(s, g);
    bool known = OpcodeKnown(s.opcode);
    bool flags_ok = s.flags == 0 || (s.flags == VDVK_SQE_F_GUEST_PHYS && s.opcode == VDVK_OP_VCOPY);
    bool fields_ok = flags_ok && s.reserved0 == 0;
    bool buf_ok = s.buf_len == 0 || (s.buf_index < g.nr_bufs && s.buf_len <= g.buf_size);
    if (!known) {
      ASSERT_EQ(v.dead_reason, VDVK_DEAD_BAD_OPCODE);
    } else if (!fields_ok || !buf_ok) {
      ASSERT_EQ(v.dead_reason, VDVK_DEAD_BAD_FIELD);
    } else {
      ASSERT_EQ(v.dead_reason, VDVK_DEAD_NONE);
      bool semantic_bad = s.buf_len < RequiredBufLen(s.opcode) || s.timeout_ms < -1;
      ASSERT_EQ(v.error != 0, semantic_bad);
    }
    if (v.ok()) {
      ++accepted;
      ASSERT_TRUE(s.buf_len == 0 || uint64_t{s.buf_index} * g.buf_size + s.buf_len <=
                                        uint64_t{g.nr_bufs} * g.buf_size);
      if (s.opcode <= VDVK_OP_DVS_LAST) (void)DecodeSqe(s, 1, ProcKey{0, 1}, {});
    } else if (v.dead_reason) {
      ++disconnected;
    } else {
      ++failed;
    }
    uint32_t tail = static_cast<uint32_t>(rng()), head = static_cast<uint32_t>(rng());
    if (iter % 3 == 0) tail = head + static_cast<uint32_t>(rng() % 130);
    int64_t n = PendingSqEntries(tail, head, g.sq_entries);
    ASSERT_EQ(n < 0, tail - head > g.sq_entries);
    if (n >= 0) {
      ASSERT_LE(n, int64_t{g.sq_entries});
    }
  }
  // The mix must exercise all three outcomes, or the fuzz proves little.
  EXPECT_GT(accepted, 1000u);
  EXPECT_GT(disconnected, 1000u);
  EXPECT_GT(failed, 100u);
}

}  // namespace
}  // namespace vdvk::rings
