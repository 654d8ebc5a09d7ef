// guest_transport.cc - libdvk_guest's transport: one VDVK_IOC_CALL ioctl on
// /dev/vdvk per call, inside a UML guest. The guest kernel's vdvk driver puts
// the SQE on the ring (filling in who we are), sleeps until the completion
// and cancels the call if a signal arrives (then returns EDVSINTR, or the
// real result if the call completed first).
//
// Thread safety: the fd is opened once (under a mutex); ioctls from several
// threads run concurrently, each with its own request in the driver.
// $VDVK_DEVICE names another device (e.g. /dev/vdvk1).
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <memory>
#include <string>

#include "libdvk/transport.h"
#include "uml-vdvk/driver/vdvk_ioctl.h"

namespace vdvk::client {
namespace {

pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
int g_fd = -1;               // GUARDED_BY(g_mu) for writes
std::string g_detail;        // GUARDED_BY(g_mu)

const char* DevicePath() {
  const char* p = getenv("VDVK_DEVICE");
  return p && *p ? p : "/dev/vdvk";
}

long EnsureOpen(int* fd) {
  pthread_mutex_lock(&g_mu);
  if (g_fd < 0) {
    g_fd = open(DevicePath(), O_RDWR | O_CLOEXEC);
    if (g_fd < 0) {
      g_detail = std::string("cannot open ") + DevicePath() + ": " + strerror(errno);
      pthread_mutex_unlock(&g_mu);
      return EDVSNOCONN;
    }
  }
  *fd = g_fd;
  pthread_mutex_unlock(&g_mu);
  return 0;
}

}  // namespace

long TransportOpen() {
  int fd;
  return EnsureOpen(&fd);
}

long TransportClose() {
  // Closing the fd tells the driver we are done (it reports our exit to the
  // backend, which unbinds us), as dvk_close does for host processes.
  pthread_mutex_lock(&g_mu);
  if (g_fd >= 0) close(g_fd);
  g_fd = -1;
  pthread_mutex_unlock(&g_mu);
  return 0;
}

long TransportCall(Request& r) {
  if (r.in_len > VDVK_CALL_BUF || r.out_len > VDVK_CALL_BUF) return EDVSINVAL;  // our bug
  int fd;
  long rc = EnsureOpen(&fd);
  if (rc < 0) return rc;
  // 4.3 KiB: on the heap, guest programs may run on small thread stacks.
  auto call = std::make_unique<vdvk_ioc_call>();
  memset(call.get(), 0, sizeof(*call));
  call->sqe = r.sqe;
  const size_t len = r.in_len > r.out_len ? r.in_len : r.out_len;
  call->sqe.buf_len = static_cast<uint32_t>(len);
  if (r.in_len) memcpy(call->buf, r.in, r.in_len);
  int res;
  do {
    res = ioctl(fd, VDVK_IOC_CALL, call.get());
  } while (res < 0 && errno == EINTR);  // only before the call was submitted
  if (res < 0) {
    pthread_mutex_lock(&g_mu);
    g_detail = std::string("VDVK_IOC_CALL: ") + strerror(errno);
    pthread_mutex_unlock(&g_mu);
    switch (errno) {
      case EFAULT: return EDVSFAULT;
      case EINVAL: return EDVSINVAL;
      case ENOMEM: return EDVSNOMEM;
      case ENOTTY: return EDVSNOSYS;  // a kernel whose driver predates calls
      default: return EDVSNOTCONN;
    }
  }
  const vdvk_cqe& c = call->cqe;
  if (c.res >= 0) {
    if ((c.flags & VDVK_CQE_F_MSG) && r.msg_out) memcpy(r.msg_out, &c.msg, sizeof(message));
    if (r.out_len) memcpy(r.out, call->buf, r.out_len);
  }
  return c.res;
}

std::string TransportLastDetail() {
  pthread_mutex_lock(&g_mu);
  std::string d = g_detail;
  pthread_mutex_unlock(&g_mu);
  return d;
}

}  // namespace vdvk::client
