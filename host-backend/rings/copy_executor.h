// copy_executor.h - moves vcopy bytes between two address spaces.
//
// An interface because the parties differ per transport: host processes are
// reached with process_vm_readv/writev; UML guests (later) through their
// guest-physical memory.
#pragma once

#include <cstdint>
#include <vector>

#include "host-backend/engine/engine.h"

namespace vdvk::rings {

class CopyExecutor {
 public:
  virtual ~CopyExecutor() = default;
  // Copies g.bytes from g.src/g.src_addr to g.dst/g.dst_addr.
  // Returns 0 or an EDVS* code (EDVSSRCDIED, EDVSDSTDIED, EDVSFAULT, EDVSPERM).
  virtual int32_t Copy(const VcopyGrant& g) = 0;
};

// Host processes (domain 0): process_vm_readv from src into a bounce buffer,
// then process_vm_writev to dst, in chunks of the buffer size.
class HostBounceCopy final : public CopyExecutor {
 public:
  explicit HostBounceCopy(size_t bounce_bytes = 256 * 1024);
  int32_t Copy(const VcopyGrant& g) override;

 private:
  std::vector<uint8_t> bounce_;
};

// Maps an errno of process_vm_* to a DVK code; `src_side` picks
// EDVSSRCDIED or EDVSDSTDIED for ESRCH.
int32_t MapCopyErrno(int err, bool src_side);

}  // namespace vdvk::rings
