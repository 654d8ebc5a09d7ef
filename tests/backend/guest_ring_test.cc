// guest_ring_test.cc - host-backend --guest-ring without a UML kernel: the
// test plays the guest kernel (maps the ring file, fills caller_pid, kicks
// PATH.kick, waits on PATH.wake), so the backend side of guest rings is
// covered wherever ctest runs. The real driver is covered by uml.guest_dvk.
#include <fcntl.h>
#include <poll.h>
#include <pwd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "tests/backend/backend_fixture.h"

namespace vdvk::test {
namespace {

// What the guest driver does at attach (vdvk_give_memory): one datagram to
// PATH.mem, a hello with `fds` attached. 0 or -errno.
int SendMemHello(const std::string& ring, const std::vector<int>& fds,
                 uint32_t magic = VDVK_MEM_MAGIC) {
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  std::snprintf(sa.sun_path, sizeof(sa.sun_path), "%s.mem", ring.c_str());
  int s = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) return -errno;
  vdvk_mem_hello h{magic, VDVK_RING_VERSION};
  iovec iov{&h, sizeof(h)};
  msghdr mh{};
  mh.msg_name = &sa;
  mh.msg_namelen = sizeof(sa);
  mh.msg_iov = &iov;
  mh.msg_iovlen = 1;
  std::vector<char> ctl(CMSG_SPACE(sizeof(int) * (fds.empty() ? 1 : fds.size())));
  if (!fds.empty()) {
    mh.msg_control = ctl.data();
    mh.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
    cmsghdr* c = CMSG_FIRSTHDR(&mh);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
    std::memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
  }
  int r = sendmsg(s, &mh, 0) == static_cast<ssize_t>(sizeof(h)) ? 0 : -errno;
  close(s);
  return r;
}

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
  void StartWithGuestRing(std::vector<std::string> extra = {}) {
    ring_ = dir_ + "/g.ring";
    extra.insert(extra.begin(), {"--guest-ring", ring_});
    StartBackend(extra);
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
  // A child that waits to be killed: the "UML process" a fake guest claims
  // its ring for. It dies with the test, so a failed test leaves none behind.
  static pid_t StandInUml() {
    pid_t pid = fork();
    if (pid == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      pause();
      _exit(0);
    }
    return pid;
  }
  // The hostile guest: claims the ring for *uml (StandInUml: the "UML
  // process" the backend watches), binds guest process 300 to 40, then
  // shrinks its ring file to nothing under the backend. g's own mapping must
  // not be touched after this (only its FIFOs).
  void ShrinkingGuest(FakeGuest* g, pid_t* uml) {
    *uml = StandInUml();
    ASSERT_TRUE(g->Open(ring_));
    g->Claim(*uml);
    ASSERT_EQ(g->Bind(300, 40), 40);
    ASSERT_EQ(truncate(ring_.c_str(), 0), 0);
  }
  // A new guest on the same ring (after the last one died) binds and is served.
  void ExpectNextGuestServed(RawClient& host, pid_t guest_pid, int ep) {
    FakeGuest next;
    ASSERT_TRUE(next.Open(ring_));
    next.Claim(getpid());
    EXPECT_EQ(next.Bind(guest_pid, ep), ep);
    EXPECT_EQ(DvsInfo(host), kNode);
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
  ASSERT_EQ(stat((ring_ + ".mem").c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0600u);
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
  EXPECT_FALSE(Exists(ring_ + ".mem"));
}

TEST_F(GuestRingTest, UserOptionGivesTheFilesToThatUser) {
  passwd* nobody = getpwnam("nobody");
  if (getuid() != 0 || nobody == nullptr) GTEST_SKIP() << "needs root and a user 'nobody'";
  const uid_t uid = nobody->pw_uid;
  const gid_t gid = nobody->pw_gid;
  ring_ = dir_ + "/g.ring";
  StartBackend({"--guest-ring", ring_ + ",user=nobody"});
  for (const char* suffix : {"", ".kick", ".wake", ".mem"}) {
    struct stat st;
    ASSERT_EQ(stat((ring_ + suffix).c_str(), &st), 0) << suffix;
    EXPECT_EQ(st.st_uid, uid) << suffix;
    EXPECT_EQ(st.st_gid, gid) << suffix;
    EXPECT_EQ(st.st_mode & 0777, 0600u) << suffix;
  }
}

TEST_F(GuestRingTest, GuestThatShrinksItsRingIsDroppedAndTheRingMadeAnew) {
  StartWithGuestRing();
  RawClient host;
  ASSERT_EQ(host.Attach(sock_), 0);
  pid_t uml = -1;
  {
    FakeGuest g;
    ASSERT_NO_FATAL_FAILURE(ShrinkingGuest(&g, &uml));
    g.Kick();
    EXPECT_TRUE(Eventually([&] { return ReadFile(log_).find("shrank its ring file") != std::string::npos; }));
  }
  EXPECT_EQ(DvsInfo(host), kNode);  // alive, serving the host
  EXPECT_TRUE(Eventually([&] { return SlotFree(host, 40); })) << "the dropped guest's endpoint";
  // When that guest dies, the next one gets a whole new ring.
  kill(uml, SIGKILL);
  waitpid(uml, nullptr, 0);
  EXPECT_TRUE(Eventually([&] { return ReadFile(log_).find("ring files made anew") != std::string::npos; }));
  struct stat st;
  ASSERT_EQ(stat(ring_.c_str(), &st), 0);
  EXPECT_GT(st.st_size, 0);
  ExpectNextGuestServed(host, 301, 41);
}

TEST_F(GuestRingTest, RingShrunkBeforeTheFirstKickIsMadeAnewAtOnce) {
  // The guest claims the ring and shrinks it before the backend ever read
  // its host pid: there is no death to wait for, so the files are replaced
  // now (the guest keeps a mapping of the old, unlinked file) instead of the
  // ring staying out of service until the backend restarts.
  StartWithGuestRing();
  RawClient host;
  ASSERT_EQ(host.Attach(sock_), 0);
  const pid_t uml = StandInUml();
  FakeGuest g;
  ASSERT_TRUE(g.Open(ring_));
  g.Claim(uml);
  ASSERT_EQ(truncate(ring_.c_str(), 0), 0);
  g.Kick();
  EXPECT_TRUE(Eventually([&] { return ReadFile(log_).find("shrank its ring file") != std::string::npos; }));
  EXPECT_TRUE(Eventually([&] { return ReadFile(log_).find("ring files made anew") != std::string::npos; }))
      << ReadFile(log_);
  ExpectNextGuestServed(host, 301, 41);
  kill(uml, SIGKILL);
  waitpid(uml, nullptr, 0);
}

TEST_F(GuestRingTest, RingOfAnotherUserIsMadeAnewWithoutFollowingItsLinks) {
  // The guest's user owns its ring files and may replace them with links to
  // files of root's; making the ring anew must give away only new files.
  passwd* nobody = getpwnam("nobody");
  if (getuid() != 0 || nobody == nullptr) GTEST_SKIP() << "needs root and a user 'nobody'";
  ring_ = dir_ + "/g.ring";
  StartBackend({"--guest-ring", ring_ + ",user=nobody"});
  pid_t uml = -1;
  FakeGuest g;
  ASSERT_NO_FATAL_FAILURE(ShrinkingGuest(&g, &uml));
  const std::vector<std::string> suffixes = {"", ".kick", ".wake", ".mem"};
  for (const std::string& s : suffixes) {
    const std::string victim = dir_ + "/victim" + s;
    int fd = open(victim.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
    ASSERT_GE(fd, 0);
    close(fd);
    ASSERT_EQ(unlink((ring_ + s).c_str()), 0) << s;
    ASSERT_EQ(symlink(victim.c_str(), (ring_ + s).c_str()), 0) << s;
  }
  g.Kick();
  EXPECT_TRUE(Eventually([&] { return ReadFile(log_).find("shrank its ring file") != std::string::npos; }));
  kill(uml, SIGKILL);
  waitpid(uml, nullptr, 0);
  EXPECT_TRUE(Eventually([&] { return ReadFile(log_).find("ring files made anew") != std::string::npos; }));
  for (const std::string& s : suffixes) {
    struct stat st;
    ASSERT_EQ(stat((dir_ + "/victim" + s).c_str(), &st), 0);
    EXPECT_EQ(st.st_uid, 0u) << "victim" << s << " was given away";
    EXPECT_EQ(st.st_size, 0) << "victim" << s;
  }
  for (const std::string& s : {std::string(""), std::string(".kick"), std::string(".wake")}) {
    struct stat st;
    ASSERT_EQ(lstat((ring_ + s).c_str(), &st), 0);
    EXPECT_FALSE(S_ISLNK(st.st_mode)) << s;
    EXPECT_EQ(st.st_uid, nobody->pw_uid) << s;
  }
}

TEST_F(GuestRingTest, UnknownUserIsAStartError) {
  std::string out, err;
  EXPECT_EQ(RunBackendSync({"--node", "1", "--socket", dir_ + "/x.sock", "--guest-ring",
                            dir_ + "/g.ring,user=no-such-user-vdvk"},
                           &out, &err),
            1);
  EXPECT_NE(err.find("no such user 'no-such-user-vdvk'"), std::string::npos) << err;
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
  const pid_t child = StandInUml();
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
  ExpectNextGuestServed(host, 200, 31);
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

TEST_F(GuestRingTest, GuestVcopyWithoutMemoryIsNoSys) {
  // Claimed by a process with no UML memory file: nothing to copy through.
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

// A "memory file" the way UML makes one (an unlinked file), mapped; -1 on failure.
int MakeMemoryFile(const std::string& path, uint64_t size, uint8_t** map) {
  int fd = open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return -1;
  unlink(path.c_str());
  void* p = MAP_FAILED;
  if (ftruncate(fd, static_cast<off_t>(size)) == 0)
    p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) {
    close(fd);
    return -1;
  }
  *map = static_cast<uint8_t*>(p);
  return fd;
}

// Peer pins: a host process copies into guest process 300, blocked in a
// receive. The test process plays the UML kernel: it holds a memory file,
// hands it over on PATH.mem as the driver does, and answers PIN requests with
// extents inside it.
class GuestPinTest : public GuestRingTest {
 protected:
  static constexpr uint64_t kMem = 256 * 1024;
  void SetUp() override {
    GuestRingTest::SetUp();
    mem_fd_ = MakeMemoryFile(dir_ + "/physmem", kMem, &mem_);
    ASSERT_GE(mem_fd_, 0);
    StartWithGuestRing({"--pin-timeout-ms", std::to_string(pin_timeout_ms_)});
    ASSERT_TRUE(g_.Open(ring_));
    g_.Claim(getpid());
    if (give_memory_) {
      ASSERT_EQ(SendMemHello(ring_, {mem_fd_}), 0);
    }
  }
  void TearDown() override {
    if (mem_) munmap(mem_, kMem);
    if (mem_fd_ >= 0) close(mem_fd_);
    GuestRingTest::TearDown();
  }
  // Guest 300 bound to 20 (a system slot: it may receive) and blocked in receive; host bound to 10.
  void Setup(bool peer_pin_feature) {
    if (peer_pin_feature)
      std::atomic_ref<uint32_t>(g_.hdr()->client_features).store(VDVK_CF_PEER_PIN);
    ASSERT_EQ(g_.Bind(300, 20), 20);
    vdvk_sqe r = MakeSqe(VDVK_OP_RECEIVE, 77);
    r.arg[0] = ANY;
    r.caller_pid = 300;
    r.caller_tid = 300;
    g_.Submit(r);
    ASSERT_EQ(host_.Attach(sock_), 0);
    ASSERT_EQ(Bind(host_, SELF_BIND, 0, 0, 10), 10);
    ASSERT_TRUE(Eventually([&] {
      auto pi = ProcInfo(host_, 0, 20);
      return pi && (pi->rts_flags & RECEIVING);
    }));
  }
  // The host vcopies n bytes of src to guest address 0x10000 of process 300.
  void HostVcopyToGuest(const uint8_t* src, uint32_t n) {
    vdvk_sqe s = MakeSqe(VDVK_OP_VCOPY, host_.NextTag());
    s.arg[0] = SELF;
    s.arg[1] = 20;
    s.arg[2] = static_cast<int32_t>(n);
    s.u.arg64[0] = reinterpret_cast<uint64_t>(src);
    s.u.arg64[1] = 0x10000;
    host_.Submit(s);
  }
  // Answers a PIN request with `ext` (or with `result` and no pages).
  void PinDone(uint64_t pin_id, int32_t result, std::vector<vdvk_phys_extent> ext) {
    vdvk_sqe d = MakeSqe(VDVK_OP_PIN_DONE, 5000 + pin_id);
    d.u.arg64[0] = pin_id;
    d.arg[0] = result;
    if (result == 0) {
      vdvk_phys_list h{static_cast<uint32_t>(ext.size()), 0, 0};
      std::memcpy(g_.buf(3), &h, sizeof(h));
      std::memcpy(g_.buf(3) + sizeof(h), ext.data(), ext.size() * sizeof(ext[0]));
      d.buf_index = 3;
      d.buf_len = static_cast<uint32_t>(sizeof(h) + ext.size() * sizeof(ext[0]));
    }
    g_.Submit(d);
  }
  int pin_timeout_ms_ = 10000;  // longer than any test waits for an answer
  bool give_memory_ = true;
  int mem_fd_ = -1;
  uint8_t* mem_ = nullptr;
  FakeGuest g_;
  RawClient host_;
};

TEST_F(GuestPinTest, HostCallerCopiesIntoPinnedGuestPages) {
  Setup(true);
  std::vector<uint8_t> src(5000);
  for (size_t i = 0; i < src.size(); ++i) src[i] = static_cast<uint8_t>(i * 31 + 7);
  HostVcopyToGuest(src.data(), 5000);
  auto pin = g_.WaitCqe();
  ASSERT_TRUE(pin);
  ASSERT_EQ(pin->flags, VDVK_CQE_F_PIN);
  EXPECT_EQ(pin->u.pin.tgid, 300);
  EXPECT_EQ(pin->u.pin.write, 1u);
  EXPECT_EQ(pin->u.pin.addr, 0x10000u);
  EXPECT_EQ(pin->u.pin.bytes, 5000u);
  // The "guest pages": page 3 (from offset 100) then page 1.
  PinDone(pin->tag, 0, {{3 * 4096 + 100, 3996}, {4096, 1004}});
  auto done = host_.WaitCqe();
  ASSERT_TRUE(done);
  EXPECT_EQ(done->res, 0);
  EXPECT_EQ(0, std::memcmp(mem_ + 3 * 4096 + 100, src.data(), 3996));
  EXPECT_EQ(0, std::memcmp(mem_ + 4096, src.data() + 3996, 1004));
  auto unpin = g_.WaitCqe();
  ASSERT_TRUE(unpin);
  EXPECT_EQ(unpin->flags, VDVK_CQE_F_UNPIN);
  EXPECT_EQ(unpin->tag, pin->tag);
}

TEST_F(GuestPinTest, GuestPinErrorIsTheVcopyResult) {
  Setup(true);
  uint8_t src[64] = {1};
  HostVcopyToGuest(src, sizeof(src));
  auto pin = g_.WaitCqe();
  ASSERT_TRUE(pin && pin->flags == VDVK_CQE_F_PIN);
  PinDone(pin->tag, EDVSFAULT, {});
  auto done = host_.WaitCqe();
  ASSERT_TRUE(done);
  EXPECT_EQ(done->res, EDVSFAULT);
  EXPECT_FALSE(g_.WaitCqe(300)) << "no UNPIN for a pin that failed";
}

TEST_F(GuestPinTest, DriverWithoutPeerPinsGetsNoRequest) {
  Setup(false);
  uint8_t src[64] = {1};
  HostVcopyToGuest(src, sizeof(src));
  auto done = host_.WaitCqe();
  ASSERT_TRUE(done);
  EXPECT_EQ(done->res, EDVSNOSYS);
  EXPECT_FALSE(g_.WaitCqe(300));
}

TEST_F(GuestPinTest, PinListOutsideGuestMemoryDropsGuestAndFailsVcopy) {
  Setup(true);
  uint8_t src[64] = {1};
  HostVcopyToGuest(src, sizeof(src));
  auto pin = g_.WaitCqe();
  ASSERT_TRUE(pin && pin->flags == VDVK_CQE_F_PIN);
  PinDone(pin->tag, 0, {{kMem - 10, 64}});
  auto done = host_.WaitCqe();
  ASSERT_TRUE(done);
  EXPECT_EQ(done->res, EDVSDSTDIED);
  EXPECT_TRUE(Eventually([&] { return g_.hdr()->state == VDVK_STATE_DEAD; }));
  EXPECT_EQ(g_.hdr()->dead_reason, VDVK_DEAD_BAD_FIELD);
  EXPECT_EQ(DvsInfo(host_), kNode);  // the backend serves on
}

TEST_F(GuestPinTest, PinDoneNobodyAskedForDropsGuest) {
  Setup(true);
  PinDone(12345, 0, {{0, 64}});
  EXPECT_TRUE(Eventually([&] { return g_.hdr()->state == VDVK_STATE_DEAD; }));
  EXPECT_EQ(g_.hdr()->dead_reason, VDVK_DEAD_BAD_TAG);
  EXPECT_EQ(DvsInfo(host_), kNode);
}

// PATH.mem takes the memory of the ring's claimant only, once, and only as
// one fd of a non-empty regular file with an exact hello.
class GuestMemoryTest : public GuestPinTest {
 protected:
  GuestMemoryTest() { give_memory_ = false; }
  // A host vcopy of 64 bytes into guest process 300: the result, after
  // answering the pin (if one comes) with page 2 of the memory file.
  int32_t VcopyIntoGuest(uint8_t fill) {
    uint8_t src[64];
    std::memset(src, fill, sizeof(src));
    HostVcopyToGuest(src, sizeof(src));
    auto c = host_.WaitCqe(300);
    if (c) return c->res;  // answered without a pin (EDVSNOSYS)
    auto pin = g_.WaitCqe();
    if (!pin || pin->flags != VDVK_CQE_F_PIN) return -1000;
    PinDone(pin->tag, 0, {{2 * 4096, 64}});
    c = host_.WaitCqe();
    auto unpin = g_.WaitCqe();
    if (!unpin || unpin->flags != VDVK_CQE_F_UNPIN) return -1001;
    return c ? c->res : -1002;
  }
};

TEST_F(GuestMemoryTest, OnlyAnExactHelloWithOneRegularFileIsTaken) {
  int pipefd[2];
  ASSERT_EQ(pipe(pipefd), 0);
  int empty = open(dir_.c_str(), O_TMPFILE | O_RDWR, 0600);  // size 0
  ASSERT_GE(empty, 0);
  {
    // A datagram shorter than a hello.
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    std::snprintf(sa.sun_path, sizeof(sa.sun_path), "%s.mem", ring_.c_str());
    int s = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    ASSERT_EQ(sendto(s, "DVKM", 4, 0, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)), 4);
    close(s);
  }
  EXPECT_EQ(SendMemHello(ring_, {mem_fd_}, 0x12345678), 0);   // bad magic
  EXPECT_EQ(SendMemHello(ring_, {}), 0);                      // no fd
  EXPECT_EQ(SendMemHello(ring_, {mem_fd_, mem_fd_}), 0);      // two fds
  EXPECT_EQ(SendMemHello(ring_, {pipefd[0]}), 0);             // not a file
  EXPECT_EQ(SendMemHello(ring_, {empty}), 0);                 // empty file
  Setup(true);
  EXPECT_EQ(VcopyIntoGuest(0x11), EDVSNOSYS);
  // Then the real thing (the failed vcopy left process 300 in its receive):
  // the vcopy lands in the guest's pages.
  ASSERT_EQ(SendMemHello(ring_, {mem_fd_}), 0);
  ASSERT_TRUE(Eventually([&] { return ReadFile(log_).find("memory mapped") != std::string::npos; }));
  EXPECT_EQ(VcopyIntoGuest(0x22), 0);
  EXPECT_EQ(mem_[2 * 4096], 0x22);
  EXPECT_EQ(mem_[2 * 4096 + 63], 0x22);
  const std::string log = ReadFile(log_);
  for (const char* why : {"not one whole hello", "bad magic", "not exactly one fd",
                          "not a non-empty regular file"})
    EXPECT_NE(log.find(why), std::string::npos) << why;
  close(pipefd[0]);
  close(pipefd[1]);
  close(empty);
}

TEST_F(GuestMemoryTest, RefusalsAreLoggedAFewTimesOnly) {
  for (int i = 0; i < 50; ++i) ASSERT_EQ(SendMemHello(ring_, {}), 0) << i;
  ASSERT_EQ(SendMemHello(ring_, {mem_fd_}), 0);
  ASSERT_TRUE(Eventually([&] { return ReadFile(log_).find("memory mapped") != std::string::npos; }));
  const std::string log = ReadFile(log_);
  size_t refused = 0;
  for (size_t at = log.find("refused:"); at != std::string::npos; at = log.find("refused:", at + 1))
    ++refused;
  EXPECT_EQ(refused, 8u);
  EXPECT_NE(log.find("further refusals not logged"), std::string::npos);
}

TEST_F(GuestMemoryTest, MemoryFromAProcessThatDidNotClaimTheRingIsRefused) {
  pid_t child = fork();
  if (child == 0) _exit(SendMemHello(ring_, {mem_fd_}) == 0 ? 0 : 1);
  int st = 0;
  ASSERT_EQ(waitpid(child, &st, 0), child);
  ASSERT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  Setup(true);
  EXPECT_EQ(VcopyIntoGuest(0x33), EDVSNOSYS);
  EXPECT_NE(ReadFile(log_).find("did not claim this ring"), std::string::npos);
}

TEST_F(GuestMemoryTest, SecondMemoryIsRefusedTheFirstStays) {
  ASSERT_EQ(SendMemHello(ring_, {mem_fd_}), 0);
  uint8_t* other_map = nullptr;
  int other = MakeMemoryFile(dir_ + "/other", kMem, &other_map);
  ASSERT_GE(other, 0);
  ASSERT_EQ(SendMemHello(ring_, {other}), 0);
  Setup(true);
  EXPECT_EQ(VcopyIntoGuest(0x44), 0);
  EXPECT_EQ(mem_[2 * 4096], 0x44);
  EXPECT_EQ(other_map[2 * 4096], 0);
  EXPECT_NE(ReadFile(log_).find("gave its memory already"), std::string::npos);
  munmap(other_map, kMem);
  close(other);
}

TEST_F(GuestPinTest, GuestThatShrinksItsMemoryFailsItsVcopyAndIsDropped) {
  Setup(true);
  ASSERT_EQ(g_.Bind(301, 21), 21);
  // Guest process 301 copies from its page 0 into process 300's page 1 (pinned
  // on request): a memcpy between two places of the guest's memory, which the
  // guest has just emptied.
  ASSERT_EQ(ftruncate(mem_fd_, 0), 0);
  vdvk_sqe s = MakeSqe(VDVK_OP_VCOPY, 4242);
  s.caller_pid = 301;
  s.caller_tid = 301;
  s.arg[0] = SELF;
  s.arg[1] = 20;
  s.arg[2] = 64;
  s.u.arg64[0] = 0x1000;
  s.u.arg64[1] = 0x2000;
  s.flags = VDVK_SQE_F_GUEST_PHYS;
  vdvk_phys_list h{1, 0, 0};
  vdvk_phys_extent ext{0, 64};
  std::memcpy(g_.buf(4), &h, sizeof(h));
  std::memcpy(g_.buf(4) + sizeof(h), &ext, sizeof(ext));
  s.buf_index = 4;
  s.buf_len = sizeof(h) + sizeof(ext);
  g_.Submit(s);
  auto pin = g_.WaitCqe();
  ASSERT_TRUE(pin && pin->flags == VDVK_CQE_F_PIN);
  PinDone(pin->tag, 0, {{4096, 64}});
  std::optional<vdvk_cqe> c;
  for (int i = 0; i < 3 && !(c && c->tag == 4242); ++i) c = g_.WaitCqe();  // past the UNPIN
  ASSERT_TRUE(c && c->tag == 4242);
  EXPECT_TRUE(c->res == EDVSSRCDIED || c->res == EDVSDSTDIED) << c->res;
  EXPECT_TRUE(Eventually([&] { return g_.hdr()->state == VDVK_STATE_DEAD; }));
  EXPECT_EQ(g_.hdr()->dead_reason, VDVK_DEAD_SHRUNK);
  EXPECT_NE(ReadFile(log_).find("shrank its memory file"), std::string::npos);
  EXPECT_EQ(DvsInfo(host_), kNode);  // the backend serves on
}

class GuestPinTimeoutTest : public GuestPinTest {
 protected:
  GuestPinTimeoutTest() { pin_timeout_ms_ = 300; }
};

TEST_F(GuestPinTimeoutTest, UnansweredPinFailsTheVcopyAndALateAnswerIsReleased) {
  Setup(true);
  uint8_t src[64];
  std::memset(src, 0x5a, sizeof(src));
  const auto t0 = std::chrono::steady_clock::now();
  HostVcopyToGuest(src, sizeof(src));
  auto pin = g_.WaitCqe();
  ASSERT_TRUE(pin && pin->flags == VDVK_CQE_F_PIN);
  // The guest never answers in time: the host's vcopy ends, it does not hang.
  auto done = host_.WaitCqe();
  ASSERT_TRUE(done);
  EXPECT_EQ(done->res, EDVSTIMEDOUT);
  EXPECT_GE(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(300));
  // The late answer: its pages are released at once and never written.
  PinDone(pin->tag, 0, {{0, 64}});
  auto unpin = g_.WaitCqe();
  ASSERT_TRUE(unpin);
  EXPECT_EQ(unpin->flags, VDVK_CQE_F_UNPIN);
  EXPECT_EQ(unpin->tag, pin->tag);
  EXPECT_EQ(mem_[0], 0);
  EXPECT_NE(g_.hdr()->state, VDVK_STATE_DEAD);  // slow is not broken
  // The next vcopy to the same process works (it still sits in its receive).
  HostVcopyToGuest(src, sizeof(src));
  pin = g_.WaitCqe();
  ASSERT_TRUE(pin && pin->flags == VDVK_CQE_F_PIN);
  PinDone(pin->tag, 0, {{4096, 64}});
  done = host_.WaitCqe();
  ASSERT_TRUE(done);
  EXPECT_EQ(done->res, 0);
  EXPECT_EQ(0, std::memcmp(mem_ + 4096, src, sizeof(src)));
  // Answering a pin twice is still a protocol violation (only a timed-out
  // pin may be answered after its vcopy ended).
  auto unpin2 = g_.WaitCqe();
  ASSERT_TRUE(unpin2 && unpin2->flags == VDVK_CQE_F_UNPIN);
  PinDone(pin->tag, 0, {{0, 64}});
  EXPECT_TRUE(Eventually([&] { return g_.hdr()->state == VDVK_STATE_DEAD; }));
  EXPECT_EQ(g_.hdr()->dead_reason, VDVK_DEAD_BAD_TAG);
}

}  // namespace
}  // namespace vdvk::test
