// latency_proto.h - ping/pong format of latency_client and latency_server.
// The client fills m4_l1..m4_l5 from the sequence number; the server answers
// each field transformed (kPong), so a reply that is stale, for someone else
// or not produced by the server fails the check.
#pragma once

#include <cstdint>

#include "dvk/dvk.h"

namespace vdvk::tools::latencyproto {

inline constexpr int kPing = 0x4c01;
inline constexpr int kPong = 0x4c02;
inline constexpr int kDefaultServerEp = 11;
inline constexpr int kDefaultClientEp = 41;

// int64_t arithmetic: i * 0x3b9aca07 overflows int for i >= 3 (UBSan).
inline int64_t PingField(int64_t seq, int i) { return seq * 0x10001 + static_cast<int64_t>(i) * 0x3b9aca07; }
inline int64_t PongField(int64_t v) { return ~v ^ 0x5a5a5a5a5a5aLL; }

// The client's ping number seq.
inline message MakePing(int64_t seq) {
  message m{};
  m.m_type = kPing;
  m.m4_l1 = PingField(seq, 1);
  m.m4_l2 = PingField(seq, 2);
  m.m4_l3 = PingField(seq, 3);
  m.m4_l4 = PingField(seq, 4);
  m.m4_l5 = PingField(seq, 5);
  return m;
}

// The server's answer to m: its pong, or EDVSBADREQUEST for anything else.
inline message Answer(const message& m) {
  message r{};
  if (m.m_type != kPing) {
    r.m_type = EDVSBADREQUEST;
    return r;
  }
  r.m_type = kPong;
  r.m4_l1 = PongField(m.m4_l1);
  r.m4_l2 = PongField(m.m4_l2);
  r.m4_l3 = PongField(m.m4_l3);
  r.m4_l4 = PongField(m.m4_l4);
  r.m4_l5 = PongField(m.m4_l5);
  return r;
}

// Whether m is server's pong to ping seq (type, sender and every field).
inline bool IsPongTo(const message& m, int64_t seq, int server) {
  return m.m_type == kPong && m.m_source == server && m.m4_l1 == PongField(PingField(seq, 1)) &&
         m.m4_l2 == PongField(PingField(seq, 2)) && m.m4_l3 == PongField(PingField(seq, 3)) &&
         m.m4_l4 == PongField(PingField(seq, 4)) && m.m4_l5 == PongField(PingField(seq, 5));
}

}  // namespace vdvk::tools::latencyproto
