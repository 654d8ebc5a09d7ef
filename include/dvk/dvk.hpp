// dvk.hpp - a small C++20 wrapper over the DVK C API (dvk.h).
//
// Result carries a DVK return code; Endpoint binds a slot for its lifetime.
// Same threading and fork rules as dvk.h: calls are serialized per process and
// identity is the calling process.
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <utility>

#include "dvk/dvk.h"

extern "C" {
// vdvk extension: why the last attach failed or the connection was dropped
// (libdvk). Valid until the next call from this thread.
const char* dvk_last_error_detail(void);
}

namespace dvk {

class [[nodiscard]] Result {
 public:
  constexpr Result(long code) : code_(code) {}  // NOLINT: implicit from a DVK return
  constexpr long code() const { return code_; }
  constexpr bool ok() const { return code_ >= 0; }
  constexpr explicit operator bool() const { return ok(); }
  std::string message() const { return dvk_strerror(code_); }

 private:
  long code_;
};

// A bound endpoint of the calling process. Binding happens in Bind(), the
// destructor unbinds. Movable, not copyable.
class Endpoint {
 public:
  // Binds the caller to slot `ep` of DC `dcid`; on failure *err gets the code.
  static Endpoint Bind(int dcid, int ep, Result* err = nullptr) {
    long rc = dvk_bind(dcid, ep);
    if (err) *err = Result(rc);
    return rc >= 0 ? Endpoint(dcid, static_cast<int>(rc)) : Endpoint();
  }

  Endpoint() = default;
  Endpoint(Endpoint&& o) noexcept : dcid_(o.dcid_), ep_(std::exchange(o.ep_, kNone)) {}
  Endpoint& operator=(Endpoint&& o) noexcept {
    if (this != &o) {
      Reset();
      dcid_ = o.dcid_;
      ep_ = std::exchange(o.ep_, kNone);
    }
    return *this;
  }
  Endpoint(const Endpoint&) = delete;
  Endpoint& operator=(const Endpoint&) = delete;
  ~Endpoint() { Reset(); }

  bool valid() const { return ep_ != kNone; }
  int dcid() const { return dcid_; }
  int endpoint() const { return ep_; }

  // Unbinds now (also done by the destructor).
  Result Unbind() {
    if (!valid()) return Result(EDVSNOTBIND);
    long rc = dvk_unbind(dcid_, ep_);
    ep_ = kNone;
    return Result(rc);
  }

  Result send(int dst, message& m, long timeout_ms = TIMEOUT_FOREVER) {
    return dvk_send_T(dst, &m, timeout_ms);
  }
  Result receive(int src, message& m, long timeout_ms = TIMEOUT_FOREVER) {
    return dvk_receive_T(src, &m, timeout_ms);
  }
  Result sendrec(int dst, message& m, long timeout_ms = TIMEOUT_FOREVER) {
    return dvk_sendrec_T(dst, &m, timeout_ms);
  }
  Result reply(int dst, message& m, long timeout_ms = TIMEOUT_FOREVER) {
    return dvk_reply_T(dst, &m, timeout_ms);
  }
  Result notify(int dst) { return dvk_notify(dst); }

  // Copies our bytes into `dst_ep`'s range starting at dst_addr.
  Result vcopy(std::span<const std::byte> src, int dst_ep, void* dst_addr) {
    return dvk_vcopy(SELF, const_cast<std::byte*>(src.data()), dst_ep, dst_addr,
                     static_cast<int>(src.size()));
  }
  // Copies from `src_ep`'s range starting at src_addr into our bytes.
  Result vcopy(int src_ep, const void* src_addr, std::span<std::byte> dst) {
    return dvk_vcopy(src_ep, const_cast<void*>(src_addr), SELF, dst.data(),
                     static_cast<int>(dst.size()));
  }

 private:
  static constexpr int kNone = NONE;
  Endpoint(int dcid, int ep) : dcid_(dcid), ep_(ep) {}
  void Reset() {
    if (valid()) (void)dvk_unbind(dcid_, ep_);
    ep_ = kNone;
  }

  int dcid_ = 0;
  int ep_ = kNone;
};

}  // namespace dvk
