#include "host-backend/rings/shared_ring.h"

#include "host-backend/rings/fault_guard.h"

#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <memory>

namespace vdvk::rings {

int SharedRing::MapAndInit(int fd, int32_t node_id) {
  map_ = mmap(nullptr, geo_.file_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (map_ == MAP_FAILED) {
    map_ = nullptr;
    return -errno;
  }
  auto* base = static_cast<uint8_t*>(map_);
  shm_hdr_ = reinterpret_cast<vdvk_ring_hdr*>(base);
  shm_sq_ = reinterpret_cast<const vdvk_sqe*>(base + geo_.sq_off);
  shm_cq_ = reinterpret_cast<vdvk_cqe*>(base + geo_.cq_off);
  shm_bufs_ = base + geo_.buf_off;
  InitRingHeader(shm_hdr_, geo_, node_id);
  return 0;
}

std::unique_ptr<SharedRing> SharedRing::Create(const RingGeometry& g, int32_t node_id, int* err) {
  std::unique_ptr<SharedRing> r(new SharedRing());
  r->geo_ = g;
  r->memfd_ = memfd_create("vdvk-ring", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  // Sealed at its size: the client gets this fd, and a ring it could shrink
  // would SIGBUS us on the next access.
  if (r->memfd_ < 0 || ftruncate(r->memfd_, static_cast<off_t>(g.file_size)) != 0 ||
      fcntl(r->memfd_, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) != 0) {
    *err = -errno;
    return nullptr;
  }
  if ((*err = r->MapAndInit(r->memfd_, node_id)) != 0) return nullptr;
  r->kick_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  // Blocking on purpose: O_NONBLOCK lives in the open file description,
  // which the client shares with us through SCM_RIGHTS.
  r->wake_fd_ = eventfd(0, EFD_CLOEXEC);
  if (r->kick_fd_ < 0 || r->wake_fd_ < 0) {
    *err = -errno;
    return nullptr;
  }
  return r;
}

SharedRing::~SharedRing() {
  fault_guard::Unregister(guard_);
  if (map_) munmap(map_, geo_.file_size);
  if (memfd_ >= 0) close(memfd_);
  if (kick_fd_ >= 0) close(kick_fd_);
  if (wake_fd_ >= 0) close(wake_fd_);
}

void SharedRing::ReleaseMemfd() {
  if (memfd_ >= 0) close(memfd_);
  memfd_ = -1;
}

bool SharedRing::lost() const { return fault_guard::Lost(guard_); }

void SharedRing::MarkDead(uint32_t reason) {
  Ref(shm_hdr_->dead_reason).store(reason, std::memory_order_relaxed);
  // Release: a client that sees DEAD also sees the reason.
  Ref(shm_hdr_->state).store(VDVK_STATE_DEAD, std::memory_order_release);
}

void SharedRing::RingWake() {
  uint64_t one = 1;
  // Cannot block: the counter would need 2^64-2 unread wakeups.
  [[maybe_unused]] ssize_t n = write(wake_fd_, &one, sizeof(one));
}

void SharedRing::DrainKick() {
  // One read empties an eventfd; a FIFO (guest rings) may hold many kicks.
  // Both are non-blocking, so the loop ends with EAGAIN.
  uint64_t v[8];
  while (read(kick_fd_, v, sizeof(v)) > 0) {
  }
}

}  // namespace vdvk::rings
