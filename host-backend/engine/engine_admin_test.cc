// engine_admin_test.cc - DCs, nodes, info calls, unimplemented calls.
#include "host-backend/engine/engine_test_util.h"

namespace vdvk::test {
namespace {

using AdminTest = EngineTest;

TEST_F(AdminTest, Dc0IsUpWithDvsValues) {
  const vdvk_dc_info d = DcInfo(0);
  EXPECT_EQ(d.dcid, 0);
  EXPECT_EQ(d.flags, DC_RUNNING);
  EXPECT_EQ(d.nr_procs, 221);
  EXPECT_EQ(d.nr_tasks, 34);
  EXPECT_EQ(d.nr_sysprocs, 64);
  EXPECT_EQ(d.nr_nodes, 32);
  EXPECT_EQ(d.nodes, 1u);
  EXPECT_EQ(d.max_copylen, 1 << 20);
  EXPECT_STREQ(d.name, "DC0");
  EXPECT_EQ(DcInfo(1).flags, DC_FREE);
  EXPECT_EQ(Run(Mk(P(1), VDVK_OP_GETDCINFO, {32})), EDVSBADDCID);
  EXPECT_EQ(Run(Mk(P(1), VDVK_OP_GETDCINFO, {-1})), EDVSBADDCID);
}

TEST_F(AdminTest, NoDc0WhenNotConfigured) {
  cfg.start_dc0 = false;
  cfg.node_id = 3;
  Start();
  EXPECT_EQ(DcInfo(0).flags, DC_FREE);
  EXPECT_EQ(Bind(P(10), 1), EDVSDCNOTRUN);
  ASSERT_EQ(DcInit(P(1), 0), 0);
  EXPECT_EQ(DcInfo(0).nodes, uint64_t{1} << 3);  // the local node is always a member
  EXPECT_EQ(Bind(P(10), 1), 1);
}

TEST_F(AdminTest, DcInitReturnsInfoAndValidates) {
  vdvk_dc_init in{};
  in.dcid = 5;
  in.nr_procs = 100;
  in.nr_tasks = 10;
  in.nr_sysprocs = 20;
  in.nr_nodes = 8;
  in.max_copylen = 4096;
  in.nodes = 0x6;
  Call c = Mk(P(77), VDVK_OP_DCINIT, {});
  c.in = {reinterpret_cast<const uint8_t*>(&in), sizeof(in)};
  ASSERT_EQ(Run(c), 0);
  const Done& d = Get(c.id);
  ASSERT_EQ(d.out.size(), sizeof(vdvk_dc_info));
  vdvk_dc_info out;
  std::memcpy(&out, d.out.data(), sizeof(out));
  EXPECT_EQ(out.dcid, 5);
  EXPECT_EQ(out.nr_procs, 100);
  EXPECT_EQ(out.nr_tasks, 10);
  EXPECT_EQ(out.nr_sysprocs, 20);
  EXPECT_EQ(out.nodes, 0x7u);
  EXPECT_EQ(out.max_copylen, 4096);
  EXPECT_EQ(out.pid, 77);
  EXPECT_STREQ(out.name, "DC5");
  c.id = next_id++;
  EXPECT_EQ(Run(c), EDVSDCRUN);
  EXPECT_EQ(DcInit(P(1), 32), EDVSBADDCID);
  EXPECT_EQ(DcInit(P(1), 0), EDVSDCRUN);
  EXPECT_EQ(DcInit(P(1), 6, 0), EDVSBADVALUE);
  EXPECT_EQ(DcInit(P(1), 6, 4097), EDVSBADVALUE);
  EXPECT_EQ(DcInit(P(1), 6, 64, 36), EDVSBADVALUE);
  EXPECT_EQ(DcInit(P(1), 6, 64, -1), EDVSBADVALUE);
  EXPECT_EQ(DcInit(P(1), 6, 64, 8, 73), EDVSBADVALUE);
  EXPECT_EQ(DcInit(P(1), 6, 64, 8, 16, 0), EDVSBADVALUE);
  EXPECT_EQ(DcInit(P(1), 6, 64, 8, 16, 33), EDVSBADVALUE);
  EXPECT_EQ(DcInit(P(1), 6, 64, 8, 16, 4, uint64_t{1} << 40), EDVSBADVALUE);
  EXPECT_EQ(DcInfo(6).flags, DC_FREE);
  Call small = Mk(P(1), VDVK_OP_DCINIT, {});
  small.in = {reinterpret_cast<const uint8_t*>(&in), sizeof(in) - 1};
  EXPECT_EQ(Run(small), EDVSINVAL);
  // The vcopy limit of the DC applies.
  ASSERT_EQ(Bind(P(10), 1, 5), 1);
  ASSERT_EQ(Bind(P(11), 2, 5), 2);
  Receive(P(11), ANY);
  EXPECT_EQ(Result(Vcopy(P(10), 2, SELF, 4097)), EDVSRANGE);
  const RequestId v = Vcopy(P(10), 2, SELF, 4096);
  EXPECT_TRUE(Pending(v));
  eng->VcopyDone(v, 0, now);
}

TEST_F(AdminTest, DcInitNameAndPrivilege) {
  vdvk_dc_init in{};
  in.dcid = 2;
  in.nr_procs = 10;
  in.nr_nodes = 1;
  std::memcpy(in.name, "sixteen-chars-xx", 16);  // no NUL: truncated
  Call c = Mk(P(1), VDVK_OP_DCINIT, {});
  c.in = {reinterpret_cast<const uint8_t*>(&in), sizeof(in)};
  ASSERT_EQ(Run(c), 0);
  EXPECT_STREQ(DcInfo(2).name, "sixteen-chars-x");
  ASSERT_EQ(Bind(P(10), 100), 100);  // a user process of DC 0
  EXPECT_EQ(DcInit(P(10), 3), EDVSBADCALL);
  ASSERT_EQ(Bind(P(11), 1), 1);  // a system process
  EXPECT_EQ(DcInit(P(11), 3), 0);
}

TEST_F(AdminTest, DcEndEndsEverything) {
  ASSERT_EQ(DcInit(P(1), 1), 0);
  ASSERT_EQ(Bind(P(10), 1, 1), 1);
  ASSERT_EQ(Bind(P(11), 2, 1), 2);
  ASSERT_EQ(Bind(P(12), 3, 1), 3);
  ASSERT_EQ(Bind(P(14), 4, 1), 4);
  const RequestId r = Receive(P(10), ANY);
  const RequestId r2 = Receive(P(11), 1);  // waits on a slot freed before it
  const RequestId s = Send(P(12), 2);      // queued on a slot freed before it
  ASSERT_TRUE(Pending(s));
  const RequestId w = Wait4Bind(P(13), WAIT_BIND, 5);  // unbound: waits in DC 0
  const RequestId w1 = Wait4Bind(P(14), WAIT_BIND, 5);  // bound in DC 1: waits there
  EXPECT_EQ(Run(Mk(P(1), VDVK_OP_DCEND, {1})), 0);
  EXPECT_EQ(Result(r), EDVSDCNOTRUN);
  EXPECT_EQ(Result(r2), EDVSDCNOTRUN);
  EXPECT_EQ(Result(s), EDVSDCNOTRUN);
  EXPECT_EQ(Result(w1), EDVSDCNOTRUN);
  EXPECT_TRUE(Pending(w));
  EXPECT_EQ(DcInfo(1).flags, DC_FREE);
  EXPECT_EQ(Run(Mk(P(1), VDVK_OP_GETPROCINFO, {1, 1})), EDVSDCNOTRUN);
  EXPECT_EQ(Bind(P(10), 1, 1), EDVSDCNOTRUN);
  EXPECT_EQ(Run(Mk(P(1), VDVK_OP_DCEND, {1})), EDVSDCNOTRUN);
  EXPECT_EQ(Run(Mk(P(1), VDVK_OP_DCEND, {40})), EDVSBADDCID);
  // The processes are free to bind again, in DC 0 or a new DC 1.
  EXPECT_EQ(Bind(P(10), 1), 1);
  ASSERT_EQ(DcInit(P(1), 1, 20), 0);
  EXPECT_EQ(Bind(P(11), 2, 1), 2);
  EXPECT_EQ(Bind(P(13), 5), 5);
  EXPECT_EQ(Result(w), 5);
}

TEST_F(AdminTest, ProcInfoFlags) {
  const vdvk_proc_info free_slot = ProcInfo(9);
  EXPECT_EQ(free_slot.rts_flags, static_cast<uint64_t>(SLOT_FREE));
  EXPECT_EQ(free_slot.endpoint, NONE);
  EXPECT_EQ(free_slot.lpid, -1);
  EXPECT_EQ(free_slot.name[0], '\0');
  EXPECT_EQ(free_slot.nr, 9);
  ASSERT_EQ(Bind(P(10, 2), 1), 1);
  ASSERT_EQ(Bind(P(11), 2), 2);
  ASSERT_EQ(Bind(P(12), 3), 3);
  Receive(P(10, 2), 3);
  Send(P(11), 3);
  const vdvk_proc_info r = ProcInfo(1);
  EXPECT_EQ(r.rts_flags, static_cast<uint64_t>(RECEIVING));
  EXPECT_EQ(r.getfrom, 3);
  EXPECT_EQ(r.sendto, NONE);
  EXPECT_EQ(r.domain, 2);
  const vdvk_proc_info s = ProcInfo(2);
  EXPECT_EQ(s.rts_flags, static_cast<uint64_t>(SENDING));
  EXPECT_EQ(s.sendto, 3);
  EXPECT_EQ(s.getfrom, NONE);
  EXPECT_EQ(s.domain, 0);
  EXPECT_EQ(ProcInfo(3).rts_flags, 0u);
  EXPECT_EQ(Run(Mk(P(1), VDVK_OP_GETPROCINFO, {0, 221})), EDVSBADPROC);
  EXPECT_EQ(Run(Mk(P(1), VDVK_OP_GETPROCINFO, {0, -35})), EDVSBADPROC);
  EXPECT_EQ(Run(Mk(P(1), VDVK_OP_GETPROCINFO, {32, 0})), EDVSBADDCID);
  EXPECT_EQ(Run(Mk(P(1), VDVK_OP_GETPROCINFO, {7, 0})), EDVSDCNOTRUN);
}

TEST_F(AdminTest, NodeAndDvsInfo) {
  cfg.node_id = 2;
  cfg.node_name = "alpha";
  Start();
  ASSERT_EQ(DcInit(P(1), 4, 10, 0, 0, 4, 0x1), 0);  // nodes 0 and 2
  Call c = Mk(P(1), VDVK_OP_GETNODEINFO, {2});
  ASSERT_EQ(Run(c), 0);
  vdvk_node_info n;
  ASSERT_EQ(Get(c.id).out.size(), sizeof(n));
  std::memcpy(&n, Get(c.id).out.data(), sizeof(n));
  EXPECT_EQ(n.nodeid, 2);
  EXPECT_EQ(n.flags, static_cast<uint64_t>(NODE_ATTACHED));
  EXPECT_EQ(n.dcs, 0x11u);  // DC 0 and DC 4
  EXPECT_STREQ(n.name, "alpha");
  Call c0 = Mk(P(1), VDVK_OP_GETNODEINFO, {0});
  ASSERT_EQ(Run(c0), 0);
  std::memcpy(&n, Get(c0.id).out.data(), sizeof(n));
  EXPECT_EQ(n.flags, 0u);
  EXPECT_EQ(n.dcs, 0x10u);
  EXPECT_EQ(Run(Mk(P(1), VDVK_OP_GETNODEINFO, {32})), EDVSBADNODEID);
  EXPECT_EQ(Run(Mk(P(1), VDVK_OP_GETNODEINFO, {-1})), EDVSBADNODEID);

  Call dv = Mk(P(1), VDVK_OP_GETDVSINFO, {});
  EXPECT_EQ(Run(dv), 2);
  vdvk_dvs_info v;
  ASSERT_EQ(Get(dv.id).out.size(), sizeof(v));
  std::memcpy(&v, Get(dv.id).out.data(), sizeof(v));
  EXPECT_STREQ(v.name, "alpha");
  EXPECT_EQ(v.nr_dcs, 32);
  EXPECT_EQ(v.nr_nodes, 32);
  EXPECT_EQ(v.nr_procs, 221);
  EXPECT_EQ(v.nr_tasks, 34);
  EXPECT_EQ(v.nr_sysprocs, 64);
  EXPECT_EQ(v.max_copybuf, 65536);
  EXPECT_EQ(v.max_copylen, 1048576);
  EXPECT_EQ(v.version, 1);
  EXPECT_EQ(v.flags, (1u << 2) | (1u << 8));
  EXPECT_EQ(v.size_proc, static_cast<int32_t>(sizeof(vdvk_proc_info)));
  EXPECT_EQ(v.nodeid, 2);
  EXPECT_EQ(eng->node_id(), 2);
}

TEST_F(AdminTest, AddAndDelNode) {
  EXPECT_EQ(Run(Mk(P(1), VDVK_OP_ADDNODE, {0, 5})), 0);
  EXPECT_EQ(DcInfo(0).nodes, 0x21u);
  EXPECT_EQ(Run(Mk(P(1), VDVK_OP_ADDNODE, {0, 5})), EDVSDCNODE);
  EXPECT_EQ(Run(Mk(P(1), VDVK_OP_ADDNODE, {0, 32})), EDVSBADNODEID);
  EXPECT_EQ(Run(Mk(P(1), VDVK_OP_ADDNODE, {32, 1})), EDVSBADDCID);
  EXPECT_EQ(Run(Mk(P(1), VDVK_OP_ADDNODE, {3, 1})), EDVSDCNOTRUN);
  EXPECT_EQ(Run(Mk(P(1), VDVK_OP_DELNODE, {0, 5})), 0);
  EXPECT_EQ(DcInfo(0).nodes, 0x1u);
  EXPECT_EQ(Run(Mk(P(1), VDVK_OP_DELNODE, {0, 5})), EDVSNODCNODE);
  EXPECT_EQ(Run(Mk(P(1), VDVK_OP_DELNODE, {0, 0})), EDVSINVAL);
  EXPECT_EQ(Run(Mk(P(1), VDVK_OP_DELNODE, {0, -1})), EDVSBADNODEID);
}

TEST_F(AdminTest, UnimplementedCalls) {
  EXPECT_EQ(Run(Mk(P(1), VDVK_OP_DVSINIT, {0})), EDVSDVSINIT);
  EXPECT_EQ(Run(Mk(P(1), VDVK_OP_DVSEND, {})), EDVSPERM);
  for (uint32_t op : std::initializer_list<uint32_t>{VDVK_OP_GETPRIV, VDVK_OP_SETPRIV, VDVK_OP_RELAY, VDVK_OP_PROXYBIND,
                      VDVK_OP_PROXYUNBIND, VDVK_OP_PUT2LCL, VDVK_OP_GET2RMT, VDVK_OP_PROXYCONN,
                      VDVK_OP_MIGRATE, VDVK_OP_NODEUP, VDVK_OP_NODEDOWN, VDVK_OP_GETPROXYINFO,
                      VDVK_OP_VCOPY_DONE, 0u, 99u}) {
    EXPECT_EQ(Run(Mk(P(1), op, {})), EDVSNOSYS) << "op " << op;
  }
}

}  // namespace
}  // namespace vdvk::test
