// Argument layout per opcode (SQE -> Call), the ring side of dvk.h:
//   arg[0..6]       copied to Call::arg for every op (meaning in engine.h)
//   u.msg           SEND, SENDREC, REPLY, RELAY: the message (m_source is
//                   overwritten by the engine, never trusted)
//   u.arg64[0..1]   VCOPY: src_addr, dst_addr in the caller's address space
//                   (arg[0] src_ep, arg[1] dst_ep, arg[2] bytes)
//   buffer          DCINIT: struct vdvk_dc_init in; GET*INFO: out
//   timeout_ms      -1 forever, 0 no wait, > 0 milliseconds
#include "host-backend/rings/sqe_decode.h"

#include <cstring>

namespace vdvk::rings {

bool OpCarriesMessage(uint32_t op) {
  return op == VDVK_OP_SEND || op == VDVK_OP_SENDREC || op == VDVK_OP_REPLY ||
         op == VDVK_OP_RELAY;
}

Call DecodeSqe(const vdvk_sqe& sqe, RequestId id, ProcKey caller, std::span<const uint8_t> in) {
  Call c;
  c.id = id;
  c.caller = caller;
  c.op = sqe.opcode;
  c.timeout_ms = sqe.timeout_ms;
  std::memcpy(c.arg, sqe.arg, sizeof(c.arg));
  if (OpCarriesMessage(sqe.opcode)) {
    c.msg = sqe.u.msg;
    c.msg.m_source = 0;
  }
  if (sqe.opcode == VDVK_OP_VCOPY) {
    c.addr[0] = sqe.u.arg64[0];
    c.addr[1] = sqe.u.arg64[1];
  }
  c.in = in;
  return c;
}

}  // namespace vdvk::rings
