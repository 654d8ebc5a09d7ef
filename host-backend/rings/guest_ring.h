// guest_ring.h - rings served to UML guests (host-backend --guest-ring PATH).
//
// A guest ring is a file the backend creates at PATH (same layout as a host
// ring) plus two FIFOs: PATH.kick (guest -> backend) and PATH.wake
// (backend -> guest), and a datagram socket PATH.mem on which the guest driver
// hands over its physical memory (guest_memory_socket.cc). FIFOs, not eventfds: the guest's UML kernel turns a
// host fd into an IRQ through SIGIO, which an eventfd never raises. The
// backend opens both FIFOs O_RDWR|O_NONBLOCK, so neither side ever sees
// ENXIO or EOF whoever comes and goes.
//
// Each guest ring is one attachment with its own DVK domain (>= 1); a caller
// is ProcKey{domain, sqe.caller_pid}, which the guest kernel fills (guest user
// space cannot forge it, a hostile guest kernel can only lie about its own
// processes). The guest driver writes its host pid into hdr.client_host_pid;
// when that process dies the domain is gone and the ring is reset for the
// next guest.
//
// Thread safety: none, like the rest of the backend (one libev loop).
#pragma once

#include <ev.h>
#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>

#include "host-backend/rings/guest_phys_copy.h"
#include "host-backend/rings/ring_layout.h"

namespace vdvk::rings {

// Guest rings are bigger than host ones: one ring serves every process of
// the guest, each call holding a buffer while it is in flight.
inline constexpr uint32_t kGuestEntries = 256;
inline constexpr uint32_t kGuestNrBufs = 32;
// 16 KiB buffers: a 1 MiB guest vcopy carries up to 2 x 257 page extents.
inline constexpr uint32_t kGuestBufSize = 16384;

class SharedRing;

// Everything the backend keeps per --guest-ring, attached or not.
struct GuestRing {
  ~GuestRing();  // unlinks PATH, PATH.kick, PATH.wake and PATH.mem
  void* backend = nullptr;  // Backend*, for the pid watcher callback
  uint32_t domain = 0;
  std::string path;
  // The files' owner (--guest-ring PATH,user=); -1: ours.
  uid_t uid = static_cast<uid_t>(-1);
  gid_t gid = static_cast<gid_t>(-1);
  bool shrunk_noted = false;  // the guest shrank a mapped file: dropped, said once
  bool files_created = false;
  uint64_t attach_id = 0;             // live attachment, 0 when none
  std::unique_ptr<SharedRing> ring;   // held here while no attachment owns it
  pid_t host_pid = 0;                 // the UML kernel process we watch, 0 none
  int pidfd = -1;
  ev_io pid_io;
  struct ev_loop* loop = nullptr;
  // The claiming guest's physical memory (zero-copy vcopy), sent by its
  // driver over PATH.mem; unmapped when the guest goes.
  GuestMemory mem;
  int mem_sock_fd = -1;  // PATH.mem
  int mem_refusals = 0;   // datagrams refused since the last guest went
  ev_io mem_io;
  void StopPidWatch();
};

// The uid and primary gid of `user` (a name, or a uid in the user database).
bool ResolveGuestUser(const std::string& user, uid_t* uid, gid_t* gid, std::string* error);

// Binds the datagram socket PATH.mem (mode 0600, owned by uid:gid unless -1,
// replacing a stale one) on which the guest sends its memory fd
// (wire/vdvk_ring.h, vdvk_mem_hello). The socket, or -1 and *error.
int BindGuestMemorySocket(const std::string& ring_path, uid_t uid, gid_t gid, std::string* error);

// "what: strerror(err)", with a hint when a chown to uid was refused.
std::string OwnerError(const std::string& what, uid_t uid, int err);

// Creates PATH (mode 0600, replacing a stale file) and the two FIFOs, owned by
// uid:gid unless -1 (set through our fds: a path the guest's user may replace
// is never followed), maps the ring and opens the FIFOs. nullptr and *error
// on failure.
std::unique_ptr<SharedRing> CreateGuestRingFiles(const std::string& path, const RingGeometry& g,
                                                 int32_t node_id, uid_t uid, gid_t gid,
                                                 std::string* error);

}  // namespace vdvk::rings
