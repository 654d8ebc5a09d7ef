// SPDX-License-Identifier: GPL-2.0
/*
 * vdvk_kern.c - the UML guest's door to host-backend: maps a vdvk ring file
 * shared with the backend and exposes it as a misc device.
 *
 *   linux ... vdvk0=ring:/path/to/ring[,poll_us=N] [vdvk1=ring:/other ...]
 *
 * vdvk0 becomes /dev/vdvk, vdvkN (N >= 1) /dev/vdvkN. VDVK_IOC_CALL runs one
 * DVK call: the driver fills the caller's identity (tgid/tid: never taken
 * from user space), puts the SQE and its payload in the ring, kicks the
 * backend through PATH.kick and waits for the completion: it spins up to
 * poll_us (default 50) reading the ring, then sleeps until the IRQ on
 * PATH.wake brings it. VDVK_OP_VCOPY pins the caller's pages for the call and sends
 * their guest-physical extents; the backend copies through its mapping of
 * our memory file, whose fd we send it at attach (PATH.mem). Host quirk:
 * the doorbells are FIFOs because an eventfd raises no SIGIO, so a UML IRQ
 * on it never fires.
 *
 * Everything in the ring file is written by another process and is hostile:
 * the header is copied out once and validated as a whole before anything
 * else uses it; a bad ring is refused with a log line, the device is not
 * registered, and the guest boots on.
 */
#include <linux/bitmap.h>
#include <linux/errno.h>
#include <linux/fs.h>
#include <linux/interrupt.h>
#include <linux/list.h>
#include <linux/sched.h>
#include <linux/sched/signal.h>
#include <linux/sched/stat.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/wait.h>
#include <linux/workqueue.h>
#include <linux/sched/mm.h>
#include <linux/sched/task.h>
#include <linux/delay.h>
#include <linux/init.h>
#include <linux/kernel.h>
#include <linux/log2.h>
#include <linux/atomic.h>
#include <linux/jiffies.h>
#include <linux/ktime.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/string.h>
#include <linux/uaccess.h>
#include <init.h>
#include <irq_kern.h>
#include <irq_user.h>
#include <mem.h>

#include "vdvk_ioctl.h"
#include "vdvk_ring.h"
#include "vdvk_user.h"

#define VDVK_MAX_DEVS 8
/* DVS node ids are 0..NR_NODES-1 (include/dvk/dvk.h: NR_NODES 32). */
#define VDVK_MAX_NODES 32
#define VDVK_PAGE 4096u

/* DVK result codes (include/dvk/dvk.h), returned in cqe.res. */
#define VDVK_EDVSINTR (-4)
#define VDVK_EDVS2BIG (-7)
#define VDVK_EDVSINVAL (-22)
#define VDVK_EDVSNOSYS (-38)
#define VDVK_EDVSNOTCONN (-64)
#define VDVK_EDVSFAULT (-14)
#define VDVK_EDVSNOMEM (-12)
#define VDVK_EDVSSRCDIED (-108)
#define VDVK_EDVSDSTDIED (-109)

/* How long a cancelled call may take to deliver its final completion. */
#define VDVK_CANCEL_WAIT (10 * HZ)
/* Re-check the CQ this often while waiting: a lost SIGIO costs latency, not a hang. */
#define VDVK_POLL_WAIT (HZ / 10)
/* poll_us= when none is given, and the longest accepted: a spin holds the
 * guest's only CPU. 50 us covers a guest<->guest or guest<->host answer on
 * an idle machine (bench/uml_bench.sh, VDVK_BENCH_RING_OPTS). */
#define VDVK_DEFAULT_POLL_US 50
#define VDVK_MAX_POLL_US 1000
/* vdvk_spin: off our CPU this long in one yield means the CPU is contended. */
#define VDVK_SPIN_GAP_NS (20 * NSEC_PER_USEC)
/* vdvk_spin: the longest run of waits that skip the spin on a contended CPU. */
#define VDVK_SPIN_MAX_SKIP 64u
/* Ring buffers only peer pins may take (see vdvk_reserve). */
#define VDVK_PIN_BUFS 4

struct vdvk_req {
	struct list_head node;	/* on vdvk_dev.inflight while the backend has it */
	u64 tag;
	int buf;		/* ring buffer owned by this request, -1 if none */
	bool done;		/* cqe valid; set only under vdvk_dev.lock */
	struct vdvk_cqe cqe;
	wait_queue_head_t wq;
};

/* Which guest processes used one open file: PROC_EXIT for each on release. */
#define VDVK_FILE_TGIDS 8
struct vdvk_file {
	struct vdvk_dev *dev;
	spinlock_t lock;
	int nr;
	pid_t tgids[VDVK_FILE_TGIDS];
};

struct vdvk_dev {
	int index;
	/* "ring:PATH[,opts]", points into UML's argv; set before start_kernel. */
	const char *spec;
	char path[PATH_MAX];	/* the ring file, from spec */
	u64 poll_ns;		/* spec's poll_us: spin this long before sleeping */
	/* The host mapping of the ring file; set at attach, replaced only by a
	 * re-attach (vdvk_try_reattach), when nothing uses the old one. */
	void *ring;
	unsigned long ring_size;
	struct mutex attach_mutex;	/* one re-attach at a time */
	unsigned long next_attach;	/* jiffies: no re-attach try before */
	atomic_t pin_works;		/* peer pin/unpin works queued or running */
	s32 node_id;		/* from the validated header copy */
	char name[16];		/* "vdvk", "vdvk1", ... */
	struct miscdevice misc;

	/* Geometry from the validated header copy: never re-read from the ring. */
	u32 sq_entries, cq_entries, nr_bufs, buf_size;
	u32 features;		/* VDVK_F_* of the backend, from the validated header */
	struct vdvk_ring_hdr *shm_hdr;
	struct vdvk_sqe *shm_sq;
	struct vdvk_cqe *shm_cq;
	u8 *shm_bufs;
	int kick_fd, wake_fd, irq;	/* host fds, set at attach (-1: none) */

	spinlock_t lock;	/* everything below; taken from the IRQ handler too */
	u32 sq_tail;		/* private shadow of what we published */
	u32 cq_head;		/* private shadow of what we consumed */
	u64 next_tag;
	u32 nr_inflight;
	bool broken;		/* ring corrupt or DEAD: every call fails EDVSNOTCONN */
	struct list_head inflight;
	DECLARE_BITMAP(bufs_busy, VDVK_MAX_BUFS);
	struct list_head pins;	/* peer pins the backend has not released yet */
	wait_queue_head_t space_wq;	/* a buffer or an in-flight slot was freed */
	unsigned long rejects;	/* hostile CQ input seen */
	int spinners;		/* calls in vdvk_spin: SLEEPING is clear while > 0 */
	u32 spin_skip;		/* waits left that sleep at once (vdvk_spin's backoff) */
	u32 spin_backoff;	/* the last skip run: 0, or 1, 2, 4 .. VDVK_SPIN_MAX_SKIP */
};

static struct vdvk_dev vdvk_devs[VDVK_MAX_DEVS];

/* ---- command line: runs before start_kernel, so it only stores ------- */

static int vdvk_store_spec(int index, char *str)
{
	vdvk_devs[index].spec = str;
	return 1;
}

/* One exact "vdvkN=" prefix each: a bare "vdvk" prefix would also claim
 * unrelated words such as the launcher's vdvk_dir=. */
#define VDVK_SETUP(n)							\
	static int __init vdvk##n##_setup(char *str, int *add)		\
	{								\
		return vdvk_store_spec(n, str);				\
	}								\
	__uml_setup("vdvk" #n "=", vdvk##n##_setup,			\
		    "vdvk" #n "=ring:PATH[,poll_us=N]\n"			\
		    "    Attach the vdvk ring file PATH (shared with host-backend)\n" \
		    "    as /dev/vdvk" #n " (vdvk0: /dev/vdvk). A call spins up to\n" \
		    "    N us (0..1000, default 50) for its answer before sleeping.\n\n")

VDVK_SETUP(0);
VDVK_SETUP(1);
VDVK_SETUP(2);
VDVK_SETUP(3);
VDVK_SETUP(4);
VDVK_SETUP(5);
VDVK_SETUP(6);
VDVK_SETUP(7);

/* ---- ring header validation ------------------------------------------ */

/* [off, off + len) lies within [VDVK_RING_HDR_SIZE, file_size). Overflow-safe. */
static bool vdvk_region_ok(u64 off, u64 len, u64 file_size)
{
	return off >= VDVK_RING_HDR_SIZE && off <= file_size && len <= file_size - off;
}

static bool vdvk_disjoint(u64 a_off, u64 a_len, u64 b_off, u64 b_len)
{
	return a_len == 0 || b_len == 0 || a_off + a_len <= b_off || b_off + b_len <= a_off;
}

/*
 * Checks a private copy of the header against the size actually mapped.
 * Returns NULL if it is usable, else what is wrong (for the log line).
 */
static const char *vdvk_check_hdr(const struct vdvk_ring_hdr *h, unsigned long mapped)
{
	u64 sq_len, cq_len, buf_len;

	if (h->magic != VDVK_RING_MAGIC)
		return "bad magic";
	if (h->version != VDVK_RING_VERSION)
		return "unsupported version";
	if (h->hdr_size != VDVK_RING_HDR_SIZE)
		return "bad hdr_size";
	if (h->sqe_size != sizeof(struct vdvk_sqe) || h->cqe_size != sizeof(struct vdvk_cqe))
		return "bad entry size";
	if (!h->sq_entries || h->sq_entries > VDVK_MAX_ENTRIES || !is_power_of_2(h->sq_entries))
		return "bad sq_entries";
	if (!h->cq_entries || h->cq_entries > VDVK_MAX_ENTRIES || !is_power_of_2(h->cq_entries))
		return "bad cq_entries";
	if (h->nr_bufs > VDVK_MAX_BUFS)
		return "too many buffers";
	if (h->nr_bufs && (h->buf_size == 0 || h->buf_size > VDVK_MAX_BUF_SIZE ||
			   h->buf_size % VDVK_PAGE))
		return "bad buf_size";
	if (h->file_size > mapped)
		return "file_size larger than the ring file";
	/* Entries are read with 64-bit and cache-line accesses: keep them aligned. */
	if (h->sq_off % 64 || h->cq_off % 64 || h->buf_off % VDVK_PAGE)
		return "misaligned offset";

	sq_len = (u64)h->sq_entries * h->sqe_size;
	cq_len = (u64)h->cq_entries * h->cqe_size;
	buf_len = (u64)h->nr_bufs * h->buf_size;
	if (!vdvk_region_ok(h->sq_off, sq_len, h->file_size) ||
	    !vdvk_region_ok(h->cq_off, cq_len, h->file_size) ||
	    !vdvk_region_ok(h->buf_off, buf_len, h->file_size))
		return "region outside the file";
	if (!vdvk_disjoint(h->sq_off, sq_len, h->cq_off, cq_len) ||
	    !vdvk_disjoint(h->sq_off, sq_len, h->buf_off, buf_len) ||
	    !vdvk_disjoint(h->cq_off, cq_len, h->buf_off, buf_len))
		return "overlapping regions";
	if (h->node_id < 0 || h->node_id >= VDVK_MAX_NODES)
		return "bad node_id";
	if (h->state != VDVK_STATE_LIVE)
		return "ring is not live";
	return NULL;
}

/* ---- the device ------------------------------------------------------ */

/* ---- talking to the backend ------------------------------------------ */

static void vdvk_release_pins_locked(struct vdvk_dev *dev);

/* Fails every waiting request; called with dev->lock held. */
static void vdvk_break_locked(struct vdvk_dev *dev, const char *why)
{
	struct vdvk_req *req, *tmp;

	if (!dev->broken)
		pr_err("%s: ring unusable (%s): calls fail with EDVSNOTCONN\n", dev->name, why);
	dev->broken = true;
	list_for_each_entry_safe(req, tmp, &dev->inflight, node) {
		list_del_init(&req->node);
		memset(&req->cqe, 0, sizeof(req->cqe));
		req->cqe.tag = req->tag;
		req->cqe.res = VDVK_EDVSNOTCONN;
		req->done = true;
		wake_up(&req->wq);
	}
	wake_up_all(&dev->space_wq);
}

static void vdvk_peer_request_locked(struct vdvk_dev *dev, const struct vdvk_cqe *c);

/*
 * Consumes completions; called with dev->lock held, from the IRQ handler and
 * from waiters that timed out. The CQ is written by another process: the
 * tail is range-checked and each entry copied once before use.
 */
static void vdvk_reap_locked(struct vdvk_dev *dev)
{
	struct vdvk_cqe c;
	struct vdvk_req *req;
	u32 tail;

	if (dev->broken)
		return;
	/* Pairs with the backend's release in SharedRing::MarkDead. */
	if (smp_load_acquire(&dev->shm_hdr->state) != VDVK_STATE_LIVE) {
		vdvk_break_locked(dev, "backend marked it dead");
		/* Done with us: no UNPIN will come for what it had pinned. (A ring
		 * that is merely corrupt keeps its pins: its backend may still copy.) */
		vdvk_release_pins_locked(dev);
		return;
	}
	/* Pairs with the backend's release store of cq_tail after writing entries. */
	tail = smp_load_acquire(&dev->shm_hdr->cq_tail);
	if (tail - dev->cq_head > dev->cq_entries) {
		vdvk_break_locked(dev, "cq_tail out of range");
		return;
	}
	while (dev->cq_head != tail) {
		memcpy(&c, &dev->shm_cq[dev->cq_head & (dev->cq_entries - 1)], sizeof(c));
		dev->cq_head++;
		if (c.flags & (VDVK_CQE_F_PIN | VDVK_CQE_F_UNPIN)) {
			vdvk_peer_request_locked(dev, &c);
			continue;
		}
		list_for_each_entry(req, &dev->inflight, node) {
			if (req->tag == c.tag)
				goto found;
		}
		dev->rejects++;	/* unknown tag: a stale or forged completion */
		continue;
found:
		/* A vcopy grant never comes: a guest's vcopy is done by the backend. */
		if (c.flags & VDVK_CQE_F_GRANT) {
			dev->rejects++;
			c.res = VDVK_EDVSNOTCONN;
			c.flags = 0;
		}
		req->cqe = c;
		req->done = true;
		list_del_init(&req->node);
		wake_up(&req->wq);
	}
	/* Pairs with the backend's acquire of cq_head before reusing entries. */
	smp_store_release(&dev->shm_hdr->cq_head, dev->cq_head);
}

static irqreturn_t vdvk_interrupt(int irq, void *data)
{
	struct vdvk_dev *dev = data;
	unsigned long flags;

	/* Edge-triggered (SIGIO): drain first, so a later write raises a new edge. */
	bool gone = vdvk_user_drain(dev->wake_fd);

	spin_lock_irqsave(&dev->lock, flags);
	vdvk_reap_locked(dev);
	/* A backend that died without marking the ring DEAD (SIGKILL): nobody
	 * will ever complete what waits, so it ends now instead of hanging. */
	if (gone) {
		vdvk_break_locked(dev, "backend gone: its doorbell has no writer");
		vdvk_release_pins_locked(dev);
	}
	spin_unlock_irqrestore(&dev->lock, flags);
	return IRQ_HANDLED;
}

/*
 * Publishes one SQE; called with dev->lock held. Returns false if the SQ is
 * full (the backend consumes it quickly; the caller retries).
 */
static bool vdvk_publish_locked(struct vdvk_dev *dev, const struct vdvk_sqe *sqe)
{
	/* Pairs with the backend's release of sq_head after copying entries out. */
	u32 head = smp_load_acquire(&dev->shm_hdr->sq_head);

	if (dev->sq_tail - head > dev->sq_entries) {
		vdvk_break_locked(dev, "sq_head out of range");
		return true;	/* broken: the caller sees it */
	}
	if (dev->sq_tail - head == dev->sq_entries)
		return false;
	memcpy(&dev->shm_sq[dev->sq_tail & (dev->sq_entries - 1)], sqe, sizeof(*sqe));
	dev->sq_tail++;
	/* Publishes the entry written above; pairs with the backend's acquire. */
	smp_store_release(&dev->shm_hdr->sq_tail, dev->sq_tail);
	return true;
}

/* Submits an SQE that expects no completion (CANCEL, PROC_EXIT). */
static void vdvk_submit_oneway(struct vdvk_dev *dev, struct vdvk_sqe *sqe)
{
	unsigned long flags;
	bool ok;

	for (;;) {
		spin_lock_irqsave(&dev->lock, flags);
		if (dev->broken) {
			spin_unlock_irqrestore(&dev->lock, flags);
			return;
		}
		sqe->tag = dev->next_tag++;
		ok = vdvk_publish_locked(dev, sqe);
		spin_unlock_irqrestore(&dev->lock, flags);
		if (ok)
			break;
		msleep(1);
	}
	vdvk_user_kick(dev->kick_fd);
}

/* Records that current's process used this file (for PROC_EXIT on release). */
static void vdvk_note_user(struct vdvk_file *vf)
{
	pid_t tgid = current->tgid;
	int i;

	spin_lock(&vf->lock);
	for (i = 0; i < vf->nr; i++)
		if (vf->tgids[i] == tgid)
			goto out;
	if (vf->nr < VDVK_FILE_TGIDS)
		vf->tgids[vf->nr++] = tgid;
	else
		pr_warn_once("vdvk: more than %d processes share one fd; exits of the rest go unreported\n",
			     VDVK_FILE_TGIDS);
out:
	spin_unlock(&vf->lock);
}

static bool vdvk_opcode_allowed(u16 op)
{
	if (op >= VDVK_OP_DCINIT && op <= VDVK_OP_DVS_LAST)
		return true;
	return op == VDVK_OP_STATS;
}

/* Waits until the request may take a buffer and an in-flight slot. */
static int vdvk_reserve(struct vdvk_dev *dev, struct vdvk_req *req, bool need_buf)
{
	/* Half the CQ: room is left for CANCELs, which complete no entry of their own. */
	u32 max_inflight = dev->cq_entries / 2 ? dev->cq_entries / 2 : 1;
	/* Calls leave a few buffers to peer pins (vdvk_pin_buf): a pin answers
	 * another guest's vcopy, which may itself be waiting for one of ours. */
	u32 max_buf = dev->nr_bufs > 2 * VDVK_PIN_BUFS ? dev->nr_bufs - VDVK_PIN_BUFS : dev->nr_bufs;
	unsigned long flags;

	for (;;) {
		spin_lock_irqsave(&dev->lock, flags);
		if (dev->broken) {
			spin_unlock_irqrestore(&dev->lock, flags);
			return 1;
		}
		if (dev->nr_inflight < max_inflight) {
			if (!need_buf) {
				req->buf = -1;
				break;
			}
			req->buf = find_first_zero_bit(dev->bufs_busy, max_buf);
			if (req->buf < max_buf) {
				__set_bit(req->buf, dev->bufs_busy);
				break;
			}
		}
		spin_unlock_irqrestore(&dev->lock, flags);
		/* Rare (a full ring): a short sleep beats a wakeup protocol here. */
		if (signal_pending(current))
			return -ERESTARTSYS;
		msleep_interruptible(1);
	}
	dev->nr_inflight++;
	spin_unlock_irqrestore(&dev->lock, flags);
	return 0;
}

static void vdvk_unreserve(struct vdvk_dev *dev, struct vdvk_req *req)
{
	unsigned long flags;

	spin_lock_irqsave(&dev->lock, flags);
	if (req->buf >= 0)
		__clear_bit(req->buf, dev->bufs_busy);
	dev->nr_inflight--;
	spin_unlock_irqrestore(&dev->lock, flags);
	wake_up(&dev->space_wq);
}

/*
 * Spins up to dev->poll_ns for req's completion before vdvk_wait sleeps.
 * Sleeping costs a UML guest a host sleep and a SIGIO to wake it (tens of
 * us on a VM); an answer that comes within the window is picked up from the
 * ring instead. Meanwhile the ring's SLEEPING flag is clear, so the backend
 * posts without ringing PATH.wake; each pass yields the host CPU (the
 * backend may share it). Stops at once when other guest work is runnable
 * (a process this spin's reaping woke, a peer pin's work: CFS would not
 * preempt us for them, need_resched stays clear), for signals, and when the
 * host CPU turns out to be contended (then the next waits skip it, see the end).
 */
static void vdvk_spin(struct vdvk_dev *dev, struct vdvk_req *req)
{
	unsigned long flags;
	bool contended = false;
	u64 now, end, yielded;

	if (!dev->poll_ns || READ_ONCE(req->done))
		return;
	spin_lock_irqsave(&dev->lock, flags);
	if (dev->broken || dev->spin_skip) {
		if (dev->spin_skip)
			dev->spin_skip--;
		spin_unlock_irqrestore(&dev->lock, flags);
		return;
	}
	if (dev->spinners++ == 0)
		WRITE_ONCE(dev->shm_hdr->client_flags, 0);
	spin_unlock_irqrestore(&dev->lock, flags);

	end = ktime_get_ns() + dev->poll_ns;
	/* Bounded by the clock alone: entries the backend keeps posting (a
	 * hostile one, too) cannot hold the guest's CPU beyond the window. */
	while (!READ_ONCE(req->done) && single_task_running() && !need_resched() &&
	       !signal_pending(current)) {
		yielded = ktime_get_ns();
		if (yielded >= end)
			break;
		/* A hint read; vdvk_reap_locked checks the tail for itself. */
		if (READ_ONCE(dev->shm_hdr->cq_tail) != READ_ONCE(dev->cq_head)) {
			spin_lock_irqsave(&dev->lock, flags);
			vdvk_reap_locked(dev);
			spin_unlock_irqrestore(&dev->lock, flags);
			continue;
		}
		vdvk_user_yield();
		now = ktime_get_ns();
		/* The host ran something else on our CPU for a while: it is
		 * contended. Spinning on would only hand our turns to the other
		 * work, where a sleeper that a doorbell wakes gets the CPU back
		 * first (measured: guest<->guest ~20% slower under two CPU hogs). */
		if (now - yielded > VDVK_SPIN_GAP_NS &&
		    READ_ONCE(dev->shm_hdr->cq_tail) == READ_ONCE(dev->cq_head)) {
			contended = true;	/* and what ran was not our answer's poster */
			break;
		}
	}

	spin_lock_irqsave(&dev->lock, flags);
	/* A contended CPU stays so for a while: the next 1, 2, 4 .. waits
	 * sleep at once. (A wait that merely outlasts the window, such as a
	 * server's receive, costs only our own idle CPU time.) */
	if (contended) {
		dev->spin_backoff = clamp(dev->spin_backoff * 2, 1u, VDVK_SPIN_MAX_SKIP);
		dev->spin_skip = dev->spin_backoff;
	} else if (READ_ONCE(req->done)) {
		dev->spin_backoff = 0;
	}
	if (--dev->spinners == 0 && !dev->broken) {
		/* The sleep protocol (wire/vdvk_ring.h): flag, full fence, look
		 * again, so nothing posted unrung before the flag is missed. */
		WRITE_ONCE(dev->shm_hdr->client_flags, VDVK_SLEEPING);
		smp_mb();
		vdvk_reap_locked(dev);
	}
	spin_unlock_irqrestore(&dev->lock, flags);
}

/* Waits for req's completion; with a timeout it also reaps by itself. */
static long vdvk_wait(struct vdvk_dev *dev, struct vdvk_req *req, bool interruptible, long budget)
{
	unsigned long flags;
	long left;

	for (;;) {
		if (interruptible)
			left = wait_event_interruptible_timeout(req->wq, READ_ONCE(req->done),
								VDVK_POLL_WAIT);
		else
			left = wait_event_timeout(req->wq, READ_ONCE(req->done), VDVK_POLL_WAIT);
		if (left < 0)
			return left;	/* -ERESTARTSYS */
		spin_lock_irqsave(&dev->lock, flags);
		vdvk_reap_locked(dev);
		if (req->done) {
			spin_unlock_irqrestore(&dev->lock, flags);
			return 0;
		}
		spin_unlock_irqrestore(&dev->lock, flags);
		if (budget > 0) {
			budget -= VDVK_POLL_WAIT;
			if (budget <= 0)
				return -ETIMEDOUT;
		}
	}
}

/* ---- vcopy: pinned pages as guest-physical extents ------------------ */

/*
 * One side of a vcopy in the caller's address space, pinned for the life of
 * the call: the backend copies straight into or out of these physical pages
 * through its mapping of our memory file (guest physical address = offset in
 * that file), so they must not move or be freed meanwhile.
 */
struct vdvk_pin {
	struct page **pages;
	long nr;
	bool write;
};

static void vdvk_unpin(struct vdvk_pin *p)
{
	if (p->nr > 0)
		unpin_user_pages_dirty_lock(p->pages, p->nr, p->write);
	kvfree(p->pages);
	p->pages = NULL;
	p->nr = 0;
}

/*
 * Pins [uaddr, uaddr + bytes) and appends its extents (merged when physically
 * contiguous) at ext[*n]. A range that is not entirely ours (the peer's
 * address, a bad pointer) adds nothing: the backend then knows this side is
 * not the caller's, or answers EDVSFAULT if it should have been.
 */
/* Appends the extents of p's pages (bytes from uaddr) at ext[*n], merging
 * physically contiguous pages; ext has room for one per page. */
static void vdvk_pages_to_extents(const struct vdvk_pin *p, u64 uaddr, u64 bytes,
				  struct vdvk_phys_extent *ext, u32 *n)
{
	u64 left = bytes, off = uaddr & ~PAGE_MASK;
	long i;

	for (i = 0; i < p->nr; i++) {
		u64 len = min_t(u64, PAGE_SIZE - off, left);
		u64 phys = page_to_phys(p->pages[i]) + off;

		if (*n > 0 && ext[*n - 1].addr + ext[*n - 1].len == phys) {
			ext[*n - 1].len += len;
		} else {
			ext[*n].addr = phys;
			ext[*n].len = len;
			(*n)++;
		}
		left -= len;
		off = 0;
	}
}

static void vdvk_pin_side(u64 uaddr, u64 bytes, bool write, struct vdvk_pin *p,
			  struct vdvk_phys_extent *ext, u32 max_ext, u32 *n)
{
	u64 first, last;
	long got;

	p->pages = NULL;
	p->nr = 0;
	p->write = write;
	if (bytes == 0 || uaddr + bytes < uaddr ||
	    !access_ok((void __user *)(uintptr_t)uaddr, bytes))
		return;
	first = uaddr >> PAGE_SHIFT;
	last = (uaddr + bytes - 1) >> PAGE_SHIFT;
	if (last - first + 1 > max_ext)
		return;
	p->pages = kvmalloc_array(last - first + 1, sizeof(*p->pages), GFP_KERNEL);
	if (!p->pages)
		return;
	got = pin_user_pages_fast(uaddr & PAGE_MASK, last - first + 1,
				  write ? FOLL_WRITE : 0, p->pages);
	if (got > 0)
		p->nr = got;
	if (got != (long)(last - first + 1)) {
		vdvk_unpin(p);
		return;
	}
	vdvk_pages_to_extents(p, uaddr, bytes, ext, n);
}

/*
 * Builds the VDVK_SQE_F_GUEST_PHYS list in ring buffer `buf` (buf_size
 * bytes). Both ranges are tried: the driver does not know which endpoint is
 * the caller, the backend does, and uses only the caller's side.
 * Returns the list's length, or a negative EDVS* code for cqe.res.
 */
static long vdvk_vcopy_list(struct vdvk_dev *dev, const struct vdvk_sqe *sqe, u8 *buf,
			    struct vdvk_pin *src, struct vdvk_pin *dst)
{
	struct vdvk_phys_list h = {0};
	struct vdvk_phys_extent *ext = (struct vdvk_phys_extent *)(buf + sizeof(h));
	u32 max_ext = (dev->buf_size - sizeof(h)) / sizeof(*ext) / 2;
	u64 bytes;

	if (sqe->arg[2] < 0)
		return VDVK_EDVSINVAL;
	bytes = (u64)sqe->arg[2];
	if ((bytes >> PAGE_SHIFT) + 2 > max_ext)
		return VDVK_EDVS2BIG;	/* more pages than one buffer can name */
	vdvk_pin_side(sqe->u.arg64[0], bytes, false, src, ext, max_ext, &h.nr_src);
	vdvk_pin_side(sqe->u.arg64[1], bytes, true, dst, ext + h.nr_src, max_ext, &h.nr_dst);
	memcpy(buf, &h, sizeof(h));
	return sizeof(h) + (long)(h.nr_src + h.nr_dst) * sizeof(*ext);
}

/* ---- peer pins: pages of a blocked process, for another's vcopy ------ */

/*
 * A vcopy whose party in this guest is not the caller (it sleeps in a
 * receive or sendrec here while another guest or a host process copies to or
 * from it): the backend cannot walk our page tables, so it asks us
 * (VDVK_CQE_F_PIN) and we pin the range from a workqueue, where sleeping in
 * the GUP code is allowed. The pages stay pinned, and the ring buffer that
 * names them stays ours, until the backend's VDVK_CQE_F_UNPIN.
 */
struct vdvk_peer_pin {
	struct list_head node;	/* on dev->pins from PIN_DONE until UNPIN */
	struct work_struct work;
	struct vdvk_dev *dev;
	u64 id;			/* the backend's pin id (the CQE's tag) */
	struct vdvk_pin_req req;	/* copied out of the CQE */
	struct vdvk_pin pin;
	int buf;		/* ring buffer holding the extents, -1 none */
};

/* Waits for any free ring buffer (pins may use the reserved ones). */
static int vdvk_pin_buf(struct vdvk_dev *dev)
{
	unsigned long flags;
	int b;

	for (;;) {
		spin_lock_irqsave(&dev->lock, flags);
		if (dev->broken) {
			spin_unlock_irqrestore(&dev->lock, flags);
			return -1;
		}
		b = find_first_zero_bit(dev->bufs_busy, dev->nr_bufs);
		if (b < dev->nr_bufs) {
			__set_bit(b, dev->bufs_busy);
			spin_unlock_irqrestore(&dev->lock, flags);
			return b;
		}
		spin_unlock_irqrestore(&dev->lock, flags);
		msleep(1);	/* pins release theirs within one copy */
	}
}

static void vdvk_put_buf(struct vdvk_dev *dev, int b)
{
	unsigned long flags;

	if (b < 0)
		return;
	spin_lock_irqsave(&dev->lock, flags);
	__clear_bit(b, dev->bufs_busy);
	spin_unlock_irqrestore(&dev->lock, flags);
}

/* Pins pp->req's range of its process and writes the phys list into a ring
 * buffer. Returns the list's length or a negative EDVS* code. */
static long vdvk_pin_remote(struct vdvk_dev *dev, struct vdvk_peer_pin *pp)
{
	const struct vdvk_pin_req *r = &pp->req;
	s32 died = r->write ? VDVK_EDVSDSTDIED : VDVK_EDVSSRCDIED;
	u32 max_ext = (dev->buf_size - sizeof(struct vdvk_phys_list)) /
		      sizeof(struct vdvk_phys_extent);
	struct vdvk_phys_list h = {0};
	struct task_struct *task;
	struct mm_struct *mm;
	u64 first, last;
	long got;
	u8 *buf;

	/* Everything in the request came from the ring: check it all. */
	if (r->tgid <= 0 || r->write > 1 || r->bytes == 0 || r->addr + r->bytes < r->addr ||
	    r->addr + r->bytes > TASK_SIZE)
		return VDVK_EDVSINVAL;
	first = r->addr >> PAGE_SHIFT;
	last = (r->addr + r->bytes - 1) >> PAGE_SHIFT;
	if (last - first + 1 > max_ext)
		return VDVK_EDVS2BIG;
	task = find_get_task_by_vpid(r->tgid);
	if (!task)
		return died;
	mm = get_task_mm(task);
	put_task_struct(task);
	if (!mm)
		return died;
	pp->pin.write = r->write;
	pp->pin.pages = kvmalloc_array(last - first + 1, sizeof(*pp->pin.pages), GFP_KERNEL);
	if (!pp->pin.pages) {
		mmput(mm);
		return VDVK_EDVSNOMEM;
	}
	mmap_read_lock(mm);
	got = pin_user_pages_remote(mm, r->addr & PAGE_MASK, last - first + 1,
				    r->write ? FOLL_WRITE : 0, pp->pin.pages, NULL, NULL);
	mmap_read_unlock(mm);
	mmput(mm);
	if (got > 0)
		pp->pin.nr = got;
	if (got != (long)(last - first + 1)) {
		vdvk_unpin(&pp->pin);
		return VDVK_EDVSFAULT;
	}
	pp->buf = vdvk_pin_buf(dev);
	if (pp->buf < 0) {
		vdvk_unpin(&pp->pin);
		return VDVK_EDVSNOTCONN;
	}
	buf = dev->shm_bufs + (u64)pp->buf * dev->buf_size;
	vdvk_pages_to_extents(&pp->pin, r->addr, r->bytes,
			      (struct vdvk_phys_extent *)(buf + sizeof(h)), &h.nr_src);
	memcpy(buf, &h, sizeof(h));
	return sizeof(h) + (long)h.nr_src * sizeof(struct vdvk_phys_extent);
}

static void vdvk_pin_work(struct work_struct *w)
{
	struct vdvk_peer_pin *pp = container_of(w, struct vdvk_peer_pin, work);
	struct vdvk_dev *dev = pp->dev;
	struct vdvk_sqe sqe;
	unsigned long flags;
	bool broken;
	long n = vdvk_pin_remote(dev, pp);

	memset(&sqe, 0, sizeof(sqe));
	sqe.opcode = VDVK_OP_PIN_DONE;
	sqe.u.arg64[0] = pp->id;
	if (n < 0) {
		sqe.arg[0] = (s32)n;
	} else {
		sqe.buf_index = pp->buf;
		sqe.buf_len = n;
		/* Listed before the answer goes out: UNPIN may follow at once. */
		spin_lock_irqsave(&dev->lock, flags);
		broken = dev->broken;
		if (!broken)
			list_add_tail(&pp->node, &dev->pins);
		spin_unlock_irqrestore(&dev->lock, flags);
		if (broken) {
			/* Broke while we pinned: nobody will ask for these pages. */
			vdvk_unpin(&pp->pin);
			vdvk_put_buf(dev, pp->buf);
			n = VDVK_EDVSNOTCONN;
		}
	}
	vdvk_submit_oneway(dev, &sqe);
	if (n < 0)
		kfree(pp);
	atomic_dec(&dev->pin_works);
}

static void vdvk_unpin_work(struct work_struct *w)
{
	struct vdvk_peer_pin *pp = container_of(w, struct vdvk_peer_pin, work);
	struct vdvk_dev *dev = pp->dev;

	vdvk_unpin(&pp->pin);
	vdvk_put_buf(dev, pp->buf);
	kfree(pp);
	atomic_dec(&dev->pin_works);
}

/* Queues the release of pp (off dev->pins); dev->lock held. */
static void vdvk_queue_unpin_locked(struct vdvk_dev *dev, struct vdvk_peer_pin *pp)
{
	list_del_init(&pp->node);
	INIT_WORK(&pp->work, vdvk_unpin_work);
	atomic_inc(&dev->pin_works);
	schedule_work(&pp->work);
}

static void vdvk_release_pins_locked(struct vdvk_dev *dev)
{
	struct vdvk_peer_pin *pp, *tmp;

	list_for_each_entry_safe(pp, tmp, &dev->pins, node)
		vdvk_queue_unpin_locked(dev, pp);
}

/* A PIN or UNPIN request found in the CQ; dev->lock held (IRQ context). */
static void vdvk_peer_request_locked(struct vdvk_dev *dev, const struct vdvk_cqe *c)
{
	struct vdvk_peer_pin *pp;

	if (c->flags & VDVK_CQE_F_UNPIN) {
		list_for_each_entry(pp, &dev->pins, node) {
			if (pp->id == c->tag) {
				vdvk_queue_unpin_locked(dev, pp);
				return;
			}
		}
		dev->rejects++;	/* not ours, or released twice */
		return;
	}
	pp = kzalloc(sizeof(*pp), GFP_ATOMIC);
	if (!pp) {
		/* Unanswered: the vcopy waiting for it ends when its caller gives up. */
		dev->rejects++;
		pr_warn_ratelimited("%s: no memory for a peer pin\n", dev->name);
		return;
	}
	INIT_LIST_HEAD(&pp->node);
	pp->dev = dev;
	pp->id = c->tag;
	pp->req = c->u.pin;
	pp->buf = -1;
	INIT_WORK(&pp->work, vdvk_pin_work);
	atomic_inc(&dev->pin_works);
	schedule_work(&pp->work);
}

static void vdvk_try_reattach(struct vdvk_dev *dev);

static long vdvk_call(struct vdvk_dev *dev, struct vdvk_file *vf, void __user *uarg)
{
	struct vdvk_pin pin_src = {0}, pin_dst = {0};
	bool vcopy;
	struct vdvk_ioc_call *call;
	struct vdvk_req *req;
	struct vdvk_sqe sqe;
	unsigned long flags;
	u32 len;
	long err;
	bool ok;

	vdvk_try_reattach(dev);
	call = kmalloc(sizeof(*call), GFP_KERNEL);
	req = kzalloc(sizeof(*req), GFP_KERNEL);
	if (!call || !req) {
		err = -ENOMEM;
		goto out_free;
	}
	if (copy_from_user(call, uarg, sizeof(*call))) {
		err = -EFAULT;
		goto out_free;
	}
	sqe = call->sqe;
	len = sqe.buf_len;
	if (len > VDVK_CALL_BUF || len > dev->buf_size) {
		err = -EINVAL;
		goto out_free;
	}
	memset(&call->cqe, 0, sizeof(call->cqe));
	vcopy = sqe.opcode == VDVK_OP_VCOPY;
	if (vcopy && !(dev->features & VDVK_F_GUEST_PHYS)) {
		/* An older backend would drop the ring for the flag. */
		call->cqe.res = VDVK_EDVSNOSYS;
		goto out_copy_cqe;
	}
	if (vcopy)
		len = 0;	/* the buffer carries our page list, nothing of the caller's */
	if (!vcopy && !vdvk_opcode_allowed(sqe.opcode)) {
		err = -EINVAL;
		goto out_free;
	}
	/* Identity is ours to say, never the caller's. */
	sqe.caller_pid = current->tgid;
	sqe.caller_tid = current->pid;
	sqe.flags = 0;
	sqe.reserved0 = 0;
	vdvk_note_user(vf);

	INIT_LIST_HEAD(&req->node);
	init_waitqueue_head(&req->wq);
	err = vdvk_reserve(dev, req, len > 0 || vcopy);
	if (err < 0)
		goto out_free;
	if (err > 0) {
		call->cqe.res = VDVK_EDVSNOTCONN;
		goto out_copy_cqe;
	}
	sqe.buf_index = len || vcopy ? req->buf : 0;
	if (len)
		memcpy(dev->shm_bufs + (u64)req->buf * dev->buf_size, call->buf, len);
	if (vcopy) {
		/* Written straight into our ring buffer: the backend reads it
		 * only after the SQE is published below. */
		long n = vdvk_vcopy_list(dev, &sqe, dev->shm_bufs + (u64)req->buf * dev->buf_size,
					 &pin_src, &pin_dst);

		if (n < 0 || n > dev->buf_size) {
			vdvk_unreserve(dev, req);
			vdvk_unpin(&pin_src);
			vdvk_unpin(&pin_dst);
			call->cqe.res = n < 0 ? n : VDVK_EDVS2BIG;
			goto out_copy_cqe;
		}
		sqe.buf_len = n;
		sqe.flags = VDVK_SQE_F_GUEST_PHYS;
	}

	for (;;) {
		spin_lock_irqsave(&dev->lock, flags);
		if (dev->broken) {
			req->cqe.res = VDVK_EDVSNOTCONN;
			req->done = true;
			spin_unlock_irqrestore(&dev->lock, flags);
			break;
		}
		req->tag = dev->next_tag++;
		sqe.tag = req->tag;
		list_add_tail(&req->node, &dev->inflight);
		ok = vdvk_publish_locked(dev, &sqe);
		if (!ok)
			list_del_init(&req->node);
		spin_unlock_irqrestore(&dev->lock, flags);
		if (ok) {
			vdvk_user_kick(dev->kick_fd);
			break;
		}
		msleep(1);
	}

	vdvk_spin(dev, req);
	err = vdvk_wait(dev, req, true, 0);
	if (err == -ERESTARTSYS) {
		struct vdvk_sqe cancel;

		/* The backend answers the original tag: EDVSINTR if the cancel
		 * won, the real result if the call completed first. */
		memset(&cancel, 0, sizeof(cancel));
		cancel.opcode = VDVK_OP_CANCEL;
		cancel.u.arg64[0] = req->tag;
		cancel.caller_pid = current->tgid;
		cancel.caller_tid = current->pid;
		vdvk_submit_oneway(dev, &cancel);
		err = vdvk_wait(dev, req, false, VDVK_CANCEL_WAIT);
		if (err) {
			spin_lock_irqsave(&dev->lock, flags);
			if (req->done) {
				err = 0;	/* completed just now: keep the real result */
			} else {
				list_del_init(&req->node);
				/* The backend may still write the buffer: leak it, never reuse. */
				req->buf = -1;
				req->cqe.res = VDVK_EDVSINTR;
			}
			spin_unlock_irqrestore(&dev->lock, flags);
			if (err)
				pr_warn("%s: call %llu not completed after cancel\n", dev->name,
					req->tag);
		}
	}
	call->cqe = req->cqe;
	if (vcopy) {
		if (req->buf >= 0) {
			vdvk_unpin(&pin_src);
			vdvk_unpin(&pin_dst);
		} else {
			/* The backend may still copy into these pages: keep them
			 * pinned for ever rather than let them be reused. */
			kvfree(pin_src.pages);
			kvfree(pin_dst.pages);
		}
	}
	if (len && req->buf >= 0 && call->cqe.res >= 0)
		memcpy(call->buf, dev->shm_bufs + (u64)req->buf * dev->buf_size, len);
	vdvk_unreserve(dev, req);
	if (len && call->cqe.res >= 0 && copy_to_user((u8 __user *)uarg +
			offsetof(struct vdvk_ioc_call, buf), call->buf, len)) {
		err = -EFAULT;
		goto out_free;
	}
out_copy_cqe:
	err = copy_to_user((u8 __user *)uarg + offsetof(struct vdvk_ioc_call, cqe), &call->cqe,
			   sizeof(call->cqe)) ? -EFAULT : 0;
out_free:
	kfree(req);
	kfree(call);
	return err;
}

/* ---- the device ------------------------------------------------------ */

static int vdvk_open(struct inode *inode, struct file *file)
{
	/* misc_open() left our miscdevice in private_data. */
	struct vdvk_dev *dev = container_of(file->private_data, struct vdvk_dev, misc);
	struct vdvk_file *vf = kzalloc(sizeof(*vf), GFP_KERNEL);

	if (!vf)
		return -ENOMEM;
	vf->dev = dev;
	spin_lock_init(&vf->lock);
	file->private_data = vf;
	return 0;
}

static void vdvk_report_exit(struct vdvk_dev *dev, pid_t tgid)
{
	struct vdvk_sqe sqe;

	memset(&sqe, 0, sizeof(sqe));
	sqe.opcode = VDVK_OP_PROC_EXIT;
	sqe.arg[0] = tgid;
	sqe.caller_pid = tgid;
	vdvk_submit_oneway(dev, &sqe);
}

/*
 * Every close of an fd, including the ones an exiting process's file table
 * does: a process that exits while others (a parent or child sharing the fd
 * through fork) keep the file open is reported now, not at the last close.
 */
static int vdvk_flush(struct file *file, fl_owner_t id)
{
	struct vdvk_file *vf = file->private_data;
	pid_t tgid = current->tgid;
	bool used = false;
	int i;

	if (!(current->flags & PF_EXITING))
		return 0;	/* an explicit close(): the process may hold another fd */
	spin_lock(&vf->lock);
	for (i = 0; i < vf->nr; i++) {
		if (vf->tgids[i] == tgid) {
			vf->tgids[i] = vf->tgids[--vf->nr];
			used = true;
			break;
		}
	}
	spin_unlock(&vf->lock);
	if (used)
		vdvk_report_exit(vf->dev, tgid);
	return 0;
}

static int vdvk_release(struct inode *inode, struct file *file)
{
	struct vdvk_file *vf = file->private_data;
	int i;

	/* The last reference is gone: every process still listed called
	 * through it and is done with DVK (it closed its last fd, as
	 * dvk_close() does; exits were reported by vdvk_flush). */
	for (i = 0; i < vf->nr; i++)
		vdvk_report_exit(vf->dev, vf->tgids[i]);
	kfree(vf);
	return 0;
}

static long vdvk_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	struct vdvk_file *vf = file->private_data;
	struct vdvk_dev *dev = vf->dev;

	switch (cmd) {
	case VDVK_IOC_GET_NODE_ID:
		return put_user(dev->node_id, (s32 __user *)arg);
	case VDVK_IOC_CALL:
		return vdvk_call(dev, vf, (void __user *)arg);
	default:
		return -ENOTTY;
	}
}

static const struct file_operations vdvk_fops = {
	.owner = THIS_MODULE,
	.open = vdvk_open,
	.flush = vdvk_flush,
	.release = vdvk_release,
	.unlocked_ioctl = vdvk_ioctl,
	.llseek = noop_llseek,
};

/* Parses the options after the path: ",poll_us=N" (0..VDVK_MAX_POLL_US). */
static int __init vdvk_parse_opts(const char *p, struct vdvk_dev *dev, const char **why)
{
	unsigned int us;
	int used;

	while (*p == ',') {
		if (sscanf(p, ",poll_us=%u%n", &us, &used) == 1 && (p[used] == ',' || !p[used]) &&
		    us <= VDVK_MAX_POLL_US) {
			dev->poll_ns = (u64)us * NSEC_PER_USEC;
			p += used;
			continue;
		}
		*why = "unknown option after the path (known: poll_us=0..1000)";
		return -EINVAL;
	}
	return 0;
}

/* Splits "ring:PATH[,opts]" into dev->path (copied, NUL-terminated) and the options. */
static int __init vdvk_parse_spec(const char *spec, struct vdvk_dev *dev, const char **why)
{
	const char *p, *end;
	size_t len;

	if (strncmp(spec, "ring:", 5) != 0) {
		*why = "expected ring:PATH";
		return -EINVAL;
	}
	p = spec + 5;
	end = strchrnul(p, ',');
	len = end - p;
	if (len == 0 || len >= sizeof(dev->path)) {
		*why = "empty or too long path";
		return -EINVAL;
	}
	memcpy(dev->path, p, len);
	dev->path[len] = '\0';
	dev->poll_ns = (u64)VDVK_DEFAULT_POLL_US * NSEC_PER_USEC;
	return vdvk_parse_opts(end, dev, why);
}

/*
 * Hands our physical memory (UML's memory file) to the backend through
 * PATH.mem, so it can copy vcopy data straight between guests' pages
 * (wire/vdvk_ring.h). Sent after the claim: the backend takes it only from
 * the claiming pid. Without it the guest runs, but its vcopies fail.
 */
static void vdvk_give_memory(struct vdvk_dev *dev, char *scratch, size_t size)
{
	struct vdvk_mem_hello hello = { VDVK_MEM_MAGIC, VDVK_RING_VERSION };
	unsigned long long off;
	int fd = phys_mapping(0, &off);
	int err;

	snprintf(scratch, size, "%s.mem", dev->path);
	err = fd < 0 || off != 0 ? -EBADF : vdvk_user_send_fd(scratch, fd, &hello, sizeof(hello));
	if (err)
		pr_warn("vdvk%d: cannot give guest memory to the backend through %s (error %d): vcopy fails with EDVSNOSYS\n",
			dev->index, scratch, err);
}

/* Undoes vdvk_connect (what of it was done). Process context. */
static void vdvk_disconnect(struct vdvk_dev *dev)
{
	if (dev->irq >= 0)
		um_free_irq(dev->irq, dev);
	dev->irq = -1;
	if (dev->kick_fd >= 0)
		vdvk_user_close(dev->kick_fd);
	if (dev->wake_fd >= 0)
		vdvk_user_close(dev->wake_fd);
	dev->kick_fd = dev->wake_fd = -1;
	if (dev->ring)
		vdvk_user_unmap_ring(dev->ring, dev->ring_size);
	dev->ring = NULL;
	dev->ring_size = 0;
}

/* vdvk_connect: the ring is mapped and valid, but no backend serves it. */
#define VDVK_NO_DOORBELLS 1

/*
 * Maps dev->path, validates the header (one private copy), opens the
 * doorbells, claims the ring, hooks the wake IRQ, hands over our memory and
 * kicks. Returns 0; VDVK_NO_DOORBELLS with the ring still mapped (the node
 * id is known); or a negative error with *why and nothing left set up.
 * Runs at boot and when a broken device re-attaches (vdvk_try_reattach).
 */
static int vdvk_connect(struct vdvk_dev *dev, const char **why)
{
	size_t scratch_size = PATH_MAX + 8;
	struct vdvk_ring_hdr *hdr;
	char *kick, *wake;
	int err;

	hdr = kmalloc(sizeof(*hdr), GFP_KERNEL);
	kick = kmalloc(scratch_size, GFP_KERNEL);
	wake = kmalloc(scratch_size, GFP_KERNEL);
	if (!hdr || !kick || !wake) {
		*why = "no memory";
		err = -ENOMEM;
		goto out;
	}
	err = vdvk_user_map_ring(dev->path, &dev->ring, &dev->ring_size);
	if (err) {
		dev->ring = NULL;
		*why = "cannot map ring file";
		pr_err("vdvk%d: cannot map ring file %s: error %d\n", dev->index, dev->path, err);
		goto out;
	}
	err = -EINVAL;
	if (dev->ring_size < sizeof(*hdr)) {
		*why = "file smaller than the ring header";
		goto fail;
	}
	/* One copy, then only the copy is looked at (no double fetch). */
	memcpy(hdr, dev->ring, sizeof(*hdr));
	*why = vdvk_check_hdr(hdr, dev->ring_size);
	if (*why)
		goto fail;
	dev->node_id = hdr->node_id;
	dev->sq_entries = hdr->sq_entries;
	dev->cq_entries = hdr->cq_entries;
	dev->nr_bufs = hdr->nr_bufs;
	dev->buf_size = hdr->buf_size;
	dev->features = hdr->features;
	dev->shm_hdr = dev->ring;
	dev->shm_sq = (struct vdvk_sqe *)((u8 *)dev->ring + hdr->sq_off);
	dev->shm_cq = (struct vdvk_cqe *)((u8 *)dev->ring + hdr->cq_off);
	dev->shm_bufs = (u8 *)dev->ring + hdr->buf_off;
	/* Resume where the ring stands (a fresh ring: 0). Both shadows are
	 * then range-checked on every use. */
	dev->sq_tail = READ_ONCE(dev->shm_hdr->sq_tail);
	dev->cq_head = READ_ONCE(dev->shm_hdr->cq_head);
	if (dev->sq_tail != READ_ONCE(dev->shm_hdr->sq_head) ||
	    dev->cq_head != READ_ONCE(dev->shm_hdr->cq_tail)) {
		*why = "ring is in use (another guest attached?)";
		err = -EBUSY;
		goto fail;
	}

	snprintf(kick, scratch_size, "%s.kick", dev->path);
	snprintf(wake, scratch_size, "%s.wake", dev->path);
	err = vdvk_user_open_doorbells(kick, wake, &dev->kick_fd, &dev->wake_fd);
	if (err) {
		/* A ring without a serving backend (or a bare ring file, as in
		 * the smoke test) still tells its node id; calls fail. */
		pr_warn("vdvk%d: no doorbells for %s (error %d): calls fail with EDVSNOTCONN\n",
			dev->index, dev->path, err);
		dev->kick_fd = dev->wake_fd = -1;
		err = VDVK_NO_DOORBELLS;
		goto out;
	}
	/*
	 * Claim the ring: the backend watches this pid to learn that the guest
	 * died, and only then resets the ring (client_host_pid back to 0). A
	 * second guest on the same ring, or one booted before the backend saw
	 * the previous guest die, is refused instead of corrupting it.
	 */
	{
		s32 mine = vdvk_user_host_pid();
		s32 owner = cmpxchg(&dev->shm_hdr->client_host_pid, 0, mine);

		if (owner != 0) {
			pr_err("vdvk%d: ring %s belongs to a guest with host pid %d\n", dev->index,
			       dev->path, owner);
			*why = "ring is in use (another guest attached?)";
			err = -EBUSY;
			goto fail;
		}
	}
	/* Read by the backend only once we are its client (after the claim). */
	WRITE_ONCE(dev->shm_hdr->client_features, VDVK_CF_PEER_PIN);
	/* "Sleeping" (every completion rings PATH.wake) except while a call
	 * spins in vdvk_spin. */
	WRITE_ONCE(dev->shm_hdr->client_flags, VDVK_SLEEPING);
	smp_mb();	/* pairs with the backend's fence before it reads client_flags */
	err = um_request_irq(UM_IRQ_ALLOC, dev->wake_fd, IRQ_READ, vdvk_interrupt, 0,
			     "vdvk", dev);
	if (err < 0) {
		*why = "um_request_irq failed";
		goto fail;
	}
	dev->irq = err;
	err = 0;
	vdvk_give_memory(dev, kick, scratch_size);
	/* Tells the backend our pid now, so a guest that dies before its first
	 * call still frees the ring. */
	vdvk_user_kick(dev->kick_fd);
	goto out;
fail:
	vdvk_disconnect(dev);
out:
	kfree(hdr);
	kfree(kick);
	kfree(wake);
	return err;
}

/*
 * A broken device tries its ring file again, at most once a second, from a
 * caller's ioctl: a backend that was restarted has made the ring anew, and
 * the guest goes on with it instead of needing a reboot (its processes bind
 * again, as after a DVK restart). Only once nothing of the old ring is in
 * use: no call holds a slot, no peer pin is held or being worked on.
 */
static void vdvk_try_reattach(struct vdvk_dev *dev)
{
	const char *why = NULL;
	unsigned long flags;
	bool idle;
	int err;

	if (!READ_ONCE(dev->broken) || time_before(jiffies, READ_ONCE(dev->next_attach)))
		return;
	mutex_lock(&dev->attach_mutex);
	spin_lock_irqsave(&dev->lock, flags);
	idle = dev->broken && dev->nr_inflight == 0 && list_empty(&dev->pins) &&
	       atomic_read(&dev->pin_works) == 0;
	spin_unlock_irqrestore(&dev->lock, flags);
	if (!idle || time_before(jiffies, dev->next_attach))
		goto out;
	WRITE_ONCE(dev->next_attach, jiffies + HZ);
	/* Broken: nothing touches the old mapping or fds any more. */
	vdvk_disconnect(dev);
	err = vdvk_connect(dev, &why);
	if (err == VDVK_NO_DOORBELLS)
		vdvk_disconnect(dev);
	if (err)
		goto out;
	spin_lock_irqsave(&dev->lock, flags);
	bitmap_zero(dev->bufs_busy, VDVK_MAX_BUFS);
	dev->broken = false;
	spin_unlock_irqrestore(&dev->lock, flags);
	pr_info("%s: re-attached to ring %s (node %d)\n", dev->name, dev->path, dev->node_id);
out:
	mutex_unlock(&dev->attach_mutex);
}

static int __init vdvk_attach(struct vdvk_dev *dev)
{
	const char *why = NULL;
	int err;

	dev->kick_fd = dev->wake_fd = dev->irq = -1;
	spin_lock_init(&dev->lock);
	mutex_init(&dev->attach_mutex);
	INIT_LIST_HEAD(&dev->inflight);
	INIT_LIST_HEAD(&dev->pins);
	init_waitqueue_head(&dev->space_wq);
	dev->next_tag = 1;
	err = vdvk_parse_spec(dev->spec, dev, &why);
	if (err) {
		pr_err("vdvk%d: refusing '%s': %s\n", dev->index, dev->spec, why);
		return err;
	}
	err = vdvk_connect(dev, &why);
	if (err < 0) {
		pr_err("vdvk%d: refusing ring %s: %s\n", dev->index, dev->path, why);
		return err;
	}
	if (err == VDVK_NO_DOORBELLS)
		dev->broken = true;

	if (dev->index == 0)
		snprintf(dev->name, sizeof(dev->name), "vdvk");
	else
		snprintf(dev->name, sizeof(dev->name), "vdvk%d", dev->index);
	dev->misc.minor = MISC_DYNAMIC_MINOR;
	dev->misc.name = dev->name;
	dev->misc.fops = &vdvk_fops;
	dev->misc.mode = 0666;
	err = misc_register(&dev->misc);
	if (err) {
		pr_err("vdvk%d: refusing ring %s: misc_register failed\n", dev->index, dev->path);
		vdvk_disconnect(dev);
		return err;
	}
	pr_info("vdvk%d: vdvk-call-v1 ring %s (%lu bytes, sq %u cq %u bufs %u) node %d as /dev/%s, poll %llu us\n",
		dev->index, dev->path, dev->ring_size, dev->sq_entries, dev->cq_entries,
		dev->nr_bufs, dev->node_id, dev->name, dev->poll_ns / NSEC_PER_USEC);
	return 0;
}

static int __init vdvk_init(void)
{
	int i;

	for (i = 0; i < VDVK_MAX_DEVS; i++) {
		vdvk_devs[i].index = i;
		/* A refused ring leaves the others (and the guest) running. */
		if (vdvk_devs[i].spec)
			vdvk_attach(&vdvk_devs[i]);
	}
	return 0;
}
device_initcall(vdvk_init);
