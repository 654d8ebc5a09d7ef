// dc_test.cc - DCs are separate namespaces: an endpoint bound in DC 0 is not
// reachable from DC 1 even with the same number.
#include <unistd.h>

#include "tests/integration/harness.h"

namespace vdvk::itest {
namespace {

using DcTest = DvkProcTest;

TEST_F(DcTest, EndpointInDc0IsUnreachableFromDc1) {
  // Administration from a child too: the test process never attaches.
  ASSERT_EQ(RunInChild([] {
              dc_usr_t dc{};
              dc.dc_dcid = 1;
              dc.dc_nr_procs = NR_PROCS;
              dc.dc_nr_tasks = DC0_NR_TASKS;
              dc.dc_nr_sysprocs = NR_SYS_PROCS;
              dc.dc_nr_nodes = NR_NODES;
              snprintf(dc.dc_name, sizeof(dc.dc_name), "itest1");
              CHILD_EXPECT_RC(dvk_dc_init(&dc), 0);
              dc_usr_t info{};
              CHILD_EXPECT_RC(dvk_getdcinfo(1, &info), 0);
              CHILD_CHECK(info.dc_nr_procs == NR_PROCS && info.dc_flags == DC_RUNNING, "DC 1: procs %d flags %d",
                          info.dc_nr_procs, info.dc_flags);
              return 0;
            }),
            0);

  constexpr int kTarget = 10;
  Gate bound, probed;
  pid_t target = Spawn([&] {
    CHILD_EXPECT_RC(dvk_bind(0, kTarget), kTarget);
    bound.Open();
    CHILD_CHECK(probed.Wait(20000), "prober never finished");
    message m{};
    CHILD_EXPECT_RC(dvk_receive_T(ANY, &m, TIMEOUT_NOWAIT), EDVSAGAIN);
    return 0;
  });
  ASSERT_TRUE(bound.Wait(10000));
  pid_t prober = Spawn([&] {
    CHILD_EXPECT_RC(dvk_bind(1, 11), 11);
    message m{};
    m.m_type = 99;
    CHILD_EXPECT_RC(dvk_send_T(kTarget, &m, 2000), EDVSDSTDIED);
    probed.Open();
    return 0;
  });
  EXPECT_EQ(Wait(prober), 0);
  EXPECT_EQ(Wait(target), 0);
  EXPECT_EQ(RunInChild([] {
              CHILD_EXPECT_RC(dvk_dc_end(1), 0);
              dc_usr_t info{};
              long rc = dvk_getdcinfo(1, &info);
              CHILD_CHECK(rc < 0 || info.dc_flags != DC_RUNNING, "DC 1 still running after dc_end");
              return 0;
            }),
            0);
}

}  // namespace
}  // namespace vdvk::itest
