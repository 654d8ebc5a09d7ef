#include "host-backend/rings/ring_layout.h"

#include <cstring>

namespace vdvk::rings {
namespace {

uint64_t PageAlign(uint64_t v) { return (v + kPageSize - 1) & ~(kPageSize - 1); }

}  // namespace

std::optional<uint32_t> NormalizeEntries(uint32_t wished, uint32_t dflt) {
  uint32_t n = wished == 0 ? dflt : wished;
  if (!IsPowerOfTwo(n) || n > VDVK_MAX_ENTRIES) return std::nullopt;
  return n;
}

std::optional<RingGeometry> ComputeGeometry(uint32_t sq_entries, uint32_t cq_entries,
                                            uint32_t nr_bufs, uint32_t buf_size) {
  if (!IsPowerOfTwo(sq_entries) || sq_entries > VDVK_MAX_ENTRIES) return std::nullopt;
  if (!IsPowerOfTwo(cq_entries) || cq_entries > VDVK_MAX_ENTRIES) return std::nullopt;
  if (nr_bufs > VDVK_MAX_BUFS) return std::nullopt;
  if (buf_size == 0 || buf_size % kPageSize != 0 || buf_size > VDVK_MAX_BUF_SIZE)
    return std::nullopt;
  RingGeometry g;
  g.sq_entries = sq_entries;
  g.cq_entries = cq_entries;
  g.nr_bufs = nr_bufs;
  g.buf_size = buf_size;
  // All products fit easily in 64 bits: 4096 * 128 and 256 * 1 MiB.
  g.sq_off = VDVK_RING_HDR_SIZE;
  g.cq_off = PageAlign(g.sq_off + uint64_t{sq_entries} * sizeof(vdvk_sqe));
  g.buf_off = PageAlign(g.cq_off + uint64_t{cq_entries} * sizeof(vdvk_cqe));
  g.file_size = PageAlign(g.buf_off + uint64_t{nr_bufs} * buf_size);
  return g;
}

void InitRingHeader(vdvk_ring_hdr* shm_hdr, const RingGeometry& g, int32_t node_id) {
  std::memset(shm_hdr, 0, sizeof(*shm_hdr));
  shm_hdr->magic = VDVK_RING_MAGIC;
  shm_hdr->version = VDVK_RING_VERSION;
  shm_hdr->hdr_size = VDVK_RING_HDR_SIZE;
  shm_hdr->features = VDVK_F_VCOPY_GRANT;
  shm_hdr->sq_entries = g.sq_entries;
  shm_hdr->cq_entries = g.cq_entries;
  shm_hdr->sqe_size = sizeof(vdvk_sqe);
  shm_hdr->cqe_size = sizeof(vdvk_cqe);
  shm_hdr->nr_bufs = g.nr_bufs;
  shm_hdr->buf_size = g.buf_size;
  shm_hdr->sq_off = g.sq_off;
  shm_hdr->cq_off = g.cq_off;
  shm_hdr->buf_off = g.buf_off;
  shm_hdr->file_size = g.file_size;
  shm_hdr->node_id = node_id;
  shm_hdr->state = VDVK_STATE_LIVE;
  shm_hdr->dead_reason = VDVK_DEAD_NONE;
}

}  // namespace vdvk::rings
