// attachment.h - one process's mapped connection to host-backend.
//
// An Attachment is plain data owned by the Client (client.h). It is made by
// Attach() (the SOCK_SEQPACKET handshake of wire/vdvk_ring.h) and undone by
// Release(), which tells the backend nothing: the backend learns of a detach
// from the socket's EOF when the last copy of the fd closes.
//
// Pointers into the shared mapping carry a k prefix (liburing's khead): the
// backend writes through them concurrently, so read them only with atomics or
// copy entries out once before validating them.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "wire/vdvk_ring.h"

namespace vdvk::client {

struct Attachment {
  pid_t pid = 0;  // getpid() at attach: identity is per process
  int sock = -1;  // the handshake socket; its EOF/HUP means the backend is gone
  int kick = -1;  // eventfd we write when the backend sleeps (its doorbell)
  int wake = -1;  // eventfd the backend writes when we sleep (our doorbell)
  void* map = nullptr;
  size_t map_size = 0;

  vdvk_ring_hdr* khdr = nullptr;
  vdvk_sqe* ksqes = nullptr;
  const vdvk_cqe* kcqes = nullptr;
  uint8_t* kbufs = nullptr;

  // Copied from the header once at attach and validated; never re-read.
  uint32_t sq_entries = 0, cq_entries = 0;
  uint32_t nr_bufs = 0, buf_size = 0;
  int32_t node_id = 0;

  // Private shadows of the indices this side owns.
  uint32_t sq_tail = 0;  // next SQE to fill
  uint32_t cq_head = 0;  // next CQE to consume

  bool attached() const { return map != nullptr; }
};

// Where the backend listens: $VDVK_SOCKET, else /run/vdvk/node$VDVK_NODE.sock,
// else /run/vdvk/node0.sock.
std::string SocketPath();

// Connect, handshake, map and validate. On failure returns EDVSNOCONN (no
// backend) or EDVSBADVALUE-style protocol errors mapped to EDVSNOCONN too, and
// writes a human-readable reason to *detail. REQUIRES: !a->attached().
long Attach(Attachment* a, std::string* detail);

// munmap + close, without any message: safe in a fork child.
void Release(Attachment* a);

}  // namespace vdvk::client
