// backend_process.h - starts a real host-backend on a unique temp socket for
// one test and points this process's libdvk at it ($VDVK_SOCKET).
#pragma once

#include <sys/types.h>

#include <string>

namespace vdvk::test {

class BackendProcess {
 public:
  // Starts `binary --node 0 --socket <tmp>/node0.sock` and waits until it
  // accepts connections. ok() tells whether that worked (error() says why).
  explicit BackendProcess(const std::string& binary = VDVK_HOST_BACKEND);
  ~BackendProcess();  // SIGTERM (then SIGKILL) and reap; removes the temp dir
  BackendProcess(const BackendProcess&) = delete;
  BackendProcess& operator=(const BackendProcess&) = delete;

  bool ok() const { return pid_ > 0 && error_.empty(); }
  const std::string& error() const { return error_; }
  const std::string& socket_path() const { return socket_; }
  pid_t pid() const { return pid_; }
  // SIGKILL now and reap (the backend dies without any cleanup).
  void Kill();

 private:
  std::string dir_, socket_, error_;
  pid_t pid_ = -1;
};

}  // namespace vdvk::test
