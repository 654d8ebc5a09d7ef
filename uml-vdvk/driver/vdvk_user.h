/* SPDX-License-Identifier: GPL-2.0 */
/*
 * vdvk_user.h - the boundary between vdvk_kern.c (kernel headers) and
 * vdvk_user.c (host libc). Plain C types only; functions return 0 or -errno
 * (host errno values, which on x86-64 Linux match the kernel's).
 */
#ifndef VDVK_USER_H
#define VDVK_USER_H

/* A ring file larger than this is refused before it is mapped. */
#define VDVK_USER_MAX_RING_BYTES (1UL << 30)

/*
 * Opens the host file @path read-write and maps all of it MAP_SHARED into
 * the UML kernel's address space (the backend maps the same file). On
 * success *base and *size describe the mapping; the fd is closed again.
 */
int vdvk_user_map_ring(const char *path, void **base, unsigned long *size);

void vdvk_user_unmap_ring(void *base, unsigned long size);

#endif /* VDVK_USER_H */
