// engine_vcopy_test.cc - vcopy authorisation, grants, completion, errors.
#include "host-backend/engine/engine_test_util.h"

namespace vdvk::test {
namespace {

using VcopyTest = BoundTest;

TEST_F(VcopyTest, GrantThenDone) {
  const RequestId rb = Receive(kB, ANY);  // B sits still: its memory may be read
  const RequestId v = Vcopy(kA, kEpB, SELF, 4096, 0xb000, 0xa000);
  EXPECT_TRUE(Pending(v));
  ASSERT_EQ(sink.grants.size(), 1u);
  const VcopyGrant& g = sink.grants[0];
  EXPECT_EQ(g.id, v);
  EXPECT_EQ(g.caller, kA);
  EXPECT_EQ(g.src, kB);
  EXPECT_EQ(g.src_addr, 0xb000u);
  EXPECT_EQ(g.dst, kA);
  EXPECT_EQ(g.dst_addr, 0xa000u);
  EXPECT_EQ(g.bytes, 4096u);
  EXPECT_EQ(ProcInfo(kEpB).rts_flags, static_cast<uint64_t>(RECEIVING | ONCOPY));
  EXPECT_EQ(ProcInfo(kEpA).rts_flags, static_cast<uint64_t>(ONCOPY));
  eng->VcopyDone(v, 0, now);
  EXPECT_EQ(Result(v), 0);
  EXPECT_EQ(eng->counters().vcopies, 1u);
  EXPECT_EQ(eng->counters().vcopy_bytes, 4096u);
  EXPECT_EQ(ProcInfo(kEpB).lclcopy, 1u);
  EXPECT_EQ(ProcInfo(kEpA).lclcopy, 0u);
  EXPECT_EQ(ProcInfo(kEpB).rts_flags, static_cast<uint64_t>(RECEIVING));
  EXPECT_EQ(ProcInfo(kEpA).rts_flags, 0u);
  EXPECT_TRUE(Pending(rb));  // the copy does not end the party's receive
  eng->VcopyDone(v, 0, now);  // again: unknown id, ignored
  eng->VcopyDone(4242, 0, now);
  EXPECT_EQ(eng->counters().vcopies, 1u);
}

TEST_F(VcopyTest, CopyBetweenTwoOtherProcesses) {
  Receive(kB, ANY);
  Sendrec(kC, kEpD);  // C blocked sending: not a valid party yet
  const RequestId bad = Vcopy(kA, kEpB, kEpC, 10);
  EXPECT_EQ(Result(bad), EDVSPROCSTS);
  Receive(kD, ANY);  // D takes C's request: C now in the reply phase
  const RequestId v = Vcopy(kA, kEpB, kEpC, 10);
  ASSERT_TRUE(Pending(v));
  EXPECT_EQ(sink.grants.back().src, kB);
  EXPECT_EQ(sink.grants.back().dst, kC);
  eng->VcopyDone(v, EDVSFAULT, now);
  EXPECT_EQ(Result(v), EDVSFAULT);
  EXPECT_EQ(eng->counters().vcopies, 0u);
  EXPECT_EQ(ProcInfo(kEpB).lclcopy, 0u);
}

TEST_F(VcopyTest, PartyNotReceivingIsProcSts) {
  EXPECT_EQ(Result(Vcopy(kA, kEpB, SELF, 10)), EDVSPROCSTS);
  EXPECT_EQ(Result(Vcopy(kA, SELF, kEpB, 10)), EDVSPROCSTS);
  EXPECT_TRUE(sink.grants.empty());
}

TEST_F(VcopyTest, PartyOnCopyIsBusy) {
  Receive(kB, ANY);
  const RequestId v1 = Vcopy(kA, kEpB, SELF, 10);
  ASSERT_TRUE(Pending(v1));
  EXPECT_EQ(Result(Vcopy(kC, kEpB, SELF, 10)), EDVSBUSY);
  EXPECT_EQ(Result(Vcopy(kC, SELF, kEpA, 10)), EDVSPROCSTS);  // A is not receiving
  eng->Cancel(v1, now);  // a granted copy ends only through VcopyDone
  EXPECT_TRUE(Pending(v1));
  eng->VcopyDone(v1, 0, now);
  EXPECT_EQ(Result(v1), 0);
  const RequestId v2 = Vcopy(kC, kEpB, SELF, 10);
  EXPECT_TRUE(Pending(v2));
  eng->VcopyDone(v2, 0, now);
}

TEST_F(VcopyTest, ArgumentErrors) {
  Receive(kB, ANY);
  EXPECT_EQ(Result(Vcopy(kA, kEpB, SELF, -1)), EDVSRANGE);
  EXPECT_EQ(Result(Vcopy(kA, kEpB, SELF, (1 << 20) + 1)), EDVSRANGE);
  EXPECT_EQ(Result(Vcopy(kA, SELF, kEpA, 10)), EDVSINVAL);
  EXPECT_EQ(Result(Vcopy(kA, kEpB, kEpB, 10)), EDVSINVAL);
  EXPECT_EQ(Result(Vcopy(kA, 60, SELF, 10)), EDVSSRCDIED);
  EXPECT_EQ(Result(Vcopy(kA, SELF, 60, 10)), EDVSDSTDIED);
  EXPECT_EQ(Result(Vcopy(kA, ANY, SELF, 10)), EDVSBADDEST);
  EXPECT_EQ(Result(Vcopy(kA, SELF, 5000, 10)), EDVSRANGE);
  EXPECT_TRUE(sink.grants.empty());
  // 0 bytes and the full 1 MiB are both fine.
  EXPECT_EQ(Result(Vcopy(kA, kEpB, kEpA, 0)), 0);
  EXPECT_TRUE(sink.grants.empty());
  const RequestId v = Vcopy(kA, kEpB, kEpA, 1 << 20);
  EXPECT_TRUE(Pending(v));
  eng->VcopyDone(v, 0, now);
  EXPECT_EQ(eng->counters().vcopy_bytes, uint64_t{1} << 20);
}

TEST_F(VcopyTest, CallerExitEndsCopyAndFreesParties) {
  Receive(kB, ANY);
  const RequestId v = Vcopy(kA, kEpB, SELF, 10);
  eng->ProcessExited(kA, now);
  EXPECT_EQ(Result(v), EDVSINTR);
  EXPECT_EQ(ProcInfo(kEpB).rts_flags, static_cast<uint64_t>(RECEIVING));
  eng->VcopyDone(v, 0, now);  // late report: ignored
  EXPECT_EQ(eng->counters().vcopies, 0u);
}

}  // namespace
}  // namespace vdvk::test
