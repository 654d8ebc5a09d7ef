// grant_copy.h - the single copy a client performs for a granted vcopy.
#pragma once

#include <sys/types.h>

#include <cstdint>

namespace vdvk::client {

struct GrantCopy {
  pid_t me = 0;  // getpid() of the caller
  pid_t src_pid = 0;
  uint64_t src_addr = 0;
  pid_t dst_pid = 0;
  uint64_t dst_addr = 0;
  uint64_t bytes = 0;
};

// Copies bytes from src to dst with process_vm_readv/writev (memmove when both
// ranges are ours). Returns 0 or an EDVS* code; sets *fallback = 1 when the
// kernel denied access to the peer (EPERM) or neither range is ours, so the
// backend should move the bytes itself.
// REQUIRES: me is src_pid or dst_pid (otherwise *fallback is set).
long CopyGranted(const GrantCopy& g, int32_t* fallback);

}  // namespace vdvk::client
