#include "tests/backend/raw_client.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

namespace vdvk::test {
namespace {

int64_t NowMs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

std::atomic_ref<uint32_t> Ref(uint32_t& v) { return std::atomic_ref<uint32_t>(v); }

int ConnectSeqpacket(const std::string& path) {
  int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  if (fd < 0) return -errno;
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::strncpy(a.sun_path, path.c_str(), sizeof(a.sun_path) - 1);
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
    int e = errno;
    close(fd);
    return -e;
  }
  return fd;
}

std::vector<char*> Argv(const std::string& bin, const std::vector<std::string>& args,
                        std::vector<std::string>* store) {
  store->clear();
  store->push_back(bin);
  for (auto& a : args) store->push_back(a);
  std::vector<char*> v;
  for (auto& s : *store) v.push_back(s.data());
  v.push_back(nullptr);
  return v;
}

}  // namespace

std::string MakeTempDir() {
  char tmpl[] = "/tmp/vdvk-backend-test-XXXXXX";
  char* d = mkdtemp(tmpl);
  return d ? std::string(d) : std::string();
}

std::string ReadFile(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

int RunBackendSync(const std::vector<std::string>& args, std::string* out, std::string* err) {
  std::string dir = MakeTempDir();
  std::string o = dir + "/out", e = dir + "/err";
  pid_t pid = fork();
  if (pid == 0) {
    int fo = open(o.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int fe = open(e.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(fo, 1);
    dup2(fe, 2);
    std::vector<std::string> store;
    auto argv = Argv(HOST_BACKEND_BIN, args, &store);
    execv(HOST_BACKEND_BIN, argv.data());
    _exit(127);
  }
  int st = 0;
  waitpid(pid, &st, 0);
  *out = ReadFile(o);
  *err = ReadFile(e);
  unlink(o.c_str());
  unlink(e.c_str());
  rmdir(dir.c_str());
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

BackendProcess::~BackendProcess() {
  if (pid_ > 0) StopWith(SIGKILL);
}

bool BackendProcess::Start(const std::vector<std::string>& args, const std::string& socket_path,
                           const std::string& log_path) {
  pid_ = fork();
  if (pid_ == 0) {
    int fe = open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(fe, 2);
    dup2(fe, 1);
    std::vector<std::string> store;
    auto argv = Argv(HOST_BACKEND_BIN, args, &store);
    execv(HOST_BACKEND_BIN, argv.data());
    _exit(127);
  }
  int64_t deadline = NowMs() + 10000;
  while (NowMs() < deadline) {
    int fd = ConnectSeqpacket(socket_path);
    if (fd >= 0) {
      close(fd);  // the backend drops it after the hello timeout
      return true;
    }
    if (!Alive()) return false;
    usleep(10000);
  }
  return false;
}

bool BackendProcess::Alive() {
  if (pid_ <= 0) return false;
  int st;
  pid_t r = waitpid(pid_, &st, WNOHANG);
  if (r == pid_) {
    pid_ = -1;
    return false;
  }
  return true;
}

int BackendProcess::StopWith(int sig, int timeout_ms) {
  if (pid_ <= 0) return -1;
  kill(pid_, sig);
  int64_t deadline = NowMs() + timeout_ms;
  int st = 0;
  while (NowMs() < deadline) {
    pid_t r = waitpid(pid_, &st, WNOHANG);
    if (r == pid_) {
      pid_ = -1;
      return st;
    }
    usleep(5000);
  }
  kill(pid_, SIGKILL);
  waitpid(pid_, &st, 0);
  pid_ = -1;
  return -1;
}

RawClient::~RawClient() {
  if (base_) munmap(base_, size_);
  for (int fd : {sock_, ring_fd_, kick_, wake_})
    if (fd >= 0) close(fd);
}

int RawClient::Attach(const std::string& socket_path, uint32_t sq_entries, uint32_t cq_entries) {
  sock_ = ConnectSeqpacket(socket_path);
  if (sock_ < 0) return sock_;
  vdvk_hello h{VDVK_HELLO_MAGIC, VDVK_RING_VERSION, sq_entries, cq_entries};
  if (send(sock_, &h, sizeof(h), MSG_NOSIGNAL) != sizeof(h)) return -errno;
  vdvk_welcome w{};
  iovec iov{&w, sizeof(w)};
  alignas(cmsghdr) char ctl[CMSG_SPACE(3 * sizeof(int))];
  msghdr mh{};
  mh.msg_iov = &iov;
  mh.msg_iovlen = 1;
  mh.msg_control = ctl;
  mh.msg_controllen = sizeof(ctl);
  pollfd p{sock_, POLLIN, 0};
  if (poll(&p, 1, 5000) != 1) return -ETIMEDOUT;
  ssize_t n = recvmsg(sock_, &mh, MSG_CMSG_CLOEXEC);
  if (n != sizeof(w)) return n < 0 ? -errno : -EPROTO;
  if (w.magic != VDVK_HELLO_MAGIC) return -EPROTO;
  if (w.status != 0) return w.status;
  cmsghdr* c = CMSG_FIRSTHDR(&mh);
  if (!c || c->cmsg_type != SCM_RIGHTS || c->cmsg_len != CMSG_LEN(3 * sizeof(int))) return -EPROTO;
  int fds[3];
  std::memcpy(fds, CMSG_DATA(c), sizeof(fds));
  kick_ = fds[1];
  wake_ = fds[2];
  size_ = w.file_size;
  void* m = mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_SHARED, fds[0], 0);
  ring_fd_ = fds[0];  // kept: a hostile test may try to resize it
  if (m == MAP_FAILED) return -errno;
  base_ = static_cast<uint8_t*>(m);
  hdr_ = reinterpret_cast<vdvk_ring_hdr*>(base_);
  if (hdr_->magic != VDVK_RING_MAGIC || hdr_->file_size != size_) return -EPROTO;
  sq_ = reinterpret_cast<vdvk_sqe*>(base_ + hdr_->sq_off);
  cq_ = reinterpret_cast<vdvk_cqe*>(base_ + hdr_->cq_off);
  return 0;
}

void RawClient::Kick() {
  uint64_t one = 1;
  [[maybe_unused]] ssize_t n = write(kick_, &one, sizeof(one));
}

void RawClient::PublishTail(uint32_t tail) {
  Ref(hdr_->sq_tail).store(tail, std::memory_order_release);
  std::atomic_thread_fence(std::memory_order_seq_cst);
  if (Ref(hdr_->backend_flags).load(std::memory_order_relaxed) & VDVK_SLEEPING) Kick();
}

void RawClient::Submit(const vdvk_sqe& e) {
  uint32_t tail = hdr_->sq_tail;  // only we write it
  *sqe(tail) = e;
  PublishTail(tail + 1);
}

std::optional<vdvk_cqe> RawClient::WaitCqe(int timeout_ms) {
  int64_t deadline = NowMs() + timeout_ms;
  for (;;) {
    uint32_t head = Ref(hdr_->cq_head).load(std::memory_order_relaxed);
    if (Ref(hdr_->cq_tail).load(std::memory_order_acquire) != head) {
      vdvk_cqe c = cq_[head & (hdr_->cq_entries - 1)];
      Ref(hdr_->cq_head).store(head + 1, std::memory_order_release);
      return c;
    }
    if (Ref(hdr_->state).load(std::memory_order_acquire) == VDVK_STATE_DEAD) return std::nullopt;
    Ref(hdr_->client_flags).store(VDVK_SLEEPING, std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_seq_cst);
    if (Ref(hdr_->cq_tail).load(std::memory_order_acquire) == head) {
      int64_t left = deadline - NowMs();
      if (left <= 0) {
        Ref(hdr_->client_flags).store(0, std::memory_order_relaxed);
        return std::nullopt;
      }
      pollfd p{wake_, POLLIN, 0};
      if (poll(&p, 1, static_cast<int>(left)) == 1) {
        uint64_t v;
        [[maybe_unused]] ssize_t n = read(wake_, &v, sizeof(v));
      }
    }
    Ref(hdr_->client_flags).store(0, std::memory_order_relaxed);
  }
}

std::optional<vdvk_cqe> RawClient::Call(vdvk_sqe e, int timeout_ms) {
  Submit(e);
  int64_t deadline = NowMs() + timeout_ms;
  for (;;) {
    int64_t left = deadline - NowMs();
    if (left <= 0) return std::nullopt;
    auto c = WaitCqe(static_cast<int>(left));
    if (!c) return std::nullopt;
    if (c->tag == e.tag && !(c->flags & VDVK_CQE_F_GRANT)) return c;
  }
}

bool RawClient::WaitDead(int timeout_ms) {
  int64_t deadline = NowMs() + timeout_ms;
  while (NowMs() < deadline) {
    if (Ref(hdr_->state).load(std::memory_order_acquire) == VDVK_STATE_DEAD) return true;
    usleep(2000);
  }
  return false;
}

bool RawClient::WaitSocketEof(int timeout_ms) {
  pollfd p{sock_, POLLIN, 0};
  if (poll(&p, 1, timeout_ms) != 1) return false;
  char b[64];
  return recv(sock_, b, sizeof(b), MSG_DONTWAIT) == 0;
}

vdvk_sqe MakeSqe(uint16_t op, uint64_t tag) {
  vdvk_sqe s{};
  s.opcode = op;
  s.tag = tag;
  s.timeout_ms = -1;
  return s;
}

}  // namespace vdvk::test
