// sqe_decode.h - turn a validated SQE into an engine Call (pure).
#pragma once

#include <cstdint>
#include <span>

#include "host-backend/engine/engine.h"
#include "wire/vdvk_ring.h"

namespace vdvk::rings {

// REQUIRES: CheckSqe(sqe) passed and sqe.opcode is a DVS call (1..34).
// `in` is the call's payload buffer (already bounds-checked) or empty.
// caller_pid/caller_tid of the SQE are NOT used: identity comes from the
// transport (SO_PEERCRED for host attachments).
Call DecodeSqe(const vdvk_sqe& sqe, RequestId id, ProcKey caller, std::span<const uint8_t> in);

// Ops whose message in the SQE is meaningful.
bool OpCarriesMessage(uint32_t op);

}  // namespace vdvk::rings
