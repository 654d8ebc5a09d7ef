// ipc_test.cc - message passing between real processes: sendrec volume,
// notify merging, timeouts, deadlock detection and the privilege rule.
#include <unistd.h>

#include "proxies/common/dvk_util.h"
#include "tests/integration/harness.h"

namespace vdvk::itest {
namespace {

using tools::NowNs;

constexpr int kDc = 0;
constexpr int kServer = 10;  // system process (10 + 34 < 64)
constexpr int kClient = 40;  // user process: may only sendrec

using IpcTest = DvkProcTest;

TEST_F(IpcTest, TenThousandSendrecWithPayloadChecks) {
  constexpr int kRounds = 10000;
  Gate bound;
  pid_t server = Spawn([&] {
    CHILD_EXPECT_RC(dvk_bind(kDc, kServer), kServer);
    bound.Open();
    for (int i = 0; i < kRounds; ++i) {
      message m{};
      CHILD_EXPECT_RC(dvk_receive(ANY, &m), 0);
      CHILD_CHECK(m.m_source == kClient, "m_source %d", m.m_source);
      CHILD_CHECK(m.m_type == i && m.m4_l1 == i * 3LL && m.m4_l5 == -i, "request %d has type %d l1 %lld", i,
                  m.m_type, static_cast<long long>(m.m4_l1));
      message r{};
      r.m_type = i + 1;
      r.m4_l1 = m.m4_l1 + 7;
      r.m4_l5 = ~m.m4_l5;
      // A forged m_source must be overwritten by the backend.
      r.m_source = 12345;
      CHILD_EXPECT_RC(dvk_reply(m.m_source, &r), 0);
    }
    return 0;
  });
  ASSERT_TRUE(bound.Wait(10000));
  pid_t client = Spawn([&] {
    CHILD_EXPECT_RC(dvk_bind(kDc, kClient), kClient);
    for (int i = 0; i < kRounds; ++i) {
      message m{};
      m.m_type = i;
      m.m4_l1 = i * 3LL;
      m.m4_l5 = -i;
      CHILD_EXPECT_RC(dvk_sendrec(kServer, &m), 0);
      CHILD_CHECK(m.m_source == kServer, "reply %d from %d", i, m.m_source);
      CHILD_CHECK(m.m_type == i + 1 && m.m4_l1 == i * 3LL + 7 && m.m4_l5 == ~static_cast<int64_t>(-i),
                  "reply %d: type %d l1 %lld", i, m.m_type, static_cast<long long>(m.m4_l1));
    }
    return 0;
  });
  EXPECT_EQ(Wait(client, 120000), 0);
  EXPECT_EQ(Wait(server, 10000), 0);
}

// Several sources notify many times while the receiver is busy; a message is
// also queued. The receiver must see one notification per source carrying the
// latest value, before the message, and nothing more.
TEST_F(IpcTest, NotifyStormMergesPerSourceBeforeMessages) {
  constexpr int kReceiver = 10;
  constexpr int kSources[] = {11, 12, 13};
  constexpr int kSender = 14;
  constexpr int kNotifies = 200;
  Gate bound, go, done;
  Gate sent[3];
  pid_t receiver = Spawn([&] {
    CHILD_EXPECT_RC(dvk_bind(kDc, kReceiver), kReceiver);
    bound.Open();
    CHILD_CHECK(go.Wait(20000), "never told to go");
    bool seen[3] = {false, false, false};
    for (int k = 0; k < 3; ++k) {
      message m{};
      CHILD_EXPECT_RC(dvk_receive_T(ANY, &m, 5000), 0);
      int idx = m.m_source - kSources[0];
      CHILD_CHECK(idx >= 0 && idx < 3, "delivery %d from %d (type 0x%x): expected a notification first", k,
                  m.m_source, m.m_type);
      CHILD_CHECK(!seen[idx], "second notification from %d: not merged", m.m_source);
      seen[idx] = true;
      CHILD_CHECK(m.m_type == NOTIFY_FROM(kSources[idx]), "type 0x%x for source %d", m.m_type, m.m_source);
      CHILD_CHECK(m.NOTIFY_ARG == 1000 * (idx + 1) + kNotifies, "source %d value %d, want the latest %d",
                  m.m_source, static_cast<int>(m.NOTIFY_ARG), 1000 * (idx + 1) + kNotifies);
    }
    message m{};
    CHILD_EXPECT_RC(dvk_receive_T(ANY, &m, 5000), 0);
    CHILD_CHECK(m.m_source == kSender && m.m_type == 0x777 && m.m1_i1 == 42, "message from %d type 0x%x",
                m.m_source, m.m_type);
    CHILD_EXPECT_RC(dvk_receive_T(ANY, &m, TIMEOUT_NOWAIT), EDVSAGAIN);
    done.Open();
    return 0;
  });
  ASSERT_TRUE(bound.Wait(10000));
  std::vector<pid_t> sources;
  for (int s = 0; s < 3; ++s) {
    sources.push_back(Spawn([&, s] {
      CHILD_EXPECT_RC(dvk_bind(kDc, kSources[s]), kSources[s]);
      for (int v = 1; v <= kNotifies; ++v) CHILD_EXPECT_RC(dvk_notify_X(SELF, kReceiver, 1000 * (s + 1) + v), 0);
      sent[s].Open();
      // Stay bound: an exiting source's pending notification is discarded.
      CHILD_CHECK(done.Wait(30000), "receiver never finished");
      done.Open();  // pass it on to the next source
      return 0;
    }));
  }
  for (auto& g : sent) ASSERT_TRUE(g.Wait(20000));
  pid_t sender = Spawn([&] {
    CHILD_EXPECT_RC(dvk_bind(kDc, kSender), kSender);
    message m{};
    m.m_type = 0x777;
    m.m1_i1 = 42;
    CHILD_EXPECT_RC(dvk_send_T(kReceiver, &m, 20000), 0);
    return 0;
  });
  // The message must be queued (sender blocked) before the receiver looks.
  ASSERT_TRUE(WaitSlot(kDc, kSender, [](unsigned long f) { return (f & SENDING) != 0; }));
  go.Open();
  EXPECT_EQ(Wait(receiver), 0);
  EXPECT_EQ(Wait(sender), 0);
  for (pid_t p : sources) EXPECT_EQ(Wait(p), 0);
}

TEST_F(IpcTest, ReceiveTimeoutAndNowait) {
  pid_t p = Spawn([&] {
    CHILD_EXPECT_RC(dvk_bind(kDc, kServer), kServer);
    message m{};
    long long t0 = NowNs();
    CHILD_EXPECT_RC(dvk_receive_T(ANY, &m, 50), EDVSTIMEDOUT);
    long long ms = (NowNs() - t0) / 1000000;
    CHILD_CHECK(ms >= 50, "timed out after %lld ms, before 50", ms);
    CHILD_CHECK(ms < 5000, "timed out after %lld ms", ms);
    t0 = NowNs();
    CHILD_EXPECT_RC(dvk_receive_T(ANY, &m, TIMEOUT_NOWAIT), EDVSAGAIN);
    CHILD_CHECK((NowNs() - t0) / 1000000 < 1000, "NOWAIT blocked");
    return 0;
  });
  EXPECT_EQ(Wait(p), 0);
}

TEST_F(IpcTest, SendrecTimesOutWhenServerNeverAnswers) {
  Gate bound, done;
  pid_t server = Spawn([&] {
    CHILD_EXPECT_RC(dvk_bind(kDc, kServer), kServer);
    bound.Open();
    CHILD_CHECK(done.Wait(20000), "client never finished");
    return 0;
  });
  ASSERT_TRUE(bound.Wait(10000));
  pid_t client = Spawn([&] {
    CHILD_EXPECT_RC(dvk_bind(kDc, kClient), kClient);
    message m{};
    long long t0 = NowNs();
    CHILD_EXPECT_RC(dvk_sendrec_T(kServer, &m, 100), EDVSTIMEDOUT);
    long long ms = (NowNs() - t0) / 1000000;
    CHILD_CHECK(ms >= 100 && ms < 5000, "timed out after %lld ms", ms);
    done.Open();
    return 0;
  });
  EXPECT_EQ(Wait(client), 0);
  EXPECT_EQ(Wait(server), 0);
}

// A sends to B and blocks; B then sends to A: the cycle is refused with
// EDVSLOCKED, and B can still serve A afterwards.
TEST_F(IpcTest, SendrecCycleIsRefusedWithLocked) {
  constexpr int kA = 10, kB = 11;
  Gate a_bound, b_bound, go;
  pid_t a = Spawn([&] {
    CHILD_EXPECT_RC(dvk_bind(kDc, kA), kA);
    a_bound.Open();
    CHILD_CHECK(b_bound.Wait(10000), "B never bound");
    message m{};
    m.m_type = 0xa;
    CHILD_EXPECT_RC(dvk_sendrec_T(kB, &m, 20000), 0);
    CHILD_CHECK(m.m_source == kB && m.m_type == 0xb, "reply from %d type 0x%x", m.m_source, m.m_type);
    return 0;
  });
  pid_t b = Spawn([&] {
    CHILD_EXPECT_RC(dvk_bind(kDc, kB), kB);
    b_bound.Open();
    CHILD_CHECK(go.Wait(20000), "never told to go");
    message m{};
    CHILD_EXPECT_RC(dvk_sendrec_T(kA, &m, 5000), EDVSLOCKED);
    CHILD_EXPECT_RC(dvk_receive_T(kA, &m, 5000), 0);
    CHILD_CHECK(m.m_type == 0xa, "got type 0x%x", m.m_type);
    message r{};
    r.m_type = 0xb;
    CHILD_EXPECT_RC(dvk_reply(kA, &r), 0);
    return 0;
  });
  ASSERT_TRUE(a_bound.Wait(10000));
  ASSERT_TRUE(WaitSlot(kDc, kA, [](unsigned long f) { return (f & SENDING) != 0; }));
  go.Open();
  EXPECT_EQ(Wait(b), 0);
  EXPECT_EQ(Wait(a), 0);
}

TEST_F(IpcTest, UserProcessMayOnlySendrec) {
  Gate bound, done;
  pid_t server = Spawn([&] {
    CHILD_EXPECT_RC(dvk_bind(kDc, kServer), kServer);
    bound.Open();
    CHILD_CHECK(done.Wait(20000), "client never finished");
    message m{};
    // Nothing may have reached the server through the refused calls.
    CHILD_EXPECT_RC(dvk_receive_T(ANY, &m, TIMEOUT_NOWAIT), EDVSAGAIN);
    return 0;
  });
  ASSERT_TRUE(bound.Wait(10000));
  pid_t user = Spawn([&] {
    CHILD_EXPECT_RC(dvk_bind(kDc, kClient), kClient);
    message m{};
    CHILD_EXPECT_RC(dvk_send_T(kServer, &m, 1000), EDVSBADCALL);
    CHILD_EXPECT_RC(dvk_receive_T(ANY, &m, TIMEOUT_NOWAIT), EDVSBADCALL);
    CHILD_EXPECT_RC(dvk_notify(kServer), EDVSBADCALL);
    done.Open();
    return 0;
  });
  EXPECT_EQ(Wait(user), 0);
  EXPECT_EQ(Wait(server), 0);
}

}  // namespace
}  // namespace vdvk::itest
