/* SPDX-License-Identifier: (GPL-2.0 OR MIT) */
/*
 * vdvk_ring.h - the one ring ABI between a vdvk client and host-backend.
 *
 * A client (a host process through libdvk, or a UML guest kernel through the
 * vdvk driver) and the backend share one file, mapped MAP_SHARED by both:
 *
 *   offset 0               struct vdvk_ring_hdr   (one 4 KiB page)
 *   hdr.sq_off             sq_entries x struct vdvk_sqe   (client -> backend)
 *   hdr.cq_off             cq_entries x struct vdvk_cqe   (backend -> client)
 *   hdr.buf_off            nr_bufs x buf_size bytes       (call payloads)
 *
 * Plain C, fixed-width types, explicit padding: the same bytes on every
 * architecture, includable from kernel C (define __KERNEL__) and from C++.
 *
 * Indices are free-running u32 counters; an entry lives at (idx & (entries-1)).
 * entries are powers of two; the ring is full when tail - head == entries.
 *
 * Memory ordering (liburing style):
 *  - A producer fills an entry, then publishes it with a RELEASE store of its
 *    tail. The consumer LOAD-ACQUIREs that tail before reading entries.
 *  - A consumer finishes reading entries, then RELEASE-stores its head; the
 *    producer LOAD-ACQUIREs the head before reusing those entries.
 *  - Sleeping: a side that wants to sleep sets its *_SLEEPING flag, issues a
 *    full fence (seq_cst), re-checks the ring, and only then blocks on its
 *    doorbell fd. A producer publishes its tail, issues a full fence, and rings
 *    the peer's doorbell only if the peer's *_SLEEPING flag is set. The two
 *    fences pair so that either the sleeper sees the new tail or the producer
 *    sees the flag (no lost wakeup).
 *
 * Trust: the backend treats EVERYTHING in this file as hostile (the client may
 * be a buggy or malicious guest): each index, length, opcode and buffer number
 * is range-checked before use, and entries are copied out of shared memory
 * once before validation (no double fetch). A client must likewise validate
 * what it reads from the CQ. Violations disconnect the attachment.
 */
#ifndef VDVK_WIRE_VDVK_RING_H
#define VDVK_WIRE_VDVK_RING_H

#ifdef __KERNEL__
#include <linux/types.h>
typedef __u8 vdvk_u8;
typedef __u16 vdvk_u16;
typedef __u32 vdvk_u32;
typedef __u64 vdvk_u64;
typedef __s32 vdvk_s32;
typedef __s64 vdvk_s64;
#else
#include <stdint.h>
typedef uint8_t vdvk_u8;
typedef uint16_t vdvk_u16;
typedef uint32_t vdvk_u32;
typedef uint64_t vdvk_u64;
typedef int32_t vdvk_s32;
typedef int64_t vdvk_s64;
#endif

#define VDVK_RING_MAGIC 0x4b564456u /* "VDVK" as little-endian bytes */
#define VDVK_RING_VERSION 1u
#define VDVK_RING_HDR_SIZE 4096u

/* Feature bits in vdvk_ring_hdr.features (set by the backend at creation). */
#define VDVK_F_VCOPY_GRANT (1u << 0) /* backend may answer VCOPY with a grant */
#define VDVK_F_GUEST_PHYS (1u << 1)  /* vcopy may carry guest-physical ranges */

/* vdvk_ring_hdr.client_features (guest drivers) */
#define VDVK_CF_PEER_PIN (1u << 0) /* answers VDVK_CQE_F_PIN with VDVK_OP_PIN_DONE */

/* vdvk_ring_hdr.backend_flags / client_flags */
#define VDVK_SLEEPING (1u << 0) /* owner is (about to be) blocked on its doorbell */
/* vdvk_ring_hdr.state, written only by the backend */
#define VDVK_STATE_LIVE 0u
#define VDVK_STATE_DEAD 1u /* backend dropped this attachment (see dead_reason) */

/* Limits a backend enforces on creation; a client checks them on attach. */
#define VDVK_MAX_ENTRIES 4096u
#define VDVK_MAX_BUF_SIZE (1u << 20)
#define VDVK_MAX_BUFS 256u

/*
 * Opcodes. 1..34 are the DVS call numbers (dvk_calls.h); vdvk's own start at
 * 64. Not every DVS call is implemented: the backend answers EDVSNOSYS (-38).
 */
enum vdvk_opcode {
	VDVK_OP_DCINIT = 1,
	VDVK_OP_SEND = 2,
	VDVK_OP_RECEIVE = 3,
	VDVK_OP_NOTIFY = 4,
	VDVK_OP_SENDREC = 5,
	VDVK_OP_RCVRQST = 6,
	VDVK_OP_REPLY = 7,
	VDVK_OP_DCEND = 8,
	VDVK_OP_BIND = 9,
	VDVK_OP_UNBIND = 10,
	VDVK_OP_GETPRIV = 11,
	VDVK_OP_SETPRIV = 12,
	VDVK_OP_VCOPY = 13,
	VDVK_OP_GETDCINFO = 14,
	VDVK_OP_GETPROCINFO = 15,
	VDVK_OP_RELAY = 16,
	VDVK_OP_PROXYBIND = 17,
	VDVK_OP_PROXYUNBIND = 18,
	VDVK_OP_GETNODEINFO = 19,
	VDVK_OP_PUT2LCL = 20,
	VDVK_OP_GET2RMT = 21,
	VDVK_OP_ADDNODE = 22,
	VDVK_OP_DELNODE = 23,
	VDVK_OP_DVSINIT = 24,
	VDVK_OP_DVSEND = 25,
	VDVK_OP_GETEP = 26,
	VDVK_OP_GETDVSINFO = 27,
	VDVK_OP_PROXYCONN = 28,
	VDVK_OP_WAIT4BIND = 29,
	VDVK_OP_MIGRATE = 30,
	VDVK_OP_NODEUP = 31,
	VDVK_OP_NODEDOWN = 32,
	VDVK_OP_GETPROXYINFO = 33,
	VDVK_OP_WAKEUPEP = 34,
	VDVK_OP_DVS_LAST = 34,

	/* vdvk-only */
	VDVK_OP_VCOPY_DONE = 64, /* client finished a granted vcopy: arg[0] = result */
	VDVK_OP_CANCEL = 65,     /* cancel the pending request whose tag is arg64[0] */
	VDVK_OP_STATS = 66,      /* backend counters -> buffer (struct vdvk_stats) */
	VDVK_OP_LAST = 66,       /* last opcode of every attachment */
	/* guest-kernel attachments only (a host client sending it is dropped) */
	VDVK_OP_PROC_EXIT = 67,  /* guest process arg[0] (tgid) exited; no completion */
	VDVK_OP_PIN_DONE = 68,   /* answer to a VDVK_CQE_F_PIN request; no completion */
	VDVK_OP_GUEST_LAST = 68,
};

/* The 64-byte message: m_source/m_type then 56 bytes of MINIX payload. */
struct vdvk_msg {
	vdvk_s32 m_source; /* always written by the backend, never trusted */
	vdvk_s32 m_type;
	vdvk_u8 m_payload[56];
};

/*
 * Submission entry (client -> backend), 128 bytes.
 * Argument meaning per opcode is documented in include/dvk/dvk.h next to
 * each call and in host-backend/rings/sqe_decode.cc.
 */
struct vdvk_sqe {
	vdvk_u16 opcode;      /* enum vdvk_opcode */
	vdvk_u16 flags;       /* VDVK_SQE_F_*, else 0 */
	vdvk_u16 buf_index;   /* payload buffer (< nr_bufs) when buf_len != 0 */
	vdvk_u16 reserved0;   /* must be 0 */
	vdvk_u32 buf_len;     /* bytes of that buffer this call may use */
	vdvk_s32 caller_pid;  /* guest-kernel attachments only: tgid of the caller */
	vdvk_u64 tag;         /* echoed in the completion */
	vdvk_s64 timeout_ms;  /* -1 forever, 0 no wait, > 0 milliseconds */
	vdvk_s32 caller_tid;  /* guest-kernel attachments only: tid of the caller */
	vdvk_s32 arg[7];      /* call arguments (ints), see dvk.h per call */
	union {
		struct vdvk_msg msg;  /* send/sendrec/reply/relay */
		vdvk_u64 arg64[8];    /* calls without a message: addresses (vcopy), tags (cancel) */
	} u;
};

/*
 * SQE flags (vdvk_sqe.flags). Only VDVK_SQE_F_GUEST_PHYS exists, and only a
 * guest-kernel attachment may set it, only on VDVK_OP_VCOPY: the payload
 * buffer then holds a struct vdvk_phys_list followed by nr_src then nr_dst
 * struct vdvk_phys_extent, the guest-physical pages (= offsets in the guest's
 * memory file) the guest kernel pinned for the src and the dst range in the
 * CALLER's address space. A side the caller could not pin has 0 extents;
 * a non-empty side's lengths sum to the vcopy's bytes.
 */
#define VDVK_SQE_F_GUEST_PHYS (1u << 0)

struct vdvk_phys_extent {
	vdvk_u64 addr; /* guest-physical address */
	vdvk_u64 len;
};

struct vdvk_phys_list {
	vdvk_u32 nr_src;
	vdvk_u32 nr_dst;
	vdvk_u64 reserved; /* 0 */
};

/* Completion flags */
#define VDVK_CQE_F_MSG (1u << 0)   /* msg holds a received message */
#define VDVK_CQE_F_GRANT (1u << 1) /* vcopy granted: see struct vdvk_cqe grant */
#define VDVK_CQE_F_PIN (1u << 2)   /* guest rings: a request, not a completion */
#define VDVK_CQE_F_UNPIN (1u << 3) /* guest rings: a request, not a completion */

/*
 * Peer pinning (guest rings whose driver set VDVK_CF_PEER_PIN). A vcopy may
 * touch a guest process that is NOT the caller (it is blocked, e.g. in a
 * receive or sendrec): only its guest kernel can find and pin its pages. The
 * backend then posts a CQE with VDVK_CQE_F_PIN (tag = a pin id chosen by the
 * backend, u.pin = which range, res = 0): the guest kernel pins that range of
 * process u.pin.tgid and answers with one SQE VDVK_OP_PIN_DONE: u.arg64[0] =
 * the pin id, arg[0] = 0 or a negative EDVS* code, and on success a payload
 * buffer holding a struct vdvk_phys_list (nr_src extents, nr_dst = 0) that
 * sum to u.pin.bytes. The buffer stays the guest's until the pin is released.
 * When the copy is over (or abandoned) the backend posts VDVK_CQE_F_UNPIN with
 * the same pin id; the guest unpins and frees that buffer. Every PIN gets
 * exactly one PIN_DONE, and the backend sends UNPIN only after it.
 */
struct vdvk_pin_req {
	vdvk_s32 tgid;   /* guest process whose range to pin */
	vdvk_u32 write;  /* 1: the backend writes it (vcopy destination) */
	vdvk_u64 addr;   /* in that process' address space */
	vdvk_u64 bytes;  /* 1 .. the DC's max copy length */
	vdvk_u64 reserved[3];
};

/*
 * Completion entry (backend -> client), 128 bytes. res >= 0 success, < 0 an
 * EDVS* code. With VDVK_CQE_F_GRANT the client performs the copy itself
 * (process_vm_readv/writev) and must then submit VDVK_OP_VCOPY_DONE with the
 * same tag; the final completion of the vcopy follows.
 */
struct vdvk_cqe {
	vdvk_u64 tag;
	vdvk_s32 res;
	vdvk_u32 flags;
	union {
		vdvk_u64 aux[6];
		struct {
			vdvk_s32 src_pid;  /* host pid owning the source range */
			vdvk_s32 dst_pid;  /* host pid owning the destination range */
			vdvk_u64 src_addr;
			vdvk_u64 dst_addr;
			vdvk_u64 bytes;
			vdvk_u64 reserved[2];
		} grant;
		struct vdvk_pin_req pin; /* VDVK_CQE_F_PIN */
	} u;
	struct vdvk_msg msg;
};

/* The header page. Each index sits on its own 64-byte line (no false sharing). */
struct vdvk_ring_hdr {
	/* Written once by the backend at creation, read-only afterwards. */
	vdvk_u32 magic;        /* VDVK_RING_MAGIC */
	vdvk_u32 version;      /* VDVK_RING_VERSION */
	vdvk_u32 hdr_size;     /* VDVK_RING_HDR_SIZE */
	vdvk_u32 features;     /* VDVK_F_* */
	vdvk_u32 sq_entries;   /* power of two, <= VDVK_MAX_ENTRIES */
	vdvk_u32 cq_entries;   /* power of two, <= VDVK_MAX_ENTRIES */
	vdvk_u32 sqe_size;     /* sizeof(struct vdvk_sqe) */
	vdvk_u32 cqe_size;     /* sizeof(struct vdvk_cqe) */
	vdvk_u32 nr_bufs;      /* payload buffers, <= VDVK_MAX_BUFS */
	vdvk_u32 buf_size;     /* bytes per buffer, multiple of 4096 */
	vdvk_u64 sq_off;       /* byte offsets from the start of the file */
	vdvk_u64 cq_off;
	vdvk_u64 buf_off;
	vdvk_u64 file_size;    /* total bytes the backend mapped */
	vdvk_s32 node_id;      /* the backend's node */
	/* Guest rings only: host pid of the UML kernel process, written by the
	 * guest driver at attach so the backend can watch it die. Untrusted. */
	vdvk_s32 client_host_pid;
	/* Guest rings only: VDVK_CF_* the guest driver supports, written with
	 * client_host_pid. Untrusted. */
	vdvk_u32 client_features;
	vdvk_u32 reserved0[11];

	/* offset 128 */ vdvk_u32 sq_head;  /* written by the backend (consumer) */
	vdvk_u32 pad_sq_head[15];
	/* offset 192 */ vdvk_u32 sq_tail;  /* written by the client (producer) */
	vdvk_u32 pad_sq_tail[15];
	/* offset 256 */ vdvk_u32 cq_head;  /* written by the client (consumer) */
	vdvk_u32 pad_cq_head[15];
	/* offset 320 */ vdvk_u32 cq_tail;  /* written by the backend (producer) */
	vdvk_u32 pad_cq_tail[15];
	/* offset 384 */ vdvk_u32 backend_flags; /* VDVK_SLEEPING, written by the backend */
	vdvk_u32 pad_bflags[15];
	/* offset 448 */ vdvk_u32 client_flags;  /* VDVK_SLEEPING, written by the client */
	vdvk_u32 pad_cflags[15];
	/* offset 512 */ vdvk_u32 state;         /* VDVK_STATE_*, written by the backend */
	vdvk_u32 dead_reason;                    /* VDVK_DEAD_* when state is DEAD */
	vdvk_u32 pad_state[14];
	vdvk_u8 reserved_tail[VDVK_RING_HDR_SIZE - 576];
};

/* Why the backend dropped an attachment (hdr.dead_reason). */
enum vdvk_dead_reason {
	VDVK_DEAD_NONE = 0,
	VDVK_DEAD_BAD_INDEX = 1,   /* sq_tail - sq_head > sq_entries, or cq_head moved past cq_tail */
	VDVK_DEAD_BAD_OPCODE = 2,
	VDVK_DEAD_BAD_FIELD = 3,   /* reserved field non-zero, bad buffer, bad length */
	VDVK_DEAD_OVERFLOW = 4,    /* more requests in flight than cq_entries */
	VDVK_DEAD_SHUTDOWN = 5,    /* backend exiting */
	VDVK_DEAD_BAD_TAG = 6,     /* VCOPY_DONE / CANCEL for an unknown tag */
	VDVK_DEAD_SHRUNK = 7,      /* a guest shrank its ring or memory file under the backend */
};

/* Backend counters returned by VDVK_OP_STATS (all u64). */
struct vdvk_stats {
	vdvk_u64 attachments;       /* currently attached clients */
	vdvk_u64 attach_total;
	vdvk_u64 detach_total;
	vdvk_u64 requests;          /* SQEs accepted */
	vdvk_u64 completions;
	vdvk_u64 rejects;           /* SQEs / attachments rejected as malformed */
	vdvk_u64 messages;          /* messages delivered (send/sendrec/reply) */
	vdvk_u64 notifies;          /* notifications delivered */
	vdvk_u64 vcopies;           /* vcopies completed */
	vdvk_u64 vcopy_bytes;
	vdvk_u64 vcopy_zero_copy_bytes; /* bytes moved by a single copy */
	vdvk_u64 vcopy_bounce_bytes;    /* bytes moved through a bounce buffer */
	vdvk_u64 timeouts;
	vdvk_u64 deaths;            /* bound processes that exited */
	vdvk_u64 doorbells_sent;    /* wakeups the backend had to send */
	vdvk_u64 poll_hits;         /* requests found while polling, no doorbell */
};

/* Fixed-layout info structs returned in payload buffers. */
struct vdvk_dc_info {
	vdvk_s32 dcid;
	vdvk_s32 flags;         /* 0 running, DC_FREE otherwise */
	vdvk_s32 nr_procs;
	vdvk_s32 nr_tasks;
	vdvk_s32 nr_sysprocs;
	vdvk_s32 nr_nodes;
	vdvk_u64 nodes;         /* bitmap of member nodes */
	vdvk_s32 warn2proc;
	vdvk_s32 warnmsg;
	vdvk_s32 pid;           /* who ran dc_init (host pid), 0 for the backend */
	vdvk_s32 max_copylen;
	char name[16];
};

struct vdvk_proc_info {
	vdvk_s32 nr;
	vdvk_s32 endpoint;
	vdvk_s32 dcid;
	vdvk_s32 lpid;          /* pid in the owner's namespace (host or guest) */
	vdvk_u64 rts_flags;     /* SLOT_FREE, SENDING, RECEIVING, ... (dvk.h) */
	vdvk_u64 misc_flags;
	vdvk_s32 vpid;
	vdvk_s32 nodeid;
	vdvk_s32 getfrom;
	vdvk_s32 sendto;
	vdvk_s32 waitmigr;
	vdvk_s32 waitunbind;
	vdvk_s32 proxy;
	vdvk_s32 domain;        /* vdvk: 0 host processes, >0 a UML guest */
	vdvk_u64 nodemap;
	vdvk_u64 lclsent;
	vdvk_u64 rmtsent;
	vdvk_u64 lclcopy;
	vdvk_u64 rmtcopy;
	char name[16];
};

struct vdvk_dvs_info {
	char name[16];
	vdvk_s32 nr_dcs;
	vdvk_s32 nr_nodes;
	vdvk_s32 nr_procs;
	vdvk_s32 nr_tasks;
	vdvk_s32 nr_sysprocs;
	vdvk_s32 max_copybuf;
	vdvk_s32 max_copylen;
	vdvk_s32 version;
	vdvk_u64 dbglvl;
	vdvk_u64 flags;
	vdvk_s32 size_proc;
	vdvk_s32 nodeid;
};

struct vdvk_node_info {
	vdvk_s32 nodeid;
	vdvk_s32 proxies;
	vdvk_u64 flags;
	vdvk_u64 dcs;
	vdvk_s64 stime_ns;
	vdvk_s64 rtime_ns;
	vdvk_u64 pxsent;
	vdvk_u64 pxrcvd;
	char name[16];
};

/* dc_init input (payload buffer). */
struct vdvk_dc_init {
	vdvk_s32 dcid;
	vdvk_s32 nr_procs;
	vdvk_s32 nr_tasks;
	vdvk_s32 nr_sysprocs;
	vdvk_s32 nr_nodes;
	vdvk_s32 max_copylen;   /* 0: the backend default */
	vdvk_u64 nodes;         /* 0: the local node only */
	char name[16];
};

/* Compile-time layout checks, both sides. */
#ifdef __cplusplus
#define VDVK_STATIC_ASSERT(c, m) static_assert(c, m)
#define VDVK_OFFSETOF(t, f) offsetof(t, f)
#include <cstddef>
#elif defined(__KERNEL__)
#include <linux/build_bug.h>
#include <linux/stddef.h>
#define VDVK_STATIC_ASSERT(c, m) static_assert(c, m)
#define VDVK_OFFSETOF(t, f) offsetof(t, f)
#else
#include <stddef.h>
#define VDVK_STATIC_ASSERT(c, m) _Static_assert(c, m)
#define VDVK_OFFSETOF(t, f) offsetof(t, f)
#endif

VDVK_STATIC_ASSERT(sizeof(struct vdvk_msg) == 64, "message is 64 bytes");
VDVK_STATIC_ASSERT(sizeof(struct vdvk_sqe) == 128, "sqe is 128 bytes");
VDVK_STATIC_ASSERT(VDVK_OFFSETOF(struct vdvk_sqe, u) == 64, "sqe msg offset");
VDVK_STATIC_ASSERT(sizeof(struct vdvk_cqe) == 128, "cqe is 128 bytes");
VDVK_STATIC_ASSERT(VDVK_OFFSETOF(struct vdvk_cqe, msg) == 64, "cqe msg offset");
VDVK_STATIC_ASSERT(sizeof(struct vdvk_ring_hdr) == VDVK_RING_HDR_SIZE, "hdr is one page");
VDVK_STATIC_ASSERT(VDVK_OFFSETOF(struct vdvk_ring_hdr, client_host_pid) == 76, "client_host_pid offset");
VDVK_STATIC_ASSERT(VDVK_OFFSETOF(struct vdvk_ring_hdr, client_features) == 80, "client_features offset");
VDVK_STATIC_ASSERT(sizeof(struct vdvk_pin_req) == 48, "pin_req size");
VDVK_STATIC_ASSERT(VDVK_OFFSETOF(struct vdvk_ring_hdr, sq_head) == 128, "sq_head offset");
VDVK_STATIC_ASSERT(VDVK_OFFSETOF(struct vdvk_ring_hdr, sq_tail) == 192, "sq_tail offset");
VDVK_STATIC_ASSERT(VDVK_OFFSETOF(struct vdvk_ring_hdr, cq_head) == 256, "cq_head offset");
VDVK_STATIC_ASSERT(VDVK_OFFSETOF(struct vdvk_ring_hdr, cq_tail) == 320, "cq_tail offset");
VDVK_STATIC_ASSERT(VDVK_OFFSETOF(struct vdvk_ring_hdr, backend_flags) == 384, "bflags offset");
VDVK_STATIC_ASSERT(VDVK_OFFSETOF(struct vdvk_ring_hdr, client_flags) == 448, "cflags offset");
VDVK_STATIC_ASSERT(VDVK_OFFSETOF(struct vdvk_ring_hdr, state) == 512, "state offset");
VDVK_STATIC_ASSERT(sizeof(struct vdvk_stats) == 16 * 8, "stats size");
VDVK_STATIC_ASSERT(sizeof(struct vdvk_dc_info) == 64, "dc_info size");
VDVK_STATIC_ASSERT(sizeof(struct vdvk_proc_info) == 120, "proc_info size");
VDVK_STATIC_ASSERT(sizeof(struct vdvk_dvs_info) == 72, "dvs_info size");
VDVK_STATIC_ASSERT(sizeof(struct vdvk_node_info) == 72, "node_info size");
VDVK_STATIC_ASSERT(sizeof(struct vdvk_dc_init) == 48, "dc_init size");
VDVK_STATIC_ASSERT(sizeof(struct vdvk_phys_extent) == 16, "phys_extent size");
VDVK_STATIC_ASSERT(sizeof(struct vdvk_phys_list) == 16, "phys_list size");

/*
 * Host-native attach handshake, over a SOCK_SEQPACKET unix socket (default
 * /run/vdvk/node<N>.sock). The client sends vdvk_hello; the backend answers
 * vdvk_welcome with SCM_RIGHTS [ring memfd, kick eventfd, wake eventfd].
 * The socket stays open: its EOF is how the backend learns the client died.
 * Client identity is the socket's SO_PEERCRED pid, never a claimed value.
 */
#define VDVK_HELLO_MAGIC 0x4f4c4548u /* "HELO" */
struct vdvk_hello {
	vdvk_u32 magic;
	vdvk_u32 version;     /* VDVK_RING_VERSION */
	vdvk_u32 sq_entries;  /* wished sizes; 0 = backend default */
	vdvk_u32 cq_entries;
};
struct vdvk_welcome {
	vdvk_u32 magic;
	vdvk_s32 status;      /* 0, or a negative EDVS* code (then no fds) */
	vdvk_u64 file_size;   /* bytes to mmap from the ring memfd */
	vdvk_s32 node_id;
	vdvk_u32 reserved;
};
VDVK_STATIC_ASSERT(sizeof(struct vdvk_hello) == 16, "hello size");
VDVK_STATIC_ASSERT(sizeof(struct vdvk_welcome) == 24, "welcome size");

/*
 * Guest memory hand-over (guest rings only), the way virtio_uml gives its
 * memory to vhost-user backends: the backend receives on PATH.mem (a
 * SOCK_DGRAM unix socket next to the ring). Once the guest driver has
 * claimed the ring (client_host_pid), and before its first kick, it sends one
 * datagram: a vdvk_mem_hello with SCM_RIGHTS [UML's physical-memory fd];
 * guest-physical address = offset in that file. The backend takes it only
 * from the process that claimed the ring (the sender pid the kernel reports,
 * SCM_CREDENTIALS, == client_host_pid), once per claim, and checks it is a
 * non-empty regular file. Without it a guest's vcopy answers EDVSNOSYS.
 * Nothing is sent back.
 */
#define VDVK_MEM_MAGIC 0x4d4b5644u /* "DVKM" */
struct vdvk_mem_hello {
	vdvk_u32 magic;
	vdvk_u32 version;     /* VDVK_RING_VERSION */
};
VDVK_STATIC_ASSERT(sizeof(struct vdvk_mem_hello) == 8, "mem_hello size");

#endif /* VDVK_WIRE_VDVK_RING_H */
