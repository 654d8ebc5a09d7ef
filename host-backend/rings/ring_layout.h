// ring_layout.h - geometry of one shared ring file and its header page.
//
// Pure functions: no fds, no mappings. The backend computes a geometry from
// the sizes a client wished for, creates a file of geometry.file_size bytes
// and stamps the header with InitRingHeader(). Everything else in rings/
// trusts only this geometry (our private copy), never the shared header.
#pragma once

#include <cstdint>
#include <optional>

#include "wire/vdvk_ring.h"

namespace vdvk::rings {

inline constexpr uint32_t kDefaultEntries = 64;
inline constexpr uint32_t kDefaultNrBufs = 4;
inline constexpr uint32_t kDefaultBufSize = 4096;
inline constexpr uint64_t kPageSize = 4096;

struct RingGeometry {
  uint32_t sq_entries = 0;
  uint32_t cq_entries = 0;
  uint32_t nr_bufs = 0;
  uint32_t buf_size = 0;
  uint64_t sq_off = 0;
  uint64_t cq_off = 0;
  uint64_t buf_off = 0;
  uint64_t file_size = 0;
};

// A client's wished entry count: 0 picks `dflt`, otherwise it must be a power
// of two in [1, VDVK_MAX_ENTRIES]. nullopt means "refuse the attach".
std::optional<uint32_t> NormalizeEntries(uint32_t wished, uint32_t dflt);

// Page-aligned layout: header page, SQ, CQ, buffers. nullopt if any size is
// out of the ABI limits (entries not a power of two, buf_size not a multiple
// of 4096, too many buffers).
std::optional<RingGeometry> ComputeGeometry(uint32_t sq_entries, uint32_t cq_entries,
                                            uint32_t nr_bufs, uint32_t buf_size);

// Fill a zeroed header page. Indices start at 0, state LIVE.
void InitRingHeader(vdvk_ring_hdr* shm_hdr, const RingGeometry& g, int32_t node_id);

constexpr bool IsPowerOfTwo(uint32_t v) { return v != 0 && (v & (v - 1)) == 0; }

}  // namespace vdvk::rings
