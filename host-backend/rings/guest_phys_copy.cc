// guest_phys_copy.cc - see guest_phys_copy.h.
#include "host-backend/rings/guest_phys_copy.h"

#include <fcntl.h>
#include <linux/magic.h>
#include <sys/mman.h>
#include <sys/vfs.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "dvk/dvk.h"
#include "host-backend/rings/copy_executor.h"
#include "host-backend/rings/fault_guard.h"

namespace vdvk::rings {

bool GuestMemory::MapPath(const std::string& path, std::string* error) {
  int fd = open(path.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) {
    *error = "open " + path + ": " + std::strerror(errno);
    return false;
  }
  bool ok = MapFd(fd, error);
  close(fd);
  return ok;
}

namespace {

// Where UML puts its memory file (TMPDIR, else /dev/shm or /tmp): memory or a
// local disk. Not FUSE or a network file system: a page fault there could
// wait on a server the guest's user runs, and stall the whole backend.
bool LocalFileSystem(int fd, std::string* error) {
  struct statfs fs;
  if (fstatfs(fd, &fs) != 0) {
    *error = std::string("fstatfs: ") + std::strerror(errno);
    return false;
  }
  switch (static_cast<uint64_t>(fs.f_type)) {
    case TMPFS_MAGIC:
    case HUGETLBFS_MAGIC:
    case EXT4_SUPER_MAGIC:  // also ext2/ext3
    case XFS_SUPER_MAGIC:
    case BTRFS_SUPER_MAGIC:
    case OVERLAYFS_SUPER_MAGIC:  // containers: local directories underneath
      return true;
    default: {
      char hex[24];
      std::snprintf(hex, sizeof(hex), "0x%llx", static_cast<unsigned long long>(fs.f_type));
      *error = std::string("on a file system the backend does not map guest memory from (f_type ") +
               hex + "; tmpfs, hugetlbfs, ext4, xfs, btrfs, overlayfs are)";
      return false;
    }
  }
}

}  // namespace

bool GuestMemory::MapFd(int fd, std::string* error) {
  Unmap();
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size <= 0) {
    *error = "not a non-empty regular file (not UML physical memory)";
    return false;
  }
  if (!LocalFileSystem(fd, error)) return false;
  // Read-write and shared: the same pages the guest kernel sees.
  void* p = mmap(nullptr, static_cast<size_t>(st.st_size), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) {
    *error = std::string("mmap: ") + std::strerror(errno);
    return false;
  }
  base_ = static_cast<uint8_t*>(p);
  size_ = static_cast<uint64_t>(st.st_size);
  guard_ = fault_guard::Register(base_, size_);
  return true;
}

bool GuestMemory::lost() const { return fault_guard::Lost(guard_); }

void GuestMemory::Unmap() {
  fault_guard::Unregister(guard_);
  guard_ = -1;
  if (base_) munmap(base_, size_);
  base_ = nullptr;
  size_ = 0;
}

namespace {

bool ParseSide(const vdvk_phys_extent* in, uint32_t n, uint64_t bytes, uint64_t mem_size,
               std::vector<vdvk_phys_extent>* out) {
  out->clear();
  if (n == 0) return true;  // this side is not in the caller's address space
  uint64_t sum = 0;
  for (uint32_t i = 0; i < n; ++i) {
    vdvk_phys_extent e;
    std::memcpy(&e, in + i, sizeof(e));
    // Written to avoid overflow: addr + len <= mem_size.
    if (e.len == 0 || e.addr >= mem_size || e.len > mem_size - e.addr) return false;
    sum += e.len;
    if (sum > bytes) return false;
    out->push_back(e);
  }
  return sum == bytes;
}

}  // namespace

bool ParsePhysLists(const uint8_t* buf, uint32_t len, uint64_t bytes, uint64_t mem_size,
                    PhysLists* out) {
  vdvk_phys_list h;
  if (len < sizeof(h)) return false;
  std::memcpy(&h, buf, sizeof(h));
  if (h.reserved != 0 || h.nr_src > kMaxPhysExtents || h.nr_dst > kMaxPhysExtents) return false;
  uint64_t need = sizeof(h) + (uint64_t{h.nr_src} + h.nr_dst) * sizeof(vdvk_phys_extent);
  if (need > len) return false;
  auto* ext = reinterpret_cast<const vdvk_phys_extent*>(buf + sizeof(h));
  return ParseSide(ext, h.nr_src, bytes, mem_size, &out->src) &&
         ParseSide(ext + h.nr_src, h.nr_dst, bytes, mem_size, &out->dst);
}

namespace {

bool ExtentInside(const vdvk_phys_extent& e, const GuestMemory& mem) {
  return e.addr < mem.size() && e.len <= mem.size() - e.addr;
}

}  // namespace

int32_t CopyGuestHost(const GuestMemory& mem, const std::vector<vdvk_phys_extent>& ext,
                      bool guest_is_src, pid_t host_pid, uint64_t host_addr, uint64_t bytes) {
  if (!mem.mapped()) return EDVSNOSYS;
  // The local side is the guest's pages (several extents), the remote side
  // the host range (one): process_vm_* takes both as iovec arrays, a batch
  // of up to kBatch extents per syscall.
  constexpr size_t kBatch = 64;
  iovec local[kBatch];
  uint64_t done = 0;
  size_t i = 0;
  while (i < ext.size()) {
    size_t n = std::min(kBatch, ext.size() - i);
    uint64_t chunk = 0;
    for (size_t k = 0; k < n; ++k) {
      const vdvk_phys_extent& e = ext[i + k];
      if (!ExtentInside(e, mem)) return EDVSFAULT;
      local[k] = iovec{mem.base() + e.addr, static_cast<size_t>(e.len)};
      chunk += e.len;
    }
    if (done + chunk > bytes) return EDVSFAULT;
    iovec remote{reinterpret_cast<void*>(host_addr + done), static_cast<size_t>(chunk)};
    ssize_t r = guest_is_src ? process_vm_writev(host_pid, local, n, &remote, 1, 0)
                             : process_vm_readv(host_pid, local, n, &remote, 1, 0);
    if (r < 0) return MapCopyErrno(errno, !guest_is_src);
    // A partial transfer means the host range ended in an unmapped page.
    if (static_cast<uint64_t>(r) != chunk) return EDVSFAULT;
    done += chunk;
    i += n;
  }
  return done == bytes ? 0 : EDVSFAULT;
}

int32_t CopyGuestGuest(const GuestMemory& src_mem, const std::vector<vdvk_phys_extent>& src,
                       const GuestMemory& dst_mem, const std::vector<vdvk_phys_extent>& dst,
                       uint64_t bytes) {
  if (!src_mem.mapped() || !dst_mem.mapped()) return EDVSNOSYS;
  // Walk both lists at once; each step copies the overlap of the current
  // source and destination extents.
  size_t si = 0, di = 0;
  uint64_t s_off = 0, d_off = 0, done = 0;
  while (done < bytes) {
    if (si == src.size() || di == dst.size()) return EDVSFAULT;
    const vdvk_phys_extent& se = src[si];
    const vdvk_phys_extent& de = dst[di];
    if (!ExtentInside(se, src_mem) || !ExtentInside(de, dst_mem)) return EDVSFAULT;
    uint64_t n = std::min({se.len - s_off, de.len - d_off, bytes - done});
    std::memcpy(dst_mem.base() + de.addr + d_off, src_mem.base() + se.addr + s_off, n);
    done += n;
    s_off += n;
    d_off += n;
    if (s_off == se.len) ++si, s_off = 0;
    if (d_off == de.len) ++di, d_off = 0;
  }
  return 0;
}

int32_t CopyGuestBuffer(const GuestMemory& mem, const std::vector<vdvk_phys_extent>& ext, uint64_t off,
                        uint8_t* buf, uint64_t len, bool to_guest) {
  if (!mem.mapped()) return EDVSNOSYS;
  uint64_t pos = 0;  // start of the current extent within the range
  uint64_t done = 0;
  for (const vdvk_phys_extent& e : ext) {
    if (done == len) break;
    if (off + done >= pos + e.len) {
      pos += e.len;
      continue;
    }
    if (!ExtentInside(e, mem)) return EDVSFAULT;
    const uint64_t in = off + done - pos;  // offset inside this extent
    const uint64_t n = std::min(e.len - in, len - done);
    uint8_t* g = mem.base() + e.addr + in;
    if (to_guest)
      std::memcpy(g, buf + done, n);
    else
      std::memcpy(buf + done, g, n);
    done += n;
    pos += e.len;
  }
  return done == len ? 0 : EDVSFAULT;
}

}  // namespace vdvk::rings
