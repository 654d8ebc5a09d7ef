// engine_notify_test.cc - notifications: delivery, pending bits, merging,
// priority over messages, the sendrec reply phase, errors.
#include "host-backend/engine/engine_test_util.h"

namespace vdvk::test {
namespace {

using NotifyTest = BoundTest;

TEST_F(NotifyTest, DeliveredToBlockedReceiverWithDvsFields) {
  const RequestId r = Receive(kA, ANY);
  now = 1'234'567'890'123;
  EXPECT_EQ(Notify(kB, SELF, kEpA, 4711), 0);
  ASSERT_EQ(Result(r), 0);
  const message m = Msg(r);
  EXPECT_EQ(m.m_source, kEpB);
  EXPECT_EQ(m.m_type, NOTIFY_FROM(kEpB));
  EXPECT_EQ(m.m_type, 0x1002);
  EXPECT_EQ(m.NOTIFY_ARG, 4711);
  EXPECT_EQ(m.NOTIFY_FLAGS, 0);
  EXPECT_EQ(m.NOTIFY_TIMESTAMP.tv_sec, 1234);
  EXPECT_EQ(m.NOTIFY_TIMESTAMP.tv_nsec, 567'890'123);
  // The raw payload offsets the ring clients read.
  const vdvk_msg& raw = Get(r).msg;
  int32_t arg;
  int64_t sec;
  std::memcpy(&arg, raw.m_payload + 4, 4);
  std::memcpy(&sec, raw.m_payload + 8, 8);
  EXPECT_EQ(arg, 4711);
  EXPECT_EQ(sec, 1234);
  EXPECT_EQ(eng->counters().notifies, 1u);
  EXPECT_EQ(eng->counters().messages, 0u);
}

TEST_F(NotifyTest, PendingNotificationBeatsQueuedMessage) {
  const RequestId s = Send(kC, kEpA, 8);
  EXPECT_EQ(Notify(kB, SELF, kEpA, 1), 0);
  const RequestId r1 = Receive(kA, ANY);
  EXPECT_EQ(Msg(r1).m_type, NOTIFY_FROM(kEpB));
  EXPECT_TRUE(Pending(s));
  const RequestId r2 = Receive(kA, ANY);
  EXPECT_EQ(Msg(r2).m_type, 8);
  EXPECT_EQ(Result(s), 0);
}

TEST_F(NotifyTest, RepeatedNotifiesMergeWithLatestValue) {
  EXPECT_EQ(Notify(kB, SELF, kEpA, 1), 0);
  EXPECT_EQ(Notify(kB, SELF, kEpA, 2), 0);
  EXPECT_EQ(Notify(kB, SELF, kEpA, 3), 0);
  const RequestId r = Receive(kA, ANY);
  EXPECT_EQ(Msg(r).NOTIFY_ARG, 3);
  EXPECT_EQ(Result(Receive(kA, ANY, TIMEOUT_NOWAIT)), EDVSAGAIN);
  EXPECT_EQ(eng->counters().notifies, 1u);
}

TEST_F(NotifyTest, LowestSourceFirstAndSpecificSource) {
  EXPECT_EQ(Notify(kD, SELF, kEpA, 40), 0);
  EXPECT_EQ(Notify(kB, SELF, kEpA, 20), 0);
  EXPECT_EQ(Notify(kC, SELF, kEpA, 30), 0);
  EXPECT_EQ(Msg(Receive(kA, kEpC)).NOTIFY_ARG, 30);
  EXPECT_EQ(Msg(Receive(kA, ANY)).NOTIFY_ARG, 20);
  EXPECT_EQ(Msg(Receive(kA, ANY)).NOTIFY_ARG, 40);
  EXPECT_EQ(Result(Receive(kA, kEpB, TIMEOUT_NOWAIT)), EDVSAGAIN);
}

TEST_F(NotifyTest, ExplicitAndHardwareSources) {
  EXPECT_EQ(Notify(kB, 20, kEpA, 5), 0);  // on behalf of nr 20 (free slot)
  EXPECT_EQ(Notify(kB, HARDWARE, kEpA, 6), 0);
  const message hw = Msg(Receive(kA, ANY));  // index of -1 < index of 20
  EXPECT_EQ(hw.m_source, HARDWARE);
  EXPECT_EQ(hw.m_type, NOTIFY_FROM(HARDWARE));
  EXPECT_EQ(hw.m_type, -1);  // 0x1000 | -1, exactly as DVS
  EXPECT_EQ(hw.NOTIFY_ARG, 6);
  // Receiving from a free nr still finds its pending notification.
  const message m = Msg(Receive(kA, 20));
  EXPECT_EQ(m.m_source, 20);
  EXPECT_EQ(m.m_type, NOTIFY_FROM(20));
  EXPECT_EQ(Result(Receive(kA, 20, TIMEOUT_NOWAIT)), EDVSSRCDIED);
}

TEST_F(NotifyTest, NotAcceptedInSendrecReplyPhase) {
  const RequestId srv = Receive(kA, ANY);
  const RequestId cli = Sendrec(kB, kEpA, 1);
  ASSERT_EQ(Result(srv), 0);
  EXPECT_EQ(Notify(kC, SELF, kEpB, 9), 0);
  EXPECT_TRUE(Pending(cli));
  EXPECT_EQ(Notify(kA, SELF, kEpB, 10), 0);  // not even from the server
  EXPECT_TRUE(Pending(cli));
  EXPECT_EQ(Reply(kA, kEpB, 2), 0);
  EXPECT_EQ(Msg(cli).m_type, 2);
  EXPECT_EQ(Msg(Receive(kB, ANY)).m_source, kEpA);
  EXPECT_EQ(Msg(Receive(kB, ANY)).m_source, kEpC);
  EXPECT_EQ(eng->counters().notifies, 2u);
}

TEST_F(NotifyTest, NotAcceptedInReplyPhaseOfQueuedSendrec) {
  const RequestId cli = Sendrec(kB, kEpA, 1);  // queued: A is not receiving
  const RequestId srv = Receive(kA, ANY);      // moves B to its reply phase
  ASSERT_EQ(Msg(srv).m_source, kEpB);
  EXPECT_EQ(Notify(kA, SELF, kEpB, 9), 0);
  EXPECT_TRUE(Pending(cli));
  EXPECT_EQ(Reply(kA, kEpB, 2), 0);
  EXPECT_EQ(Msg(cli).m_type, 2);
  EXPECT_EQ(Msg(Receive(kB, ANY)).NOTIFY_ARG, 9);
}

TEST_F(NotifyTest, BlockedReceiveFromOtherSourceLeavesItPending) {
  const RequestId r = Receive(kA, kEpD);
  EXPECT_EQ(Notify(kB, SELF, kEpA, 1), 0);
  EXPECT_TRUE(Pending(r));
  EXPECT_EQ(Notify(kD, SELF, kEpA, 2), 0);
  EXPECT_EQ(Msg(r).m_source, kEpD);
  EXPECT_EQ(Msg(Receive(kA)).m_source, kEpB);
}

TEST_F(NotifyTest, SpecificReceiveMatchesTheNotifierEndpoint) {
  const int32_t gen1 = _ENDPOINT(1, 5);
  ASSERT_EQ(Bind(P(300), gen1), gen1);
  EXPECT_EQ(Notify(kB, 5, kEpA, 1), 0);  // on behalf of nr 5, generation 0
  EXPECT_EQ(Result(Receive(kA, gen1, TIMEOUT_NOWAIT)), EDVSAGAIN);
  EXPECT_EQ(Notify(P(300), SELF, kEpA, 2), 0);  // from the gen-1 process itself
  const message m = Msg(Receive(kA, gen1));
  EXPECT_EQ(m.m_source, gen1);
  EXPECT_EQ(m.NOTIFY_ARG, 2);
  EXPECT_EQ(m.m_type, NOTIFY_FROM(5));
}

TEST_F(NotifyTest, Errors) {
  EXPECT_EQ(Notify(kB, SELF, kEpU, 0), EDVSTRAPDENIED);  // user destination
  EXPECT_EQ(Notify(kB, 500, kEpA, 0), EDVSRANGE);
  EXPECT_EQ(Notify(kB, -35, kEpA, 0), EDVSRANGE);
  EXPECT_EQ(Notify(kB, SELF, 60, 0), EDVSDSTDIED);
  EXPECT_EQ(Notify(kB, SELF, kEpB, 0), EDVSENDPOINT);
  EXPECT_EQ(Notify(kB, SELF, ANY, 0), EDVSBADDEST);
  EXPECT_EQ(Notify(kB, SELF, 900, 0), EDVSRANGE);
  EXPECT_EQ(Result(Receive(kA, ANY, TIMEOUT_NOWAIT)), EDVSAGAIN);  // nothing stuck
}

TEST_F(NotifyTest, PendingBitClearedWhenNotifierUnbinds) {
  EXPECT_EQ(Notify(kB, SELF, kEpA, 1), 0);
  EXPECT_EQ(Notify(kC, SELF, kEpA, 2), 0);
  EXPECT_EQ(Unbind(kB, kEpB), 0);
  EXPECT_EQ(Msg(Receive(kA)).m_source, kEpC);
  EXPECT_EQ(Result(Receive(kA, ANY, TIMEOUT_NOWAIT)), EDVSAGAIN);
}

TEST_F(NotifyTest, DcWithoutTaskSlotsStillTakesHardware) {
  ASSERT_EQ(DcInit(P(1), 2, /*nr_procs=*/16, /*nr_tasks=*/0, /*nr_sysprocs=*/8), 0);
  ASSERT_EQ(Bind(P(500), 1, 2), 1);
  ASSERT_EQ(Bind(P(501), 2, 2), 2);
  EXPECT_EQ(Notify(P(501), SELF, 1, 3), 0);
  EXPECT_EQ(Notify(P(501), HARDWARE, 1, 4), 0);
  const RequestId r1 = Receive(P(500), ANY);
  EXPECT_EQ(Msg(r1).m_source, 2);  // hardware sorts after the real slots
  const RequestId r2 = Receive(P(500), ANY);
  EXPECT_EQ(Msg(r2).m_source, HARDWARE);
  EXPECT_EQ(Msg(r2).NOTIFY_ARG, 4);
}

}  // namespace
}  // namespace vdvk::test
