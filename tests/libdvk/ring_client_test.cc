// ring_client_test.cc - libdvk's ring client against FakeBackend: handshake
// validation, doorbells, cancel on EINTR, death of the backend.
#include <gtest/gtest.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include <chrono>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "dvk/dvk.hpp"
#include "fake_backend.h"
#include "wire/vdvk_ring.h"

namespace {

using vdvk::test::FakeBackend;
using namespace std::chrono_literals;

// Each test attaches afresh to its own fake (the client is per process).
class RingClientTest : public ::testing::Test {
 protected:
  void Use(FakeBackend& fb, const char* poll_us = "0") {
    setenv("VDVK_SOCKET", fb.socket_path().c_str(), 1);
    setenv("VDVK_POLL_US", poll_us, 1);
  }
  void TearDown() override { (void)dvk_close(); }
};

void WaitUntil(auto pred) {
  for (int i = 0; i < 2000 && !pred(); i++) std::this_thread::sleep_for(1ms);
}

TEST_F(RingClientTest, HandshakeAndInfo) {
  FakeBackend fb;
  Use(fb);
  ASSERT_EQ(dvk_open(), 0);
  dvs_usr_t d;
  memset(&d, 0xff, sizeof(d));
  EXPECT_EQ(dvk_getdvsinfo(&d), 7);
  EXPECT_STREQ(d.d_name, "fake");
  EXPECT_EQ(d.d_max_copylen, 1 << 20);
  EXPECT_EQ(d.d_nr_dcs, 0);  // zero-filled by the fake, not left as 0xff
}

TEST_F(RingClientTest, NowaitReceiveAndUnimplemented) {
  FakeBackend fb;
  Use(fb, "20");
  message m{};
  EXPECT_EQ(dvk_receive_T(ANY, &m, TIMEOUT_NOWAIT), EDVSAGAIN);
  EXPECT_EQ(dvk_dc_end(3), EDVSNOSYS);
}

TEST_F(RingClientTest, NullPointersFailWithoutRoundTrip) {
  setenv("VDVK_SOCKET", "/nonexistent/vdvk.sock", 1);
  EXPECT_EQ(dvk_getdvsinfo(nullptr), EDVSFAULT);
  EXPECT_EQ(dvk_receive_T(ANY, nullptr, 0), EDVSFAULT);
  EXPECT_EQ(dvk_getprocinfo(0, 1, nullptr), EDVSFAULT);
  EXPECT_EQ(dvk_stats(nullptr), EDVSFAULT);
  dvs_usr_t d;
  EXPECT_EQ(dvk_getdvsinfo(&d), EDVSNOCONN);  // and a real call does try to connect
}

TEST_F(RingClientTest, NoBackendIsQuick) {
  setenv("VDVK_SOCKET", "/nonexistent/vdvk.sock", 1);
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(dvk_open(), EDVSNOCONN);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 1s);
  EXPECT_NE(std::string(dvk_last_error_detail()).find("/nonexistent/vdvk.sock"), std::string::npos);
}

TEST_F(RingClientTest, RejectsHostileHandshakes) {
  struct Case {
    FakeBackend::Fault fault;
    const char* detail;
  } cases[] = {{FakeBackend::Fault::kBadMagic, "magic"},
               {FakeBackend::Fault::kHugeEntries, "ring sizes"},
               {FakeBackend::Fault::kTwoFds, "3 fds"},
               {FakeBackend::Fault::kRefuse, "refused"}};
  for (const Case& c : cases) {
    FakeBackend fb(c.fault);
    Use(fb);
    EXPECT_EQ(dvk_open(), EDVSNOCONN) << c.detail;
    EXPECT_NE(std::string(dvk_last_error_detail()).find(c.detail), std::string::npos)
        << dvk_last_error_detail();
  }
}

TEST_F(RingClientTest, BlockingReceiveSleepsAndIsWoken) {
  FakeBackend fb;
  Use(fb, "0");  // no spinning: the doorbell path must work on its own
  std::thread t([&] {
    WaitUntil([&] { return fb.receive_pending(); });
    std::this_thread::sleep_for(30ms);  // let the client go to sleep
    fb.Deliver(77);
  });
  message m{};
  EXPECT_EQ(dvk_receive(ANY, &m), 0);
  t.join();
  EXPECT_EQ(m.m_type, 77);
  EXPECT_EQ(m.m_source, 5);
  EXPECT_GE(fb.doorbells_sent(), 1u);
}

void NoopHandler(int) {}

// Installs a SIGUSR1 handler without SA_RESTART for the test's duration.
struct SigusrNoRestart {
  struct sigaction old{};
  SigusrNoRestart() {
    struct sigaction sa{};
    sa.sa_handler = NoopHandler;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;
    sigaction(SIGUSR1, &sa, &old);
  }
  ~SigusrNoRestart() { sigaction(SIGUSR1, &old, nullptr); }
};

// Signals `target` until the fake has seen a cancel.
std::thread Interrupter(FakeBackend& fb, pthread_t target) {
  return std::thread([&fb, target] {
    WaitUntil([&] { return fb.receive_pending(); });
    for (int i = 0; i < 200 && fb.cancels() == 0; i++) {
      pthread_kill(target, SIGUSR1);
      std::this_thread::sleep_for(10ms);
    }
  });
}

TEST_F(RingClientTest, SignalCancelsBlockedReceive) {
  SigusrNoRestart sig;
  FakeBackend fb;
  Use(fb);
  std::thread t = Interrupter(fb, pthread_self());
  message m{};
  EXPECT_EQ(dvk_receive(ANY, &m), EDVSINTR);
  t.join();
  EXPECT_EQ(fb.cancels(), 1u);
  // The connection is still good and the cancel's own completion was skipped.
  EXPECT_EQ(dvk_receive_T(ANY, &m, TIMEOUT_NOWAIT), EDVSAGAIN);
  dvs_usr_t d;
  EXPECT_EQ(dvk_getdvsinfo(&d), 7);
}

TEST_F(RingClientTest, MessageThatBeatsTheCancelIsReturned) {
  SigusrNoRestart sig;
  FakeBackend fb(FakeBackend::Fault::kCancelLoses);
  Use(fb);
  std::thread t = Interrupter(fb, pthread_self());
  message m{};
  EXPECT_EQ(dvk_receive(ANY, &m), 0);
  t.join();
  EXPECT_EQ(m.m_type, 4242);
}

TEST_F(RingClientTest, GrantedVcopyCopiesLocally) {
  FakeBackend fb;
  Use(fb, "20");
  for (size_t n : {size_t{1}, size_t{4096}, size_t{1} << 20}) {
    std::vector<unsigned char> src(n), dst(n, 0);
    for (size_t i = 0; i < n; i++) src[i] = static_cast<unsigned char>(i * 7 + n);
    EXPECT_EQ(dvk_vcopy(SELF, src.data(), SELF, dst.data(), static_cast<int>(n)), 0) << n;
    EXPECT_EQ(src, dst) << n;
  }
}

TEST_F(RingClientTest, DeadStateEndsABlockedCall) {
  FakeBackend fb;
  Use(fb);
  std::thread t([&] {
    WaitUntil([&] { return fb.receive_pending(); });
    std::this_thread::sleep_for(20ms);
    fb.MarkDead();
  });
  message m{};
  EXPECT_EQ(dvk_receive(ANY, &m), EDVSNOTCONN);
  t.join();
}

TEST_F(RingClientTest, SocketEofEndsABlockedCall) {
  FakeBackend fb;
  Use(fb);
  std::thread t([&] {
    WaitUntil([&] { return fb.receive_pending(); });
    std::this_thread::sleep_for(20ms);
    fb.CloseSocket();
  });
  message m{};
  EXPECT_EQ(dvk_receive(ANY, &m), EDVSNOTCONN);
  t.join();
  EXPECT_STRNE(dvk_strerror(EDVSNOTCONN), "unknown DVK error");
}

TEST_F(RingClientTest, CqTailBeyondTheRingDropsTheConnection) {
  FakeBackend fb(FakeBackend::Fault::kBadCqTail);
  Use(fb);
  dvs_usr_t d;
  EXPECT_EQ(dvk_getdvsinfo(&d), EDVSNOTCONN);
  EXPECT_NE(std::string(dvk_last_error_detail()).find("more completions"), std::string::npos);
}

TEST(DvkStrerror, NamesCodes) {
  EXPECT_STREQ(dvk_strerror(0), "OK");
  EXPECT_STREQ(dvk_strerror(EDVSSLOTUSED), "EDVSSLOTUSED (-337): slot already in use");
  EXPECT_STREQ(dvk_strerror(-9999), "unknown DVK error");
  EXPECT_STREQ(dvk_strerror(-322), "unknown DVK error");  // a hole in DVS's numbering
  // Every code in -1..-348 that dvk.h defines has a name that starts with its own number.
  for (long c : {EDVSPERM, EDVSNOSYS, EDVSLOOP, EDVSPACKSIZE, EDVSNOPROTOOPT, EDVSLOCKED,
                 EDVSTRAPDENIED, EDVSDONTREPLY, EDVSERRCODE, EDVSNOMSG, EDVSWOKENUP, EDVSGENERIC}) {
    std::string s = dvk_strerror(c);
    EXPECT_NE(s.find("(" + std::to_string(c) + ")"), std::string::npos) << s;
  }
}

TEST(DvkHpp, ResultNamesItsCode) {
  dvk::Result r(EDVSAGAIN);
  EXPECT_FALSE(r.ok());
  EXPECT_NE(r.message().find("EDVSAGAIN"), std::string::npos);
  EXPECT_TRUE(dvk::Result(3).ok());
}

}  // namespace
