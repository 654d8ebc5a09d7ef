// dvk_util.h - what every vdvk tool needs around the DVK C API: where the
// backend is, a clear one-line failure when it is not there, waiting for a
// peer's endpoint, and naming DVK codes.
#pragma once

#include <string>

#include "dvk/dvk.h"

namespace vdvk::tools {

// The socket libdvk will use: $VDVK_SOCKET, else /run/vdvk/node$VDVK_NODE.sock,
// else /run/vdvk/node0.sock (the resolution order documented in dvk.h).
std::string BackendSocketPath();

// "EDVSTIMEDOUT (-61): <text>" style name for a DVK return code.
std::string DvkError(long code);

// Attaches this process. If the backend is unreachable prints one line
// "<prog>: cannot reach the vdvk backend at <socket>: <strerror>" and exits 1.
void AttachOrDie(const std::string& prog);

// Polls getprocinfo until slot nr of dcid is bound (not SLOT_FREE) or
// timeout_ms passes. Returns 0, EDVSTIMEDOUT, or the getprocinfo error.
// Lets a client started together with its server wait for it instead of
// failing with EDVSDEADSRCDST. In a DC that spans other nodes a slot free
// here may be bound on one of them: it returns 0 at once and the first call
// finds the server through the backends' automatic resolution (no rmtbind
// needed; a server that is not up anywhere yet then fails that call).
long WaitForEndpoint(int dcid, int nr, long timeout_ms);

// Attaches (AttachOrDie) and binds ep in dcid. On failure prints
// "<prog>: cannot bind endpoint <ep> in DC <dcid>: <DvkError>" and returns false.
bool AttachAndBind(const std::string& prog, int dcid, int ep);

// A client's start-up: attach, wait up to wait_ms for the server's endpoint to
// be bound (a client started together with its server would otherwise fail
// with EDVSDEADSRCDST), then bind ep. Prints one clear line and returns false
// on failure.
bool AttachWaitAndBind(const std::string& prog, int dcid, int server_ep, int ep, long wait_ms);

// Monotonic clock in nanoseconds.
long long NowNs();

}  // namespace vdvk::tools
