// client.h - the per-process ring client behind the C API.
//
// Thread safety: one Client per process (Client::Get()). Every call takes
// mu_ for its whole duration, so calls are serialized per process: a thread
// blocked in dvk_receive() makes another thread's call wait (as dvk.h says).
// The ring protocol allows one request in flight per attachment here, which
// keeps completions trivially matched to the waiting call.
//
// Fork: identity is the process. A pthread_atfork child handler forgets the
// inherited attachment (munmap + close, nothing sent, so the parent's
// connection is untouched) and every call also compares getpid() with the
// pid recorded at attach, re-attaching if it changed (covers raw clone()).
//
// Signals: the blocking wait is poll() on the wake eventfd and the socket.
// poll() is never restarted by SA_RESTART, so on EINTR we restart the wait
// ourselves when every installed handler has SA_RESTART (as a DVS syscall
// would). Otherwise the call is interrupted: we submit VDVK_OP_CANCEL and
// still wait for the original request's completion, returning EDVSINTR if the
// cancel won and the real result if the request completed first (nothing
// lost or duplicated).
#pragma once

#include <pthread.h>

#include <cstdint>
#include <string>

#include "dvk/dvk.h"
#include "libdvk/attachment.h"

namespace vdvk::client {

// One call: the SQE (tag is assigned by Call), payload buffer 0 in and out.
struct Request {
  vdvk_sqe sqe{};
  const void* in = nullptr;  // copied into buffer 0 before submission
  size_t in_len = 0;
  void* out = nullptr;       // copied out of buffer 0 on success
  size_t out_len = 0;
  message* msg_out = nullptr;  // receives the message of a VDVK_CQE_F_MSG completion
};

class Client {
 public:
  static Client& Get();

  long Open();
  long Close();
  // Runs one request to its final completion (including a vcopy grant).
  long Call(Request& r);

  // The last attach/connection failure, for dvk_last_error_detail().
  std::string LastDetail();

  // pthread_atfork child handler.
  void ForgetInChild();

 private:
  Client();
  long EnsureAttachedLocked();
  void DropLocked(const char* why);
  long SubmitLocked(const vdvk_sqe& sqe);
  // 0: *out holds the completion of tag; kInterrupted: a signal arrived and
  // interruptible was set; < 0: connection lost (already dropped).
  long WaitLocked(uint64_t tag, vdvk_cqe* out, bool interruptible);
  // 1 found, 0 not yet, < 0 protocol violation (already dropped).
  int ReapLocked(uint64_t tag, vdvk_cqe* out);
  bool DeadLocked();
  long RunGrantLocked(const vdvk_sqe& req, const vdvk_cqe& grant, int32_t* fallback);

  static constexpr long kInterrupted = 1;

  pthread_mutex_t mu_;
  Attachment att_;          // GUARDED_BY(mu_)
  uint64_t next_tag_ = 1;   // GUARDED_BY(mu_)
  unsigned poll_us_ = 20;   // GUARDED_BY(mu_), from $VDVK_POLL_US at attach
  std::string detail_;      // GUARDED_BY(mu_)
};

}  // namespace vdvk::client
