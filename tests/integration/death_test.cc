// death_test.cc - processes that die (SIGKILL) in the middle of a call, and
// slots that are reused after their owner exits.
#include <signal.h>
#include <unistd.h>

#include "tests/integration/harness.h"

namespace vdvk::itest {
namespace {

constexpr int kDc = 0;
constexpr int kServer = 10;
constexpr int kClient = 40;

using DeathTest = DvkProcTest;

// A plain server for n checked round trips; proves the backend still serves.
int EchoServer(int ep, int n, Gate* bound) {
  CHILD_EXPECT_RC(dvk_bind(kDc, ep), ep);
  bound->Open();
  for (int i = 0; i < n; ++i) {
    message m{};
    CHILD_EXPECT_RC(dvk_receive(ANY, &m), 0);
    message r{};
    r.m_type = m.m_type * 2;
    CHILD_EXPECT_RC(dvk_reply(m.m_source, &r), 0);
  }
  return 0;
}

int EchoClient(int ep, int server, int n) {
  CHILD_EXPECT_RC(dvk_bind(kDc, ep), ep);
  for (int i = 1; i <= n; ++i) {
    message m{};
    m.m_type = i;
    CHILD_EXPECT_RC(dvk_sendrec(server, &m), 0);
    CHILD_CHECK(m.m_type == 2 * i && m.m_source == server, "reply type %d from %d", m.m_type, m.m_source);
  }
  return 0;
}

TEST_F(DeathTest, ClientKilledMidSendrecReplyGetsDstDied) {
  Gate bound, got_request, client_dead;
  pid_t server = Spawn([&] {
    CHILD_EXPECT_RC(dvk_bind(kDc, kServer), kServer);
    bound.Open();
    message m{};
    CHILD_EXPECT_RC(dvk_receive(ANY, &m), 0);
    CHILD_CHECK(m.m_source == kClient, "request from %d", m.m_source);
    got_request.Open();
    CHILD_CHECK(client_dead.Wait(20000), "parent never killed the client");
    message r{};
    CHILD_EXPECT_RC(dvk_reply(kClient, &r), EDVSDSTDIED);
    return 0;
  });
  ASSERT_TRUE(bound.Wait(10000));
  pid_t client = Spawn([&] {
    CHILD_EXPECT_RC(dvk_bind(kDc, kClient), kClient);
    message m{};
    dvk_sendrec(kServer, &m);
    return 3;  // never reached: killed while waiting
  });
  ASSERT_TRUE(got_request.Wait(10000));
  Kill(client);
  ASSERT_TRUE(WaitFree(kDc, kClient)) << "the backend never noticed the client's death";
  client_dead.Open();
  EXPECT_EQ(Wait(server), 0);

  // The backend keeps serving: a fresh pair on other slots, and the dead slot reused.
  Gate bound2;
  pid_t s2 = Spawn([&] { return EchoServer(15, 20, &bound2); });
  ASSERT_TRUE(bound2.Wait(10000));
  pid_t c2 = Spawn([&] { return EchoClient(41, 15, 10); });
  EXPECT_EQ(Wait(c2), 0);
  pid_t c3 = Spawn([&] { return EchoClient(kClient, 15, 10); });
  EXPECT_EQ(Wait(c3), 0);
  EXPECT_EQ(Wait(s2), 0);
}

TEST_F(DeathTest, ServerKilledWhileClientWaitsGivesSrcDied) {
  Gate bound, got_request;
  pid_t server = Spawn([&] {
    CHILD_EXPECT_RC(dvk_bind(kDc, kServer), kServer);
    bound.Open();
    message m{};
    CHILD_EXPECT_RC(dvk_receive(ANY, &m), 0);
    got_request.Open();
    pause();  // never replies
    return 0;
  });
  ASSERT_TRUE(bound.Wait(10000));
  pid_t client = Spawn([&] {
    CHILD_EXPECT_RC(dvk_bind(kDc, kClient), kClient);
    message m{};
    m.m_type = 1;
    CHILD_EXPECT_RC(dvk_sendrec_T(kServer, &m, 20000), EDVSSRCDIED);
    return 0;
  });
  ASSERT_TRUE(got_request.Wait(10000));
  Kill(server);
  EXPECT_EQ(Wait(client), 0);
}

TEST_F(DeathTest, SlotInUseThenFreeAfterOwnerExits) {
  Gate bound, release;
  pid_t owner = Spawn([&] {
    CHILD_EXPECT_RC(dvk_bind(kDc, kServer), kServer);
    bound.Open();
    CHILD_CHECK(release.Wait(20000), "never released");
    return 0;  // exits without unbinding: the backend must unbind it
  });
  ASSERT_TRUE(bound.Wait(10000));
  pid_t intruder = Spawn([&] {
    CHILD_EXPECT_RC(dvk_bind(kDc, kServer), EDVSSLOTUSED);
    return 0;
  });
  EXPECT_EQ(Wait(intruder), 0);
  release.Open();
  EXPECT_EQ(Wait(owner), 0);
  ASSERT_TRUE(WaitFree(kDc, kServer));
  pid_t rerun = Spawn([&] {
    CHILD_EXPECT_RC(dvk_bind(kDc, kServer), kServer);
    return 0;
  });
  EXPECT_EQ(Wait(rerun), 0);
}

}  // namespace
}  // namespace vdvk::itest
