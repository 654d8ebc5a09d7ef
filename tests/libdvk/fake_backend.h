// fake_backend.h - a minimal in-process backend for testing libdvk's ring
// client (handshake validation, doorbells, cancel, death) without host-backend.
//
// It serves ONE attachment from its own thread and implements just enough:
// GETDVSINFO (node id 7), RECEIVE (NOWAIT -> EDVSAGAIN; blocking receives wait
// for Deliver() or a CANCEL), CANCEL, VCOPY (always granted, both ranges in
// this process), VCOPY_DONE, STATS; everything else -> EDVSNOSYS.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>

#include "wire/vdvk_ring.h"

namespace vdvk::test {

class FakeBackend {
 public:
  enum class Fault {
    kNone,
    kBadMagic,        // ring header magic is wrong
    kHugeEntries,     // sq_entries beyond VDVK_MAX_ENTRIES
    kTwoFds,          // welcome carries 2 fds instead of 3
    kRefuse,          // welcome status EDVSNOMEM, no fds
    kCancelLoses,     // a CANCEL arrives after the receive completed with a message
    kBadCqTail,       // GETDVSINFO publishes a cq_tail far beyond the ring
  };

  explicit FakeBackend(Fault fault = Fault::kNone);
  ~FakeBackend();

  const std::string& socket_path() const { return path_; }
  // Completes the pending blocking receive with this message type (from test code).
  void Deliver(int32_t m_type);
  // Marks the attachment dead (state DEAD + doorbell) or closes the socket.
  void MarkDead();
  void CloseSocket();
  bool receive_pending();
  uint64_t cancels() const { return cancels_.load(); }
  uint64_t doorbells_sent() const { return doorbells_.load(); }

 private:
  void Run();
  bool Handshake();
  void Serve();
  void Complete(const vdvk_cqe& c);
  void Handle(const vdvk_sqe& s);

  Fault fault_;
  std::string dir_, path_;
  int listen_fd_ = -1, conn_ = -1, kick_ = -1, wake_ = -1;
  uint8_t* map_ = nullptr;
  size_t size_ = 0;
  vdvk_ring_hdr* hdr_ = nullptr;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> cancels_{0}, doorbells_{0};
  std::mutex mu_;                 // guards the pending receive and the CQ producer
  uint64_t pending_tag_ = 0;      // GUARDED_BY(mu_), 0: none
  uint64_t vcopy_tag_ = 0;        // GUARDED_BY(mu_)
  std::thread thread_;
};

}  // namespace vdvk::test
