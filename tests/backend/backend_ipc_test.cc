// backend_ipc_test - calls that block, wake, time out, cancel and copy,
// between real processes through the real backend.
#include <gtest/gtest.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>

#include "tests/backend/backend_fixture.h"

namespace vdvk::test {
namespace {

// Filled by a child before it blocks; the parent copies into the child's
// copy of it (same virtual address after fork).
char g_vcopy_target[8192];
// Source bytes for third-party copies, set before the source child forks.
char g_vcopy_source[256];

// A child bound to `ep` that receives one message, then checks that
// g_vcopy_target starts with `expect` (if given) and replies with
// m_type = 1 (match) or 2 (mismatch). Exit code 0 if all calls worked.
pid_t SpawnReceiver(const std::string& sock, int ep, const char* expect, int ready_fd) {
  std::memset(g_vcopy_target, 0, sizeof(g_vcopy_target));
  pid_t pid = fork();
  if (pid != 0) return pid;
  RawClient c;
  if (c.Attach(sock) != 0) _exit(10);
  vdvk_sqe b = MakeSqe(VDVK_OP_BIND, 1);
  b.arg[0] = SELF_BIND;
  b.arg[3] = ep;
  b.arg[4] = kNode;
  auto r = c.Call(b);
  if (!r || r->res != ep) _exit(11);
  int one = 1;
  [[maybe_unused]] ssize_t n = write(ready_fd, &one, sizeof(one));
  vdvk_sqe rcv = MakeSqe(VDVK_OP_RECEIVE, 2);
  rcv.arg[0] = ANY;
  r = c.Call(rcv, 10000);
  if (!r || r->res != 0 || !(r->flags & VDVK_CQE_F_MSG)) _exit(12);
  int from = r->msg.m_source;
  vdvk_sqe rep = MakeSqe(VDVK_OP_REPLY, 3);
  rep.arg[0] = from;
  rep.u.msg.m_type = (expect == nullptr || std::strcmp(g_vcopy_target, expect) == 0) ? 1 : 2;
  r = c.Call(rep);
  if (!r || r->res != 0) _exit(13);
  _exit(0);
}

class BackendIpcTest : public BackendTest {
 protected:
  // Starts a receiver child and waits until it is bound.
  pid_t Receiver(int ep, const char* expect) {
    int p[2];
    EXPECT_EQ(pipe(p), 0);
    pid_t pid = SpawnReceiver(sock_, ep, expect, p[1]);
    close(p[1]);
    int v = 0;
    EXPECT_EQ(read(p[0], &v, sizeof(v)), static_cast<ssize_t>(sizeof(v)));
    close(p[0]);
    // Give it time to block in receive: vcopy needs the peer blocked.
    RawClient probe;
    if (probe.Attach(sock_) != 0) return pid;
    for (int i = 0; i < 1000; ++i) {
      auto info = ProcInfo(probe, 0, ep);
      if (info && (info->rts_flags & RECEIVING)) break;
      usleep(5000);
    }
    return pid;
  }
  int WaitChild(pid_t pid) {
    int st = 0;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 100 + WTERMSIG(st);
  }
  // sendrec to ep; returns the reply's m_type or a negative code.
  int SendRec(RawClient& c, int ep) {
    vdvk_sqe s = MakeSqe(VDVK_OP_SENDREC, c.NextTag());
    s.arg[0] = ep;
    s.u.msg.m_type = 42;
    auto r = c.Call(s, 10000);
    if (!r) return -1000;
    if (r->res < 0) return r->res;
    return r->msg.m_type;
  }
  vdvk_stats Stats(RawClient& c) {
    vdvk_sqe s = MakeSqe(VDVK_OP_STATS, c.NextTag());
    s.buf_index = 2;
    s.buf_len = sizeof(vdvk_stats);
    auto r = c.Call(s);
    vdvk_stats st{};
    EXPECT_TRUE(r && r->res == 0);
    std::memcpy(&st, c.buf(2), sizeof(st));
    return st;
  }
};

TEST_F(BackendIpcTest, SendrecBetweenProcesses) {
  StartBackend();
  RawClient c;
  ASSERT_EQ(c.Attach(sock_), 0);
  ASSERT_EQ(Bind(c, SELF_BIND, 0, 0, 3), 3);
  pid_t child = Receiver(4, nullptr);
  EXPECT_EQ(SendRec(c, 4), 1);
  EXPECT_EQ(WaitChild(child), 0);
  EXPECT_GE(Stats(c).messages, 2u);
}

TEST_F(BackendIpcTest, ReceiveTimesOut) {
  StartBackend();
  RawClient c;
  ASSERT_EQ(c.Attach(sock_), 0);
  ASSERT_EQ(Bind(c, SELF_BIND, 0, 0, 3), 3);
  vdvk_sqe s = MakeSqe(VDVK_OP_RECEIVE, 9);
  s.arg[0] = ANY;
  s.timeout_ms = 100;
  auto t0 = std::chrono::steady_clock::now();
  auto r = c.Call(s, 3000);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                std::chrono::steady_clock::now() - t0).count();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->res, EDVSTIMEDOUT);
  EXPECT_GE(ms, 90);
  EXPECT_LT(ms, 2000);
}

TEST_F(BackendIpcTest, CancelInterruptsAPendingReceive) {
  StartBackend();
  RawClient c;
  ASSERT_EQ(c.Attach(sock_), 0);
  ASSERT_EQ(Bind(c, SELF_BIND, 0, 0, 3), 3);
  vdvk_sqe s = MakeSqe(VDVK_OP_RECEIVE, 55);
  s.arg[0] = ANY;
  c.Submit(s);
  EXPECT_FALSE(c.WaitCqe(100));  // really pending
  vdvk_sqe cancel = MakeSqe(VDVK_OP_CANCEL, 56);
  cancel.u.arg64[0] = 55;
  c.Submit(cancel);
  auto r = c.WaitCqe(3000);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->tag, 55u);
  EXPECT_EQ(r->res, EDVSINTR);
  // Cancelling an unknown tag is ignored, not fatal, and completes nothing.
  cancel.u.arg64[0] = 12345;
  c.Submit(cancel);
  EXPECT_FALSE(c.WaitCqe(100));
  EXPECT_EQ(c.hdr()->state, VDVK_STATE_LIVE);
  EXPECT_EQ(DvsInfo(c), kNode);
}

// vcopy where the caller is the source: the backend grants, we copy with
// process_vm_writev ourselves (or ask the backend to), then VCOPY_DONE.
void GrantedVcopy(BackendIpcTest* t, RawClient& c, int dst_ep, pid_t child, const char* text,
                  bool ask_backend) {
  vdvk_sqe s = MakeSqe(VDVK_OP_VCOPY, 700);
  s.arg[0] = SELF;
  s.arg[1] = dst_ep;
  s.arg[2] = static_cast<int32_t>(std::strlen(text) + 1);
  s.u.arg64[0] = reinterpret_cast<uint64_t>(text);
  s.u.arg64[1] = reinterpret_cast<uint64_t>(g_vcopy_target);
  c.Submit(s);
  auto g = c.WaitCqe(5000);
  ASSERT_TRUE(g);
  ASSERT_EQ(g->tag, 700u);
  ASSERT_TRUE(g->flags & VDVK_CQE_F_GRANT) << "res " << g->res;
  EXPECT_EQ(g->u.grant.src_pid, getpid());
  EXPECT_EQ(g->u.grant.dst_pid, child);
  EXPECT_EQ(g->u.grant.src_addr, reinterpret_cast<uint64_t>(text));
  EXPECT_EQ(g->u.grant.dst_addr, reinterpret_cast<uint64_t>(g_vcopy_target));
  EXPECT_EQ(g->u.grant.bytes, std::strlen(text) + 1);
  vdvk_sqe done = MakeSqe(VDVK_OP_VCOPY_DONE, 700);
  if (ask_backend) {
    done.arg[0] = EDVSPERM;
    done.arg[1] = 1;
  } else {
    iovec local{const_cast<char*>(text), g->u.grant.bytes};
    iovec remote{reinterpret_cast<void*>(g->u.grant.dst_addr), g->u.grant.bytes};
    ASSERT_EQ(process_vm_writev(g->u.grant.dst_pid, &local, 1, &remote, 1, 0),
              static_cast<ssize_t>(g->u.grant.bytes));
    done.arg[0] = 0;
  }
  c.Submit(done);
  auto f = c.WaitCqe(5000);
  ASSERT_TRUE(f);
  EXPECT_EQ(f->tag, 700u);
  EXPECT_EQ(f->flags & VDVK_CQE_F_GRANT, 0u);
  EXPECT_EQ(f->res, 0);
  (void)t;
}

TEST_F(BackendIpcTest, VcopyGrantSingleCopyByCaller) {
  StartBackend();
  RawClient c;
  ASSERT_EQ(c.Attach(sock_), 0);
  ASSERT_EQ(Bind(c, SELF_BIND, 0, 0, 3), 3);
  static const char kText[] = "copied by the caller itself";
  pid_t child = Receiver(4, kText);
  GrantedVcopy(this, c, 4, child, kText, false);
  EXPECT_EQ(SendRec(c, 4), 1) << "child did not see the bytes";
  EXPECT_EQ(WaitChild(child), 0);
  vdvk_stats st = Stats(c);
  EXPECT_EQ(st.vcopy_zero_copy_bytes, sizeof(kText));
  EXPECT_EQ(st.vcopy_bounce_bytes, 0u);
}

TEST_F(BackendIpcTest, VcopyFallbackCopiedByBackend) {
  StartBackend();
  RawClient c;
  ASSERT_EQ(c.Attach(sock_), 0);
  ASSERT_EQ(Bind(c, SELF_BIND, 0, 0, 3), 3);
  static const char kText[] = "copied through the backend's bounce buffer";
  pid_t child = Receiver(4, kText);
  GrantedVcopy(this, c, 4, child, kText, true);
  EXPECT_EQ(SendRec(c, 4), 1) << "child did not see the bytes";
  EXPECT_EQ(WaitChild(child), 0);
  vdvk_stats st = Stats(c);
  EXPECT_EQ(st.vcopy_bounce_bytes, sizeof(kText));
  EXPECT_EQ(st.vcopy_zero_copy_bytes, 0u);
}

TEST_F(BackendIpcTest, ThirdPartyVcopyIsBouncedByBackend) {
  StartBackend();
  RawClient c;
  ASSERT_EQ(c.Attach(sock_), 0);
  ASSERT_EQ(Bind(c, SELF_BIND, 0, 0, 3), 3);
  static const char kText[] = "from one child to another";
  std::strcpy(g_vcopy_source, kText);
  pid_t src = Receiver(4, nullptr);  // inherits g_vcopy_source
  std::memset(g_vcopy_source, 0, sizeof(g_vcopy_source));
  pid_t dst = Receiver(5, kText);
  vdvk_sqe s = MakeSqe(VDVK_OP_VCOPY, 800);
  s.arg[0] = 4;
  s.arg[1] = 5;
  s.arg[2] = sizeof(kText);
  s.u.arg64[0] = reinterpret_cast<uint64_t>(g_vcopy_source);
  s.u.arg64[1] = reinterpret_cast<uint64_t>(g_vcopy_target);
  c.Submit(s);
  auto r = c.WaitCqe(5000);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->tag, 800u);
  EXPECT_EQ(r->flags & VDVK_CQE_F_GRANT, 0u) << "caller is not a party: no grant";
  EXPECT_EQ(r->res, 0);
  EXPECT_EQ(SendRec(c, 4), 1);
  EXPECT_EQ(SendRec(c, 5), 1) << "destination did not see the bytes";
  EXPECT_EQ(WaitChild(src), 0);
  EXPECT_EQ(WaitChild(dst), 0);
  vdvk_stats st = Stats(c);
  EXPECT_EQ(st.vcopy_bounce_bytes, sizeof(kText));
  EXPECT_EQ(st.vcopy_zero_copy_bytes, 0u);
  EXPECT_EQ(st.vcopies, 1u);
}

TEST_F(BackendIpcTest, VcopyFaultIsReported) {
  StartBackend();
  RawClient c;
  ASSERT_EQ(c.Attach(sock_), 0);
  ASSERT_EQ(Bind(c, SELF_BIND, 0, 0, 3), 3);
  pid_t dst = Receiver(5, nullptr);
  // Bad source address in our own space: the client-side copy would fault,
  // and so does the backend's when asked to copy for us.
  vdvk_sqe s = MakeSqe(VDVK_OP_VCOPY, 900);
  s.arg[0] = SELF;
  s.arg[1] = 5;
  s.arg[2] = 64;
  s.u.arg64[0] = 8;  // unmapped
  s.u.arg64[1] = reinterpret_cast<uint64_t>(g_vcopy_target);
  c.Submit(s);
  auto g = c.WaitCqe(5000);
  ASSERT_TRUE(g);
  ASSERT_TRUE(g->flags & VDVK_CQE_F_GRANT);
  vdvk_sqe done = MakeSqe(VDVK_OP_VCOPY_DONE, 900);
  done.arg[0] = EDVSPERM;
  done.arg[1] = 1;
  c.Submit(done);
  auto f = c.WaitCqe(5000);
  ASSERT_TRUE(f);
  EXPECT_EQ(f->tag, 900u);
  EXPECT_EQ(f->res, EDVSFAULT);
  EXPECT_EQ(c.hdr()->state, VDVK_STATE_LIVE);
  EXPECT_EQ(SendRec(c, 5), 1);
  EXPECT_EQ(WaitChild(dst), 0);
}

TEST_F(BackendIpcTest, SecondVcopyDoneIsABadTag) {
  StartBackend();
  RawClient c;
  ASSERT_EQ(c.Attach(sock_), 0);
  ASSERT_EQ(Bind(c, SELF_BIND, 0, 0, 3), 3);
  static const char kText[] = "once";
  pid_t child = Receiver(4, kText);
  GrantedVcopy(this, c, 4, child, kText, false);
  vdvk_sqe again = MakeSqe(VDVK_OP_VCOPY_DONE, 700);
  c.Submit(again);
  ASSERT_TRUE(c.WaitDead());
  EXPECT_EQ(c.hdr()->dead_reason, VDVK_DEAD_BAD_TAG);
  kill(child, SIGKILL);
  WaitChild(child);
}

TEST_F(BackendIpcTest, ClientThatNeverConsumesCompletionsIsDropped) {
  StartBackend();
  RawClient good;
  ASSERT_EQ(good.Attach(sock_), 0);
  RawClient c;
  ASSERT_EQ(c.Attach(sock_, 64, 4), 0);
  // Completions pile up with cq_head never moving: the backend buffers a
  // little, then gives up on the client instead of growing without bound.
  for (int i = 0; i < 40 && c.hdr()->state == VDVK_STATE_LIVE; ++i) {
    vdvk_sqe s = MakeSqe(VDVK_OP_STATS, 100 + i);
    s.buf_len = sizeof(vdvk_stats);
    c.Submit(s);
    usleep(1000);
  }
  ASSERT_TRUE(c.WaitDead());
  EXPECT_EQ(c.hdr()->dead_reason, VDVK_DEAD_OVERFLOW);
  EXPECT_EQ(c.hdr()->cq_tail, 4u);
  EXPECT_EQ(DvsInfo(good), kNode);
}

TEST_F(BackendIpcTest, SleepingClientIsWokenAndPollingCountsHits) {
  StartBackend({"--poll-us", "20000"});
  RawClient c;
  ASSERT_EQ(c.Attach(sock_), 0);
  // Back-to-back calls land inside the 20 ms poll window: found by polling.
  for (int i = 0; i < 50; ++i) ASSERT_EQ(DvsInfo(c), kNode);
  vdvk_stats st = Stats(c);
  EXPECT_GT(st.poll_hits, 0u);
  EXPECT_GT(st.doorbells_sent, 0u);  // WaitCqe sleeps on the wake fd
}

}  // namespace
}  // namespace vdvk::test
