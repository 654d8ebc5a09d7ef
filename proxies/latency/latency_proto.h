// latency_proto.h - ping/pong format of latency_client and latency_server.
// The client fills m4_l1..m4_l5 from the sequence number; the server answers
// each field transformed (kPong), so a reply that is stale, for someone else
// or not produced by the server fails the check.
#pragma once

#include <cstdint>

namespace vdvk::tools::latencyproto {

inline constexpr int kPing = 0x4c01;
inline constexpr int kPong = 0x4c02;
inline constexpr int kDefaultServerEp = 11;
inline constexpr int kDefaultClientEp = 41;

// int64_t arithmetic: i * 0x3b9aca07 overflows int for i >= 3 (UBSan).
inline int64_t PingField(int64_t seq, int i) { return seq * 0x10001 + static_cast<int64_t>(i) * 0x3b9aca07; }
inline int64_t PongField(int64_t v) { return ~v ^ 0x5a5a5a5a5a5aLL; }

}  // namespace vdvk::tools::latencyproto
