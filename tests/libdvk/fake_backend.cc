// fake_backend.cc - see fake_backend.h.
#include "fake_backend.h"

#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <stdexcept>

#include "dvk/dvk.h"

namespace vdvk::test {
namespace {
constexpr uint32_t kEntries = 8;
}

FakeBackend::FakeBackend(Fault fault) : fault_(fault) {
  char tmpl[] = "/tmp/vdvk-fake-XXXXXX";
  if (!mkdtemp(tmpl)) throw std::runtime_error("mkdtemp");
  dir_ = tmpl;
  path_ = dir_ + "/node.sock";
  listen_fd_ = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  strncpy(sa.sun_path, path_.c_str(), sizeof(sa.sun_path) - 1);
  if (bind(listen_fd_, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) < 0 || listen(listen_fd_, 4) < 0)
    throw std::runtime_error("bind/listen");
  thread_ = std::thread([this] { Run(); });
}

FakeBackend::~FakeBackend() {
  stop_ = true;
  shutdown(listen_fd_, SHUT_RDWR);
  thread_.join();
  for (int fd : {listen_fd_, conn_, kick_, wake_})
    if (fd >= 0) close(fd);
  if (map_) munmap(map_, size_);
  unlink(path_.c_str());
  rmdir(dir_.c_str());
}

void FakeBackend::Run() {
  pollfd p{listen_fd_, POLLIN, 0};
  while (!stop_ && poll(&p, 1, 10) <= 0) {
  }
  if (stop_) return;
  conn_ = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
  if (conn_ < 0 || !Handshake()) return;
  Serve();
}

bool FakeBackend::Handshake() {
  vdvk_hello hello{};
  if (recv(conn_, &hello, sizeof(hello), 0) != sizeof(hello) || hello.magic != VDVK_HELLO_MAGIC)
    return false;
  vdvk_welcome w{VDVK_HELLO_MAGIC, 0, 0, 7, 0};
  if (fault_ == Fault::kRefuse) {
    w.status = EDVSNOMEM;
    send(conn_, &w, sizeof(w), 0);
    return false;
  }
  size_ = VDVK_RING_HDR_SIZE + 2 * kEntries * 128 + 4096;
  int memfd = memfd_create("fake-ring", MFD_CLOEXEC);
  if (memfd < 0 || ftruncate(memfd, static_cast<off_t>(size_)) < 0) return false;
  map_ = static_cast<uint8_t*>(mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0));
  hdr_ = reinterpret_cast<vdvk_ring_hdr*>(map_);
  hdr_->magic = fault_ == Fault::kBadMagic ? 0x12345678u : VDVK_RING_MAGIC;
  hdr_->version = VDVK_RING_VERSION;
  hdr_->hdr_size = VDVK_RING_HDR_SIZE;
  hdr_->sq_entries = fault_ == Fault::kHugeEntries ? 2 * VDVK_MAX_ENTRIES : kEntries;
  hdr_->cq_entries = kEntries;
  hdr_->sqe_size = sizeof(vdvk_sqe);
  hdr_->cqe_size = sizeof(vdvk_cqe);
  hdr_->nr_bufs = 1;
  hdr_->buf_size = 4096;
  hdr_->sq_off = VDVK_RING_HDR_SIZE;
  hdr_->cq_off = VDVK_RING_HDR_SIZE + kEntries * 128;
  hdr_->buf_off = VDVK_RING_HDR_SIZE + 2 * kEntries * 128;
  hdr_->file_size = size_;
  hdr_->node_id = 7;
  hdr_->features = VDVK_F_VCOPY_GRANT;
  w.file_size = size_;
  kick_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  wake_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  int fds[3] = {memfd, kick_, wake_};
  int nfds = fault_ == Fault::kTwoFds ? 2 : 3;
  alignas(cmsghdr) char cbuf[CMSG_SPACE(sizeof(fds))] = {};
  iovec iov{&w, sizeof(w)};
  msghdr mh{};
  mh.msg_iov = &iov;
  mh.msg_iovlen = 1;
  mh.msg_control = cbuf;
  mh.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
  cmsghdr* c = CMSG_FIRSTHDR(&mh);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(nfds * sizeof(int));
  memcpy(CMSG_DATA(c), fds, nfds * sizeof(int));
  bool ok = sendmsg(conn_, &mh, 0) == sizeof(w);
  close(memfd);
  return ok;
}

void FakeBackend::Complete(const vdvk_cqe& c) {
  // Caller holds mu_ (single CQ producer).
  uint32_t tail = std::atomic_ref<uint32_t>(hdr_->cq_tail).load(std::memory_order_relaxed);
  auto* cqes = reinterpret_cast<vdvk_cqe*>(map_ + hdr_->cq_off);
  memcpy(&cqes[tail & (kEntries - 1)], &c, sizeof(c));
  std::atomic_ref<uint32_t>(hdr_->cq_tail).store(tail + 1, std::memory_order_release);
  std::atomic_thread_fence(std::memory_order_seq_cst);
  if (std::atomic_ref<uint32_t>(hdr_->client_flags).load(std::memory_order_relaxed) & VDVK_SLEEPING) {
    uint64_t one = 1;
    if (write(wake_, &one, sizeof(one)) == sizeof(one)) doorbells_++;
  }
}

void FakeBackend::Handle(const vdvk_sqe& s) {
  std::lock_guard<std::mutex> lk(mu_);
  vdvk_cqe c{};
  c.tag = s.tag;
  switch (s.opcode) {
    case VDVK_OP_GETDVSINFO: {
      if (fault_ == Fault::kBadCqTail) {
        uint32_t t = std::atomic_ref<uint32_t>(hdr_->cq_tail).load(std::memory_order_relaxed);
        std::atomic_ref<uint32_t>(hdr_->cq_tail).store(t + 100, std::memory_order_release);
        uint64_t one = 1;
        (void)!write(wake_, &one, sizeof(one));
        return;
      }
      vdvk_dvs_info info{};
      strcpy(info.name, "fake");
      info.nodeid = 7;
      info.max_copylen = 1 << 20;
      memcpy(map_ + hdr_->buf_off, &info, sizeof(info));
      c.res = 7;
      break;
    }
    case VDVK_OP_RECEIVE:
      if (s.timeout_ms == 0) {
        c.res = EDVSAGAIN;
        break;
      }
      pending_tag_ = s.tag;
      return;
    case VDVK_OP_CANCEL:
      cancels_++;
      if (fault_ == Fault::kCancelLoses && pending_tag_ == s.u.arg64[0]) {
        // The message won the race: deliver it; the cancel finds nothing.
        vdvk_cqe d{};
        d.tag = pending_tag_;
        d.flags = VDVK_CQE_F_MSG;
        d.msg.m_source = 3;
        d.msg.m_type = 4242;
        pending_tag_ = 0;
        Complete(d);
      } else if (pending_tag_ == s.u.arg64[0]) {
        vdvk_cqe d{};
        d.tag = pending_tag_;
        d.res = EDVSINTR;
        pending_tag_ = 0;
        Complete(d);
      }
      c.res = 0;  // the cancel's own acknowledgement: the client must skip it
      break;
    case VDVK_OP_VCOPY:
      vcopy_tag_ = s.tag;
      c.flags = VDVK_CQE_F_GRANT;
      c.u.grant.src_pid = getpid();
      c.u.grant.dst_pid = getpid();
      c.u.grant.src_addr = s.u.arg64[0];
      c.u.grant.dst_addr = s.u.arg64[1];
      c.u.grant.bytes = static_cast<uint32_t>(s.arg[2]);
      break;
    case VDVK_OP_VCOPY_DONE:
      c.res = s.tag == vcopy_tag_ ? s.arg[0] : EDVSBADREQUEST;
      break;
    case VDVK_OP_STATS: {
      vdvk_stats st{};
      st.requests = 1;
      st.doorbells_sent = doorbells_;
      memcpy(map_ + hdr_->buf_off, &st, sizeof(st));
      break;
    }
    default:
      c.res = EDVSNOSYS;
  }
  Complete(c);
}

void FakeBackend::Serve() {
  auto* sqes = reinterpret_cast<vdvk_sqe*>(map_ + hdr_->sq_off);
  while (!stop_) {
    uint32_t tail = std::atomic_ref<uint32_t>(hdr_->sq_tail).load(std::memory_order_acquire);
    uint32_t head = hdr_->sq_head;
    while (head != tail) {
      vdvk_sqe s;
      memcpy(&s, &sqes[head & (kEntries - 1)], sizeof(s));
      head++;
      std::atomic_ref<uint32_t>(hdr_->sq_head).store(head, std::memory_order_release);
      Handle(s);
    }
    // Sleep on the kick doorbell like a real backend, with a short timeout
    // so stop_ is noticed.
    std::atomic_ref<uint32_t>(hdr_->backend_flags).store(VDVK_SLEEPING, std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_seq_cst);
    if (std::atomic_ref<uint32_t>(hdr_->sq_tail).load(std::memory_order_acquire) == head) {
      pollfd p{kick_, POLLIN, 0};
      if (poll(&p, 1, 20) > 0) {
        uint64_t v;
        (void)!read(kick_, &v, sizeof(v));
      }
    }
    std::atomic_ref<uint32_t>(hdr_->backend_flags).store(0, std::memory_order_relaxed);
  }
}

void FakeBackend::Deliver(int32_t m_type) {
  std::lock_guard<std::mutex> lk(mu_);
  if (!pending_tag_) return;
  vdvk_cqe c{};
  c.tag = pending_tag_;
  c.flags = VDVK_CQE_F_MSG;
  c.msg.m_source = 5;
  c.msg.m_type = m_type;
  pending_tag_ = 0;
  Complete(c);
}

bool FakeBackend::receive_pending() {
  std::lock_guard<std::mutex> lk(mu_);
  return pending_tag_ != 0;
}

void FakeBackend::MarkDead() {
  std::lock_guard<std::mutex> lk(mu_);
  std::atomic_ref<uint32_t>(hdr_->state).store(VDVK_STATE_DEAD, std::memory_order_release);
  uint64_t one = 1;
  (void)!write(wake_, &one, sizeof(one));
}

void FakeBackend::CloseSocket() { shutdown(conn_, SHUT_RDWR); }

}  // namespace vdvk::test
