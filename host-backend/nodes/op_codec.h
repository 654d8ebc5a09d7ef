// op_codec.h - RemoteOp <-> wire::Op (node.capnp). Decoding treats the
// message as hostile: every field is range-checked with KJ_REQUIRE, which
// throws; the RPC layer turns that into an exception for the caller instead
// of a crash here.
#pragma once

#include <kj/array.h>

#include "host-backend/engine/engine.h"
#include "wire/node.capnp.h"

namespace vdvk::nodes {

// Endpoints are generation 0 in vdvk (ep == nr) and a DC has at most 4096
// procs, so a wire endpoint is in [-NR_TASKS, 4096); that also keeps the
// special values SELF/ANY/NONE off the wire. The engine checks the exact slot.
inline constexpr int32_t kMaxWireEp = 4096;

void EncodeOp(const RemoteOp& op, wire::Op::Builder out);
// from_node: the node the connection said hello as.
RemoteOp DecodeOp(wire::Op::Reader in, int32_t from_node);
// A reply field: exactly one message, else nullptr-worthy (returns false).
bool DecodeMessage(capnp::Data::Reader in, vdvk_msg* out);

}  // namespace vdvk::nodes
