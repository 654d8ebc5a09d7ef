// SPDX-License-Identifier: GPL-2.0
/*
 * vdvk_user.c - host side of the vdvk UML driver: compiled against host libc
 * (arch/um/scripts/Makefile.rules builds *_user.c that way) and called only
 * from vdvk_kern.c at init, so the blocking open/mmap cannot stall a running
 * guest.
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
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
