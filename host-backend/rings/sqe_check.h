// sqe_check.h - validation of hostile ring input, with no I/O.
//
// Two kinds of bad input:
//  - protocol violations (bad index, opcode, reserved field, buffer number):
//    the client is broken or malicious, the attachment is dropped with a
//    VDVK_DEAD_* reason;
//  - semantic errors (buffer too small for the call, bad timeout): the call
//    completes with an EDVS* code and the client keeps its attachment.
// The caller passes a private copy of the SQE (copied out of shared memory
// once), so nothing checked here can change after the check.
#pragma once

#include <cstdint>

#include "host-backend/rings/ring_layout.h"
#include "wire/vdvk_ring.h"

namespace vdvk::rings {

struct SqeVerdict {
  uint32_t dead_reason = VDVK_DEAD_NONE;  // != NONE: disconnect the client
  int32_t error = 0;                      // < 0: complete the call with this code
  bool ok() const { return dead_reason == VDVK_DEAD_NONE && error == 0; }
};

// Entries the client published, or -1 when its tail is impossible
// (more than `entries` ahead of what we consumed: VDVK_DEAD_BAD_INDEX).
int64_t PendingSqEntries(uint32_t shm_tail, uint32_t shadow_head, uint32_t entries);

// cq_head as written by the client must lie in [cq_tail - entries, cq_tail]
// (it may not pass our tail nor fall further behind than the ring holds).
bool CqHeadValid(uint32_t shm_head, uint32_t cq_tail, uint32_t entries);

// Free CQ slots, given a head already checked by CqHeadValid.
uint32_t CqSpace(uint32_t shm_head, uint32_t cq_tail, uint32_t entries);

bool OpcodeKnown(uint32_t op);

// Shape of one SQE against our geometry (never the shared header).
SqeVerdict CheckSqe(const vdvk_sqe& sqe, const RingGeometry& g);

// Bytes of payload buffer an op needs (input or output), 0 if none.
uint32_t RequiredBufLen(uint32_t op);

}  // namespace vdvk::rings
