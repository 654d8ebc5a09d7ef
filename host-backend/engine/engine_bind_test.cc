// engine_bind_test.cc - bind, unbind, getep, wait4bind, DC isolation, deaths.
#include <csignal>

#include "host-backend/engine/engine_test_util.h"

namespace vdvk::test {
namespace {

using BindTest = EngineTest;

TEST_F(BindTest, SelfBindFillsSlot) {
  EXPECT_EQ(Bind(P(10), 7), 7);
  ASSERT_EQ(sink.bound.size(), 1u);
  EXPECT_EQ(sink.bound[0], P(10));
  const vdvk_proc_info pi = ProcInfo(7);
  EXPECT_EQ(pi.nr, 7);
  EXPECT_EQ(pi.endpoint, 7);
  EXPECT_EQ(pi.dcid, 0);
  EXPECT_EQ(pi.rts_flags, 0u);
  EXPECT_EQ(pi.lpid, 10);
  EXPECT_EQ(pi.nodeid, 0);
  EXPECT_EQ(pi.getfrom, NONE);
  EXPECT_EQ(pi.sendto, NONE);
  EXPECT_STREQ(pi.name, "p10");
  EXPECT_EQ(Bind(P(11), -34), -34);  // the lowest task slot
  EXPECT_EQ(Bind(P(12), 220), 220);  // the highest process slot
}

TEST_F(BindTest, BindErrors) {
  ASSERT_EQ(Bind(P(10), 7), 7);
  EXPECT_EQ(Bind(P(11), 7), EDVSSLOTUSED);
  EXPECT_EQ(Bind(P(10), 8), EDVSBUSY);       // already bound elsewhere
  EXPECT_EQ(LclBind(P(99), 10, 8), EDVSBUSY);
  EXPECT_EQ(Bind(P(11), 221), EDVSBADPROC);
  EXPECT_EQ(Bind(P(11), -35), EDVSBADPROC);
  EXPECT_EQ(Bind(P(11), ANY), EDVSBADPROC);
  EXPECT_EQ(Bind(P(11), 8, 32), EDVSBADDCID);
  EXPECT_EQ(Bind(P(11), 8, -1), EDVSBADDCID);
  EXPECT_EQ(Bind(P(11), 8, 3), EDVSDCNOTRUN);
  EXPECT_EQ(LclBind(P(99), 0, 8), EDVSBADPID);
  EXPECT_EQ(LclBind(P(99), -5, 8), EDVSBADPID);
  EXPECT_EQ(Run(Mk(P(11), VDVK_OP_BIND, {RMT_BIND, 0, -1, 8, 0})), EDVSBADNODEID);
  EXPECT_EQ(Run(Mk(P(11), VDVK_OP_BIND, {RMT_BIND, 0, -1, 8, 32})), EDVSBADNODEID);
  EXPECT_EQ(Run(Mk(P(11), VDVK_OP_BIND, {RMT_BIND, 0, -1, 8, 3})), EDVSNOPROXY);
  EXPECT_EQ(Run(Mk(P(11), VDVK_OP_BIND, {BKUP_BIND, 0, 11, 8, 3})), EDVSNOSYS);
  EXPECT_EQ(Run(Mk(P(11), VDVK_OP_BIND, {REPLICA_BIND, 0, 11, 8, 0})), EDVSNOSYS);
  EXPECT_EQ(Run(Mk(P(11), VDVK_OP_BIND, {7, 0, 11, 8, 0})), EDVSBINDTYPE);
  EXPECT_EQ(sink.bound.size(), 1u);
  EXPECT_EQ(ProcInfo(8).rts_flags, static_cast<uint64_t>(SLOT_FREE));
}

TEST_F(BindTest, LclBindWakesWait4BindSelf) {
  const RequestId w = Wait4Bind(P(20), WAIT_BIND, SELF);
  EXPECT_TRUE(Pending(w));
  const RequestId w_other = Wait4Bind(P(21), WAIT_BIND, SELF);
  EXPECT_EQ(LclBind(P(1), 20, 9), 9);
  EXPECT_EQ(Result(w), 9);
  EXPECT_TRUE(Pending(w_other));
  EXPECT_EQ(ProcInfo(9).lpid, 20);
  EXPECT_EQ(sink.bound.back(), P(20));
  EXPECT_EQ(Run(Mk(P(20), VDVK_OP_GETEP, {20})), 9);
  EXPECT_EQ(Run(Mk(P(1), VDVK_OP_GETEP, {20})), 9);     // by pid, from anyone
  EXPECT_EQ(Run(Mk(P(1, 5), VDVK_OP_GETEP, {20})), EDVSNOTBIND);  // other domain
  EXPECT_EQ(Run(Mk(P(1), VDVK_OP_GETEP, {21})), EDVSNOTBIND);
  // Bound now: WAIT_BIND SELF answers at once.
  EXPECT_EQ(Result(Wait4Bind(P(20), WAIT_BIND, SELF)), 9);
}

TEST_F(BindTest, WaitBindAndUnbindOfAnEndpoint) {
  const RequestId wb = Wait4Bind(P(30), WAIT_BIND, 12);
  const RequestId wu = Wait4Bind(P(31), WAIT_UNBIND, 12);
  EXPECT_TRUE(Pending(wb));
  EXPECT_EQ(Result(wu), 0);  // already free
  EXPECT_EQ(Bind(P(32), 12), 12);
  EXPECT_EQ(Result(wb), 12);
  const RequestId wu2 = Wait4Bind(P(31), WAIT_UNBIND, 12);
  EXPECT_TRUE(Pending(wu2));
  EXPECT_EQ(Result(Wait4Bind(P(33), WAIT_BIND, 12)), 12);
  eng->ProcessExited(P(32), now);
  EXPECT_EQ(Result(wu2), 0);
}

TEST_F(BindTest, Wait4BindErrorsAndTimeout) {
  EXPECT_EQ(Result(Wait4Bind(P(30), 5, 12)), EDVSINVAL);
  EXPECT_EQ(Result(Wait4Bind(P(30), WAIT_BIND, 12, TIMEOUT_NOWAIT)), EDVSAGAIN);
  EXPECT_EQ(Result(Wait4Bind(P(30), WAIT_BIND, 999)), EDVSBADPROC);
  const RequestId w = Wait4Bind(P(30), WAIT_BIND, 12, 100);
  EXPECT_EQ(Result(Wait4Bind(P(30), WAIT_BIND, 13)), EDVSBUSY);
  EXPECT_EQ(eng->NextDeadline(), now + 100'000'000);
  eng->Tick(now + 100'000'000);
  EXPECT_EQ(Result(w), EDVSTIMEDOUT);
  EXPECT_EQ(Bind(P(31), 12), 12);  // no stale waiter left to complete twice
  const RequestId w2 = Wait4Bind(P(40), WAIT_BIND, SELF);
  eng->ProcessExited(P(40), now);  // unbound waiter exits
  EXPECT_EQ(Result(w2), EDVSINTR);
}

TEST_F(BindTest, UnbindAnotherSignalsIt) {
  ASSERT_EQ(Bind(P(10), 1), 1);
  ASSERT_EQ(Bind(P(11), 2), 2);
  const RequestId r = Receive(P(11), ANY);
  EXPECT_EQ(Unbind(P(10), 2), 0);
  EXPECT_EQ(Result(r), EDVSNOTBIND);  // its own call ends
  ASSERT_EQ(sink.signals.size(), 1u);
  EXPECT_EQ(sink.signals[0].first, P(11));
  EXPECT_EQ(sink.signals[0].second, SIGTERM);
  EXPECT_EQ(ProcInfo(2).rts_flags, static_cast<uint64_t>(SLOT_FREE));
  EXPECT_EQ(Result(Send(P(11), 1)), EDVSNOTBIND);
  // Self unbind: no signal.
  EXPECT_EQ(Unbind(P(10), 1), 0);
  EXPECT_EQ(sink.signals.size(), 1u);
  EXPECT_EQ(Unbind(P(10), 1), EDVSNOTBIND);
  EXPECT_EQ(Unbind(P(10), 500), EDVSBADPROC);
  EXPECT_EQ(Unbind(P(10), 1, 33), EDVSBADDCID);
  EXPECT_EQ(Unbind(P(10), 1, 4), EDVSDCNOTRUN);
}

TEST_F(BindTest, UnbindWithoutSigtermWhenConfigured) {
  cfg.sigterm_on_foreign_unbind = false;
  Start();
  ASSERT_EQ(Bind(P(10), 1), 1);
  ASSERT_EQ(Bind(P(11), 2), 2);
  EXPECT_EQ(Unbind(P(10), 2), 0);
  EXPECT_TRUE(sink.signals.empty());
}

TEST_F(BindTest, UnbindChecksEndpointAndUserRights) {
  ASSERT_EQ(Bind(P(10), 1), 1);
  ASSERT_EQ(Bind(P(11), 150), 150);  // user process
  EXPECT_EQ(Unbind(P(11), 1), EDVSBADCALL);
  EXPECT_EQ(Unbind(P(10), _ENDPOINT(1, 150)), EDVSENDPOINT);
  EXPECT_EQ(Unbind(P(11), 150), 0);  // a user may unbind itself
  EXPECT_EQ(Run(Mk(P(11), VDVK_OP_GETEP, {11})), EDVSNOTBIND);
}

TEST_F(BindTest, PeersOfUnboundProcessAreTold) {
  ASSERT_EQ(Bind(P(10), 1), 1);
  ASSERT_EQ(Bind(P(11), 2), 2);
  ASSERT_EQ(Bind(P(12), 3), 3);
  const RequestId s = Send(P(11), 1);
  const RequestId r = Receive(P(12), 1);
  EXPECT_EQ(Unbind(P(10), 1), 0);
  EXPECT_EQ(Result(s), EDVSDSTDIED);
  EXPECT_EQ(Result(r), EDVSSRCDIED);
}

TEST_F(BindTest, DcIsolation) {
  ASSERT_EQ(DcInit(P(1), 1, 64, /*nr_tasks=*/34, /*nr_sysprocs=*/48), 0);  // same slot layout
  ASSERT_EQ(Bind(P(10), 5, 0), 5);
  ASSERT_EQ(Bind(P(11), 5, 1), 5);  // same nr, other DC: another slot
  ASSERT_EQ(Bind(P(12), 7, 0), 7);
  ASSERT_EQ(Bind(P(13), 1, 1), 1);
  EXPECT_EQ(ProcInfo(5, 0).lpid, 10);
  EXPECT_EQ(ProcInfo(5, 1).lpid, 11);
  EXPECT_EQ(Result(Send(P(13), 7)), EDVSDSTDIED);  // 7 exists only in DC 0
  // A message to 5 from DC 1 reaches the DC 1 process only.
  const RequestId r0 = Receive(P(10), ANY);
  const RequestId r1 = Receive(P(11), ANY);
  EXPECT_EQ(Result(Send(P(13), 5)), 0);
  EXPECT_TRUE(Pending(r0));
  EXPECT_EQ(Msg(r1).m_source, 1);
  EXPECT_EQ(Result(Send(P(12), 5)), 0);
  EXPECT_EQ(Msg(r0).m_source, 7);
  // Unbinding nr 5 of DC 1 from nr 5 of DC 0 is unbinding another process.
  EXPECT_EQ(Unbind(P(10), 5, 1), 0);
  ASSERT_EQ(sink.signals.size(), 1u);
  EXPECT_EQ(sink.signals[0].first, P(11));
  EXPECT_EQ(ProcInfo(5, 0).lpid, 10);
}

TEST_F(BindTest, DomainGoneEndsAllItsProcesses) {
  ASSERT_EQ(Bind(P(10), 1), 1);
  ASSERT_EQ(Bind(P(10, 3), 2), 2);  // guest process, same pid, other domain
  ASSERT_EQ(Bind(P(11, 3), 3), 3);
  const RequestId guest_recv = Receive(P(10, 3), ANY);
  const RequestId guest_wait = Wait4Bind(P(12, 3), WAIT_BIND, 40);
  const RequestId host_recv = Receive(P(10), 3);
  eng->DomainGone(3, now);
  EXPECT_EQ(Result(guest_recv), EDVSINTR);
  EXPECT_EQ(Result(guest_wait), EDVSINTR);
  EXPECT_EQ(Result(host_recv), EDVSSRCDIED);
  EXPECT_EQ(eng->counters().deaths, 2u);
  EXPECT_EQ(ProcInfo(2).rts_flags, static_cast<uint64_t>(SLOT_FREE));
  EXPECT_EQ(ProcInfo(1).lpid, 10);
}

TEST_F(BindTest, ExitWhileWaitingForOwnUnbind) {
  ASSERT_EQ(Bind(P(10), 1), 1);
  ASSERT_EQ(Bind(P(11), 2), 2);
  const RequestId w = Wait4Bind(P(11), WAIT_UNBIND, SELF);
  EXPECT_TRUE(Pending(w));
  EXPECT_EQ(Unbind(P(10), 2), 0);
  EXPECT_EQ(Result(w), 0);
  EXPECT_EQ(Result(Wait4Bind(P(11), WAIT_UNBIND, SELF)), 0);  // unbound: nothing to wait
}

}  // namespace
}  // namespace vdvk::test
