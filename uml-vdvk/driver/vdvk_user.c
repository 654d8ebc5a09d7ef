// SPDX-License-Identifier: GPL-2.0
/*
 * vdvk_user.c - host side of the vdvk UML driver: compiled against host libc
 * (arch/um/scripts/Makefile.rules builds *_user.c that way). open/mmap run
 * only at init; at run time only non-blocking FIFO reads and writes happen
 * here, since a blocking host call would stall the whole UML kernel.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "vdvk_user.h"

int vdvk_user_map_ring(const char *path, void **base, unsigned long *size)
{
	struct stat st;
	void *p;
	int fd, err;

	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return -errno;

	if (fstat(fd, &st) < 0) {
		err = -errno;
		goto err_close;
	}
	/* A FIFO or device would block or map something else entirely. */
	if (!S_ISREG(st.st_mode)) {
		err = -EINVAL;
		goto err_close;
	}
	if (st.st_size <= 0 || (unsigned long long)st.st_size > VDVK_USER_MAX_RING_BYTES) {
		err = -EFBIG;
		goto err_close;
	}

	p = mmap(NULL, st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		err = -errno;
		goto err_close;
	}
	close(fd);	/* the mapping keeps the file */
	*base = p;
	*size = st.st_size;
	return 0;

err_close:
	close(fd);
	return err;
}

void vdvk_user_unmap_ring(void *base, unsigned long size)
{
	munmap(base, size);
}

int vdvk_user_open_doorbells(const char *kick_path, const char *wake_path, int *kick_fd,
			     int *wake_fd)
{
	struct stat st;
	int kfd, wfd, err;

	kfd = open(kick_path, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
	if (kfd < 0)
		return -errno;
	/* A regular file would take our kicks silently and never wake anyone. */
	if (fstat(kfd, &st) < 0 || !S_ISFIFO(st.st_mode)) {
		err = -EINVAL;
		goto err_close_kick;
	}
	wfd = open(wake_path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (wfd < 0) {
		err = -errno;
		goto err_close_kick;
	}
	if (fstat(wfd, &st) < 0 || !S_ISFIFO(st.st_mode)) {
		err = -EINVAL;
		goto err_close_wake;
	}
	*kick_fd = kfd;
	*wake_fd = wfd;
	return 0;

err_close_wake:
	close(wfd);
err_close_kick:
	close(kfd);
	return err;
}

void vdvk_user_close(int fd)
{
	close(fd);
}

void vdvk_user_kick(int fd)
{
	char b = 1;
	ssize_t n;

	do {
		n = write(fd, &b, 1);
	} while (n < 0 && errno == EINTR);
}

int vdvk_user_drain(int fd)
{
	char buf[256];
	ssize_t n;

	do {
		n = read(fd, buf, sizeof(buf));
	} while (n > 0 || (n < 0 && errno == EINTR));
	return n == 0;	/* EOF: no writer is left */
}

int vdvk_user_send_fd(const char *sock_path, int fd, const void *msg, unsigned int len)
{
	struct sockaddr_un sa;
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = { (void *)msg, len };
	struct msghdr mh;
	struct cmsghdr *c;
	ssize_t n;
	int s, err = 0;

	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (strlen(sock_path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, sock_path);
	/* One datagram carries the message and the fd at once; non-blocking:
	 * a full queue must fail, not stall the UML kernel. */
	s = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (s < 0)
		return -errno;
	memset(&ctl, 0, sizeof(ctl));
	memset(&mh, 0, sizeof(mh));
	mh.msg_name = &sa;
	mh.msg_namelen = sizeof(sa);
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = ctl.buf;
	mh.msg_controllen = sizeof(ctl.buf);
	c = CMSG_FIRSTHDR(&mh);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof(int));
	n = sendmsg(s, &mh, MSG_NOSIGNAL);
	if (n < 0)
		err = -errno;
	else if ((unsigned int)n != len)
		err = -EIO;
	close(s);
	return err;
}

int vdvk_user_host_pid(void)
{
	return getpid();
}

void vdvk_user_yield(void)
{
	sched_yield();
}
