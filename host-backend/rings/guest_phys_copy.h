// guest_phys_copy.h - vcopy between a UML guest's physical memory and a host
// process, in one copy.
//
// UML's physical memory is an unlinked file held open by the UML kernel process;
// guest physical address = file offset (uml-notes.md). The guest driver hands
// the backend its fd when it claims its ring (PATH.mem, wire/vdvk_ring.h),
// and the backend maps it; the guest driver
// pins the caller's pages and sends their physical extents
// (VDVK_SQE_F_GUEST_PHYS); process_vm_readv/writev then moves the bytes
// straight between the mapping and the host process.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "wire/vdvk_ring.h"

namespace vdvk::rings {

// Upper bound on extents per side: 1 MiB unaligned spans 257 pages, and a
// guest with a larger max_copylen still has to fit its list in one buffer.
inline constexpr uint32_t kMaxPhysExtents = 4096;

// The guest's physical memory, mapped MAP_SHARED read-write.
class GuestMemory {
 public:
  GuestMemory() = default;
  ~GuestMemory() { Unmap(); }
  GuestMemory(const GuestMemory&) = delete;
  GuestMemory& operator=(const GuestMemory&) = delete;
  // Maps all of the file behind `fd` (the guest's physical memory; the fd
  // may be closed afterwards); false and *error when it is not a non-empty
  // regular file or cannot be mapped.
  bool MapFd(int fd, std::string* error);
  // Opens `path` and maps it as above (tests).
  bool MapPath(const std::string& path, std::string* error);
  void Unmap();
  bool mapped() const { return base_ != nullptr; }
  // The guest shrank the file under us: the mapping now reads zeros
  // (fault_guard.h); whatever was copied since is garbage.
  bool lost() const;
  uint8_t* base() const { return base_; }
  uint64_t size() const { return size_; }

 private:
  uint8_t* base_ = nullptr;
  uint64_t size_ = 0;
  int guard_ = -1;  // fault_guard slot
};

struct PhysLists {
  std::vector<vdvk_phys_extent> src, dst;
};

// Parses and validates a VDVK_SQE_F_GUEST_PHYS payload (already copied out of
// shared memory): counts bounded and fitting in `len`, reserved zero, every
// extent non-empty and inside [0, mem_size), each non-empty side summing to
// `bytes`. false on any violation.
bool ParsePhysLists(const uint8_t* buf, uint32_t len, uint64_t bytes, uint64_t mem_size,
                    PhysLists* out);

// Copies `bytes` between the guest extents and [host_addr, +bytes) of host
// process `host_pid`: guest -> host when guest_is_src, else host -> guest.
// Returns 0 or an EDVS* code (EDVSFAULT, EDVSSRCDIED/EDVSDSTDIED, EDVSPERM).
int32_t CopyGuestHost(const GuestMemory& mem, const std::vector<vdvk_phys_extent>& ext,
                      bool guest_is_src, pid_t host_pid, uint64_t host_addr, uint64_t bytes);

// Copies `bytes` from the src guest's extents to the dst guest's (the two may
// be one guest): a memcpy per overlap of the two lists, no syscall. Returns 0,
// or EDVSFAULT for an extent outside its memory or lists not summing to bytes,
// or EDVSNOSYS when a memory is not mapped.
int32_t CopyGuestGuest(const GuestMemory& src_mem, const std::vector<vdvk_phys_extent>& src,
                       const GuestMemory& dst_mem, const std::vector<vdvk_phys_extent>& dst,
                       uint64_t bytes);

// Copies between [off, off + len) of the range the extents describe and `buf`
// (into the guest when to_guest): a chunk of a cross-node vcopy with a guest
// party. Returns 0, EDVSFAULT for a range beyond the extents or an extent
// outside the memory, or EDVSNOSYS when the memory is not mapped.
int32_t CopyGuestBuffer(const GuestMemory& mem, const std::vector<vdvk_phys_extent>& ext, uint64_t off,
                        uint8_t* buf, uint64_t len, bool to_guest);

}  // namespace vdvk::rings
