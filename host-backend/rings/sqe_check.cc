#include "host-backend/rings/sqe_check.h"

#include "dvk/dvk.h"

namespace vdvk::rings {

int64_t PendingSqEntries(uint32_t shm_tail, uint32_t shadow_head, uint32_t entries) {
  // Free-running counters: unsigned subtraction is the distance even across
  // wrap-around. A "negative" distance shows up as a huge value and is caught.
  uint32_t n = shm_tail - shadow_head;
  if (n > entries) return -1;
  return n;
}

bool CqHeadValid(uint32_t shm_head, uint32_t cq_tail, uint32_t entries) {
  return cq_tail - shm_head <= entries;
}

uint32_t CqSpace(uint32_t shm_head, uint32_t cq_tail, uint32_t entries) {
  return entries - (cq_tail - shm_head);
}

bool OpcodeKnown(uint32_t op) {
  return (op >= VDVK_OP_DCINIT && op <= VDVK_OP_DVS_LAST) ||
         (op >= VDVK_OP_VCOPY_DONE && op <= VDVK_OP_LAST);
}

uint32_t RequiredBufLen(uint32_t op) {
  switch (op) {
    case VDVK_OP_DCINIT: return sizeof(vdvk_dc_init);  // in; dc_info out is smaller
    case VDVK_OP_GETDCINFO: return sizeof(vdvk_dc_info);
    case VDVK_OP_GETPROCINFO: return sizeof(vdvk_proc_info);
    case VDVK_OP_GETNODEINFO: return sizeof(vdvk_node_info);
    case VDVK_OP_GETDVSINFO: return sizeof(vdvk_dvs_info);
    case VDVK_OP_STATS: return sizeof(vdvk_stats);
    default: return 0;
  }
}

SqeVerdict CheckSqe(const vdvk_sqe& sqe, const RingGeometry& g) {
  SqeVerdict v;
  if (!OpcodeKnown(sqe.opcode)) {
    v.dead_reason = VDVK_DEAD_BAD_OPCODE;
    return v;
  }
  // The one flag: guest-physical ranges, on VCOPY only (guest rings are
  // checked for it again where the caller's domain is known).
  const bool flags_ok = sqe.flags == 0 ||
                        (sqe.flags == VDVK_SQE_F_GUEST_PHYS && sqe.opcode == VDVK_OP_VCOPY);
  if (!flags_ok || sqe.reserved0 != 0) {
    v.dead_reason = VDVK_DEAD_BAD_FIELD;
    return v;
  }
  if (sqe.buf_len > 0 && (sqe.buf_index >= g.nr_bufs || sqe.buf_len > g.buf_size)) {
    v.dead_reason = VDVK_DEAD_BAD_FIELD;
    return v;
  }
  // From here on the entry is well formed; what is left is the call's meaning.
  if (sqe.buf_len < RequiredBufLen(sqe.opcode)) {
    v.error = EDVSINVAL;
    return v;
  }
  if (sqe.timeout_ms < -1) {
    v.error = EDVSINVAL;
    return v;
  }
  return v;
}

}  // namespace vdvk::rings
