// backend_test - the real host-backend binary, driven through raw rings.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <random>

#include "dvk/dvk.h"
#include "tests/backend/backend_fixture.h"

namespace vdvk::test {
namespace {

TEST(BackendCli, HelpExitsZero) {
  std::string out, err;
  EXPECT_EQ(RunBackendSync({"--help"}, &out, &err), 0);
  EXPECT_NE(out.find("usage: host-backend"), std::string::npos) << out;
  EXPECT_EQ(RunBackendSync({"-h"}, &out, &err), 0);
}

TEST(BackendCli, BadFlagsExitTwo) {
  std::string out, err;
  EXPECT_EQ(RunBackendSync({"--node", "1", "--frobnicate"}, &out, &err), 2);
  EXPECT_NE(err.find("unknown option '--frobnicate'"), std::string::npos) << err;
  EXPECT_NE(err.find("--help"), std::string::npos) << err;
  EXPECT_EQ(RunBackendSync({"--node", "99"}, &out, &err), 2);
  EXPECT_NE(err.find("99"), std::string::npos) << err;
  EXPECT_EQ(RunBackendSync({}, &out, &err), 2);
  EXPECT_NE(err.find("--node is required"), std::string::npos) << err;
  EXPECT_EQ(RunBackendSync({"--node", "1", "--poll-us", "-5"}, &out, &err), 2);
}

TEST(BackendCli, ConfigFileErrorsNameTheLine) {
  std::string dir = MakeTempDir();
  std::string conf = dir + "/b.conf";
  FILE* f = std::fopen(conf.c_str(), "w");
  std::fputs("# test\nnode = 2\nwibble = 3\n", f);
  std::fclose(f);
  std::string out, err;
  EXPECT_EQ(RunBackendSync({"--config", conf}, &out, &err), 2);
  EXPECT_NE(err.find(conf + ":3"), std::string::npos) << err;
  unlink(conf.c_str());
  rmdir(dir.c_str());
}

TEST_F(BackendTest, SecondInstanceIsRefused) {
  StartBackend();
  std::string out, err;
  EXPECT_EQ(RunBackendSync({"--node", std::to_string(kNode), "--socket", sock_}, &out, &err), 1);
  EXPECT_NE(err.find("already served by pid " + std::to_string(backend_.pid())),
            std::string::npos)
      << err;
  // The first one is unharmed.
  RawClient c;
  ASSERT_EQ(c.Attach(sock_), 0);
  EXPECT_EQ(DvsInfo(c), kNode);
}

TEST_F(BackendTest, SigtermExitsCleanly) {
  StartBackend();
  RawClient c;
  ASSERT_EQ(c.Attach(sock_), 0);
  int st = backend_.StopWith(SIGTERM);
  ASSERT_NE(st, -1) << "backend did not exit on SIGTERM";
  ASSERT_TRUE(WIFEXITED(st));
  EXPECT_EQ(WEXITSTATUS(st), 0);
  EXPECT_FALSE(Exists(sock_));
  EXPECT_FALSE(Exists(sock_ + ".lock"));
  // An attached client learns at once why.
  EXPECT_EQ(c.hdr()->state, VDVK_STATE_DEAD);
  EXPECT_EQ(c.hdr()->dead_reason, VDVK_DEAD_SHUTDOWN);
  EXPECT_NE(ReadFile(log_).find("node 3 ready on " + sock_), std::string::npos);
}

TEST_F(BackendTest, HandshakeAndGetDvsInfo) {
  StartBackend();
  RawClient c;
  ASSERT_EQ(c.Attach(sock_, 16, 32), 0);
  EXPECT_EQ(c.hdr()->sq_entries, 16u);
  EXPECT_EQ(c.hdr()->cq_entries, 32u);
  EXPECT_EQ(c.hdr()->node_id, kNode);
  EXPECT_EQ(c.hdr()->features & VDVK_F_VCOPY_GRANT, VDVK_F_VCOPY_GRANT);
  EXPECT_GE(c.hdr()->nr_bufs, 1u);
  vdvk_dvs_info info{};
  EXPECT_EQ(DvsInfo(c, &info), kNode);
  EXPECT_EQ(info.nodeid, kNode);
  EXPECT_EQ(info.max_copylen, 1 << 20);
  // Many calls in a row go through (indices wrap the 16-entry SQ).
  for (int i = 0; i < 100; ++i) ASSERT_EQ(DvsInfo(c), kNode) << i;
}

TEST_F(BackendTest, ClientCannotResizeItsRing) {
  // A shrunk ring would SIGBUS the backend at its next look: the memfd is sealed.
  StartBackend();
  RawClient c;
  ASSERT_EQ(c.Attach(sock_), 0);
  EXPECT_EQ(ftruncate(c.ring_fd(), 0), -1);
  EXPECT_EQ(errno, EPERM);
  EXPECT_EQ(ftruncate(c.ring_fd(), 1 << 30), -1);
  EXPECT_EQ(fcntl(c.ring_fd(), F_GET_SEALS), F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL);
  EXPECT_EQ(DvsInfo(c), kNode);
}

TEST_F(BackendTest, BadHelloIsRefused) {
  StartBackend();
  RawClient c;
  EXPECT_NE(c.Attach(sock_, 48, 0), 0);  // not a power of two
  RawClient d;
  EXPECT_NE(d.Attach(sock_, 8192, 0), 0);
  RawClient ok;
  ASSERT_EQ(ok.Attach(sock_), 0);
  EXPECT_EQ(ok.hdr()->sq_entries, 64u);
}

TEST_F(BackendTest, BufferTooSmallIsASemanticError) {
  StartBackend();
  RawClient c;
  ASSERT_EQ(c.Attach(sock_), 0);
  vdvk_sqe s = MakeSqe(VDVK_OP_GETDVSINFO, 5);
  s.buf_len = 8;
  auto r = c.Call(s);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->res, EDVSINVAL);
  EXPECT_EQ(c.hdr()->state, VDVK_STATE_LIVE);
  EXPECT_EQ(DvsInfo(c), kNode);
}

TEST_F(BackendTest, GarbageClientsAreDroppedOthersServed) {
  StartBackend();
  RawClient good;
  ASSERT_EQ(good.Attach(sock_), 0);
  ASSERT_EQ(DvsInfo(good), kNode);
  {
    RawClient bad;
    ASSERT_EQ(bad.Attach(sock_), 0);
    bad.Submit(MakeSqe(200, 1));
    ExpectDropped(bad, VDVK_DEAD_BAD_OPCODE, good);
  }
  {
    RawClient bad;
    ASSERT_EQ(bad.Attach(sock_), 0);
    vdvk_sqe s = MakeSqe(VDVK_OP_GETDVSINFO, 1);
    s.reserved0 = 7;
    bad.Submit(s);
    ExpectDropped(bad, VDVK_DEAD_BAD_FIELD, good);
  }
  {
    RawClient bad;
    ASSERT_EQ(bad.Attach(sock_), 0);
    vdvk_sqe s = MakeSqe(VDVK_OP_GETDVSINFO, 1);
    s.buf_index = static_cast<uint16_t>(bad.hdr()->nr_bufs);
    s.buf_len = sizeof(vdvk_dvs_info);
    bad.Submit(s);
    ExpectDropped(bad, VDVK_DEAD_BAD_FIELD, good);
  }
  {
    RawClient bad;
    ASSERT_EQ(bad.Attach(sock_), 0);
    bad.PublishTail(bad.hdr()->sq_entries * 1000 + 3);
    ExpectDropped(bad, VDVK_DEAD_BAD_INDEX, good);
  }
  {
    RawClient bad;
    ASSERT_EQ(bad.Attach(sock_), 0);
    vdvk_sqe s = MakeSqe(VDVK_OP_VCOPY_DONE, 424242);  // no such granted vcopy
    bad.Submit(s);
    ExpectDropped(bad, VDVK_DEAD_BAD_TAG, good);
  }
  {
    // cq_head moved past the backend's cq_tail.
    RawClient bad;
    ASSERT_EQ(bad.Attach(sock_), 0);
    bad.hdr()->cq_head = 5;
    vdvk_sqe s = MakeSqe(VDVK_OP_GETDVSINFO, 1);
    s.buf_len = sizeof(vdvk_dvs_info);
    bad.Submit(s);
    ExpectDropped(bad, VDVK_DEAD_BAD_INDEX, good);
  }
  {
    // Random bytes in every SQE, fixed seed. The first entry decides.
    RawClient bad;
    ASSERT_EQ(bad.Attach(sock_), 0);
    std::mt19937 rng(20261122);
    uint32_t n = bad.hdr()->sq_entries;
    for (uint32_t i = 0; i < n; ++i) {
      auto* b = reinterpret_cast<uint8_t*>(bad.sqe(i));
      for (size_t k = 0; k < sizeof(vdvk_sqe); ++k) b[k] = static_cast<uint8_t>(rng());
    }
    uint16_t op0 = bad.sqe(0)->opcode;
    ASSERT_FALSE((op0 >= 1 && op0 <= 34) || (op0 >= 64 && op0 <= 66)) << "seed gives a valid op";
    bad.PublishTail(n);
    ExpectDropped(bad, VDVK_DEAD_BAD_OPCODE, good);
  }
  EXPECT_EQ(good.hdr()->state, VDVK_STATE_LIVE);
  // Rejects are counted.
  vdvk_sqe s = MakeSqe(VDVK_OP_STATS, 77);
  s.buf_len = sizeof(vdvk_stats);
  auto r = good.Call(s);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->res, 0);
  vdvk_stats st;
  std::memcpy(&st, good.buf(0), sizeof(st));
  EXPECT_GE(st.rejects, 7u);
  EXPECT_EQ(st.attachments, 1u);
  EXPECT_GE(st.attach_total, 8u);
  EXPECT_GE(st.detach_total, 7u);
}

TEST_F(BackendTest, SilentClientIsDroppedAfterHelloTimeout) {
  StartBackend();
  int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::strncpy(a.sun_path, sock_.c_str(), sizeof(a.sun_path) - 1);
  ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
  pollfd p{fd, POLLIN, 0};
  ASSERT_EQ(poll(&p, 1, 5000), 1);
  char b[8];
  EXPECT_EQ(recv(fd, b, sizeof(b), 0), 0);
  close(fd);
}

TEST_F(BackendTest, IdentityCannotBeForged) {
  StartBackend();
  RawClient c;
  ASSERT_EQ(c.Attach(sock_), 0);
  // Claim to be pid 1 in the SQE: ignored, identity is SO_PEERCRED.
  ASSERT_EQ(Bind(c, SELF_BIND, 0, 0, 10, /*forged_pid=*/1), 10);
  auto p = ProcInfo(c, 0, 10);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->lpid, getpid());
  EXPECT_EQ(p->rts_flags & SLOT_FREE, 0u);
  char comm[16] = {};
  FILE* f = std::fopen("/proc/self/comm", "r");
  ASSERT_TRUE(f);
  ASSERT_TRUE(std::fgets(comm, sizeof(comm), f));
  std::fclose(f);
  comm[std::strcspn(comm, "\n")] = '\0';
  EXPECT_STREQ(p->name, comm);
  vdvk_sqe s = MakeSqe(VDVK_OP_GETEP, c.NextTag());
  s.arg[0] = getpid();
  s.caller_pid = 1;
  auto r = c.Call(s);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->res, 10);
}

TEST_F(BackendTest, LocalBindOfMissingPidFails) {
  StartBackend();
  RawClient c;
  ASSERT_EQ(c.Attach(sock_), 0);
  ASSERT_EQ(Bind(c, SELF_BIND, 0, 0, 11), 11);
  EXPECT_EQ(Bind(c, LCL_BIND, 0, 0x3ffffff0, 12), EDVSBADPID);
}

// Forks a child that attaches, binds `ep`, reports through a pipe, and sleeps.
pid_t SpawnBoundChild(const std::string& sock, int ep) {
  int p[2];
  if (pipe(p) != 0) return -1;
  pid_t pid = fork();
  if (pid == 0) {
    close(p[0]);
    RawClient c;
    int rc = c.Attach(sock);
    int res = -1;
    if (rc == 0) {
      vdvk_sqe s = MakeSqe(VDVK_OP_BIND, 1);
      s.arg[0] = SELF_BIND;
      s.arg[1] = 0;
      s.arg[3] = ep;
      s.arg[4] = kNode;
      auto r = c.Call(s);
      res = r ? r->res : -1000;
    }
    [[maybe_unused]] ssize_t n = write(p[1], &res, sizeof(res));
    for (;;) pause();
  }
  close(p[1]);
  int res = -1;
  ssize_t n = read(p[0], &res, sizeof(res));
  close(p[0]);
  if (n != sizeof(res) || res != ep) {
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
    return -1;
  }
  return pid;
}

TEST_F(BackendTest, KilledBoundClientFreesItsSlot) {
  StartBackend();
  RawClient c;
  ASSERT_EQ(c.Attach(sock_), 0);
  pid_t child = SpawnBoundChild(sock_, 20);
  ASSERT_GT(child, 0);
  auto before = ProcInfo(c, 0, 20);
  ASSERT_TRUE(before);
  EXPECT_EQ(before->lpid, child);
  EXPECT_EQ(before->rts_flags & SLOT_FREE, 0u);
  kill(child, SIGKILL);
  waitpid(child, nullptr, 0);
  bool freed = false;
  for (int i = 0; i < 200 && !freed; ++i) {
    auto p = ProcInfo(c, 0, 20);
    ASSERT_TRUE(p);
    freed = (p->rts_flags & SLOT_FREE) != 0;
    if (!freed) usleep(10000);
  }
  EXPECT_TRUE(freed);
  EXPECT_EQ(DvsInfo(c), kNode);
  // The slot is reusable.
  EXPECT_EQ(Bind(c, SELF_BIND, 0, 0, 20), 20);
}

TEST_F(BackendTest, LocallyBoundProcessIsWatchedUntilExit) {
  StartBackend();
  RawClient c;
  ASSERT_EQ(c.Attach(sock_), 0);
  ASSERT_EQ(Bind(c, SELF_BIND, 0, 0, 5), 5);
  // A child that never talks to the backend, bound by us (LCL_BIND).
  pid_t child = fork();
  if (child == 0) {
    for (;;) pause();
  }
  ASSERT_EQ(Bind(c, LCL_BIND, 0, child, 21), 21);
  auto p = ProcInfo(c, 0, 21);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->lpid, child);
  kill(child, SIGKILL);
  waitpid(child, nullptr, 0);
  bool freed = false;
  for (int i = 0; i < 200 && !freed; ++i) {
    auto q = ProcInfo(c, 0, 21);
    ASSERT_TRUE(q);
    freed = (q->rts_flags & SLOT_FREE) != 0;
    if (!freed) usleep(10000);
  }
  EXPECT_TRUE(freed);
}

}  // namespace
}  // namespace vdvk::test
