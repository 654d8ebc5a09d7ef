// SPDX-License-Identifier: GPL-2.0
/*
 * vdvk_kern.c - the UML guest's door to host-backend: maps a vdvk ring file
 * shared with the backend and exposes it as a misc device.
 *
 *   linux ... vdvk0=ring:/path/to/ring [vdvk1=ring:/other ...]
 *
 * vdvk0 becomes /dev/vdvk, vdvkN (N >= 1) /dev/vdvkN. Skeleton stage: the
 * only ioctl returns the backend's node id; submitting calls comes next.
 *
 * Everything in the ring file is written by another process and is hostile:
 * the header is copied out once and validated as a whole before anything
 * else uses it; a bad ring is refused with a log line, the device is not
 * registered, and the guest boots on.
 */
#include <linux/errno.h>
#include <linux/fs.h>
#include <linux/init.h>
#include <linux/kernel.h>
#include <linux/log2.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/string.h>
#include <linux/uaccess.h>
#include <init.h>

#include "vdvk_ioctl.h"
#include "vdvk_ring.h"
#include "vdvk_user.h"

#define VDVK_MAX_DEVS 8
/* DVS node ids are 0..NR_NODES-1 (include/dvk/dvk.h: NR_NODES 32). */
#define VDVK_MAX_NODES 32
#define VDVK_PAGE 4096u

struct vdvk_dev {
	int index;
	/* "ring:PATH[,opts]", points into UML's argv; set before start_kernel. */
	const char *spec;
	/* The host mapping of the ring file; set at init, then read-only. */
	void *ring;
	unsigned long ring_size;
	s32 node_id;		/* from the validated header copy */
	char name[16];		/* "vdvk", "vdvk1", ... */
	struct miscdevice misc;
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
		    "vdvk" #n "=ring:PATH\n"					\
		    "    Attach the vdvk ring file PATH (shared with host-backend)\n" \
		    "    as /dev/vdvk" #n " (vdvk0: /dev/vdvk).\n\n")

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
static bool __init vdvk_region_ok(u64 off, u64 len, u64 file_size)
{
	return off >= VDVK_RING_HDR_SIZE && off <= file_size && len <= file_size - off;
}

static bool __init vdvk_disjoint(u64 a_off, u64 a_len, u64 b_off, u64 b_len)
{
	return a_len == 0 || b_len == 0 || a_off + a_len <= b_off || b_off + b_len <= a_off;
}

/*
 * Checks a private copy of the header against the size actually mapped.
 * Returns NULL if it is usable, else what is wrong (for the log line).
 */
static const char * __init vdvk_check_hdr(const struct vdvk_ring_hdr *h, unsigned long mapped)
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

static long vdvk_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	/* misc_open() left our miscdevice in private_data. */
	struct vdvk_dev *dev = container_of(file->private_data, struct vdvk_dev, misc);

	switch (cmd) {
	case VDVK_IOC_GET_NODE_ID:
		return put_user(dev->node_id, (s32 __user *)arg);
	default:
		return -ENOTTY;
	}
}

static const struct file_operations vdvk_fops = {
	.owner = THIS_MODULE,
	.unlocked_ioctl = vdvk_ioctl,
	.llseek = noop_llseek,
};

/* Splits "ring:PATH[,opts]" into @path (copied, NUL-terminated). */
static int __init vdvk_parse_spec(const char *spec, char *path, size_t path_size, const char **why)
{
	const char *p, *end;
	size_t len;

	if (strncmp(spec, "ring:", 5) != 0) {
		*why = "expected ring:PATH";
		return -EINVAL;
	}
	p = spec + 5;
	end = strchrnul(p, ',');
	if (*end) {
		*why = "unknown option after the path";	/* none defined yet */
		return -EINVAL;
	}
	len = end - p;
	if (len == 0 || len >= path_size) {
		*why = "empty or too long path";
		return -EINVAL;
	}
	memcpy(path, p, len);
	path[len] = '\0';
	return 0;
}

/* Scratch for vdvk_attach(); initcalls run one at a time, and a header page
 * is too big for the kernel stack. */
static char vdvk_path_buf[PATH_MAX] __initdata;
static struct vdvk_ring_hdr vdvk_hdr_copy __initdata;

static int __init vdvk_attach(struct vdvk_dev *dev)
{
	struct vdvk_ring_hdr *hdr = &vdvk_hdr_copy;
	const char *why = NULL;
	int err;

	err = vdvk_parse_spec(dev->spec, vdvk_path_buf, sizeof(vdvk_path_buf), &why);
	if (err) {
		pr_err("vdvk%d: refusing '%s': %s\n", dev->index, dev->spec, why);
		return err;
	}

	err = vdvk_user_map_ring(vdvk_path_buf, &dev->ring, &dev->ring_size);
	if (err) {
		pr_err("vdvk%d: cannot map ring file %s: error %d\n", dev->index,
		       vdvk_path_buf, err);
		return err;
	}

	if (dev->ring_size < sizeof(*hdr)) {
		why = "file smaller than the ring header";
		err = -EINVAL;
		goto err_unmap;
	}
	/* One copy, then only the copy is looked at (no double fetch). */
	memcpy(hdr, dev->ring, sizeof(*hdr));
	why = vdvk_check_hdr(hdr, dev->ring_size);
	if (why) {
		err = -EINVAL;
		goto err_unmap;
	}
	dev->node_id = hdr->node_id;

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
		why = "misc_register failed";
		goto err_unmap;
	}

	pr_info("vdvk%d: ring %s (%lu bytes, sq %u cq %u bufs %u) node %d as /dev/%s\n",
		dev->index, vdvk_path_buf, dev->ring_size, hdr->sq_entries, hdr->cq_entries,
		hdr->nr_bufs, dev->node_id, dev->name);
	return 0;

err_unmap:
	pr_err("vdvk%d: refusing ring %s: %s\n", dev->index, vdvk_path_buf, why);
	vdvk_user_unmap_ring(dev->ring, dev->ring_size);
	dev->ring = NULL;
	dev->ring_size = 0;
	return err;
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
