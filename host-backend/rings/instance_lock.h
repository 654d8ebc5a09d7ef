// instance_lock.h - one backend per socket: flock on "<socket>.lock".
#pragma once

#include <string>
#include <sys/types.h>

namespace vdvk::rings {

class InstanceLock {
 public:
  // Takes the lock and writes our pid into the file. On failure returns false
  // and sets *error to one line (naming the holder's pid when it is held);
  // *held is true when another process holds it.
  bool Acquire(const std::string& lock_path, std::string* error, bool* held);
  // Unlinks and closes (at clean shutdown).
  void Release();
  ~InstanceLock();

 private:
  std::string path_;
  int fd_ = -1;
};

// Reads /proc/<pid>/comm into a NUL-padded 16-byte name; false if the
// process is gone.
bool ReadProcessName(pid_t pid, char (&name)[16]);
bool ProcessExists(pid_t pid);

}  // namespace vdvk::rings
