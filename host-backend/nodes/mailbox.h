// mailbox.h - a mutex-protected queue between the libev thread and the kj
// thread. Pushes are rare next to a network round trip (one per remote
// operation), so a lock is simpler than a lock-free ring and costs nothing
// measurable; the waking (ev_async / eventfd) is the caller's.
#pragma once

#include <deque>
#include <mutex>

namespace vdvk::nodes {

template <class T>
class Mailbox {
 public:
  void Push(T v) {
    std::lock_guard<std::mutex> lock(mu_);
    q_.push_back(std::move(v));
  }
  // Everything queued so far, oldest first (FIFO order is kept per direction,
  // so a link's operations reach the engine in the order they were sent).
  std::deque<T> TakeAll() {
    std::deque<T> out;
    std::lock_guard<std::mutex> lock(mu_);
    out.swap(q_);
    return out;
  }

 private:
  std::mutex mu_;
  std::deque<T> q_;  // guarded by mu_
};

}  // namespace vdvk::nodes
