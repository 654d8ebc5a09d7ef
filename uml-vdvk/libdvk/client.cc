// client.cc - submit one SQE, wait for its CQE, per the ordering rules of
// wire/vdvk_ring.h.
#include "libdvk/client.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <sched.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <new>

#include "libdvk/grant_copy.h"

namespace vdvk::client {
namespace {

// True when no installed handler lacks SA_RESTART. We cannot tell which
// signal interrupted poll(), so this looks at all of them; it runs only after
// an EINTR. Fault signals are raised by the faulting instruction and never
// interrupt a blocked poll(); runtimes (sanitizers, JVMs) install handlers for
// them without SA_RESTART, so they are not counted.
bool AllCaughtSignalsRestart() {
  for (int sig = 1; sig < NSIG; sig++) {
    if (sig == SIGSEGV || sig == SIGBUS || sig == SIGILL || sig == SIGFPE || sig == SIGTRAP) continue;
    struct sigaction sa;
    if (sigaction(sig, nullptr, &sa) != 0) continue;
    const bool caught = (sa.sa_flags & SA_SIGINFO) ? sa.sa_sigaction != nullptr
                                                   : (sa.sa_handler != SIG_DFL && sa.sa_handler != SIG_IGN);
    if (caught && !(sa.sa_flags & SA_RESTART)) return false;
  }
  return true;
}

inline uint32_t LoadAcquire(uint32_t* p) {
  return std::atomic_ref<uint32_t>(*p).load(std::memory_order_acquire);
}
inline void StoreRelease(uint32_t* p, uint32_t v) {
  std::atomic_ref<uint32_t>(*p).store(v, std::memory_order_release);
}
inline uint32_t LoadRelaxed(uint32_t* p) {
  return std::atomic_ref<uint32_t>(*p).load(std::memory_order_relaxed);
}

inline void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
  sched_yield();
}

uint64_t NowUs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return uint64_t(ts.tv_sec) * 1000000u + uint64_t(ts.tv_nsec) / 1000u;
}

unsigned PollUsFromEnv() {
  const char* s = getenv("VDVK_POLL_US");
  if (!s || !*s) return 20;  // a cross-vCPU wakeup costs ~20 us (perf-notes.md)
  char* end;
  unsigned long v = strtoul(s, &end, 10);
  if (*end != '\0' || v > 1000000) return 20;
  return static_cast<unsigned>(v);
}

void AtforkChild() { Client::Get().ForgetInChild(); }

}  // namespace

Client& Client::Get() {
  // Never destroyed: calls from atexit handlers or other threads during exit
  // must not find a dead mutex.
  static Client* c = new Client();
  return *c;
}

Client::Client() {
  pthread_mutex_init(&mu_, nullptr);
  pthread_atfork(nullptr, nullptr, AtforkChild);
}

void Client::ForgetInChild() {
  // The child has one thread; a parent thread may have held mu_ at fork time,
  // so start from a fresh mutex instead of unlocking someone else's lock.
  pthread_mutex_init(&mu_, nullptr);
  Release(&att_);  // the parent's connection lives on in the parent
}

std::string Client::LastDetail() {
  pthread_mutex_lock(&mu_);
  std::string d = detail_;
  pthread_mutex_unlock(&mu_);
  return d;
}

long Client::Open() {
  pthread_mutex_lock(&mu_);
  long rc = EnsureAttachedLocked();
  pthread_mutex_unlock(&mu_);
  return rc;
}

long Client::Close() {
  pthread_mutex_lock(&mu_);
  Release(&att_);
  pthread_mutex_unlock(&mu_);
  return 0;
}

long Client::EnsureAttachedLocked() {
  if (att_.attached() && att_.pid == getpid()) return 0;
  Release(&att_);  // inherited from a parent (or a stale drop): not ours
  std::string why;
  long rc = Attach(&att_, &why);
  if (rc < 0) {
    detail_ = why;
    return rc;
  }
  poll_us_ = PollUsFromEnv();
  return 0;
}

void Client::DropLocked(const char* why) {
  detail_ = why;
  Release(&att_);
}

bool Client::DeadLocked() {
  return std::atomic_ref<uint32_t>(att_.khdr->state).load(std::memory_order_acquire) ==
         VDVK_STATE_DEAD;
}

long Client::SubmitLocked(const vdvk_sqe& sqe) {
  for (;;) {
    // Pairs with the backend's release of sq_head after it copied entries out.
    uint32_t head = LoadAcquire(&att_.khdr->sq_head);
    uint32_t used = att_.sq_tail - head;
    if (used > att_.sq_entries) {
      DropLocked("backend moved sq_head past sq_tail");
      return EDVSNOTCONN;
    }
    if (used < att_.sq_entries) break;
    // Full (only possible with tiny rings): let the backend run.
    if (DeadLocked()) {
      DropLocked("backend marked the attachment dead");
      return EDVSNOTCONN;
    }
    pollfd p{att_.sock, POLLIN, 0};
    if (poll(&p, 1, 1) > 0 && (p.revents & (POLLHUP | POLLERR))) {
      DropLocked("backend closed the connection");
      return EDVSNOTCONN;
    }
  }
  memcpy(&att_.ksqes[att_.sq_tail & (att_.sq_entries - 1)], &sqe, sizeof(sqe));
  att_.sq_tail++;
  // Publishes the entry; pairs with the backend's load-acquire of sq_tail.
  StoreRelease(&att_.khdr->sq_tail, att_.sq_tail);
  // Pairs with the fence the backend issues after setting VDVK_SLEEPING: either
  // it sees our tail or we see its flag.
  std::atomic_thread_fence(std::memory_order_seq_cst);
  if (LoadRelaxed(&att_.khdr->backend_flags) & VDVK_SLEEPING) {
    uint64_t one = 1;
    ssize_t n;
    do {
      n = write(att_.kick, &one, sizeof(one));
    } while (n < 0 && errno == EINTR);
    // EAGAIN means the counter is already huge: the backend will wake anyway.
  }
  return 0;
}

int Client::ReapLocked(uint64_t tag, vdvk_cqe* out) {
  // Pairs with the backend's release store that publishes CQEs.
  uint32_t tail = LoadAcquire(&att_.khdr->cq_tail);
  if (tail - att_.cq_head > att_.cq_entries) {
    DropLocked("backend published more completions than the ring holds");
    return EDVSNOTCONN;
  }
  int found = 0;
  while (att_.cq_head != tail && !found) {
    // Copy once, then look only at the copy.
    vdvk_cqe c;
    memcpy(&c, &att_.kcqes[att_.cq_head & (att_.cq_entries - 1)], sizeof(c));
    att_.cq_head++;
    // Other tags are stale: the acknowledgement of a CANCEL, or a completion
    // that raced with one. Nothing waits for them.
    if (c.tag == tag) {
      *out = c;
      found = 1;
    }
  }
  // Frees the slots; pairs with the backend's load-acquire of cq_head.
  StoreRelease(&att_.khdr->cq_head, att_.cq_head);
  return found;
}

long Client::WaitLocked(uint64_t tag, vdvk_cqe* out, bool interruptible) {
  // Spin first: a completion that comes within the window costs no wakeup.
  if (poll_us_ > 0) {
    uint64_t deadline = NowUs() + poll_us_;
    for (unsigned i = 0;; i++) {
      int r = ReapLocked(tag, out);
      if (r != 0) return r > 0 ? 0 : r;
      if ((i & 63) == 63 && NowUs() >= deadline) break;
      CpuRelax();
    }
  }
  for (;;) {
    int r = ReapLocked(tag, out);
    if (r != 0) return r > 0 ? 0 : r;
    if (DeadLocked()) {
      DropLocked("backend marked the attachment dead");
      return EDVSNOTCONN;
    }
    std::atomic_ref<uint32_t>(att_.khdr->client_flags).store(VDVK_SLEEPING, std::memory_order_relaxed);
    // Pairs with the backend's fence between publishing cq_tail and reading
    // client_flags: either we see its completion now or it rings our doorbell.
    std::atomic_thread_fence(std::memory_order_seq_cst);
    r = ReapLocked(tag, out);
    bool dead = r == 0 && DeadLocked();
    long prc = 0;
    pollfd p[2] = {{att_.wake, POLLIN, 0}, {att_.sock, POLLIN, 0}};
    if (r == 0 && !dead) prc = poll(p, 2, -1);
    int err = errno;
    if (att_.attached())
      std::atomic_ref<uint32_t>(att_.khdr->client_flags).store(0, std::memory_order_relaxed);
    if (r != 0) return r > 0 ? 0 : r;
    if (dead) continue;  // reported at the top of the loop
    if (prc < 0) {
      // poll() is never restarted by the kernel, so emulate what a DVS
      // syscall did (-ERESTARTSYS): go on waiting when every caught signal
      // asked for SA_RESTART, end the call with EDVSINTR otherwise.
      if (err == EINTR && interruptible && !AllCaughtSignalsRestart()) return kInterrupted;
      if (err == EINTR) continue;
      DropLocked("poll on the doorbell failed");
      return EDVSNOTCONN;
    }
    if (p[1].revents & (POLLHUP | POLLERR | POLLNVAL)) {
      DropLocked("backend closed the connection");
      return EDVSNOTCONN;
    }
    if (p[1].revents & POLLIN) {
      char junk[64];
      ssize_t n = recv(att_.sock, junk, sizeof(junk), MSG_DONTWAIT);
      if (n == 0) {
        DropLocked("backend closed the connection");
        return EDVSNOTCONN;
      }
      // The backend sends nothing after the welcome; unexpected bytes are dropped.
    }
    if (p[0].revents & POLLIN) {
      uint64_t v;
      ssize_t n = read(att_.wake, &v, sizeof(v));
      (void)n;  // the counter's value does not matter, the ring does
    }
  }
}

long Client::RunGrantLocked(const vdvk_sqe& req, const vdvk_cqe& grant, int32_t* fallback) {
  GrantCopy g;
  g.me = att_.pid;
  g.src_pid = grant.u.grant.src_pid;
  g.src_addr = grant.u.grant.src_addr;
  g.dst_pid = grant.u.grant.dst_pid;
  g.dst_addr = grant.u.grant.dst_addr;
  g.bytes = grant.u.grant.bytes;
  // Our own ranges must be exactly what we asked for: a grant must not make us
  // read or write anywhere else in our address space.
  uint64_t want = static_cast<uint32_t>(req.arg[2]);
  if (g.bytes != want || (g.src_pid == g.me && g.src_addr != req.u.arg64[0]) ||
      (g.dst_pid == g.me && g.dst_addr != req.u.arg64[1]) || g.src_pid <= 0 || g.dst_pid <= 0) {
    *fallback = 0;
    return EDVSFAULT;
  }
  return CopyGranted(g, fallback);
}

long Client::Call(Request& r) {
  if (r.in_len > 4096 || r.out_len > 4096) return EDVSINVAL;  // our own bug, not the peer's
  pthread_mutex_lock(&mu_);
  long rc = EnsureAttachedLocked();
  if (rc < 0) {
    pthread_mutex_unlock(&mu_);
    return rc;
  }
  const uint64_t tag = next_tag_++;
  vdvk_sqe sqe = r.sqe;
  sqe.tag = tag;
  if (r.in_len || r.out_len) {
    sqe.buf_index = 0;
    sqe.buf_len = static_cast<uint32_t>(r.in_len > r.out_len ? r.in_len : r.out_len);
    memset(att_.kbufs, 0, sqe.buf_len);
    if (r.in_len) memcpy(att_.kbufs, r.in, r.in_len);
  }
  rc = SubmitLocked(sqe);
  bool cancelled = false, copied = false;
  vdvk_cqe c{};
  while (rc == 0) {
    long w = WaitLocked(tag, &c, !cancelled && !copied);
    if (w == kInterrupted) {
      vdvk_sqe cancel{};
      cancel.opcode = VDVK_OP_CANCEL;
      cancel.tag = next_tag_++;
      cancel.u.arg64[0] = tag;
      // The request may have completed while we were being interrupted; a
      // cancel for a finished tag would only confuse the backend.
      int found = ReapLocked(tag, &c);
      if (found < 0) { rc = found; break; }
      if (found == 0) {
        rc = SubmitLocked(cancel);
        cancelled = true;
        continue;
      }
    } else if (w < 0) {
      rc = w;
      break;
    }
    if (c.flags & VDVK_CQE_F_GRANT) {
      if (sqe.opcode != VDVK_OP_VCOPY || copied) {
        DropLocked("unexpected vcopy grant from the backend");
        rc = EDVSNOTCONN;
        break;
      }
      int32_t fallback = 0;
      long res = RunGrantLocked(sqe, c, &fallback);
      vdvk_sqe done{};
      done.opcode = VDVK_OP_VCOPY_DONE;
      done.tag = tag;
      done.arg[0] = static_cast<int32_t>(res);
      done.arg[1] = fallback;
      copied = true;
      rc = SubmitLocked(done);
      if (rc == 0 && fallback == 0) {
        // We did the copy, so we already know the result; the backend's final
        // completion only echoes it and is skipped as stale by a later reap.
        // Not waiting for it saves a round trip per vcopy, usually a
        // cross-vCPU wakeup too: the backend's poll window tends to expire
        // during a large copy. Ordering stays safe: VCOPY_DONE sits in our SQ
        // ahead of anything we submit next, so the backend clears the busy
        // marks before it sees our next call.
        rc = res;
        break;
      }
      continue;
    }
    // The final completion.
    rc = c.res;  // >= 0 success (bind/getep/getdvsinfo return a value), < 0 EDVS*
    if (c.res >= 0) {
      if ((c.flags & VDVK_CQE_F_MSG) && r.msg_out) memcpy(r.msg_out, &c.msg, sizeof(message));
      if (r.out_len && att_.attached()) memcpy(r.out, att_.kbufs, r.out_len);
    }
    break;
  }
  pthread_mutex_unlock(&mu_);
  return rc;
}

}  // namespace vdvk::client
