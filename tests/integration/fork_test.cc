// fork_test.cc - identity is the process (dvk.h): a process that attached
// before fork() must not hand its attachment to its children; each child's
// first call attaches anew as itself, and the parent keeps working.
#include <sys/wait.h>
#include <unistd.h>

#include "tests/integration/harness.h"

namespace vdvk::itest {
namespace {

using ForkTest = DvkProcTest;

TEST_F(ForkTest, ChildrenOfAnAttachedProcessAttachAsThemselves) {
  pid_t parent = Spawn([] {
    CHILD_EXPECT_RC(dvk_open(), 0);
    CHILD_EXPECT_RC(dvk_bind(0, 20), 20);
    pid_t kids[2];
    for (int k = 0; k < 2; ++k) {
      kids[k] = fork();
      if (kids[k] == 0) {
        std::_Exit([&]() -> int {
          CHILD_EXPECT_RC(dvk_bind(0, 21 + k), 21 + k);
          CHILD_EXPECT_RC(dvk_getep(getpid()), 21 + k);
          message m{};
          m.m_type = 100 + k;
          CHILD_EXPECT_RC(dvk_send_T(20, &m, 10000), 0);
          return 0;
        }());
      }
    }
    for (int k = 0; k < 2; ++k) {
      message m{};
      CHILD_EXPECT_RC(dvk_receive_T(ANY, &m, 10000), 0);
      CHILD_CHECK(m.m_source == 21 + (m.m_type - 100), "type %d from %d", m.m_type, m.m_source);
    }
    CHILD_EXPECT_RC(dvk_getep(getpid()), 20);
    int ok = 0;
    for (pid_t kid : kids) {
      int st = 0;
      waitpid(kid, &st, 0);
      ok += WIFEXITED(st) && WEXITSTATUS(st) == 0;
    }
    CHILD_CHECK(ok == 2, "%d of 2 grandchildren succeeded", ok);
    return 0;
  });
  EXPECT_EQ(Wait(parent), 0);
}

}  // namespace
}  // namespace vdvk::itest
