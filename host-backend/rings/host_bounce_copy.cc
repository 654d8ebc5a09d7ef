#include <sys/uio.h>

#include <algorithm>
#include <cerrno>

#include "dvk/dvk.h"
#include "host-backend/rings/copy_executor.h"

namespace vdvk::rings {

int32_t MapCopyErrno(int err, bool src_side) {
  switch (err) {
    case ESRCH: return src_side ? EDVSSRCDIED : EDVSDSTDIED;
    case EFAULT: return EDVSFAULT;
    case EPERM: return EDVSPERM;
    case ENOMEM: return EDVSNOMEM;
    default: return EDVSFAULT;
  }
}

HostBounceCopy::HostBounceCopy(size_t bounce_bytes)
    : bounce_(std::clamp<size_t>(bounce_bytes, 64 * 1024, 1024 * 1024)) {}

int32_t HostBounceCopy::Copy(const VcopyGrant& g) {
  if (g.src.domain != 0 || g.dst.domain != 0) return EDVSPERM;  // guests: not this executor
  uint64_t done = 0;
  while (done < g.bytes) {
    size_t chunk = static_cast<size_t>(std::min<uint64_t>(bounce_.size(), g.bytes - done));
    // Partial transfers are legal for process_vm_*: loop inside the chunk.
    size_t got = 0;
    while (got < chunk) {
      iovec local{bounce_.data() + got, chunk - got};
      iovec remote{reinterpret_cast<void*>(g.src_addr + done + got), chunk - got};
      ssize_t n = process_vm_readv(g.src.pid, &local, 1, &remote, 1, 0);
      if (n < 0) return MapCopyErrno(errno, true);
      if (n == 0) return EDVSFAULT;
      got += static_cast<size_t>(n);
    }
    size_t put = 0;
    while (put < chunk) {
      iovec local{bounce_.data() + put, chunk - put};
      iovec remote{reinterpret_cast<void*>(g.dst_addr + done + put), chunk - put};
      ssize_t n = process_vm_writev(g.dst.pid, &local, 1, &remote, 1, 0);
      if (n < 0) return MapCopyErrno(errno, false);
      if (n == 0) return EDVSFAULT;
      put += static_cast<size_t>(n);
    }
    done += chunk;
  }
  return 0;
}

}  // namespace vdvk::rings
