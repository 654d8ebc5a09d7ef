// shared_ring.h - one ring file mapped by the backend, plus its doorbells.
//
// Owns: the mapping (the memfd itself is closed once the client has it),
// the kick eventfd (client writes, we read; nonblocking) and the wake
// eventfd (we write, the client blocks reading it).
// Fields of the shared header are accessed only through the helpers below,
// which use std::atomic_ref with the ordering the ABI names.
#pragma once

#include <atomic>
#include <memory>
#include <cstdint>
#include <string>

#include "host-backend/rings/ring_layout.h"
#include "wire/vdvk_ring.h"

namespace vdvk::rings {

class SharedRing {
 public:
  // Creates memfd + mapping + eventfds. On failure returns nullptr and sets
  // errno-style *err (negative errno).
  static std::unique_ptr<SharedRing> Create(const RingGeometry& g, int32_t node_id, int* err);
  // A ring in the file `path` with FIFO doorbells path.kick / path.wake,
  // owned by uid:gid unless -1 (guest_ring.cc). The files are left in place
  // (GuestRing unlinks them).
  static std::unique_ptr<SharedRing> CreateFile(const std::string& path, const RingGeometry& g,
                                                int32_t node_id, uid_t uid, gid_t gid, int* err);
  // Zeroes the whole ring and stamps a fresh header (a new guest takes over).
  void Reinit(int32_t node_id);
  ~SharedRing();
  SharedRing(const SharedRing&) = delete;
  SharedRing& operator=(const SharedRing&) = delete;

  const RingGeometry& geometry() const { return geo_; }
  // Hand-off fds for the welcome message; memfd is closed by ReleaseMemfd().
  int memfd() const { return memfd_; }
  void ReleaseMemfd();
  int kick_fd() const { return kick_fd_; }
  int wake_fd() const { return wake_fd_; }

  vdvk_ring_hdr* shm_hdr() { return shm_hdr_; }
  // Entry pointers into shared memory; index is masked here.
  const vdvk_sqe* shm_sqe(uint32_t idx) const { return &shm_sq_[idx & (geo_.sq_entries - 1)]; }
  vdvk_cqe* shm_cqe(uint32_t idx) { return &shm_cq_[idx & (geo_.cq_entries - 1)]; }
  // REQUIRES: buf_index < nr_bufs (checked by CheckSqe).
  uint8_t* shm_buf(uint32_t buf_index) { return shm_bufs_ + uint64_t{buf_index} * geo_.buf_size; }

  // Pairs with the client's release store of sq_tail after filling entries.
  uint32_t LoadSqTail() const { return Ref(shm_hdr_->sq_tail).load(std::memory_order_acquire); }
  // Pairs with the client's acquire of sq_head before reusing entries.
  void StoreSqHead(uint32_t v) { Ref(shm_hdr_->sq_head).store(v, std::memory_order_release); }
  // Pairs with the client's release store of cq_head after reading entries.
  uint32_t LoadCqHead() const { return Ref(shm_hdr_->cq_head).load(std::memory_order_acquire); }
  // Publishes CQEs written before it; pairs with the client's acquire of cq_tail.
  void StoreCqTail(uint32_t v) { Ref(shm_hdr_->cq_tail).store(v, std::memory_order_release); }
  uint32_t LoadClientFlags() const {
    return Ref(shm_hdr_->client_flags).load(std::memory_order_relaxed);
  }
  void SetBackendSleeping(bool sleeping) {
    Ref(shm_hdr_->backend_flags)
        .store(sleeping ? VDVK_SLEEPING : 0u, std::memory_order_relaxed);
  }
  void MarkDead(uint32_t reason);
  // Guest rings: the host pid the guest driver claims (untrusted).
  uint32_t LoadClientFeatures() const {
    return std::atomic_ref<uint32_t>(const_cast<uint32_t&>(shm_hdr_->client_features))
        .load(std::memory_order_relaxed);
  }
  int32_t LoadClientHostPid() const {
    return std::atomic_ref<int32_t>(const_cast<int32_t&>(shm_hdr_->client_host_pid))
        .load(std::memory_order_relaxed);
  }
  // Guest rings: the guest shrank the ring file under us, the mapping now
  // reads zeros (fault_guard.h). Host rings cannot shrink (sealed memfd).
  bool lost() const;
  // Writes 1 to the wake eventfd (the client's doorbell).
  void RingWake();
  // Drains the kick eventfd (or FIFO: reads until it is empty).
  void DrainKick();

 private:
  SharedRing() = default;
  // Maps geo_.file_size bytes of fd shared, points the shm_* views into it
  // and writes a fresh header. Returns 0 or -errno. Shared by both creators.
  int MapAndInit(int fd, int32_t node_id);
  static std::atomic_ref<uint32_t> Ref(uint32_t& f) { return std::atomic_ref<uint32_t>(f); }
  static std::atomic_ref<uint32_t> Ref(const uint32_t& f) {
    // atomic_ref needs a non-const object; the load does not write.
    return std::atomic_ref<uint32_t>(const_cast<uint32_t&>(f));
  }

  RingGeometry geo_;
  void* map_ = nullptr;
  int memfd_ = -1;
  int kick_fd_ = -1;
  int wake_fd_ = -1;
  vdvk_ring_hdr* shm_hdr_ = nullptr;
  const vdvk_sqe* shm_sq_ = nullptr;
  vdvk_cqe* shm_cq_ = nullptr;
  uint8_t* shm_bufs_ = nullptr;
  int guard_ = -1;  // fault_guard slot (guest rings)
};

}  // namespace vdvk::rings
