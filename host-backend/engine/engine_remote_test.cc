// engine_remote_test.cc - two engines (node 0 and node 1) wired together in
// process (engine_cluster_util.h): what one forwards the other receives, but
// only when the test pumps the link, so every "still blocked until
// acknowledged" state is observable.
#include "host-backend/engine/engine_cluster_util.h"

namespace vdvk::test {
namespace {

class Cluster : public ClusterTest {
 protected:
  Cluster() : ClusterTest(2) {}
  void SetUp() override {
    ClusterTest::SetUp();
    if (HasFatalFailure()) return;
    // Node 0: client C (user, ep 100) and system S0 (ep 5); node 1: server S (ep 1).
    ASSERT_EQ(Run(0, Mk(kClient, VDVK_OP_BIND, {SELF_BIND, 0, 0, 100})), 100);
    ASSERT_EQ(Run(0, Mk(kSys0, VDVK_OP_BIND, {SELF_BIND, 0, 0, 5})), 5);
    ASSERT_EQ(Run(1, Mk(kServer, VDVK_OP_BIND, {SELF_BIND, 0, 0, 1})), 1);
    ASSERT_EQ(Run(0, Mk(P(1), VDVK_OP_BIND, {RMT_BIND, 0, -1, 1, 1})), 1);
  }

  const ProcKey kClient{0, 500}, kSys0{0, 501}, kServer{0, 600}, kOther{0, 601};
};

TEST_F(Cluster, RmtBindChecksNodeLinkAndDc) {
  EXPECT_EQ(Run(0, Mk(P(1), VDVK_OP_BIND, {RMT_BIND, 0, -1, 2, 0})), EDVSBADNODEID);  // ourselves
  EXPECT_EQ(Run(0, Mk(P(1), VDVK_OP_BIND, {RMT_BIND, 0, -1, 2, 3})), EDVSNOPROXY);   // no link
  eng[0]->SetNodeUp(3, true, now);
  EXPECT_EQ(Run(0, Mk(P(1), VDVK_OP_BIND, {RMT_BIND, 0, -1, 2, 3})), EDVSNODCNODE);  // not in DC
  EXPECT_EQ(Run(0, Mk(P(1), VDVK_OP_BIND, {RMT_BIND, 0, -1, 1, 1})), EDVSSLOTUSED);
  EXPECT_EQ(Run(0, Mk(P(1), VDVK_OP_BIND, {RMT_BIND, 0, -1, 100, 1})), EDVSSLOTUSED);  // local
  EXPECT_EQ(eng[0]->LookupEndpoint(0, 1), 1);
  EXPECT_EQ(eng[0]->LookupEndpoint(0, 100), 0);
  EXPECT_EQ(eng[0]->LookupEndpoint(0, 7), EDVSNOTBIND);
}

TEST_F(Cluster, SendrecRoundTripCarriesPayloadBothWays) {
  const RequestId rcv = Submit(1, Mk(kServer, VDVK_OP_RECEIVE, {ANY}));
  const RequestId sr = Submit(0, MkMsg(kClient, VDVK_OP_SENDREC, 1, 42, 0x1234));
  ASSERT_EQ(sink[0]->forwarded.size(), 1u);
  EXPECT_EQ(sink[0]->forwarded[0].kind, RemoteKind::kSendrec);
  Pump();
  ASSERT_EQ(Result(1, rcv), 0);
  EXPECT_EQ(Msg(1, rcv).m_source, 100);  // the remote client's endpoint
  EXPECT_EQ(Msg(1, rcv).m_type, 42);
  EXPECT_EQ(Msg(1, rcv).m1_i1, 0x1234);
  EXPECT_FALSE(Result(0, sr).has_value());  // delivered, but no answer yet
  // Node 1 now has a REMOTE slot for the client.
  EXPECT_EQ(eng[1]->LookupEndpoint(0, 100), 0);

  Call rep = MkMsg(kServer, VDVK_OP_REPLY, 100, 77, 0x4321);
  EXPECT_EQ(Run(1, rep), 0);
  EXPECT_FALSE(Result(0, sr).has_value());  // the answer is still on the wire
  Pump();
  ASSERT_EQ(Result(0, sr), 0);
  EXPECT_EQ(Msg(0, sr).m_source, 1);
  EXPECT_EQ(Msg(0, sr).m_type, 77);
  EXPECT_EQ(Msg(0, sr).m1_i1, 0x4321);
  // And a second round works (slots returned to idle on both sides).
  const RequestId rcv2 = Submit(1, Mk(kServer, VDVK_OP_RECEIVE, {ANY}));
  const RequestId sr2 = Submit(0, MkMsg(kClient, VDVK_OP_SENDREC, 1, 43, 2));
  Pump();
  EXPECT_EQ(Msg(1, rcv2).m1_i1, 2);
  // A plain send from the server counts as the reply.
  EXPECT_EQ(Run(1, MkMsg(kServer, VDVK_OP_SEND, 100, 78, 3)), 0);
  Pump();
  EXPECT_EQ(Msg(0, sr2).m1_i1, 3);
}

TEST_F(Cluster, SendrecQueuesUntilServerReceives) {
  const RequestId sr = Submit(0, MkMsg(kClient, VDVK_OP_SENDREC, 1, 42, 9));
  Pump();
  EXPECT_FALSE(Result(0, sr).has_value());
  const RequestId rcv = Submit(1, Mk(kServer, VDVK_OP_RECEIVE, {ANY}));
  EXPECT_EQ(Msg(1, rcv).m1_i1, 9);
  EXPECT_EQ(Run(1, MkMsg(kServer, VDVK_OP_REPLY, 100, 1, 10)), 0);
  Pump();
  EXPECT_EQ(Msg(0, sr).m1_i1, 10);
}

TEST_F(Cluster, SendBlocksUntilRemoteDelivery) {
  const RequestId s = Submit(0, MkMsg(kSys0, VDVK_OP_SEND, 1, 5, 11));
  Pump();
  EXPECT_FALSE(Result(0, s).has_value());  // queued at node 1, not acknowledged
  const RequestId rcv = Submit(1, Mk(kServer, VDVK_OP_RECEIVE, {5}));  // from the remote ep
  EXPECT_EQ(Msg(1, rcv).m1_i1, 11);
  EXPECT_EQ(Msg(1, rcv).m_source, 5);
  Pump();
  EXPECT_EQ(Result(0, s), 0);
}

TEST_F(Cluster, NowaitSendWithoutReceiverIsAgain) {
  const RequestId s = Submit(0, MkMsg(kSys0, VDVK_OP_SEND, 1, 5, 11, TIMEOUT_NOWAIT));
  Pump();
  EXPECT_EQ(Result(0, s), EDVSAGAIN);
}

TEST_F(Cluster, NotifyAcrossNodes) {
  const RequestId n = Submit(0, Mk(kSys0, VDVK_OP_NOTIFY, {SELF, 1, 99}));
  EXPECT_FALSE(Result(0, n).has_value());
  Pump();
  EXPECT_EQ(Result(0, n), 0);  // pending on node 1 counts as accepted
  const RequestId rcv = Submit(1, Mk(kServer, VDVK_OP_RECEIVE, {ANY}));
  ASSERT_EQ(Result(1, rcv), 0);
  EXPECT_EQ(Msg(1, rcv).m_source, 5);
  EXPECT_EQ(Msg(1, rcv).m_type, NOTIFY_FROM(5));
  EXPECT_EQ(Msg(1, rcv).NOTIFY_ARG, 99);
}

TEST_F(Cluster, NotifyToRemoteUserProcessIsDeniedThere) {
  ASSERT_EQ(Run(1, Mk(kOther, VDVK_OP_BIND, {SELF_BIND, 0, 0, 150})), 150);
  ASSERT_EQ(Run(0, Mk(P(1), VDVK_OP_BIND, {RMT_BIND, 0, -1, 150, 1})), 150);
  const RequestId n = Submit(0, Mk(kSys0, VDVK_OP_NOTIFY, {SELF, 150, 1}));
  Pump();
  EXPECT_EQ(Result(0, n), EDVSTRAPDENIED);
}

TEST_F(Cluster, NodeDownFailsPendingAndLaterSends) {
  const RequestId sr = Submit(0, MkMsg(kClient, VDVK_OP_SENDREC, 1, 42, 9));
  Pump();  // queued at node 1
  eng[0]->SetNodeUp(1, false, now);
  EXPECT_EQ(Result(0, sr), EDVSNOTCONN);
  EXPECT_EQ(Run(0, MkMsg(kClient, VDVK_OP_SENDREC, 1, 42, 9)), EDVSNOPROXY);
  // Node 1 sees node 0 down too: the queued request is withdrawn, not delivered.
  eng[1]->SetNodeUp(0, false, now);
  Pump();
  EXPECT_EQ(Run(1, Mk(kServer, VDVK_OP_RECEIVE, {ANY}, TIMEOUT_NOWAIT)), EDVSAGAIN);
  // The link returns: the REMOTE slot was kept and works again.
  eng[0]->SetNodeUp(1, true, now);
  eng[1]->SetNodeUp(0, true, now);
  const RequestId sr2 = Submit(0, MkMsg(kClient, VDVK_OP_SENDREC, 1, 42, 10));
  Pump();
  const RequestId rcv = Submit(1, Mk(kServer, VDVK_OP_RECEIVE, {ANY}));
  EXPECT_EQ(Msg(1, rcv).m1_i1, 10);
  EXPECT_EQ(Run(1, MkMsg(kServer, VDVK_OP_REPLY, 100, 1, 11)), 0);
  Pump();
  EXPECT_EQ(Msg(0, sr2).m1_i1, 11);
}

TEST_F(Cluster, ResultAfterNodeDownIsIgnored) {
  const RequestId sr = Submit(0, MkMsg(kClient, VDVK_OP_SENDREC, 1, 42, 9));
  eng[0]->SetNodeUp(1, false, now);
  EXPECT_EQ(Result(0, sr), EDVSNOTCONN);
  Pump();  // node 1 queues it; a later answer finds nobody waiting
  const RequestId rcv = Submit(1, Mk(kServer, VDVK_OP_RECEIVE, {ANY}));
  EXPECT_EQ(Result(1, rcv), 0);
  EXPECT_EQ(Run(1, MkMsg(kServer, VDVK_OP_REPLY, 100, 1, 11)), 0);
  Pump();  // TearDown checks the client completed exactly once
}

TEST_F(Cluster, SenderSlotBoundLocallyIsSlotUsed) {
  // Node 1 has its own process at the client's endpoint number.
  ASSERT_EQ(Run(1, Mk(kOther, VDVK_OP_BIND, {SELF_BIND, 0, 0, 100})), 100);
  const RequestId sr = Submit(0, MkMsg(kClient, VDVK_OP_SENDREC, 1, 42, 9));
  Pump();
  EXPECT_EQ(Result(0, sr), EDVSSLOTUSED);
}

TEST_F(Cluster, SenderNodeNotInDcIsRefused) {
  ASSERT_EQ(Run(1, Mk(P(1), VDVK_OP_DELNODE, {0, 0})), 0);
  const RequestId sr = Submit(0, MkMsg(kClient, VDVK_OP_SENDREC, 1, 42, 9));
  Pump();
  EXPECT_EQ(Result(0, sr), EDVSNODCNODE);
}

TEST_F(Cluster, ServerDeathReachesRemoteClient) {
  Submit(1, Mk(kServer, VDVK_OP_RECEIVE, {ANY}));
  const RequestId sr = Submit(0, MkMsg(kClient, VDVK_OP_SENDREC, 1, 42, 9));
  Pump();
  eng[1]->ProcessExited(kServer, now);
  Pump();
  EXPECT_EQ(Result(0, sr), EDVSSRCDIED);
}

TEST_F(Cluster, NodeInfoShowsLinkAndTraffic) {
  auto info = [&](int n, int32_t node) {
    const RequestId id = Submit(n, Mk(P(1), VDVK_OP_GETNODEINFO, {node}));
    vdvk_node_info out{};
    for (const Done& d : sink[n]->done) {
      if (d.id == id && d.result == 0 && d.out.size() == sizeof(out)) std::memcpy(&out, d.out.data(), sizeof(out));
    }
    return out;
  };
  EXPECT_EQ(info(0, 1).flags, uint64_t{NODE_ATTACHED});
  EXPECT_EQ(info(0, 2).flags, 0u);
  Submit(1, Mk(kServer, VDVK_OP_RECEIVE, {ANY}));
  Submit(0, MkMsg(kClient, VDVK_OP_SENDREC, 1, 42, 9));
  Pump();
  EXPECT_EQ(info(0, 1).pxsent, 1u);
  EXPECT_EQ(info(1, 0).pxrcvd, 1u);
  eng[0]->SetNodeUp(1, false, now);
  EXPECT_EQ(info(0, 1).flags, 0u);
}

// ---- remote vcopy: node 0 checks its party, node 1 its own and moves bytes ----

Call VcopyCall(RequestId id, ProcKey who, int32_t src, int32_t dst, int32_t bytes) {
  Call c;
  c.id = id;
  c.caller = who;
  c.op = VDVK_OP_VCOPY;
  c.arg[0] = src;
  c.arg[1] = dst;
  c.arg[2] = bytes;
  c.addr[0] = 0x1000;
  c.addr[1] = 0x2000;
  return c;
}

TEST_F(Cluster, RemoteVcopyPushGrantsThereAndEndsOnlyWhenDone) {
  Submit(1, Mk(kServer, VDVK_OP_RECEIVE, {ANY}));
  const RequestId v = Submit(0, VcopyCall(next_id++, kSys0, SELF, 1, 4096));
  ASSERT_EQ(sink[0]->forwarded.size(), 1u);
  const RemoteOp& op = sink[0]->forwarded[0];
  EXPECT_EQ(op.kind, RemoteKind::kVcopy);
  EXPECT_FALSE(op.vcopy_party_is_src);
  EXPECT_EQ(op.vcopy_local, kSys0);
  EXPECT_EQ(op.vcopy_local_addr, 0x1000u);
  EXPECT_EQ(op.vcopy_addr, 0x2000u);
  EXPECT_EQ(op.vcopy_request, v);  // the transport finds the caller's pages by it
  EXPECT_TRUE(op.vcopy_local_is_caller);
  Pump();
  ASSERT_EQ(sink[1]->rgrants.size(), 1u);
  const RemoteVcopyGrant g = sink[1]->rgrants[0];
  EXPECT_EQ(g.party, kServer);
  EXPECT_EQ(g.addr, 0x2000u);
  EXPECT_EQ(g.bytes, 4096u);
  EXPECT_EQ(g.node, 0);
  EXPECT_FALSE(Result(0, v).has_value());  // not before the bytes moved
  // The server is marked busy on its node while the copy runs.
  ASSERT_EQ(Run(1, Mk(kOther, VDVK_OP_BIND, {SELF_BIND, 0, 0, 2})), 2);
  EXPECT_EQ(Run(1, VcopyCall(next_id++, kOther, SELF, 1, 16)), EDVSBUSY);
  eng[1]->RemoteVcopyDone(g.node, g.op_id, 0, now);
  Pump();
  EXPECT_EQ(Result(0, v), 0);
  EXPECT_EQ(eng[0]->counters().vcopy_bytes, 4096u);
  // Mark cleared: a local vcopy to the server is granted again.
  const RequestId l = Submit(1, VcopyCall(next_id++, kOther, SELF, 1, 16));
  EXPECT_FALSE(Result(1, l).has_value());
  ASSERT_EQ(sink[1]->grants.size(), 1u);
  eng[1]->VcopyDone(l, 0, now);
  EXPECT_EQ(Result(1, l), 0);
}

TEST_F(Cluster, RemoteVcopyByAThirdPartyNamesTheLocalPartyNotTheCaller) {
  Submit(1, Mk(kServer, VDVK_OP_RECEIVE, {ANY}));
  ASSERT_EQ(Run(0, Mk(kOther, VDVK_OP_BIND, {SELF_BIND, 0, 0, 6})), 6);
  Submit(0, Mk(kOther, VDVK_OP_RECEIVE, {ANY}));  // the local party, waiting
  const RequestId v = Submit(0, VcopyCall(next_id++, kSys0, 6, 1, 64));
  ASSERT_EQ(sink[0]->forwarded.size(), 1u);
  const RemoteOp& op = sink[0]->forwarded[0];
  EXPECT_EQ(op.vcopy_local, kOther);
  EXPECT_EQ(op.vcopy_request, v);
  EXPECT_FALSE(op.vcopy_local_is_caller);  // its pages are not the caller's
}

TEST_F(Cluster, RemoteVcopyPullNamesTheRemoteSource) {
  Submit(1, Mk(kServer, VDVK_OP_RECEIVE, {ANY}));
  const RequestId v = Submit(0, VcopyCall(next_id++, kSys0, 1, SELF, 100));
  Pump();
  ASSERT_EQ(sink[1]->rgrants.size(), 1u);
  const RemoteVcopyGrant g = sink[1]->rgrants[0];
  EXPECT_TRUE(g.party_is_src);
  EXPECT_EQ(g.addr, 0x1000u);
  EXPECT_EQ(sink[0]->forwarded[0].vcopy_local_addr, 0x2000u);
  eng[1]->RemoteVcopyDone(g.node, g.op_id, EDVSSRCDIED, now);
  Pump();
  EXPECT_EQ(Result(0, v), EDVSSRCDIED);
}

TEST_F(Cluster, RemoteVcopyPartyMustBeReceivingThere) {
  const RequestId v = Submit(0, VcopyCall(next_id++, kSys0, SELF, 1, 16));
  Pump();
  EXPECT_EQ(Result(0, v), EDVSPROCSTS);
  EXPECT_TRUE(sink[1]->rgrants.empty());
}

TEST_F(Cluster, RemoteVcopyLocalRulesHoldBeforeForwarding) {
  // The local source (not the caller) is not receiving.
  EXPECT_EQ(Run(0, VcopyCall(next_id++, kSys0, 100, 1, 16)), EDVSPROCSTS);
  EXPECT_TRUE(sink[0]->forwarded.empty());
  // Both parties remote: no relay.
  ASSERT_EQ(Run(0, Mk(P(1), VDVK_OP_BIND, {RMT_BIND, 0, -1, 2, 1})), 2);
  EXPECT_EQ(Run(0, VcopyCall(next_id++, kSys0, 1, 2, 16)), EDVSNOPROXY);
  // Too long.
  EXPECT_EQ(Run(0, VcopyCall(next_id++, kSys0, SELF, 1, (1 << 20) + 1)), EDVSRANGE);
  // Node down: no proxy.
  eng[0]->SetNodeUp(1, false, now);
  EXPECT_EQ(Run(0, VcopyCall(next_id++, kSys0, SELF, 1, 16)), EDVSNOPROXY);
}

TEST_F(Cluster, RemoteVcopyLinkDownMidTransferFreesBothSides) {
  Submit(1, Mk(kServer, VDVK_OP_RECEIVE, {ANY}));
  const RequestId v = Submit(0, VcopyCall(next_id++, kSys0, SELF, 1, 4096));
  Pump();
  ASSERT_EQ(sink[1]->rgrants.size(), 1u);
  const RemoteVcopyGrant g = sink[1]->rgrants[0];
  eng[0]->SetNodeUp(1, false, now);
  EXPECT_EQ(Result(0, v), EDVSNOTCONN);
  eng[1]->SetNodeUp(0, false, now);
  eng[1]->RemoteVcopyDone(g.node, g.op_id, 0, now);  // late: ignored
  Pump();
  // Node 0's caller is free again, node 1's server is no longer busy.
  ASSERT_EQ(Run(1, Mk(kOther, VDVK_OP_BIND, {SELF_BIND, 0, 0, 2})), 2);
  const RequestId l = Submit(1, VcopyCall(next_id++, kOther, SELF, 1, 16));
  EXPECT_FALSE(Result(1, l).has_value());
  eng[1]->VcopyDone(l, 0, now);
  const RequestId r = Submit(0, Mk(kSys0, VDVK_OP_RECEIVE, {ANY}, TIMEOUT_NOWAIT));
  EXPECT_EQ(Result(0, r), EDVSAGAIN);
}

TEST_F(Cluster, ServerVcopiesIntoRemoteClientBlockedInSendrec) {
  Submit(1, Mk(kServer, VDVK_OP_RECEIVE, {ANY}));
  const RequestId sr = Submit(0, MkMsg(kClient, VDVK_OP_SENDREC, 1, 42, 9));
  Pump();  // the server has the request; the client waits for the answer
  const RequestId v = Submit(1, VcopyCall(next_id++, kServer, SELF, 100, 512));
  Pump();
  ASSERT_EQ(sink[0]->rgrants.size(), 1u);
  EXPECT_EQ(sink[0]->rgrants[0].party, kClient);
  eng[0]->RemoteVcopyDone(1, sink[0]->rgrants[0].op_id, 0, now);
  Pump();
  EXPECT_EQ(Result(1, v), 0);
  EXPECT_EQ(Run(1, MkMsg(kServer, VDVK_OP_REPLY, 100, 1, 11)), 0);
  Pump();
  EXPECT_EQ(Msg(0, sr).m1_i1, 11);
}

TEST_F(Cluster, RemoteVcopyCallerDeathWithdrawsTheGrant) {
  Submit(1, Mk(kServer, VDVK_OP_RECEIVE, {ANY}));
  const RequestId v = Submit(0, VcopyCall(next_id++, kSys0, SELF, 1, 4096));
  Pump();
  ASSERT_EQ(sink[1]->rgrants.size(), 1u);
  eng[0]->ProcessExited(kSys0, now);
  EXPECT_EQ(Result(0, v), EDVSINTR);
  Pump();
  ASSERT_EQ(Run(1, Mk(kOther, VDVK_OP_BIND, {SELF_BIND, 0, 0, 2})), 2);
  const RequestId l = Submit(1, VcopyCall(next_id++, kOther, SELF, 1, 16));
  EXPECT_FALSE(Result(1, l).has_value());  // granted: the server's mark is gone
  eng[1]->VcopyDone(l, 0, now);
}

TEST_F(Cluster, CancelledForwardIsWithdrawnThere) {
  const RequestId sr = Submit(0, MkMsg(kClient, VDVK_OP_SENDREC, 1, 42, 9));
  Pump();  // queued on node 1
  eng[0]->Cancel(sr, now);
  EXPECT_EQ(Result(0, sr), EDVSINTR);
  EXPECT_EQ(sink[0]->cancels, 1);
  Pump();
  // Withdrawn: the server never sees it.
  EXPECT_EQ(Run(1, Mk(kServer, VDVK_OP_RECEIVE, {ANY}, TIMEOUT_NOWAIT)), EDVSAGAIN);
  // The client is free to call again, and that call is not "busy" over there.
  const RequestId sr2 = Submit(0, MkMsg(kClient, VDVK_OP_SENDREC, 1, 42, 10));
  Pump();
  const RequestId rcv = Submit(1, Mk(kServer, VDVK_OP_RECEIVE, {ANY}));
  EXPECT_EQ(Msg(1, rcv).m1_i1, 10);
  EXPECT_EQ(Run(1, MkMsg(kServer, VDVK_OP_REPLY, 100, 1, 11)), 0);
  Pump();
  EXPECT_EQ(Msg(0, sr2).m1_i1, 11);
}

TEST_F(Cluster, ClientDeathWithdrawsItsRequestInReplyPhase) {
  Submit(1, Mk(kServer, VDVK_OP_RECEIVE, {ANY}));
  const RequestId sr = Submit(0, MkMsg(kClient, VDVK_OP_SENDREC, 1, 42, 9));
  Pump();  // delivered; node 1 waits for the server's answer
  eng[0]->ProcessExited(kClient, now);
  EXPECT_EQ(Result(0, sr), EDVSINTR);
  Pump();
  // The client no longer waits for an answer over there: the reply goes to
  // node 0 as a plain reply, which finds nobody waiting.
  const RequestId rep = Submit(1, MkMsg(kServer, VDVK_OP_REPLY, 100, 1, 1));
  Pump();
  EXPECT_LT(Result(1, rep).value_or(0), 0);
}

TEST_F(Cluster, AnsweredOrDownOpsAreNotCancelled) {
  Submit(1, Mk(kServer, VDVK_OP_RECEIVE, {ANY}));
  Submit(0, MkMsg(kClient, VDVK_OP_SENDREC, 1, 42, 9));
  Pump();
  EXPECT_EQ(Run(1, MkMsg(kServer, VDVK_OP_REPLY, 100, 1, 1)), 0);
  Pump();
  Submit(0, MkMsg(kClient, VDVK_OP_SENDREC, 1, 42, 9));
  eng[0]->SetNodeUp(1, false, now);
  EXPECT_EQ(sink[0]->cancels, 0);
}

}  // namespace
}  // namespace vdvk::test
