/* SPDX-License-Identifier: (GPL-2.0 OR MIT) */
/*
 * vdvk_ioctl.h - ioctls of the UML guest's /dev/vdvk (vdvk_kern.c), for guest
 * programs (libdvk) and the driver alike.
 */
#ifndef VDVK_IOCTL_H
#define VDVK_IOCTL_H

#include <linux/ioctl.h>
#include <linux/types.h>

#define VDVK_IOC_MAGIC 'V'

/* The backend's node id, from the ring header validated at boot. */
#define VDVK_IOC_GET_NODE_ID _IOR(VDVK_IOC_MAGIC, 1, __s32)

#endif /* VDVK_IOCTL_H */
