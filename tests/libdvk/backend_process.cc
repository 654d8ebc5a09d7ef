// backend_process.cc - see backend_process.h.
#include "backend_process.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <thread>

namespace vdvk::test {
namespace {

bool CanConnect(const std::string& path) {
  int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  strncpy(sa.sun_path, path.c_str(), sizeof(sa.sun_path) - 1);
  bool ok = connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) == 0;
  close(fd);
  return ok;
}

}  // namespace

BackendProcess::BackendProcess(const std::string& binary) {
  char tmpl[] = "/tmp/vdvk-test-XXXXXX";
  if (!mkdtemp(tmpl)) {
    error_ = "mkdtemp failed";
    return;
  }
  dir_ = tmpl;
  socket_ = dir_ + "/node0.sock";
  if (access(binary.c_str(), X_OK) != 0) {
    error_ = "no host-backend binary at " + binary;
    return;
  }
  pid_ = fork();
  if (pid_ == 0) {
    execl(binary.c_str(), binary.c_str(), "--node", "0", "--socket", socket_.c_str(),
          "--log-level", "warn", static_cast<char*>(nullptr));
    _exit(127);
  }
  if (pid_ < 0) {
    error_ = "fork failed";
    return;
  }
  for (int i = 0; i < 500; i++) {
    if (CanConnect(socket_)) {
      setenv("VDVK_SOCKET", socket_.c_str(), 1);
      return;
    }
    int status;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      error_ = "host-backend exited during startup";
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  error_ = "host-backend did not listen on " + socket_ + " within 5 s";
}

void BackendProcess::Kill() {
  if (pid_ <= 0) return;
  kill(pid_, SIGKILL);
  while (waitpid(pid_, nullptr, 0) < 0 && errno == EINTR) {
  }
  pid_ = -1;
}

BackendProcess::~BackendProcess() {
  if (pid_ > 0) {
    kill(pid_, SIGTERM);
    int status;
    bool reaped = false;
    for (int i = 0; i < 300 && !reaped; i++) {
      reaped = waitpid(pid_, &status, WNOHANG) == pid_;
      if (!reaped) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    if (!reaped) Kill();
  }
  if (!dir_.empty()) {
    unlink(socket_.c_str());
    unlink((socket_ + ".lock").c_str());
    rmdir(dir_.c_str());
  }
}

}  // namespace vdvk::test
