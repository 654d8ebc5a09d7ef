// e2e_test.cc - libdvk against a real host-backend, with fork()ed processes.
//
// Children report through their exit status (0 = every check passed, else the
// number of the failed check); they never touch gtest.
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <functional>
#include <thread>
#include <vector>

#include "backend_process.h"
#include "dvk/dvk.hpp"
#include "wire/vdvk_ring.h"

namespace {

using vdvk::test::BackendProcess;
using namespace std::chrono_literals;

constexpr int kDc = 0;

class E2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(backend_.ok()) << backend_.error();
    setenv("VDVK_POLL_US", "20", 1);
  }
  void TearDown() override {
    for (pid_t p : children_) kill(p, SIGKILL), waitpid(p, nullptr, 0);
    (void)dvk_close();
  }

  // Forks a child running fn; its return value becomes the exit status.
  pid_t Child(std::function<int()> fn) {
    pid_t p = fork();
    if (p == 0) _exit(fn());
    children_.push_back(p);
    return p;
  }
  // Waits for a child and returns its exit status (-1 if it did not exit).
  int Reap(pid_t p) {
    int status = 0;
    waitpid(p, &status, 0);
    std::erase(children_, p);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }

  BackendProcess backend_;
  std::vector<pid_t> children_;
};

// A one-byte pipe signal between parent and child.
struct Pipe {
  int fd[2];
  Pipe() { EXPECT_EQ(pipe(fd), 0); }
  ~Pipe() { close(fd[0]), close(fd[1]); }
  void Post(char c = 'x') { EXPECT_EQ(write(fd[1], &c, 1), 1); }
  char Wait() {
    char c = 0;
    while (read(fd[0], &c, 1) < 0 && errno == EINTR) {
    }
    return c;
  }
  // True if a byte is (or becomes) readable within timeout_ms; does not consume it.
  bool Ready(int timeout_ms) {
    pollfd p{fd[0], POLLIN, 0};
    return poll(&p, 1, timeout_ms) > 0;
  }
};

// Waits until slot nr of DC 0 shows `flag` in p_rts_flags (or times out).
bool WaitFlag(int nr, unsigned long flag, bool set = true) {
  for (int i = 0; i < 1000; i++) {
    proc_usr_t p;
    if (dvk_getprocinfo(kDc, nr, &p) == 0 && ((p.p_rts_flags & flag) != 0) == set) return true;
    std::this_thread::sleep_for(2ms);
  }
  return false;
}

TEST_F(E2eTest, SendrecRoundTripCarriesPayload) {
  Pipe ready;
  pid_t server = Child([&] {
    if (dvk_bind(kDc, 10) != 10) return 1;
    ready.Post();
    message m{};
    if (dvk_receive(ANY, &m) != 0) return 2;
    if (m.m_source != 11 || m.m_type != 42 || m.m1_i1 != 1234 || m.m1_i3 != -7) return 3;
    if (m.m_u.m_raw[55] != 0x5a) return 4;
    message r{};
    r.m_type = 43;
    r.m2_l1 = int64_t{1} << 40;
    r.m2_i1 = m.m1_i1 + 1;
    if (dvk_reply(m.m_source, &r) != 0) return 5;
    return 0;
  });
  ready.Wait();
  ASSERT_EQ(dvk_bind(kDc, 11), 11);
  message m{};
  m.m_source = 999;  // must be overwritten by the backend, never trusted
  m.m_type = 42;
  m.m1_i1 = 1234;
  m.m1_i3 = -7;
  m.m_u.m_raw[55] = 0x5a;
  ASSERT_EQ(dvk_sendrec(10, &m), 0);
  EXPECT_EQ(m.m_source, 10);
  EXPECT_EQ(m.m_type, 43);
  EXPECT_EQ(m.m2_i1, 1235);
  EXPECT_EQ(m.m2_l1, int64_t{1} << 40);
  EXPECT_EQ(Reap(server), 0);
}

TEST_F(E2eTest, ForkAfterOpenAttachesAsTheChild) {
  ASSERT_EQ(dvk_open(), 0);
  ASSERT_EQ(dvk_bind(kDc, 12), 12);  // the parent's own identity
  Pipe bound, release;
  pid_t child = Child([&] {
    // No dvk_open here: the inherited attachment must not be used.
    if (dvk_bind(kDc, 13) != 13) return 1;
    if (dvk_getep(getpid()) != 13) return 2;
    bound.Post();
    release.Wait();
    return 0;
  });
  bound.Wait();
  proc_usr_t p;
  ASSERT_EQ(dvk_getprocinfo(kDc, 13, &p), 0);
  EXPECT_EQ(p.p_lpid, child);
  EXPECT_EQ(p.p_endpoint, 13);
  ASSERT_EQ(dvk_getprocinfo(kDc, 12, &p), 0);
  EXPECT_EQ(p.p_lpid, getpid());  // the parent is still itself
  EXPECT_EQ(dvk_getep(getpid()), 12);
  release.Post();
  EXPECT_EQ(Reap(child), 0);
}

unsigned char Pattern(size_t i, size_t n, int salt) { return static_cast<unsigned char>(i * 31 + n + salt); }

TEST_F(E2eTest, VcopyGrantBothDirections) {
  const std::vector<size_t> sizes = {1, 4096, size_t{1} << 20};
  // Allocated before fork: the same addresses name the child's copies.
  std::vector<unsigned char> peer_src(size_t{1} << 20), peer_dst(size_t{1} << 20);
  vdvk_stats before{}, after{};
  ASSERT_EQ(dvk_stats(&before), 0);
  Pipe ready;
  pid_t peer = Child([&] {
    if (dvk_bind(kDc, 15) != 15) return 1;
    ready.Post();
    size_t k = 0;
    for (;;) {
      message m{};
      // Parent's vcopies happen while we sit here blocked in receive.
      if (dvk_receive(ANY, &m) != 0) return 2;
      if (m.m_type == 0) return 0;
      size_t n = static_cast<size_t>(m.m1_i1);
      if (m.m_type == 1) {  // fill our source with a pattern for the next pull
        for (size_t i = 0; i < n; i++) peer_src[i] = Pattern(i, n, 1);
        continue;
      }
      for (size_t i = 0; i < n; i++)  // m_type 2: check the parent's push
        if (peer_dst[i] != Pattern(i, n, 2)) return 10 + static_cast<int>(k);
      k++;
    }
  });
  ready.Wait();
  ASSERT_EQ(dvk_bind(kDc, 14), 14);
  uint64_t total = 0;
  for (size_t n : sizes) {
    message m{};
    m.m_type = 1;
    m.m1_i1 = static_cast<int>(n);
    ASSERT_EQ(dvk_send(15, &m), 0);
    ASSERT_TRUE(WaitFlag(15, RECEIVING));
    // Pull: the peer's range into ours (we run process_vm_readv).
    std::vector<std::byte> got(n);
    dvk::Result r = dvk_vcopy(15, peer_src.data(), SELF, got.data(), static_cast<int>(n));
    ASSERT_TRUE(r.ok()) << r.message();
    for (size_t i = 0; i < n; i++)
      ASSERT_EQ(static_cast<unsigned char>(got[i]), Pattern(i, n, 1)) << "pull " << n << " at " << i;
    // Push: ours into the peer's range (process_vm_writev), checked by the peer.
    std::vector<std::byte> out(n);
    for (size_t i = 0; i < n; i++) out[i] = std::byte{Pattern(i, n, 2)};
    r = dvk_vcopy(SELF, out.data(), 15, peer_dst.data(), static_cast<int>(n));
    ASSERT_TRUE(r.ok()) << r.message();
    m = message{};
    m.m_type = 2;
    m.m1_i1 = static_cast<int>(n);
    ASSERT_EQ(dvk_send(15, &m), 0);
    total += 2 * n;
  }
  message end{};
  ASSERT_EQ(dvk_send(15, &end), 0);
  EXPECT_EQ(Reap(peer), 0);
  ASSERT_EQ(dvk_stats(&after), 0);
  EXPECT_EQ(after.vcopy_zero_copy_bytes - before.vcopy_zero_copy_bytes, total);
  EXPECT_EQ(after.vcopy_bounce_bytes, before.vcopy_bounce_bytes);
}

TEST_F(E2eTest, CppEndpointIsScopedAndCopiesSpans) {
  constexpr size_t kN = 8192;
  std::vector<unsigned char> peer_src(kN), peer_dst(kN);
  Pipe ready;
  pid_t peer = Child([&] {
    if (dvk_bind(kDc, 21) != 21) return 1;
    for (size_t i = 0; i < kN; i++) peer_src[i] = Pattern(i, kN, 5);
    ready.Post();
    message m{};
    if (dvk_receive(ANY, &m) != 0) return 2;  // parent vcopies while we wait here
    for (size_t i = 0; i < kN; i++)
      if (peer_dst[i] != Pattern(i, kN, 6)) return 3;
    return 0;
  });
  ready.Wait();
  dvk::Result err(0);
  {
    dvk::Endpoint ep = dvk::Endpoint::Bind(kDc, 20, &err);
    ASSERT_TRUE(err.ok()) << err.message();
    dvk::Endpoint moved = std::move(ep);
    EXPECT_FALSE(ep.valid());
    ASSERT_TRUE(moved.valid());
    EXPECT_EQ(moved.endpoint(), 20);
    EXPECT_EQ(dvk_getep(getpid()), 20);

    ASSERT_TRUE(WaitFlag(21, RECEIVING));
    std::vector<std::byte> in(kN), out(kN);
    dvk::Result r = moved.vcopy(21, peer_src.data(), std::span<std::byte>(in));
    ASSERT_TRUE(r.ok()) << r.message();
    for (size_t i = 0; i < kN; i++) ASSERT_EQ(static_cast<unsigned char>(in[i]), Pattern(i, kN, 5));
    for (size_t i = 0; i < kN; i++) out[i] = std::byte{Pattern(i, kN, 6)};
    r = moved.vcopy(std::span<const std::byte>(out), 21, peer_dst.data());
    ASSERT_TRUE(r.ok()) << r.message();
    message m{};
    EXPECT_TRUE(moved.send(21, m).ok());
  }
  // The destructor unbound us.
  EXPECT_EQ(dvk_getep(getpid()), EDVSNOTBIND);
  EXPECT_EQ(Reap(peer), 0);
  // A failed bind yields an invalid Endpoint and the code.
  dvk::Endpoint bad = dvk::Endpoint::Bind(kDc, 100000, &err);
  EXPECT_FALSE(bad.valid());
  EXPECT_FALSE(err.ok());
}

TEST_F(E2eTest, ThreadsShareTheProcessConnection) {
  ASSERT_EQ(dvk_open(), 0);
  std::vector<std::thread> threads;
  std::atomic<int> bad{0};
  for (int t = 0; t < 4; t++)
    threads.emplace_back([&] {
      for (int i = 0; i < 300; i++) {
        dvs_usr_t d;
        dc_usr_t dc;
        if (dvk_getdvsinfo(&d) != 0 || d.d_max_copylen != MAXCOPYLEN) bad++;
        if (dvk_getdcinfo(0, &dc) != 0 || dc.dc_nr_procs != NR_PROCS) bad++;
      }
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(bad.load(), 0);
}

void Noop(int) {}

TEST_F(E2eTest, SignalInterruptsReceiveAndLosesNoMessage) {
  struct sigaction sa{}, old{};
  sa.sa_handler = Noop;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;  // no SA_RESTART
  ASSERT_EQ(sigaction(SIGUSR1, &sa, &old), 0);
  ASSERT_EQ(dvk_bind(kDc, 16), 16);
  Pipe go;
  const pid_t parent = getpid();
  pid_t sender = Child([&] {
    if (dvk_bind(kDc, 17) != 17) return 1;
    // Signal the parent until its first receive returned: a signal that
    // lands while it spins before poll() interrupts nothing, so repeat.
    if (!WaitFlag(16, RECEIVING)) return 2;
    for (int tries = 0; tries < 200 && !go.Ready(0); tries++) {
      kill(parent, SIGUSR1);
      if (go.Ready(50)) break;
    }
    go.Wait();
    message m{};
    m.m_type = 99;
    m.m1_i1 = 7;
    return dvk_send(16, &m) == 0 ? 0 : 3;
  });
  message m{};
  EXPECT_EQ(dvk_receive(ANY, &m), EDVSINTR);
  // A late SIGUSR1 from the child must not interrupt the next receive too.
  sigset_t usr1, old_mask;
  sigemptyset(&usr1);
  sigaddset(&usr1, SIGUSR1);
  pthread_sigmask(SIG_BLOCK, &usr1, &old_mask);
  go.Post();
  m = message{};
  EXPECT_EQ(dvk_receive(ANY, &m), 0);
  EXPECT_EQ(m.m_type, 99);
  EXPECT_EQ(m.m1_i1, 7);
  EXPECT_EQ(m.m_source, 17);
  EXPECT_EQ(Reap(sender), 0);
  // Exactly one message: nothing duplicated.
  EXPECT_EQ(dvk_receive_T(ANY, &m, TIMEOUT_NOWAIT), EDVSAGAIN);
  pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);  // a pending one runs Noop here
  sigaction(SIGUSR1, &old, nullptr);
}

TEST_F(E2eTest, BackendKilledWhileReceivingGivesNotConn) {
  ASSERT_EQ(dvk_bind(kDc, 18), 18);
  std::thread killer([&] {
    std::this_thread::sleep_for(200ms);
    backend_.Kill();
  });
  message m{};
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(dvk_receive(ANY, &m), EDVSNOTCONN);
  killer.join();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s);
  // And the next call finds no backend at all.
  dvs_usr_t d;
  EXPECT_EQ(dvk_getdvsinfo(&d), EDVSNOCONN);
}

TEST(E2eNoBackend, FailsQuicklyWithNoConn) {
  char tmpl[] = "/tmp/vdvk-nobackend-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  std::string path = std::string(tmpl) + "/node0.sock";
  // A socket file nobody listens on (a backend that died) and no file at all.
  int fd = socket(AF_UNIX, SOCK_SEQPACKET, 0);
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  strncpy(sa.sun_path, path.c_str(), sizeof(sa.sun_path) - 1);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)), 0);
  close(fd);
  for (const std::string& p : {path, std::string(tmpl) + "/missing.sock"}) {
    setenv("VDVK_SOCKET", p.c_str(), 1);
    auto t0 = std::chrono::steady_clock::now();
    message m{};
    EXPECT_EQ(dvk_receive_T(ANY, &m, TIMEOUT_NOWAIT), EDVSNOCONN) << p;
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 500ms);
  }
  unlink(path.c_str());
  rmdir(tmpl);
}

TEST_F(E2eTest, SignalWithSaRestartDoesNotInterruptReceive) {
  struct sigaction sa{}, old{};
  sa.sa_handler = Noop;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  ASSERT_EQ(sigaction(SIGUSR1, &sa, &old), 0);
  ASSERT_EQ(dvk_bind(kDc, 18), 18);
  const pid_t parent = getpid();
  pid_t sender = Child([&] {
    if (dvk_bind(kDc, 19) != 19) return 1;
    if (!WaitFlag(18, RECEIVING)) return 2;
    // Several signals while the parent is blocked in receive: with
    // SA_RESTART none of them may end its call.
    for (int i = 0; i < 5; i++) {
      kill(parent, SIGUSR1);
      usleep(20000);
    }
    message m{};
    m.m_type = 77;
    return dvk_send(18, &m) == 0 ? 0 : 3;
  });
  message m{};
  EXPECT_EQ(dvk_receive(ANY, &m), 0);
  EXPECT_EQ(m.m_type, 77);
  EXPECT_EQ(m.m_source, 19);
  EXPECT_EQ(Reap(sender), 0);
  sigaction(SIGUSR1, &old, nullptr);
}

}  // namespace
