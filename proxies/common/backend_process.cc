#include "proxies/common/backend_process.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#ifndef VDVK_DEFAULT_HOST_BACKEND
#define VDVK_DEFAULT_HOST_BACKEND "host-backend"
#endif

namespace vdvk::tools {

std::string HostBackendBinary() {
  if (const char* s = std::getenv("VDVK_HOST_BACKEND"); s != nullptr && *s != '\0') return s;
  return VDVK_DEFAULT_HOST_BACKEND;
}

std::string UniqueSocketPath(const std::string& tag) {
  static std::atomic<int> counter{0};
  const char* tmp = std::getenv("TMPDIR");
  std::string dir = (tmp != nullptr && *tmp != '\0') ? tmp : "/tmp";
  // sun_path holds 108 bytes: keep the name short.
  std::string path = dir + "/vdvk-" + tag.substr(0, 16) + "-" + std::to_string(getpid()) + "-" +
                     std::to_string(counter++) + ".sock";
  if (path.size() >= sizeof(sockaddr_un::sun_path))
    path = "/tmp/vdvk-" + std::to_string(getpid()) + "-" + std::to_string(counter++) + ".sock";
  return path;
}

bool SocketAccepts(const std::string& path) {
  int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof(addr.sun_path)) {
    close(fd);
    return false;
  }
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  bool ok = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  close(fd);
  return ok;
}

bool BackendProcess::Start(const std::string& socket, int node, int cpu, int timeout_ms,
                           std::string* err) {
  Stop();
  socket_ = socket;
  unlink(socket.c_str());
  std::string bin = HostBackendBinary();
  std::string node_s = std::to_string(node);
  const char* level = std::getenv("VDVK_TEST_BACKEND_LOG_LEVEL");
  std::string level_s = level != nullptr ? level : "warn";
  pid_t pid = fork();
  if (pid < 0) {
    *err = std::string("fork: ") + std::strerror(errno);
    return false;
  }
  if (pid == 0) {
    if (cpu >= 0) {
      cpu_set_t set;
      CPU_ZERO(&set);
      CPU_SET(cpu, &set);
      sched_setaffinity(0, sizeof(set), &set);
    }
    // Die with the parent: a crashed test must not leave a daemon behind.
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    execl(bin.c_str(), bin.c_str(), "--node", node_s.c_str(), "--socket", socket.c_str(),
          "--log-level", level_s.c_str(), static_cast<char*>(nullptr));
    std::_Exit(127);
  }
  pid_ = pid;
  for (int waited = 0; waited <= timeout_ms; waited += 10) {
    if (SocketAccepts(socket)) return true;
    if (!Alive()) {
      *err = "host-backend (" + bin + ") exited before accepting connections on " + socket;
      pid_ = -1;
      return false;
    }
    usleep(10000);
  }
  *err = "host-backend did not accept connections on " + socket + " within " +
         std::to_string(timeout_ms) + " ms";
  Stop();
  return false;
}

bool BackendProcess::Alive() {
  if (pid_ <= 0) return false;
  int st = 0;
  pid_t r = waitpid(pid_, &st, WNOHANG);
  if (r == pid_) {
    pid_ = -1;
    return false;
  }
  return true;
}

int BackendProcess::Stop() {
  if (pid_ <= 0) return -1;
  kill(pid_, SIGTERM);
  int st = 0;
  for (int i = 0; i < 300; ++i) {
    pid_t r = waitpid(pid_, &st, WNOHANG);
    if (r == pid_ || (r < 0 && errno == ECHILD)) {
      pid_ = -1;
      unlink(socket_.c_str());
      return st;
    }
    usleep(10000);
  }
  kill(pid_, SIGKILL);
  waitpid(pid_, &st, 0);
  pid_ = -1;
  unlink(socket_.c_str());
  return st;
}

}  // namespace vdvk::tools
