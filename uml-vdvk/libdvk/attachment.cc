// attachment.cc - the client side of the host attach handshake.
#include "libdvk/attachment.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>

#include "dvk/dvk.h"

namespace vdvk::client {
namespace {

bool IsPow2(uint32_t v) { return v != 0 && (v & (v - 1)) == 0; }

// Checks that [off, off + len) lies inside the file (overflow-safe).
bool InFile(uint64_t off, uint64_t len, uint64_t file_size) {
  return off <= file_size && len <= file_size - off;
}

std::string Errno(const char* what) {
  return std::string(what) + ": " + strerror(errno);
}

// Validates the header the backend wrote; the client trusts nothing it maps.
bool ValidateHeader(const vdvk_ring_hdr& h, uint64_t file_size, std::string* why) {
  if (h.magic != VDVK_RING_MAGIC) return *why = "ring header: bad magic", false;
  if (h.version != VDVK_RING_VERSION) return *why = "ring header: unsupported version", false;
  if (h.hdr_size != VDVK_RING_HDR_SIZE) return *why = "ring header: bad hdr_size", false;
  if (h.sqe_size != sizeof(vdvk_sqe) || h.cqe_size != sizeof(vdvk_cqe))
    return *why = "ring header: bad sqe/cqe size", false;
  if (!IsPow2(h.sq_entries) || h.sq_entries > VDVK_MAX_ENTRIES || !IsPow2(h.cq_entries) ||
      h.cq_entries > VDVK_MAX_ENTRIES)
    return *why = "ring header: bad ring sizes", false;
  // One buffer of at least a page carries every info struct.
  if (h.nr_bufs == 0 || h.nr_bufs > VDVK_MAX_BUFS || h.buf_size < 4096 ||
      h.buf_size > VDVK_MAX_BUF_SIZE || h.buf_size % 4096 != 0)
    return *why = "ring header: bad buffers", false;
  if (h.file_size != file_size) return *why = "ring header: file_size mismatch", false;
  if (h.sq_off % alignof(vdvk_sqe) || h.cq_off % alignof(vdvk_cqe))
    return *why = "ring header: misaligned ring", false;
  if (h.sq_off < VDVK_RING_HDR_SIZE || h.cq_off < VDVK_RING_HDR_SIZE ||
      h.buf_off < VDVK_RING_HDR_SIZE ||
      !InFile(h.sq_off, uint64_t{h.sq_entries} * sizeof(vdvk_sqe), file_size) ||
      !InFile(h.cq_off, uint64_t{h.cq_entries} * sizeof(vdvk_cqe), file_size) ||
      !InFile(h.buf_off, uint64_t{h.nr_bufs} * h.buf_size, file_size))
    return *why = "ring header: regions outside the file", false;
  return true;
}

void CloseFd(int* fd) {
  if (*fd >= 0) close(*fd);
  *fd = -1;
}

// Receives the welcome and its three fds. Any fds that arrive are owned by *a
// (or closed) whatever the outcome.
long RecvWelcome(Attachment* a, vdvk_welcome* w, std::string* detail) {
  alignas(cmsghdr) char cbuf[CMSG_SPACE(4 * sizeof(int))];
  iovec iov{w, sizeof(*w)};
  msghdr mh{};
  mh.msg_iov = &iov;
  mh.msg_iovlen = 1;
  mh.msg_control = cbuf;
  mh.msg_controllen = sizeof(cbuf);
  ssize_t n;
  do {
    n = recvmsg(a->sock, &mh, MSG_CMSG_CLOEXEC);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return *detail = Errno("recvmsg(welcome)"), EDVSNOCONN;

  // Collect every passed fd first so none leaks on a malformed answer.
  int fds[8];
  size_t nfds = 0;
  bool extra = false;
  for (cmsghdr* c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < k; i++) {
      int fd;
      memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
      if (nfds < 8) fds[nfds++] = fd; else { close(fd); extra = true; }
    }
  }
  auto close_all = [&] { for (size_t i = 0; i < nfds; i++) close(fds[i]); };
  if (n == 0) return close_all(), *detail = "backend closed the socket during the handshake", EDVSNOCONN;
  if (static_cast<size_t>(n) != sizeof(*w) || (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)))
    return close_all(), *detail = "malformed welcome from the backend", EDVSNOCONN;
  // The contract names no separate welcome magic: accept the hello's or the ring's.
  if (w->magic != VDVK_HELLO_MAGIC && w->magic != VDVK_RING_MAGIC)
    return close_all(), *detail = "welcome: bad magic (not a vdvk backend?)", EDVSNOCONN;
  if (w->status != 0) {
    close_all();
    *detail = std::string("backend refused the attachment: ") + dvk_strerror(w->status);
    return EDVSNOCONN;
  }
  if (nfds != 3 || extra) return close_all(), *detail = "welcome: expected exactly 3 fds", EDVSNOCONN;
  a->kick = fds[1];
  a->wake = fds[2];
  return fds[0];  // the ring memfd (>= 0), mapped by the caller then closed
}

}  // namespace

std::string SocketPath() {
  if (const char* s = getenv("VDVK_SOCKET"); s && *s) return s;
  if (const char* n = getenv("VDVK_NODE"); n && *n) return std::string("/run/vdvk/node") + n + ".sock";
  return "/run/vdvk/node0.sock";
}

long Attach(Attachment* a, std::string* detail) {
  std::string path = SocketPath();
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  if (path.size() >= sizeof(sa.sun_path)) return *detail = "socket path too long: " + path, EDVSNOCONN;
  memcpy(sa.sun_path, path.c_str(), path.size() + 1);

  a->sock = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  if (a->sock < 0) return *detail = Errno("socket"), EDVSNOCONN;
  int rc;
  do {
    rc = connect(a->sock, reinterpret_cast<sockaddr*>(&sa), sizeof(sa));
  } while (rc < 0 && errno == EINTR);
  if (rc < 0) {
    *detail = Errno(("connect " + path).c_str());
    Release(a);
    return EDVSNOCONN;
  }
  vdvk_hello hello{VDVK_HELLO_MAGIC, VDVK_RING_VERSION, 0, 0};
  ssize_t n;
  do {
    n = send(a->sock, &hello, sizeof(hello), MSG_NOSIGNAL);
  } while (n < 0 && errno == EINTR);
  if (n != static_cast<ssize_t>(sizeof(hello))) {
    *detail = Errno("send(hello)");
    Release(a);
    return EDVSNOCONN;
  }

  vdvk_welcome w{};
  long memfd = RecvWelcome(a, &w, detail);
  if (memfd < 0) {
    Release(a);
    return memfd;
  }
  int ring_fd = static_cast<int>(memfd);
  // The welcome's size must match the real file, or a later access could SIGBUS.
  struct stat st{};
  if (fstat(ring_fd, &st) < 0 || w.file_size < VDVK_RING_HDR_SIZE ||
      w.file_size > (uint64_t{1} << 32) || static_cast<uint64_t>(st.st_size) < w.file_size) {
    *detail = "welcome: ring file size is not sane";
    close(ring_fd);
    Release(a);
    return EDVSNOCONN;
  }
  void* p = mmap(nullptr, w.file_size, PROT_READ | PROT_WRITE, MAP_SHARED, ring_fd, 0);
  close(ring_fd);  // the mapping keeps the file alive
  if (p == MAP_FAILED) {
    *detail = Errno("mmap(ring)");
    Release(a);
    return EDVSNOCONN;
  }
  a->map = p;
  a->map_size = w.file_size;

  // Copy the header once, then validate the copy (no double fetch).
  vdvk_ring_hdr h;
  memcpy(&h, p, sizeof(h));
  if (!ValidateHeader(h, w.file_size, detail)) {
    Release(a);
    return EDVSNOCONN;
  }
  auto* base = static_cast<uint8_t*>(p);
  a->khdr = static_cast<vdvk_ring_hdr*>(p);
  a->ksqes = reinterpret_cast<vdvk_sqe*>(base + h.sq_off);
  a->kcqes = reinterpret_cast<const vdvk_cqe*>(base + h.cq_off);
  a->kbufs = base + h.buf_off;
  a->sq_entries = h.sq_entries;
  a->cq_entries = h.cq_entries;
  a->nr_bufs = h.nr_bufs;
  a->buf_size = h.buf_size;
  a->node_id = h.node_id;
  a->sq_tail = h.sq_tail;
  a->cq_head = h.cq_head;
  a->pid = getpid();
  return 0;
}

void Release(Attachment* a) {
  if (a->map) munmap(a->map, a->map_size);
  CloseFd(&a->sock);
  CloseFd(&a->kick);
  CloseFd(&a->wake);
  *a = Attachment{};
}

}  // namespace vdvk::client
