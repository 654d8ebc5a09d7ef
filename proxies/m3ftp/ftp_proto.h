// ftp_proto.h - the m3ftp protocol: file transfer over vcopy.
//
// Every request is a sendrec from the client; the client stays blocked while
// the server vcopies the path or a data chunk into/out of the client's memory
// at the address carried in m2_p1, so no data ever travels in messages. Reply
// m_type is 0 or a negative EDVS code. One session per client endpoint.
//
//   request   m2_p1          m2_i1     m2_i2      m2_l1           reply
//   kOpenGet  path address   path len  -          -               m2_l1 file size
//   kOpenPut  path address   path len  -          declared size   -
//   kRead     buffer         -         max bytes  offset          m2_i2 bytes (0 = EOF)
//   kWrite    buffer         -         bytes      offset          m2_i2 bytes
//   kClose    -              -         -          -               m2_l1 bytes, m2_l2 checksum
//
// The server's checksum is Checksum64 (common/checksum.h) of the bytes it read from its file (get)
// or of the finished file read back from disk (put), computed independently
// of what the client hashes on its side.
#pragma once

#include <cstddef>
#include <memory>

namespace vdvk::tools::ftpproto {

inline constexpr int kOpenGet = 0x4601;
inline constexpr int kOpenPut = 0x4602;
inline constexpr int kRead = 0x4603;
inline constexpr int kWrite = 0x4604;
inline constexpr int kClose = 0x4605;

inline constexpr size_t kMaxPath = 4095;
inline constexpr size_t kMaxChunk = 1024 * 1024;  // one vcopy (MAXCOPYLEN)
inline constexpr int kDefaultServerEp = 12;
inline constexpr int kDefaultClientEp = 42;

// A transfer buffer of n bytes, not zeroed: the kernel fills it (vcopy,
// read) before any use, and in a UML guest each page a process touches
// itself costs a trip through the host (~60 us), where the guest kernel's
// own first touch is cheap (m3ftpd's zeroed buffers once held up a client's
// first request by ~30 ms, m3ftp's added ~15 ms to every get).
inline std::unique_ptr<char[]> NewChunkBuffer(size_t n) { return std::make_unique_for_overwrite<char[]>(n); }

}  // namespace vdvk::tools::ftpproto
