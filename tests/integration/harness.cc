#include "tests/integration/harness.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "proxies/common/dvk_util.h"

namespace vdvk::itest {

Gate::Gate() {
  if (pipe2(fds_, O_CLOEXEC) != 0) fds_[0] = fds_[1] = -1;
}

Gate::~Gate() {
  if (fds_[0] >= 0) close(fds_[0]);
  if (fds_[1] >= 0) close(fds_[1]);
}

void Gate::Open() {
  char c = 1;
  ssize_t n;
  do {
    n = write(fds_[1], &c, 1);
  } while (n < 0 && errno == EINTR);
}

bool Gate::Wait(int timeout_ms) {
  pollfd p{fds_[0], POLLIN, 0};
  int r;
  do {
    r = poll(&p, 1, timeout_ms);
  } while (r < 0 && errno == EINTR);
  if (r != 1) return false;
  char c;
  return read(fds_[0], &c, 1) == 1;
}

void DvkProcTest::SetUp() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::string err;
  std::string sock = tools::UniqueSocketPath(info != nullptr ? info->name() : "itest");
  ASSERT_TRUE(backend_.Start(sock, 0, -1, 10000, &err)) << err;
  setenv("VDVK_SOCKET", sock.c_str(), 1);
}

void DvkProcTest::TearDown() {
  for (pid_t p : children_) {
    kill(p, SIGKILL);
    waitpid(p, nullptr, 0);
  }
  children_.clear();
  EXPECT_TRUE(backend_.Alive()) << "host-backend died during the test";
  backend_.Stop();
}

pid_t DvkProcTest::Spawn(std::function<int()> body) {
  std::fflush(nullptr);
  pid_t pid = fork();
  if (pid == 0) {
    int rc = body();
    std::fflush(nullptr);
    std::_Exit(rc);
  }
  if (pid > 0) children_.push_back(pid);
  return pid;
}

int DvkProcTest::Wait(pid_t pid, int timeout_ms) {
  int st = 0;
  const long long deadline = tools::NowNs() + timeout_ms * 1000000LL;
  for (;;) {
    pid_t r = waitpid(pid, &st, WNOHANG);
    if (r == pid) break;
    if (r < 0 || tools::NowNs() > deadline) {
      ADD_FAILURE() << "child " << pid << " did not finish within " << timeout_ms << " ms";
      Kill(pid);
      return -1;
    }
    usleep(1000);
  }
  children_.erase(std::remove(children_.begin(), children_.end(), pid), children_.end());
  if (WIFEXITED(st)) return WEXITSTATUS(st);
  return 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
}

void DvkProcTest::Kill(pid_t pid) {
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
  children_.erase(std::remove(children_.begin(), children_.end(), pid), children_.end());
}

bool DvkProcTest::WaitSlot(int dcid, int nr, std::function<bool(unsigned long)> pred, int timeout_ms) {
  // Probe from a short-lived child so this process never attaches: the
  // children forked later must not inherit an attachment.
  pid_t probe = Spawn([&] {
    const long long deadline = tools::NowNs() + timeout_ms * 1000000LL;
    for (;;) {
      proc_usr_t p{};
      long rc = dvk_getprocinfo(dcid, nr, &p);
      if (rc >= 0 && pred(p.p_rts_flags)) return 0;
      if (tools::NowNs() > deadline) {
        std::fprintf(stderr, "slot %d/%d: last getprocinfo %ld flags 0x%lx\n", dcid, nr, rc, p.p_rts_flags);
        return 1;
      }
      usleep(1000);
    }
  });
  return Wait(probe, timeout_ms + 5000) == 0;
}

int DvkProcTest::RunInChild(std::function<int()> body, int timeout_ms) {
  return Wait(Spawn(std::move(body)), timeout_ms);
}

}  // namespace vdvk::itest
