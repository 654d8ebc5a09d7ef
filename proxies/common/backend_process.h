// backend_process.h - start and stop a private host-backend, for the
// integration tests, the tool tests and the benchmark. Each user gets its own
// socket path so concurrent runs never share a backend.
#pragma once

#include <sys/types.h>

#include <string>

namespace vdvk::tools {

// $VDVK_HOST_BACKEND if set, else the path baked in at build time.
std::string HostBackendBinary();

// A unique socket path under $TMPDIR (or /tmp) for a private backend.
std::string UniqueSocketPath(const std::string& tag);

class BackendProcess {
 public:
  BackendProcess() = default;
  BackendProcess(const BackendProcess&) = delete;
  BackendProcess& operator=(const BackendProcess&) = delete;
  ~BackendProcess() { Stop(); }

  // Forks and execs host-backend --node node --socket socket. cpu >= 0 pins it
  // (and every thread it will create) to that CPU. Waits up to timeout_ms for
  // the socket to accept connections. Returns false with *err on failure.
  bool Start(const std::string& socket, int node, int cpu, int timeout_ms, std::string* err);
  // SIGTERM, then SIGKILL after 3 s; reaps the child. Returns its wait status
  // (or -1 if it was not running).
  int Stop();
  // True while the child has not exited.
  bool Alive();
  pid_t pid() const { return pid_; }
  const std::string& socket() const { return socket_; }

 private:
  pid_t pid_ = -1;
  std::string socket_;
};

// True if a SOCK_SEQPACKET connect to path succeeds right now.
bool SocketAccepts(const std::string& path);

}  // namespace vdvk::tools
