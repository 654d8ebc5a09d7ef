// engine_resolve_test.cc - automatic resolution of which node owns an
// endpoint (resolve.cc), with three engines wired in process
// (engine_cluster_util.h): link traffic (forwarded ops, lookup questions and
// answers) moves only when the test pumps the wire, so every parked state is
// observable.
#include "host-backend/engine/engine_cluster_util.h"

namespace vdvk::test {
namespace {

class Trio : public ClusterTest {
 protected:
  Trio() : ClusterTest(3) {}
  void SetUp() override {
    ClusterTest::SetUp();
    if (HasFatalFailure()) return;
    // Node 0: client C (user, ep 100) and system S0 (ep 5); node 2: server S (ep 1).
    // Nobody does rmtbind.
    ASSERT_EQ(Run(0, Mk(kClient, VDVK_OP_BIND, {SELF_BIND, 0, 0, 100})), 100);
    ASSERT_EQ(Run(0, Mk(kSys0, VDVK_OP_BIND, {SELF_BIND, 0, 0, 5})), 5);
    ASSERT_EQ(Run(2, Mk(kServer, VDVK_OP_BIND, {SELF_BIND, 0, 0, 1})), 1);
  }

  const ProcKey kClient{0, 500}, kSys0{0, 501}, kServer{0, 600}, kClient2{0, 502}, kClient3{0, 503},
      kOther{0, 601};
};

TEST_F(Trio, SendrecResolvesTheOwnerWithoutRmtbind) {
  const RequestId rcv = Submit(2, Mk(kServer, VDVK_OP_RECEIVE, {ANY}));
  const RequestId sr = Submit(0, MkMsg(kClient, VDVK_OP_SENDREC, 1, 42, 0x1234));
  // Parked: both other member nodes are asked, nothing is forwarded yet.
  EXPECT_FALSE(Result(0, sr).has_value());
  ASSERT_EQ(sink[0]->asked.size(), 2u);
  EXPECT_EQ(sink[0]->asked[0], std::make_tuple(1, 0, 1));
  EXPECT_EQ(sink[0]->asked[1], std::make_tuple(2, 0, 1));
  EXPECT_TRUE(sink[0]->forwarded.empty());
  Pump();
  ASSERT_EQ(sink[0]->forwarded.size(), 1u);
  EXPECT_EQ(sink[0]->forwarded[0].node, 2);
  ASSERT_EQ(Result(2, rcv), 0);
  EXPECT_EQ(Msg(2, rcv).m_source, 100);
  EXPECT_EQ(Msg(2, rcv).m1_i1, 0x1234);
  EXPECT_EQ(eng[0]->LookupEndpoint(0, 1), 2);
  EXPECT_EQ(SlotName(0, 1), "auto");
  EXPECT_EQ(Run(2, MkMsg(kServer, VDVK_OP_REPLY, 100, 77, 0x4321)), 0);
  Pump();
  ASSERT_EQ(Result(0, sr), 0);
  EXPECT_EQ(Msg(0, sr).m_source, 1);
  EXPECT_EQ(Msg(0, sr).m1_i1, 0x4321);
  // The next call uses the automatic slot: no new question.
  const RequestId rcv2 = Submit(2, Mk(kServer, VDVK_OP_RECEIVE, {ANY}));
  Submit(0, MkMsg(kSys0, VDVK_OP_SEND, 1, 43, 7));
  Pump();
  EXPECT_EQ(sink[0]->asked.size(), 2u);
  EXPECT_EQ(Msg(2, rcv2).m1_i1, 7);
}

TEST_F(Trio, NobodyOwnsItGivesTheFreeEndpointErrors) {
  const RequestId s = Submit(0, MkMsg(kSys0, VDVK_OP_SEND, 7, 1, 1));
  const RequestId sr = Submit(0, MkMsg(kClient, VDVK_OP_SENDREC, 8, 1, 1));
  EXPECT_FALSE(Result(0, s).has_value());
  EXPECT_FALSE(Result(0, sr).has_value());
  Pump();
  EXPECT_EQ(Result(0, s), EDVSDSTDIED);
  EXPECT_EQ(Result(0, sr), EDVSDEADSRCDST);
  EXPECT_EQ(eng[0]->LookupEndpoint(0, 7), EDVSNOTBIND);  // no slot made
  EXPECT_EQ(sink[0]->asked.size(), 4u);                  // one question per node and endpoint
  // Notify and vcopy park and fail the same way.
  const RequestId n = Submit(0, Mk(kSys0, VDVK_OP_NOTIFY, {SELF, 7, 0}));
  Pump();
  EXPECT_EQ(Result(0, n), EDVSDSTDIED);
  const RequestId v = Submit(0, Mk(kSys0, VDVK_OP_VCOPY, {7, SELF, 64}));
  Pump();
  EXPECT_EQ(Result(0, v), EDVSSRCDIED);
  EXPECT_TRUE(sink[0]->forwarded.empty());
}

TEST_F(Trio, OnlyTheOwnersOwnAnswerCounts) {
  // Node 1 holds a stale REMOTE slot for ep 9 (it says "node 2"); node 2 does
  // not have it. Hearsay is not ownership: nobody owns ep 9.
  ASSERT_EQ(Run(1, Mk(P(1), VDVK_OP_BIND, {RMT_BIND, 0, -1, 9, 2})), 9);
  const RequestId s = Submit(0, MkMsg(kSys0, VDVK_OP_SEND, 9, 5, 5));
  Pump();
  EXPECT_EQ(Result(0, s), EDVSDSTDIED);
  EXPECT_TRUE(sink[0]->forwarded.empty());
  EXPECT_EQ(eng[0]->LookupEndpoint(0, 9), EDVSNOTBIND);
}

TEST_F(Trio, ConcurrentCallsShareOneLookup) {
  const RequestId rcv = Submit(2, Mk(kServer, VDVK_OP_RECEIVE, {ANY}));
  ASSERT_EQ(Run(0, Mk(kClient2, VDVK_OP_BIND, {SELF_BIND, 0, 0, 101})), 101);
  ASSERT_EQ(Run(0, Mk(kClient3, VDVK_OP_BIND, {SELF_BIND, 0, 0, 102})), 102);
  const RequestId a = Submit(0, MkMsg(kClient, VDVK_OP_SENDREC, 1, 1, 10));
  const RequestId b = Submit(0, MkMsg(kClient2, VDVK_OP_SENDREC, 1, 1, 11));
  const RequestId c = Submit(0, MkMsg(kClient3, VDVK_OP_SENDREC, 1, 1, 12));
  EXPECT_EQ(sink[0]->asked.size(), 2u);  // one question per node for all three
  Pump();
  EXPECT_EQ(sink[0]->forwarded.size(), 3u);
  // Submitted again in arrival order: the server sees them in that order.
  EXPECT_EQ(Msg(2, rcv).m1_i1, 10);
  // Answer each client with the next one's request value, then take it.
  for (auto [client, next] : {std::pair{100, 11}, std::pair{101, 12}}) {
    EXPECT_EQ(Run(2, MkMsg(kServer, VDVK_OP_REPLY, client, 2, next)), 0) << client;
    const RequestId r = Submit(2, Mk(kServer, VDVK_OP_RECEIVE, {ANY}));
    ASSERT_EQ(Result(2, r), 0);
    EXPECT_EQ(Msg(2, r).m1_i1, next);
  }
  EXPECT_EQ(Run(2, MkMsg(kServer, VDVK_OP_REPLY, 102, 2, 13)), 0);
  Pump();
  EXPECT_EQ(Msg(0, a).m1_i1, 11);
  EXPECT_EQ(Msg(0, b).m1_i1, 12);
  EXPECT_EQ(Msg(0, c).m1_i1, 13);
}

TEST_F(Trio, ParkedCallTimesOutIsCancelledOrDies) {
  ASSERT_EQ(Run(0, Mk(kClient2, VDVK_OP_BIND, {SELF_BIND, 0, 0, 101})), 101);
  ASSERT_EQ(Run(0, Mk(kClient3, VDVK_OP_BIND, {SELF_BIND, 0, 0, 102})), 102);
  const RequestId t = Submit(0, MkMsg(kClient, VDVK_OP_SENDREC, 1, 1, 1, /*to=*/50));
  const RequestId x = Submit(0, MkMsg(kClient2, VDVK_OP_SENDREC, 1, 1, 2));
  const RequestId d = Submit(0, MkMsg(kClient3, VDVK_OP_SENDREC, 1, 1, 3));
  ASSERT_TRUE(eng[0]->NextDeadline().has_value());
  now += 60'000'000;
  eng[0]->Tick(now);
  EXPECT_EQ(Result(0, t), EDVSTIMEDOUT);
  eng[0]->Cancel(x, now);
  EXPECT_EQ(Result(0, x), EDVSINTR);
  eng[0]->ProcessExited(kClient3, now);
  EXPECT_EQ(Result(0, d), EDVSINTR);
  // The answers still come (and make the slot), but no message leaves.
  Pump();
  EXPECT_TRUE(sink[0]->forwarded.empty());
  EXPECT_EQ(eng[0]->LookupEndpoint(0, 1), 2);
  EXPECT_EQ(Run(2, Mk(kServer, VDVK_OP_RECEIVE, {ANY}, TIMEOUT_NOWAIT)), EDVSAGAIN);
  // The timed-out client is free for a new call.
  const RequestId again = Submit(0, MkMsg(kClient, VDVK_OP_SENDREC, 1, 1, 4));
  Pump();
  EXPECT_FALSE(Result(0, again).has_value());
  EXPECT_EQ(Msg(2, Submit(2, Mk(kServer, VDVK_OP_RECEIVE, {ANY}))).m1_i1, 4);
  EXPECT_EQ(Run(2, MkMsg(kServer, VDVK_OP_REPLY, 100, 2, 5)), 0);
  Pump();
  EXPECT_EQ(Result(0, again), 0);
}

TEST_F(Trio, ResubmittedCallKeepsWhatIsLeftOfItsTimeout) {
  Submit(0, MkMsg(kSys0, VDVK_OP_SEND, 1, 1, 1, /*to=*/1000));
  now += 300'000'000;
  Pump();
  ASSERT_EQ(sink[0]->forwarded.size(), 1u);
  EXPECT_EQ(sink[0]->forwarded[0].timeout_ms, 700);
  now += 800'000'000;
  eng[2]->Tick(now);  // the receiving node applies it
  Pump();
  EXPECT_EQ(sink[0]->done.back().result, EDVSTIMEDOUT);
}

TEST_F(Trio, NodesGoingDownCountAsNo) {
  const RequestId s = Submit(0, MkMsg(kSys0, VDVK_OP_SEND, 1, 1, 1));
  down[1] = down[2] = true;  // their answers never come
  eng[0]->SetNodeUp(1, false, now);
  EXPECT_FALSE(Result(0, s).has_value());
  eng[0]->SetNodeUp(2, false, now);
  EXPECT_EQ(Result(0, s), EDVSDSTDIED);
  Pump();
  EXPECT_EQ(eng[0]->LookupEndpoint(0, 1), EDVSNOTBIND);
  // No member node up: the call fails at once, nobody is asked.
  const size_t asked = sink[0]->asked.size();
  EXPECT_EQ(Run(0, MkMsg(kSys0, VDVK_OP_SEND, 1, 1, 1)), EDVSDSTDIED);
  EXPECT_EQ(sink[0]->asked.size(), asked);
}

TEST_F(Trio, StaleAutomaticSlotIsDroppedAndResolvedAgain) {
  Submit(2, Mk(kServer, VDVK_OP_RECEIVE, {ANY}));
  Submit(0, MkMsg(kSys0, VDVK_OP_SEND, 1, 1, 1));
  Pump();
  ASSERT_EQ(eng[0]->LookupEndpoint(0, 1), 2);
  // The server moves from node 2 to node 1.
  ASSERT_EQ(Run(2, Mk(kServer, VDVK_OP_UNBIND, {0, 1})), 0);
  ASSERT_EQ(Run(1, Mk(kServer, VDVK_OP_BIND, {SELF_BIND, 0, 0, 1})), 1);
  const RequestId s = Submit(0, MkMsg(kSys0, VDVK_OP_SEND, 1, 1, 2));
  Pump();
  EXPECT_EQ(Result(0, s), EDVSDSTDIED);  // node 2 says gone
  EXPECT_EQ(eng[0]->LookupEndpoint(0, 1), EDVSNOTBIND);
  const RequestId rcv = Submit(1, Mk(kServer, VDVK_OP_RECEIVE, {ANY}));
  const RequestId s2 = Submit(0, MkMsg(kSys0, VDVK_OP_SEND, 1, 1, 3));
  Pump();
  EXPECT_EQ(Result(0, s2), 0);
  EXPECT_EQ(Msg(1, rcv).m1_i1, 3);
  EXPECT_EQ(eng[0]->LookupEndpoint(0, 1), 1);
}

TEST_F(Trio, ExplicitRmtbindIsNeverDroppedAndWins) {
  // rmtbind to the wrong node: errors from there leave the slot alone, and
  // nothing is asked.
  ASSERT_EQ(Run(0, Mk(P(1), VDVK_OP_BIND, {RMT_BIND, 0, -1, 1, 1})), 1);
  const RequestId s = Submit(0, MkMsg(kSys0, VDVK_OP_SEND, 1, 1, 1));
  Pump();
  EXPECT_EQ(Result(0, s), EDVSDSTDIED);
  EXPECT_EQ(eng[0]->LookupEndpoint(0, 1), 1);
  EXPECT_TRUE(sink[0]->asked.empty());
  ASSERT_EQ(Run(0, Mk(P(1), VDVK_OP_UNBIND, {0, 1})), 0);
  // An automatic slot is replaced by a later rmtbind (same node: kept, renamed;
  // another node: rebound there).
  Submit(2, Mk(kServer, VDVK_OP_RECEIVE, {ANY}));
  Submit(0, MkMsg(kSys0, VDVK_OP_SEND, 1, 1, 2));
  Pump();
  ASSERT_EQ(SlotName(0, 1), "auto");
  ASSERT_EQ(Run(0, Mk(P(1), VDVK_OP_BIND, {RMT_BIND, 0, -1, 1, 2})), 1);
  EXPECT_EQ(eng[0]->LookupEndpoint(0, 1), 2);
  EXPECT_NE(SlotName(0, 1), "auto");
  ASSERT_EQ(Run(0, Mk(P(1), VDVK_OP_UNBIND, {0, 1})), 0);
  Submit(0, MkMsg(kSys0, VDVK_OP_SEND, 1, 1, 3));
  Pump();
  ASSERT_EQ(SlotName(0, 1), "auto");
  ASSERT_EQ(Run(0, Mk(P(1), VDVK_OP_BIND, {RMT_BIND, 0, -1, 1, 1})), 1);
  EXPECT_EQ(eng[0]->LookupEndpoint(0, 1), 1);
}

TEST_F(Trio, VcopyResolvesItsRemoteParty) {
  const RequestId v = Submit(0, Mk(kSys0, VDVK_OP_VCOPY, {SELF, 1, 64}));
  Pump();
  ASSERT_EQ(sink[0]->forwarded.size(), 1u);
  EXPECT_EQ(sink[0]->forwarded[0].kind, RemoteKind::kVcopy);
  EXPECT_EQ(sink[0]->forwarded[0].node, 2);
  EXPECT_EQ(Result(0, v), EDVSPROCSTS);  // the server is not receiving there
}

TEST_F(Trio, CallsFromOtherNodesAreNeverResolved) {
  // Node 1 sends to node 0's ep 7 (rmtbind on node 1): free on node 0, and
  // node 0 does not ask around on node 1's behalf.
  ASSERT_EQ(Run(1, Mk(P(1), VDVK_OP_BIND, {RMT_BIND, 0, -1, 7, 0})), 7);
  ASSERT_EQ(Run(1, Mk(kOther, VDVK_OP_BIND, {SELF_BIND, 0, 0, 6})), 6);
  const RequestId s = Submit(1, MkMsg(kOther, VDVK_OP_SEND, 7, 1, 1));
  Pump();
  EXPECT_EQ(Result(1, s), EDVSDSTDIED);
  EXPECT_TRUE(sink[0]->asked.empty());
}

}  // namespace
}  // namespace vdvk::test
