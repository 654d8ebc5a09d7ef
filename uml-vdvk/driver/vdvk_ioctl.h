/* SPDX-License-Identifier: (GPL-2.0 OR MIT) */
/*
 * vdvk_ioctl.h - ioctls of the UML guest's /dev/vdvk (vdvk_kern.c), for guest
 * programs (libdvk's guest transport) and the driver alike.
 */
#ifndef VDVK_IOCTL_H
#define VDVK_IOCTL_H

#include <linux/ioctl.h>
#include <linux/types.h>

#ifdef __KERNEL__
#include "vdvk_ring.h"		/* copied next to the driver by build-kernel.sh */
#else
#include "wire/vdvk_ring.h"
#endif

#define VDVK_IOC_MAGIC 'V'

/* Payload bytes one call may carry in and out (one ring buffer). */
#define VDVK_CALL_BUF 4096

/*
 * One DVK call. In: sqe.opcode, timeout_ms, arg[], u.msg, and sqe.buf_len
 * bytes of buf. The driver ignores (overwrites) tag, flags, buf_index,
 * reserved0, caller_pid and caller_tid. Out: cqe (res >= 0 success, < 0 an
 * EDVS* code) and, on success, the first sqe.buf_len bytes of buf.
 * The ioctl returns 0 whenever cqe is valid; -EINVAL (bad opcode or length),
 * -EFAULT (bad pointer), -ENOMEM are the driver's own errors.
 * VDVK_OP_VCOPY ignores buf: the driver pins the caller's src/dst pages and
 * hands the backend their guest-physical extents (VDVK_SQE_F_GUEST_PHYS); a
 * range it cannot pin ends as EDVSFAULT in cqe.res.
 */
struct vdvk_ioc_call {
	struct vdvk_sqe sqe;
	struct vdvk_cqe cqe;
	__u8 buf[VDVK_CALL_BUF];
};

/* The backend's node id, from the ring header validated at boot. */
#define VDVK_IOC_GET_NODE_ID _IOR(VDVK_IOC_MAGIC, 1, __s32)
#define VDVK_IOC_CALL _IOWR(VDVK_IOC_MAGIC, 2, struct vdvk_ioc_call)

#endif /* VDVK_IOCTL_H */
