// engine_ipc_test.cc - send / receive / sendrec / rcvrqst / reply, deadlock,
// timeouts, cancel, death of peers, privileges.
#include "host-backend/engine/engine_test_util.h"

namespace vdvk::test {
namespace {

using IpcTest = BoundTest;

TEST_F(IpcTest, ReceiveThenSendDeliversWithSourceOverwritten) {
  const RequestId r = Receive(kA, ANY);
  EXPECT_TRUE(Pending(r));
  EXPECT_EQ(ProcInfo(kEpA).rts_flags, static_cast<uint64_t>(RECEIVING));
  const RequestId s = Send(kB, kEpA, MakeMsg(42, 7, /*fake_source=*/999));
  EXPECT_EQ(Result(s), 0);
  ASSERT_EQ(Result(r), 0);
  const message m = Msg(r);
  EXPECT_EQ(m.m_source, kEpB);
  EXPECT_EQ(m.m_type, 42);
  EXPECT_EQ(m.m1_i1, 7);
  EXPECT_EQ(m.m1_i2, 0x5a5a);
  EXPECT_EQ(eng->counters().messages, 1u);
  EXPECT_EQ(ProcInfo(kEpB).lclsent, 1u);
  EXPECT_EQ(ProcInfo(kEpA).rts_flags, 0u);
}

TEST_F(IpcTest, SendThenReceive) {
  const RequestId s = Send(kB, kEpA, MakeMsg(5, 11));
  EXPECT_TRUE(Pending(s));
  const vdvk_proc_info pb = ProcInfo(kEpB);
  EXPECT_EQ(pb.rts_flags, static_cast<uint64_t>(SENDING));
  EXPECT_EQ(pb.sendto, kEpA);
  const RequestId r = Receive(kA, ANY);
  EXPECT_EQ(Result(r), 0);
  EXPECT_EQ(Result(s), 0);
  EXPECT_EQ(Msg(r).m_source, kEpB);
  EXPECT_EQ(Msg(r).m1_i1, 11);
  EXPECT_EQ(ProcInfo(kEpB).rts_flags, 0u);
}

TEST_F(IpcTest, ThreeSendersAreServedInFifoOrder) {
  const RequestId sc = Send(kC, kEpA, 3);
  const RequestId sb = Send(kB, kEpA, 2);
  const RequestId sd = Send(kD, kEpA, 4);
  std::vector<int32_t> order;
  for (int i = 0; i < 3; ++i) {
    const RequestId r = Receive(kA, ANY);
    ASSERT_EQ(Result(r), 0);
    order.push_back(Msg(r).m_source);
  }
  EXPECT_EQ(order, (std::vector<int32_t>{kEpC, kEpB, kEpD}));
  EXPECT_EQ(Result(sc), 0);
  EXPECT_EQ(Result(sb), 0);
  EXPECT_EQ(Result(sd), 0);
}

TEST_F(IpcTest, ReceiveSpecificSkipsOtherSenders) {
  const RequestId sb = Send(kB, kEpA, 2);
  const RequestId sc = Send(kC, kEpA, 3);
  const RequestId r1 = Receive(kA, kEpC);
  EXPECT_EQ(Msg(r1).m_source, kEpC);
  EXPECT_EQ(Result(sc), 0);
  EXPECT_TRUE(Pending(sb));
  const RequestId r2 = Receive(kA, ANY);
  EXPECT_EQ(Msg(r2).m_source, kEpB);
  EXPECT_EQ(Result(sb), 0);
}

TEST_F(IpcTest, BlockedReceiveSpecificIgnoresOthers) {
  const RequestId r = Receive(kA, kEpB);
  const RequestId sc = Send(kC, kEpA, 3);
  EXPECT_TRUE(Pending(r));
  EXPECT_TRUE(Pending(sc));
  EXPECT_EQ(ProcInfo(kEpA).getfrom, kEpB);
  const RequestId sb = Send(kB, kEpA, 2);
  EXPECT_EQ(Result(sb), 0);
  EXPECT_EQ(Msg(r).m_source, kEpB);
  const RequestId r2 = Receive(kA, ANY);
  EXPECT_EQ(Msg(r2).m_source, kEpC);
}

TEST_F(IpcTest, TargetErrors) {
  EXPECT_EQ(Result(Send(kA, 50)), EDVSDSTDIED);                    // free slot
  EXPECT_EQ(Result(Sendrec(kA, 50)), EDVSDEADSRCDST);
  EXPECT_EQ(Result(Receive(kA, 50)), EDVSSRCDIED);
  EXPECT_EQ(Result(Send(kA, kEpA)), EDVSENDPOINT);                 // self
  EXPECT_EQ(Result(Send(kA, SELF)), EDVSENDPOINT);
  EXPECT_EQ(Result(Receive(kA, kEpA)), EDVSENDPOINT);
  EXPECT_EQ(Result(Send(kA, 221)), EDVSRANGE);
  EXPECT_EQ(Result(Send(kA, -35)), EDVSRANGE);
  EXPECT_EQ(Result(Receive(kA, 5000)), EDVSRANGE);
  EXPECT_EQ(Result(Send(kA, ANY)), EDVSBADDEST);
  EXPECT_EQ(Result(Send(kA, NONE)), EDVSBADDEST);
  EXPECT_EQ(Result(Receive(kA, NONE)), EDVSBADDEST);
  EXPECT_EQ(Reply(kA, ANY), EDVSBADDEST);
  const int32_t gen1_b = _ENDPOINT(1, kEpB);  // right slot, wrong generation
  EXPECT_EQ(Result(Send(kA, gen1_b)), EDVSENDPOINT);
  EXPECT_EQ(Result(Receive(kA, gen1_b)), EDVSENDPOINT);
  EXPECT_EQ(eng->counters().messages, 0u);
}

TEST_F(IpcTest, SendrecAndReply) {
  const RequestId srv = Receive(kA, ANY);
  const RequestId cli = Sendrec(kU, kEpA, 33);
  ASSERT_EQ(Result(srv), 0);
  EXPECT_EQ(Msg(srv).m_source, kEpU);
  EXPECT_EQ(Msg(srv).m_type, 33);
  EXPECT_TRUE(Pending(cli));
  const vdvk_proc_info pu = ProcInfo(kEpU);
  EXPECT_EQ(pu.rts_flags, static_cast<uint64_t>(RECEIVING));
  EXPECT_EQ(pu.getfrom, kEpA);
  EXPECT_EQ(Reply(kA, kEpU, 90), 0);
  ASSERT_EQ(Result(cli), 0);
  const message m = Msg(cli);
  EXPECT_EQ(m.m_source, kEpA);
  EXPECT_EQ(m.m_type, 90);
  EXPECT_EQ(m.m1_i1, 77);
  EXPECT_EQ(eng->counters().messages, 2u);
  EXPECT_EQ(ProcInfo(kEpU).rts_flags, 0u);
}

TEST_F(IpcTest, QueuedSendrecMovesToReplyPhaseAndAcceptsPlainSend) {
  const RequestId cli = Sendrec(kU, kEpA, 33);
  EXPECT_EQ(ProcInfo(kEpU).rts_flags, static_cast<uint64_t>(SENDING | RECEIVING));
  const RequestId srv = Receive(kA, ANY);
  EXPECT_EQ(Msg(srv).m_source, kEpU);
  EXPECT_TRUE(Pending(cli));
  EXPECT_EQ(ProcInfo(kEpU).rts_flags, static_cast<uint64_t>(RECEIVING));
  const RequestId s = Send(kA, kEpU, 55);
  EXPECT_EQ(Result(s), 0);
  EXPECT_EQ(Result(cli), 0);
  EXPECT_EQ(Msg(cli).m_type, 55);
  EXPECT_EQ(Msg(cli).m_source, kEpA);
}

TEST_F(IpcTest, ReplyPhaseAcceptsOnlyTheServer) {
  const RequestId srv = Receive(kA, ANY);
  const RequestId cli = Sendrec(kB, kEpA, 1);
  ASSERT_EQ(Result(srv), 0);
  const RequestId other = Send(kC, kEpB, 2);
  EXPECT_TRUE(Pending(other));
  EXPECT_TRUE(Pending(cli));
  EXPECT_EQ(Reply(kC, kEpB), EDVSPROCSTS);  // C is not B's server
  EXPECT_EQ(Reply(kA, kEpB), 0);
  EXPECT_EQ(Msg(cli).m_source, kEpA);
  EXPECT_TRUE(Pending(other));
}

TEST_F(IpcTest, ReplyNeedsAWaitingClient) {
  EXPECT_EQ(Reply(kA, kEpB), EDVSPROCSTS);  // not receiving
  const RequestId r = Receive(kB, ANY);
  EXPECT_EQ(Reply(kA, kEpB), EDVSPROCSTS);  // receiving ANY is no reply wait
  const RequestId s = Send(kB, kEpC);       // B blocked sending
  EXPECT_EQ(Result(r), std::nullopt);
  EXPECT_EQ(Result(s), EDVSBUSY);
  EXPECT_EQ(Reply(kA, 60), EDVSDSTDIED);
  const RequestId r2 = Receive(kC, kEpA);
  EXPECT_EQ(Reply(kA, kEpC), 0);  // a receive from us specifically takes a reply
  EXPECT_EQ(Result(r2), 0);
}

TEST_F(IpcTest, NowaitReturnsAgainAndQueuesNothing) {
  EXPECT_EQ(Result(Send(kB, kEpA, 1, TIMEOUT_NOWAIT)), EDVSAGAIN);
  EXPECT_EQ(Result(Receive(kA, ANY, TIMEOUT_NOWAIT)), EDVSAGAIN);
  EXPECT_EQ(Result(Receive(kA, kEpB, TIMEOUT_NOWAIT)), EDVSAGAIN);
  EXPECT_EQ(Result(Rcvrqst(kA, TIMEOUT_NOWAIT)), EDVSAGAIN);
  EXPECT_EQ(Result(Sendrec(kU, kEpA, 1, TIMEOUT_NOWAIT)), EDVSAGAIN);
  EXPECT_EQ(ProcInfo(kEpB).rts_flags, 0u);
  // NOWAIT with a waiting receiver delivers.
  const RequestId r = Receive(kA, ANY);
  EXPECT_EQ(Result(Send(kB, kEpA, 1, TIMEOUT_NOWAIT)), 0);
  EXPECT_EQ(Result(r), 0);
}

TEST_F(IpcTest, SendTimesOutThroughTick) {
  const RequestId s = Send(kB, kEpA, 1, 5);
  ASSERT_EQ(eng->NextDeadline(), now + 5'000'000);
  eng->Tick(now + 4'999'999);
  EXPECT_TRUE(Pending(s));
  eng->Tick(now + 5'000'000);
  EXPECT_EQ(Result(s), EDVSTIMEDOUT);
  EXPECT_EQ(eng->counters().timeouts, 1u);
  EXPECT_EQ(eng->NextDeadline(), std::nullopt);
  EXPECT_EQ(ProcInfo(kEpB).rts_flags, 0u);
  EXPECT_EQ(Result(Receive(kA, ANY, TIMEOUT_NOWAIT)), EDVSAGAIN);  // dequeued
}

TEST_F(IpcTest, NextDeadlineTracksEarliestLiveRequest) {
  const RequestId r1 = Receive(kA, ANY, 30);
  const RequestId r2 = Receive(kB, ANY, 10);
  const RequestId r3 = Receive(kC, ANY, 20);
  EXPECT_EQ(eng->NextDeadline(), now + 10'000'000);
  EXPECT_EQ(Result(Send(kD, kEpB)), 0);  // r2 completes: its deadline goes
  EXPECT_EQ(Result(r2), 0);
  EXPECT_EQ(eng->NextDeadline(), now + 20'000'000);
  eng->Tick(now + 25'000'000);
  EXPECT_EQ(Result(r3), EDVSTIMEDOUT);
  EXPECT_TRUE(Pending(r1));
  EXPECT_EQ(eng->NextDeadline(), now + 30'000'000);
  eng->Tick(now + 100'000'000);
  EXPECT_EQ(Result(r1), EDVSTIMEDOUT);
  EXPECT_EQ(eng->counters().timeouts, 2u);
}

TEST_F(IpcTest, SendrecTimesOutInReplyPhase) {
  const RequestId srv = Receive(kA, ANY);
  const RequestId cli = Sendrec(kU, kEpA, 1, 50);
  ASSERT_EQ(Result(srv), 0);
  eng->Tick(now + 50'000'000);
  EXPECT_EQ(Result(cli), EDVSTIMEDOUT);
  EXPECT_EQ(Reply(kA, kEpU), EDVSPROCSTS);  // the client no longer waits
}

TEST_F(IpcTest, ManyEarlyCompletionsKeepDeadlinesExact) {
  const RequestId early = Receive(kA, ANY, 1);
  for (int i = 0; i < 500; ++i) {
    const RequestId r = Receive(kB, ANY, 10'000 + i);
    ASSERT_EQ(Result(Send(kC, kEpB, i)), 0);
    ASSERT_EQ(Result(r), 0);
  }
  const RequestId late = Receive(kD, ANY, 5'000);
  EXPECT_EQ(eng->NextDeadline(), now + 1'000'000);
  eng->Tick(now + 1'000'000);
  EXPECT_EQ(Result(early), EDVSTIMEDOUT);
  EXPECT_EQ(eng->NextDeadline(), now + 5'000'000'000);
  eng->Tick(now + 9'999'000'000);
  EXPECT_EQ(Result(late), EDVSTIMEDOUT);
  EXPECT_EQ(eng->NextDeadline(), std::nullopt);
  EXPECT_EQ(eng->counters().timeouts, 2u);
}

TEST_F(IpcTest, HugeTimeoutSaturatesToForever) {
  const RequestId r = Receive(kA, ANY, INT64_MAX);
  EXPECT_TRUE(Pending(r));
  EXPECT_EQ(eng->NextDeadline(), std::nullopt);
  eng->Tick(INT64_MAX - 1);
  EXPECT_TRUE(Pending(r));
}

TEST_F(IpcTest, RecycledRequestDoesNotInheritOldDeadline) {
  const RequestId b = Receive(kB, ANY, 5);
  const RequestId a1 = Receive(kA, ANY, 10);
  ASSERT_EQ(Result(Send(kC, kEpA)), 0);  // a1 ends early, its deadline is stale
  ASSERT_EQ(Result(a1), 0);
  const RequestId a2 = Receive(kA, ANY);  // no deadline, may reuse a1's entry
  eng->Tick(now + 5'000'000);
  EXPECT_EQ(Result(b), EDVSTIMEDOUT);
  EXPECT_EQ(eng->NextDeadline(), std::nullopt);
  eng->Tick(now + 10'000'000);
  EXPECT_TRUE(Pending(a2));
}

TEST_F(IpcTest, TwoCycleIsDeadlock) {
  const RequestId ab = Send(kA, kEpB);
  EXPECT_TRUE(Pending(ab));
  EXPECT_EQ(Result(Send(kB, kEpA)), EDVSLOCKED);
  EXPECT_EQ(eng->counters().deadlocks, 1u);
  EXPECT_EQ(ProcInfo(kEpB).rts_flags, 0u);  // nothing queued
  const RequestId r = Receive(kB, ANY);
  EXPECT_EQ(Result(r), 0);
  EXPECT_EQ(Result(ab), 0);
}

TEST_F(IpcTest, ThreeCycleIsDeadlock) {
  const RequestId ab = Send(kA, kEpB);
  const RequestId bc = Sendrec(kB, kEpC);
  EXPECT_TRUE(Pending(ab));
  EXPECT_TRUE(Pending(bc));
  EXPECT_EQ(Result(Send(kC, kEpA)), EDVSLOCKED);
  EXPECT_EQ(Result(Receive(kC, kEpA)), EDVSLOCKED);  // receive from a waiter of us
  EXPECT_EQ(eng->counters().deadlocks, 2u);
  // Not a cycle: D waits on A, which waits on B.
  const RequestId da = Send(kD, kEpA);
  EXPECT_TRUE(Pending(da));
}

TEST_F(IpcTest, ReceiveCycleIsDeadlock) {
  const RequestId ra = Receive(kA, kEpB);
  EXPECT_TRUE(Pending(ra));
  EXPECT_EQ(Result(Receive(kB, kEpA)), EDVSLOCKED);
  EXPECT_EQ(Result(Sendrec(kB, kEpC, 1, TIMEOUT_NOWAIT)), EDVSAGAIN);
  const RequestId rb = Receive(kB, ANY);  // ANY ends the chain
  EXPECT_TRUE(Pending(rb));
}

TEST_F(IpcTest, OneBlockingRequestPerProcess) {
  const RequestId s = Send(kA, kEpB);
  EXPECT_EQ(Result(Receive(kA, ANY)), EDVSBUSY);
  EXPECT_EQ(Result(Send(kA, kEpC)), EDVSBUSY);
  EXPECT_EQ(Result(Rcvrqst(kA)), EDVSBUSY);
  EXPECT_EQ(Result(Wait4Bind(kA, WAIT_BIND, kEpC)), EDVSBUSY);
  EXPECT_EQ(Result(Vcopy(kA, kEpA, kEpC, 10)), EDVSBUSY);
  EXPECT_TRUE(Pending(s));
  EXPECT_EQ(Reply(kA, kEpD), EDVSPROCSTS);  // non-blocking calls still work
}

TEST_F(IpcTest, CancelRemovesQueuedSendWithoutTrace) {
  const RequestId s = Send(kB, kEpA, 1);
  eng->Cancel(s, now);
  EXPECT_EQ(Result(s), EDVSINTR);
  EXPECT_EQ(ProcInfo(kEpB).rts_flags, 0u);
  EXPECT_EQ(Result(Receive(kA, ANY, TIMEOUT_NOWAIT)), EDVSAGAIN);
  eng->Cancel(s, now);      // finished: nothing
  eng->Cancel(9999, now);   // unknown: nothing
  const RequestId r = Receive(kA, ANY);
  eng->Cancel(r, now);
  EXPECT_EQ(Result(r), EDVSINTR);
  const RequestId s2 = Send(kB, kEpA);  // A no longer receives
  EXPECT_TRUE(Pending(s2));
}

TEST_F(IpcTest, CancelInMiddleOfQueueKeepsOrder) {
  const RequestId sb = Send(kB, kEpA, 2);
  const RequestId sc = Send(kC, kEpA, 3);
  const RequestId sd = Send(kD, kEpA, 4);
  eng->Cancel(sc, now);
  EXPECT_EQ(Result(sc), EDVSINTR);
  EXPECT_EQ(Msg(Receive(kA)).m_source, kEpB);
  EXPECT_EQ(Msg(Receive(kA)).m_source, kEpD);
  EXPECT_EQ(Result(sb), 0);
  EXPECT_EQ(Result(sd), 0);
}

TEST_F(IpcTest, CancelTailThenAppend) {
  const RequestId sb = Send(kB, kEpA, 2);
  const RequestId sc = Send(kC, kEpA, 3);
  eng->Cancel(sc, now);
  const RequestId sd = Send(kD, kEpA, 4);
  EXPECT_EQ(Msg(Receive(kA)).m_source, kEpB);
  EXPECT_EQ(Msg(Receive(kA)).m_source, kEpD);
  EXPECT_EQ(Result(sb), 0);
  EXPECT_EQ(Result(sd), 0);
  EXPECT_EQ(Result(Receive(kA, ANY, TIMEOUT_NOWAIT)), EDVSAGAIN);
}

TEST_F(IpcTest, ServerDeathInReplyPhaseGivesSrcDied) {
  const RequestId srv = Receive(kA, ANY);
  const RequestId cli = Sendrec(kU, kEpA);
  ASSERT_EQ(Result(srv), 0);
  eng->ProcessExited(kA, now);
  EXPECT_EQ(Result(cli), EDVSSRCDIED);
  EXPECT_EQ(eng->counters().deaths, 1u);
  EXPECT_EQ(ProcInfo(kEpA).rts_flags, static_cast<uint64_t>(SLOT_FREE));
}

TEST_F(IpcTest, DestinationDeathWithQueuedSendersGivesDstDied) {
  const RequestId sb = Send(kB, kEpA);
  const RequestId sc = Sendrec(kC, kEpA);
  const RequestId rd = Receive(kD, kEpA);
  eng->ProcessExited(kA, now);
  EXPECT_EQ(Result(sb), EDVSDSTDIED);
  EXPECT_EQ(Result(sc), EDVSDSTDIED);
  EXPECT_EQ(Result(rd), EDVSSRCDIED);
  // Rebinding the slot after an exit works (no EDVSSLOTUSED).
  EXPECT_EQ(Bind(P(300), kEpA), kEpA);
}

TEST_F(IpcTest, ExitingProcessGetsIntrAndLeavesNoQueueEntry) {
  const RequestId s = Send(kB, kEpA);
  eng->ProcessExited(kB, now);
  EXPECT_EQ(Result(s), EDVSINTR);
  EXPECT_EQ(Result(Receive(kA, ANY, TIMEOUT_NOWAIT)), EDVSAGAIN);
  eng->ProcessExited(kB, now);  // second report: nothing
  EXPECT_EQ(eng->counters().deaths, 1u);
}

TEST_F(IpcTest, RcvrqstTakesRequestsOnly) {
  EXPECT_EQ(Notify(kB, SELF, kEpA, 5), 0);
  const RequestId s = Send(kC, kEpA, 8);
  const RequestId r = Rcvrqst(kA);
  EXPECT_EQ(Msg(r).m_source, kEpC);
  EXPECT_EQ(Result(s), 0);
  const RequestId r2 = Rcvrqst(kA);
  EXPECT_TRUE(Pending(r2));  // the notification stays pending
  EXPECT_EQ(Notify(kD, SELF, kEpA, 6), 0);
  EXPECT_TRUE(Pending(r2));
  const RequestId srq = Sendrec(kU, kEpA, 9);
  EXPECT_EQ(Msg(r2).m_source, kEpU);
  EXPECT_TRUE(Pending(srq));
  const RequestId r3 = Receive(kA, ANY);
  EXPECT_EQ(Msg(r3).m_type, NOTIFY_FROM(kEpB));
}

TEST_F(IpcTest, WakeupBlockedAndLater) {
  const RequestId r = Receive(kA, ANY);
  EXPECT_EQ(Run(Mk(kB, VDVK_OP_WAKEUPEP, {0, kEpA})), 0);
  EXPECT_EQ(Result(r), EDVSWOKENUP);
  EXPECT_EQ(ProcInfo(kEpA).rts_flags, 0u);
  EXPECT_EQ(Run(Mk(kB, VDVK_OP_WAKEUPEP, {0, kEpC})), 0);
  const RequestId s = Send(kD, kEpC);
  EXPECT_EQ(Result(Rcvrqst(kC)), EDVSWOKENUP);  // the flag beats the queued send
  EXPECT_EQ(Msg(Receive(kC)).m_source, kEpD);    // the flag is consumed
  EXPECT_EQ(Result(s), 0);
  EXPECT_EQ(Run(Mk(kB, VDVK_OP_WAKEUPEP, {0, 60})), EDVSNOTBIND);
  EXPECT_EQ(Run(Mk(kB, VDVK_OP_WAKEUPEP, {40, kEpA})), EDVSBADDCID);
  EXPECT_EQ(Run(Mk(kU, VDVK_OP_WAKEUPEP, {0, kEpA})), EDVSBADCALL);
  EXPECT_EQ(Run(Mk(P(9), VDVK_OP_WAKEUPEP, {0, kEpA})), EDVSNOTBIND);
}

TEST_F(IpcTest, UnboundAndUserCallers) {
  const ProcKey nobody = P(777);
  EXPECT_EQ(Result(Send(nobody, kEpA)), EDVSNOTBIND);
  EXPECT_EQ(Result(Receive(nobody)), EDVSNOTBIND);
  EXPECT_EQ(Result(Sendrec(nobody, kEpA)), EDVSNOTBIND);
  EXPECT_EQ(Result(Rcvrqst(nobody)), EDVSNOTBIND);
  EXPECT_EQ(Reply(nobody, kEpA), EDVSNOTBIND);
  EXPECT_EQ(Notify(nobody, SELF, kEpA), EDVSNOTBIND);
  EXPECT_EQ(Result(Vcopy(nobody, kEpA, kEpB, 1)), EDVSNOTBIND);
  EXPECT_EQ(Result(Send(kU, kEpA)), EDVSBADCALL);
  EXPECT_EQ(Result(Receive(kU)), EDVSBADCALL);
  EXPECT_EQ(Result(Rcvrqst(kU)), EDVSBADCALL);
  EXPECT_EQ(Reply(kU, kEpA), EDVSBADCALL);
  EXPECT_EQ(Notify(kU, SELF, kEpA), EDVSBADCALL);
  EXPECT_EQ(Result(Vcopy(kU, kEpU, kEpA, 1)), EDVSBADCALL);
  EXPECT_EQ(Run(Mk(kU, VDVK_OP_DCEND, {0})), EDVSBADCALL);
  EXPECT_EQ(Run(Mk(kU, VDVK_OP_BIND, {SELF_BIND, 0, -1, 60, LOCALNODE})), EDVSBADCALL);
  EXPECT_EQ(Run(Mk(kU, VDVK_OP_DVSINIT, {0})), EDVSBADCALL);
  // What a user process may do.
  EXPECT_TRUE(Pending(Sendrec(kU, kEpA)));
  EXPECT_EQ(Run(Mk(kU, VDVK_OP_GETEP, {kU.pid})), kEpU);
  EXPECT_EQ(Run(Mk(kU, VDVK_OP_GETDCINFO, {0})), 0);
  EXPECT_EQ(Run(Mk(kU, VDVK_OP_GETPROCINFO, {0, kEpA})), 0);
  EXPECT_EQ(Run(Mk(kU, VDVK_OP_GETNODEINFO, {0})), 0);
  EXPECT_EQ(Run(Mk(kU, VDVK_OP_GETDVSINFO, {})), 0);
}

TEST_F(IpcTest, SteadyRendezvousLeavesNoState) {
  // Many round trips reuse the same pool entries and leave no pending state.
  for (int i = 0; i < 1000; ++i) {
    const RequestId r = Receive(kA, ANY);
    const RequestId c = Sendrec(kU, kEpA, i);
    ASSERT_EQ(Msg(r).m_type, i);
    ASSERT_EQ(Reply(kA, kEpU, i + 1), 0);
    ASSERT_EQ(Msg(c).m_type, i + 1);
  }
  EXPECT_EQ(eng->counters().messages, 2000u);
  EXPECT_EQ(eng->NextDeadline(), std::nullopt);
  EXPECT_EQ(ProcInfo(kEpU).lclsent, 1000u);
  EXPECT_EQ(ProcInfo(kEpA).lclsent, 1000u);
}

}  // namespace
}  // namespace vdvk::test
