// fault_guard.cc - see fault_guard.h.
#include "host-backend/rings/fault_guard.h"

#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>

namespace vdvk::rings::fault_guard {

namespace {

// 2 mappings per guest ring (ring, memory): ample for any --guest-ring list.
constexpr int kSlots = 128;

struct Slot {
  std::atomic<uintptr_t> base{0};  // 0: free
  std::atomic<size_t> size{0};
  std::atomic<bool> lost{false};
};

Slot g_slots[kSlots];
std::atomic<uint64_t> g_lost_count{0};
bool g_installed = false;

void OnSigbus(int sig, siginfo_t* info, void*) {
  const auto addr = reinterpret_cast<uintptr_t>(info->si_addr);
  for (Slot& s : g_slots) {
    const uintptr_t base = s.base.load(std::memory_order_relaxed);
    const size_t size = s.size.load(std::memory_order_relaxed);
    if (base == 0 || addr < base || addr - base >= size) continue;
    void* p = mmap(reinterpret_cast<void*>(base), size, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    if (p == MAP_FAILED) break;  // cannot repair: die as without the guard
    s.lost.store(true, std::memory_order_relaxed);
    g_lost_count.fetch_add(1, std::memory_order_relaxed);
    return;  // the access is retried, on zero pages
  }
  // Not ours: the default action, with the original fault.
  signal(sig, SIG_DFL);
  raise(sig);
}

}  // namespace

bool Install(std::string* error) {
  if (g_installed) return true;
  struct sigaction sa {};
  sa.sa_sigaction = &OnSigbus;
  sa.sa_flags = SA_SIGINFO;
  sigemptyset(&sa.sa_mask);
  if (sigaction(SIGBUS, &sa, nullptr) != 0) {
    *error = std::string("sigaction(SIGBUS): ") + std::strerror(errno);
    return false;
  }
  g_installed = true;
  return true;
}

int Register(void* base, size_t size) {
  for (int i = 0; i < kSlots; ++i) {
    Slot& s = g_slots[i];
    if (s.base.load(std::memory_order_relaxed) != 0) continue;
    s.lost.store(false, std::memory_order_relaxed);
    s.size.store(size, std::memory_order_relaxed);
    // Base last: the handler only looks at slots with a base.
    s.base.store(reinterpret_cast<uintptr_t>(base), std::memory_order_release);
    return i;
  }
  return -1;
}

void Unregister(int slot) {
  if (slot < 0 || slot >= kSlots) return;
  g_slots[slot].base.store(0, std::memory_order_release);
}

bool Lost(int slot) {
  return slot >= 0 && slot < kSlots && g_slots[slot].lost.load(std::memory_order_relaxed);
}

uint64_t LostCount() { return g_lost_count.load(std::memory_order_relaxed); }

}  // namespace vdvk::rings::fault_guard
