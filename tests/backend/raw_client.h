// raw_client.h - a deliberately low-level ring client for backend tests.
//
// It speaks the attach handshake and the ring ABI by hand (no libdvk), so a
// test can also break the protocol on purpose: write any SQE bytes, move
// sq_tail anywhere, read the header the backend maintains.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "wire/vdvk_ring.h"

namespace vdvk::test {

// Runs host-backend with `args` to completion; captures stdout and stderr.
int RunBackendSync(const std::vector<std::string>& args, std::string* out, std::string* err);

// A host-backend child running in the background, stderr to a file.
class BackendProcess {
 public:
  BackendProcess() = default;
  ~BackendProcess();
  // Starts it and waits until the socket accepts connections.
  bool Start(const std::vector<std::string>& args, const std::string& socket_path,
             const std::string& log_path);
  pid_t pid() const { return pid_; }
  // Sends `sig` and waits; returns the wait status, or -1 on timeout.
  int StopWith(int sig, int timeout_ms = 5000);
  bool Alive();

 private:
  pid_t pid_ = -1;
};

std::string MakeTempDir();
std::string ReadFile(const std::string& path);

class RawClient {
 public:
  RawClient() = default;
  ~RawClient();
  RawClient(const RawClient&) = delete;
  RawClient& operator=(const RawClient&) = delete;

  // Handshake; returns the welcome status (0 ok) or a negative errno on I/O failure.
  int Attach(const std::string& socket_path, uint32_t sq_entries = 0, uint32_t cq_entries = 0);

  vdvk_ring_hdr* hdr() { return hdr_; }
  vdvk_sqe* sqe(uint32_t idx) { return &sq_[idx & (hdr_->sq_entries - 1)]; }
  uint8_t* buf(uint32_t i) { return base_ + hdr_->buf_off + uint64_t{i} * hdr_->buf_size; }
  int sock() const { return sock_; }
  int ring_fd() const { return ring_fd_; }  // the ring memfd from the welcome

  // Writes the entry at sq_tail, publishes it and kicks if the backend sleeps.
  void Submit(const vdvk_sqe& e);
  // Publishes an arbitrary sq_tail (for hostile tests) and kicks.
  void PublishTail(uint32_t tail);
  void Kick();
  // Next CQE, waiting up to timeout_ms (sleeping on the wake fd).
  std::optional<vdvk_cqe> WaitCqe(int timeout_ms = 5000);
  // Submit and wait for the completion with the same tag (skips grants of
  // other tags). Returns nullopt on timeout or a dead ring.
  std::optional<vdvk_cqe> Call(vdvk_sqe e, int timeout_ms = 5000);
  // Waits until hdr.state is DEAD; true if it happened.
  bool WaitDead(int timeout_ms = 5000);
  // True once the backend closed the socket (recv returns 0).
  bool WaitSocketEof(int timeout_ms = 5000);

  uint64_t NextTag() { return ++tag_; }

 private:
  int sock_ = -1;
  int ring_fd_ = -1;
  int kick_ = -1;
  int wake_ = -1;
  uint8_t* base_ = nullptr;
  uint64_t size_ = 0;
  vdvk_ring_hdr* hdr_ = nullptr;
  vdvk_sqe* sq_ = nullptr;
  vdvk_cqe* cq_ = nullptr;
  uint64_t tag_ = 1000;
};

// SQE helpers.
vdvk_sqe MakeSqe(uint16_t op, uint64_t tag);

}  // namespace vdvk::test
