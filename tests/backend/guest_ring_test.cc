// guest_ring_test.cc - host-backend --guest-ring without a UML kernel: the
// test plays the guest kernel (maps the ring file, fills caller_pid, kicks
// PATH.kick, waits on PATH.wake), so the backend side of guest rings is
// covered wherever ctest runs. The real driver is covered by uml.guest_dvk.
#include <fcntl.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "tests/backend/backend_fixture.h"

namespace vdvk::test {
namespace {

// The guest kernel's side of a guest ring, reduced to what the tests need.
class FakeGuest {
 public:
  ~FakeGuest() {
    if (base_) munmap(base_, size_);
    if (kick_ >= 0) close(kick_);
    if (wake_ >= 0) close(wake_);
  }
  bool Open(const std::string& path) {
    int fd = open(path.c_str(), O_RDWR);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) return false;
    size_ = st.st_size;
    void* p = mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (p == MAP_FAILED) return false;
    base_ = static_cast<uint8_t*>(p);
    hdr_ = reinterpret_cast<vdvk_ring_hdr*>(base_);
    kick_ = open((path + ".kick").c_str(), O_WRONLY | O_NONBLOCK);
    wake_ = open((path + ".wake").c_str(), O_RDONLY | O_NONBLOCK);
    sq_tail_ = hdr_->sq_tail;
    cq_head_ = hdr_->cq_head;
    return kick_ >= 0 && wake_ >= 0;
  }
  vdvk_ring_hdr* hdr() { return hdr_; }
  uint8_t* buf(uint32_t i) { return base_ + hdr_->buf_off + uint64_t{i} * hdr_->buf_size; }
  void Claim(pid_t host_pid) {
    std::atomic_ref<int32_t>(hdr_->client_host_pid).store(host_pid);
    std::atomic_ref<uint32_t>(hdr_->client_flags).store(VDVK_SLEEPING);
  }
  void Kick() {
    char b = 1;
    [[maybe_unused]] ssize_t n = write(kick_, &b, 1);
  }
  void Submit(vdvk_sqe s) {
    auto* sq = reinterpret_cast<vdvk_sqe*>(base_ + hdr_->sq_off);
    sq[sq_tail_ & (hdr_->sq_entries - 1)] = s;
    std::atomic_ref<uint32_t>(hdr_->sq_tail).store(++sq_tail_, std::memory_order_release);
    Kick();
  }
  // The next completion, waiting on the wake FIFO (as the driver's IRQ does).
  std::optional<vdvk_cqe> WaitCqe(int timeout_ms = 5000) {
    auto* cq = reinterpret_cast<vdvk_cqe*>(base_ + hdr_->cq_off);
    auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (std::chrono::steady_clock::now() < end) {
      uint32_t tail = std::atomic_ref<uint32_t>(hdr_->cq_tail).load(std::memory_order_acquire);
      if (tail != cq_head_) {
        vdvk_cqe c = cq[cq_head_ & (hdr_->cq_entries - 1)];
        std::atomic_ref<uint32_t>(hdr_->cq_head).store(++cq_head_, std::memory_order_release);
        return c;
      }
      pollfd p{wake_, POLLIN, 0};
      poll(&p, 1, 50);
      char junk[64];
      while (read(wake_, junk, sizeof(junk)) > 0) {
      }
    }
    return std::nullopt;
  }
  std::optional<vdvk_cqe> Call(vdvk_sqe s) {
    Submit(s);
    return WaitCqe();
  }
  int Bind(pid_t guest_pid, int ep) {
    vdvk_sqe s = MakeSqe(VDVK_OP_BIND, ++tag_);
    s.arg[0] = SELF_BIND;
    s.arg[1] = 0;
    s.arg[2] = -1;
    s.arg[3] = ep;
    s.arg[4] = kNode;
    s.caller_pid = guest_pid;
    s.caller_tid = guest_pid;
    auto c = Call(s);
    return c ? c->res : -1000;
  }
  void ProcExit(pid_t guest_pid) {
    vdvk_sqe s = MakeSqe(VDVK_OP_PROC_EXIT, ++tag_);
    s.arg[0] = guest_pid;
    s.caller_pid = guest_pid;
    Submit(s);
  }

 private:
  uint8_t* base_ = nullptr;
  size_t size_ = 0;
  vdvk_ring_hdr* hdr_ = nullptr;
  int kick_ = -1, wake_ = -1;
  uint32_t sq_tail_ = 0, cq_head_ = 0;
  uint64_t tag_ = 0;
};

class GuestRingTest : public BackendTest {
 protected:
  void StartWithGuestRing() {
    ring_ = dir_ + "/g.ring";
    StartBackend({"--guest-ring", ring_});
  }
  bool SlotFree(RawClient& host, int ep) {
    auto p = ProcInfo(host, 0, ep);
    return p && (p->rts_flags & SLOT_FREE);
  }
  template <class F>
  bool Eventually(F f, int timeout_ms = 5000) {
    for (int i = 0; i < timeout_ms / 10; ++i) {
      if (f()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return f();
  }
  std::string ring_;
};

TEST_F(GuestRingTest, FilesCreatedValidAndRemovedOnExit) {
  StartWithGuestRing();
  struct stat st;
  ASSERT_EQ(stat(ring_.c_str(), &st), 0);
  EXPECT_TRUE(S_ISREG(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(stat((ring_ + ".kick").c_str(), &st), 0);
  EXPECT_TRUE(S_ISFIFO(st.st_mode));
  ASSERT_EQ(stat((ring_ + ".wake").c_str(), &st), 0);
  EXPECT_TRUE(S_ISFIFO(st.st_mode));
  FakeGuest g;
  ASSERT_TRUE(g.Open(ring_));
  EXPECT_EQ(g.hdr()->magic, VDVK_RING_MAGIC);
  EXPECT_EQ(g.hdr()->node_id, kNode);
  EXPECT_GE(g.hdr()->sq_entries, 256u);
  EXPECT_GE(g.hdr()->nr_bufs, 16u);
  EXPECT_EQ(g.hdr()->client_host_pid, 0);
  int status = backend_.StopWith(SIGTERM);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  EXPECT_FALSE(Exists(ring_));
  EXPECT_FALSE(Exists(ring_ + ".kick"));
  EXPECT_FALSE(Exists(ring_ + ".wake"));
}

TEST_F(GuestRingTest, CallerIsGuestPidInItsDomainAndProcExitUnbinds) {
  StartWithGuestRing();
  FakeGuest g;
  ASSERT_TRUE(g.Open(ring_));
  g.Claim(getpid());
  RawClient host;
  ASSERT_EQ(host.Attach(sock_), 0);
  ASSERT_EQ(g.Bind(100, 20), 20);
  ASSERT_EQ(g.Bind(101, 21), 21);
  // The same guest pid cannot bind twice; a host process with pid 100 would
  // be another process (domain 0), but we only check the guest's view here.
  EXPECT_LT(g.Bind(100, 22), 0);
  auto p = ProcInfo(host, 0, 20);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->lpid, 100);
  EXPECT_EQ(p->domain, 1);
  g.ProcExit(100);  // no completion: the next call's CQE must be its own
  EXPECT_TRUE(Eventually([&] { return SlotFree(host, 20); }));
  EXPECT_FALSE(SlotFree(host, 21));
  EXPECT_EQ(DvsInfo(host), kNode);
  ASSERT_EQ(g.Bind(102, 23), 23);  // next guest call completes normally
}

TEST_F(GuestRingTest, GuestDeathFreesEndpointsAndResetsRing) {
  StartWithGuestRing();
  pid_t child = fork();
  if (child == 0) {
    pause();
    _exit(0);
  }
  ASSERT_GT(child, 0);
  RawClient host;
  ASSERT_EQ(host.Attach(sock_), 0);
  {
    FakeGuest g;
    ASSERT_TRUE(g.Open(ring_));
    g.Claim(child);  // the "UML kernel process"
    ASSERT_EQ(g.Bind(200, 30), 30);
    ASSERT_FALSE(SlotFree(host, 30));
    kill(child, SIGKILL);
    waitpid(child, nullptr, 0);
    EXPECT_TRUE(Eventually([&] { return SlotFree(host, 30); }));
    // Reset for the next guest: indices back to 0, nobody owns it.
    EXPECT_TRUE(Eventually([&] {
      return std::atomic_ref<int32_t>(g.hdr()->client_host_pid).load() == 0 &&
             std::atomic_ref<uint32_t>(g.hdr()->sq_tail).load() == 0;
    }));
    EXPECT_EQ(g.hdr()->state, VDVK_STATE_LIVE);
  }
  // A new guest works on the same ring.
  FakeGuest g2;
  ASSERT_TRUE(g2.Open(ring_));
  g2.Claim(getpid());
  EXPECT_EQ(g2.Bind(200, 31), 31);
  EXPECT_EQ(DvsInfo(host), kNode);
}

TEST_F(GuestRingTest, ClaimByDeadPidFreesRingAtOnce) {
  StartWithGuestRing();
  pid_t child = fork();
  if (child == 0) _exit(0);
  waitpid(child, nullptr, 0);  // a pid that no longer exists
  FakeGuest g;
  ASSERT_TRUE(g.Open(ring_));
  g.Claim(child);
  g.Kick();
  EXPECT_TRUE(Eventually(
      [&] { return std::atomic_ref<int32_t>(g.hdr()->client_host_pid).load() == 0; }));
}

TEST_F(GuestRingTest, HostClientSendingProcExitIsDropped) {
  StartWithGuestRing();
  RawClient bad, good;
  ASSERT_EQ(bad.Attach(sock_), 0);
  ASSERT_EQ(good.Attach(sock_), 0);
  vdvk_sqe s = MakeSqe(VDVK_OP_PROC_EXIT, bad.NextTag());
  s.arg[0] = getpid();
  bad.Submit(s);
  ExpectDropped(bad, VDVK_DEAD_BAD_OPCODE, good);
}

TEST_F(GuestRingTest, GuestCannotVcopyYet) {
  StartWithGuestRing();
  FakeGuest g;
  ASSERT_TRUE(g.Open(ring_));
  g.Claim(getpid());
  ASSERT_EQ(g.Bind(300, 40), 40);
  vdvk_sqe s = MakeSqe(VDVK_OP_VCOPY, 999);
  s.caller_pid = 300;
  s.arg[0] = 40;
  s.arg[1] = 40;
  s.arg[2] = 16;
  auto c = g.Call(s);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->res, EDVSNOSYS);
}

}  // namespace
}  // namespace vdvk::test
