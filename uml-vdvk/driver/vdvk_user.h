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

/*
 * Opens the backend's doorbell FIFOs next to the ring (PATH.kick, PATH.wake;
 * the caller builds the names: the UML kernel stack is too small for paths):
 * kick write-only and wake read-only, both non-blocking (a blocking host call would
 * stall the whole UML kernel). The backend holds both open O_RDWR, so the
 * kick open fails with -ENXIO only when no backend serves the ring.
 */
int vdvk_user_open_doorbells(const char *kick_path, const char *wake_path, int *kick_fd,
			     int *wake_fd);

void vdvk_user_close(int fd);

/* One byte into the kick FIFO; a full FIFO already holds a pending kick. */
void vdvk_user_kick(int fd);

/*
 * Reads the wake FIFO empty (the IRQ is edge-triggered). Returns 1 when it
 * reads EOF: the FIFO has no writer left, i.e. the backend, which holds it
 * open read-write, is gone (killed, or restarted with new files).
 */
int vdvk_user_drain(int fd);

/*
 * Sends @msg with @fd attached (SCM_RIGHTS) as one datagram to the unix
 * SOCK_DGRAM socket @sock_path. Never blocks.
 */
int vdvk_user_send_fd(const char *sock_path, int fd, const void *msg, unsigned int len);

/* Gives the host CPU to another runnable host process (sched_yield). */
void vdvk_user_yield(void);

/* The host pid of the UML kernel process (what the backend watches). */
int vdvk_user_host_pid(void);

#endif /* VDVK_USER_H */
