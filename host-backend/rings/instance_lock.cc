#include "host-backend/rings/instance_lock.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace vdvk::rings {

bool InstanceLock::Acquire(const std::string& lock_path, std::string* error, bool* held) {
  *held = false;
  int fd = open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) {
    *error = "cannot open lock " + lock_path + ": " + std::strerror(errno);
    return false;
  }
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    int e = errno;
    if (e == EWOULDBLOCK) {
      char buf[32] = {};
      ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
      long pid = n > 0 ? std::strtol(buf, nullptr, 10) : 0;
      *held = true;
      *error = "is already served by pid " + std::to_string(pid) + " (lock " + lock_path + ")";
    } else {
      *error = "cannot lock " + lock_path + ": " + std::strerror(e);
    }
    close(fd);
    return false;
  }
  std::string pid = std::to_string(getpid()) + "\n";
  if (ftruncate(fd, 0) != 0 || pwrite(fd, pid.data(), pid.size(), 0) != static_cast<ssize_t>(pid.size())) {
    *error = "cannot write lock " + lock_path + ": " + std::strerror(errno);
    close(fd);
    return false;
  }
  fd_ = fd;
  path_ = lock_path;
  return true;
}

void InstanceLock::Release() {
  if (fd_ < 0) return;
  // Unlink while still holding the lock so a starting backend cannot lock
  // the old inode and then lose it to us.
  unlink(path_.c_str());
  close(fd_);
  fd_ = -1;
}

InstanceLock::~InstanceLock() {
  if (fd_ >= 0) close(fd_);
}

bool ReadProcessName(pid_t pid, char (&name)[16]) {
  std::memset(name, 0, sizeof(name));
  std::string path = "/proc/" + std::to_string(pid) + "/comm";
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  char buf[64];
  ssize_t n = read(fd, buf, sizeof(buf));
  close(fd);
  if (n <= 0) return false;
  size_t len = static_cast<size_t>(n);
  if (buf[len - 1] == '\n') --len;
  std::memcpy(name, buf, std::min<size_t>(len, sizeof(name) - 1));
  return true;
}

bool ProcessExists(pid_t pid) {
  if (pid <= 0) return false;
  return kill(pid, 0) == 0 || errno == EPERM;
}

}  // namespace vdvk::rings
