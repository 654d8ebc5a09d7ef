// guest_memory_socket.cc - how a guest's physical memory reaches the backend:
// the guest driver sends UML's memory-file fd over PATH.mem (wire/vdvk_ring.h,
// struct vdvk_mem_hello), as virtio_uml does for vhost-user backends. Nothing
// in /proc is needed, so it works whatever user the backend and the guest run as.
//
// Everything that arrives on the socket is untrusted: the hello must be exact,
// exactly one fd must come with it, the sender must be the process that claimed
// the ring (as the kernel reports the sender), and the fd must be a non-empty
// regular file (GuestMemory::MapFd).
#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "host-backend/rings/backend.h"
#include "host-backend/rings/backend_internal.h"
#include "host-backend/rings/guest_ring.h"
#include "host-backend/rings/shared_ring.h"

namespace vdvk::rings {

int BindGuestMemorySocket(const std::string& ring_path, uid_t uid, gid_t gid, std::string* error) {
  const std::string path = ring_path + ".mem";
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  if (path.size() >= sizeof(sa.sun_path)) {
    *error = "guest ring path too long: " + path + " must fit a unix socket address (" +
             std::to_string(sizeof(sa.sun_path) - 1) + " bytes)";
    return -1;
  }
  std::memcpy(sa.sun_path, path.c_str(), path.size() + 1);
  unlink(path.c_str());  // a dead backend's (we hold the instance lock)
  const int on = 1;
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  // SO_PASSCRED: the kernel tells us each sender's real pid.
  // The socket file gets its mode from the umask at bind (0600, no window
  // with more); its owner cannot be set through the fd, and
  // AT_SYMLINK_NOFOLLOW keeps a link put in its place from being followed.
  int bound = -1;
  if (fd >= 0 && setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &on, sizeof(on)) == 0) {
    const mode_t old_mask = umask(0177);
    bound = bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa));
    umask(old_mask);
  }
  if (bound != 0 || fchownat(AT_FDCWD, path.c_str(), uid, gid, AT_SYMLINK_NOFOLLOW) != 0) {
    *error = OwnerError("cannot receive on " + path, uid, errno);
    if (fd >= 0) close(fd);
    return -1;
  }
  return fd;
}

namespace {

constexpr int kLoggedRefusals = 8;  // per guest

// One datagram: the hello, the sender's pid and the fd that came with it
// (*fd = -1 unless exactly one did). *fd is also -1 and the result false when
// nothing was waiting; otherwise *why says what is wrong with it, or nullptr.
bool ReadMemHello(int sock, int* fd, pid_t* sender, const char** why) {
  *fd = -1;
  *sender = 0;
  *why = nullptr;
  vdvk_mem_hello hello{};
  union {
    // Room for one fd too many, to see that it came (the kernel drops what
    // does not fit and says MSG_CTRUNC).
    char buf[CMSG_SPACE(sizeof(ucred)) + CMSG_SPACE(2 * sizeof(int))];
    cmsghdr align;
  } ctl{};
  iovec iov{&hello, sizeof(hello)};
  msghdr mh{};
  mh.msg_iov = &iov;
  mh.msg_iovlen = 1;
  mh.msg_control = ctl.buf;
  mh.msg_controllen = sizeof(ctl.buf);
  ssize_t n;
  do {
    n = recvmsg(sock, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return false;
  int got = 0;
  for (cmsghdr* c = CMSG_FIRSTHDR(&mh); c != nullptr; c = CMSG_NXTHDR(&mh, c)) {
    if (c->cmsg_level != SOL_SOCKET) continue;
    if (c->cmsg_type == SCM_CREDENTIALS && c->cmsg_len >= CMSG_LEN(sizeof(ucred))) {
      ucred cred;
      std::memcpy(&cred, CMSG_DATA(c), sizeof(cred));
      *sender = cred.pid;
    } else if (c->cmsg_type == SCM_RIGHTS) {
      size_t nfds = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      for (size_t i = 0; i < nfds; ++i) {
        int f;
        std::memcpy(&f, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
        if (got++ == 0)
          *fd = f;
        else
          close(f);
      }
    }
  }
  if (n != static_cast<ssize_t>(sizeof(hello)) || (mh.msg_flags & MSG_TRUNC))
    *why = "not one whole hello";
  else if (hello.magic != VDVK_MEM_MAGIC || hello.version != VDVK_RING_VERSION)
    *why = "bad magic or version";
  else if (got != 1 || (mh.msg_flags & MSG_CTRUNC))
    *why = "not exactly one fd";
  if (*why != nullptr && *fd >= 0) {
    close(*fd);
    *fd = -1;
  }
  return true;
}

}  // namespace

void Backend::OnGuestMemory(struct ev_loop*, ev_io* w, int) {
  auto* g = static_cast<GuestRing*>(w->data);
  static_cast<Backend*>(g->backend)->TakeGuestMemory(g);
}

void Backend::TakeGuestMemory(GuestRing* g) {
  int fd;
  pid_t sender;
  const char* why;
  while (ReadMemHello(g->mem_sock_fd, &fd, &sender, &why)) {
    // Only the claimant of a live ring may give it memory, once per claim.
    const SharedRing* ring = RingOf(g);
    const int32_t claimant = ring != nullptr ? ring->LoadClientHostPid() : 0;
    if (why == nullptr && (claimant <= 0 || sender != claimant))
      why = "the sender did not claim this ring";
    else if (why == nullptr && g->mem.mapped())
      why = "the guest gave its memory already";
    else if (why == nullptr && g->shrunk_noted)
      why = "this guest was dropped";
    std::string err;
    if (why == nullptr && !g->mem.MapFd(fd, &err)) why = err.c_str();
    if (fd >= 0) close(fd);  // mapped or refused: the mapping keeps the file
    if (why != nullptr) {
      // Whoever can write to PATH.mem could otherwise fill our log.
      if (++g->mem_refusals <= kLoggedRefusals)
        spdlog::warn("guest ring {} (domain {}): memory from host pid {} refused: {}{}", g->path,
                     g->domain, sender, why,
                     g->mem_refusals == kLoggedRefusals
                         ? " (further refusals not logged until this guest goes)"
                         : "");
      continue;
    }
    spdlog::info("guest ring {} (domain {}): guest memory mapped ({} bytes, from host pid {})",
                 g->path, g->domain, g->mem.size(), sender);
  }
}

}  // namespace vdvk::rings
