// copy_proto.h - the request format shared by copy_client and copy_server
// (the DVS copy test). The client sends its buffer's address and blocks in
// sendrec; the server vcopies between its own buffer and the client's while
// the client is blocked, then replies.
#pragma once

#include <cstdint>

namespace vdvk::tools::copyproto {

// m_type of a request.
inline constexpr int kToClient = 0x4301;    // server buffer -> client buffer
inline constexpr int kFromClient = 0x4302;  // client buffer -> server buffer
// Request fields: m1_i1 bytes, m1_i2 sequence number, m1_p1 client buffer.
// Reply: m_type 0 or a negative EDVS code, m1_i1 bytes copied.

// The server's buffer content is FillPattern(kSeed) with the request's
// sequence number in its first 8 bytes (when >= 8 bytes), so the client can
// tell a fresh copy from a stale one. A kFromClient buffer uses the same
// layout and the server checks it.
inline constexpr uint64_t kSeed = 0xc0b1c0b1ull;

inline constexpr int kDefaultServerEp = 10;
inline constexpr int kDefaultClientEp = 40;

}  // namespace vdvk::tools::copyproto
