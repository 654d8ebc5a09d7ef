// grant_copy.cc - one copy per vcopy: straight from the source process to the
// destination process, never through the backend.
#include "libdvk/grant_copy.h"

#include <errno.h>
#include <string.h>
#include <sys/uio.h>

#include "dvk/dvk.h"

namespace vdvk::client {
namespace {

// Maps the errno of process_vm_* to a DVK code; peer_died is the code for a
// peer that no longer exists.
long MapErrno(int err, long peer_died, int32_t* fallback) {
  switch (err) {
    case ESRCH: return peer_died;
    case EFAULT: return EDVSFAULT;
    case EPERM:
    case EACCES: *fallback = 1; return EDVSPERM;
    case ENOMEM: return EDVSNOMEM;
    default: return EDVSIO;
  }
}

}  // namespace

long CopyGranted(const GrantCopy& g, int32_t* fallback) {
  *fallback = 0;
  if (g.bytes == 0) return 0;
  if (g.src_pid == g.me && g.dst_pid == g.me) {
    // Both ranges are ours (vcopy to oneself): the kernel is not needed.
    memmove(reinterpret_cast<void*>(g.dst_addr), reinterpret_cast<const void*>(g.src_addr), g.bytes);
    return 0;
  }
  const bool push = g.src_pid == g.me;  // we own the source: write into the peer
  if (!push && g.dst_pid != g.me) {
    *fallback = 1;  // a third-party copy: one process cannot do it in a single copy
    return EDVSPERM;
  }
  uint64_t done = 0;
  while (done < g.bytes) {
    iovec local, remote;
    size_t left = g.bytes - done;
    ssize_t n;
    if (push) {
      local = {reinterpret_cast<void*>(g.src_addr + done), left};
      remote = {reinterpret_cast<void*>(g.dst_addr + done), left};
      n = process_vm_writev(g.dst_pid, &local, 1, &remote, 1, 0);
    } else {
      local = {reinterpret_cast<void*>(g.dst_addr + done), left};
      remote = {reinterpret_cast<void*>(g.src_addr + done), left};
      n = process_vm_readv(g.src_pid, &local, 1, &remote, 1, 0);
    }
    if (n < 0) {
      if (errno == EINTR) continue;
      return MapErrno(errno, push ? EDVSDSTDIED : EDVSSRCDIED, fallback);
    }
    if (n == 0) return EDVSFAULT;  // no progress: the remaining range is unmapped
    done += static_cast<uint64_t>(n);
  }
  return 0;
}

}  // namespace vdvk::client
