// harness.h - multi-process DVK tests against a real host-backend.
//
// Each test gets its own backend on a unique socket (VDVK_SOCKET points at
// it), forks real client processes and reaps every one of them in TearDown,
// killing what is still running, so nothing outlives a test.
//
// Child bodies are plain functions returning an exit code: gtest assertions do
// not cross fork(), so a child reports failure by printing why (CHILD_CHECK)
// and exiting non-zero; the parent asserts on the exit status.
#pragma once

#include <sys/types.h>

#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "dvk/dvk.h"
#include "proxies/common/backend_process.h"

namespace vdvk::itest {

// In a child: fail with a message naming the check, the line and the code.
#define CHILD_CHECK(cond, ...)                                                   \
  do {                                                                           \
    if (!(cond)) {                                                               \
      std::fprintf(stderr, "[child %d] %s:%d: check failed: %s: ", getpid(),     \
                   __FILE__, __LINE__, #cond);                                   \
      std::fprintf(stderr, __VA_ARGS__);                                         \
      std::fprintf(stderr, "\n");                                                \
      return 1;                                                                  \
    }                                                                            \
  } while (0)

// Expect a DVK call's return code.
#define CHILD_EXPECT_RC(expr, want)                                              \
  do {                                                                           \
    long rc_ = (expr);                                                           \
    long want_ = (want);                                                         \
    CHILD_CHECK(rc_ == want_, "%s returned %ld (%s), want %ld (%s)", #expr,      \
                rc_, rc_ < 0 ? dvk_strerror(rc_) : "success", want_,             \
                want_ < 0 ? dvk_strerror(want_) : "success");                    \
  } while (0)

// A one-shot signal between processes, created before fork.
class Gate {
 public:
  Gate();
  ~Gate();
  Gate(const Gate&) = delete;
  Gate& operator=(const Gate&) = delete;
  void Open();                  // wakes one Wait
  bool Wait(int timeout_ms);    // true if opened in time

 private:
  int fds_[2] = {-1, -1};
};

class DvkProcTest : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;

  // Forks a child running body; its return value is the exit code.
  pid_t Spawn(std::function<int()> body);
  // Exit code of pid (128 + signal if killed); kills it after timeout_ms and
  // returns -1.
  int Wait(pid_t pid, int timeout_ms = 30000);
  // SIGKILL and reap.
  void Kill(pid_t pid);
  // Runs body in a child and returns its exit code (see Wait).
  int RunInChild(std::function<int()> body, int timeout_ms = 30000);
  // Polls getprocinfo (from a child process) until the slot's flags
  // satisfy pred or timeout. Returns true if they did.
  bool WaitSlot(int dcid, int nr, std::function<bool(unsigned long)> pred, int timeout_ms = 5000);
  bool WaitBound(int dcid, int nr) { return WaitSlot(dcid, nr, [](unsigned long f) { return !(f & SLOT_FREE); }); }
  bool WaitFree(int dcid, int nr) { return WaitSlot(dcid, nr, [](unsigned long f) { return (f & SLOT_FREE) != 0; }); }

  tools::BackendProcess backend_;
  std::vector<pid_t> children_;
};

}  // namespace vdvk::itest
