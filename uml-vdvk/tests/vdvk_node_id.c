/*
 * vdvk_node_id - runs in a UML guest: opens /dev/vdvk (or argv[1]) and prints
 * the backend node id the driver read from the ring header.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "uml-vdvk/driver/vdvk_ioctl.h"

int main(int argc, char **argv)
{
	const char *dev = argc > 1 ? argv[1] : "/dev/vdvk";
	__s32 node = -1;
	int fd;

	fd = open(dev, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		printf("vdvk_node_id: %s: %s\n", dev, strerror(errno));
		return 2;
	}
	if (ioctl(fd, VDVK_IOC_GET_NODE_ID, &node) < 0) {
		printf("vdvk_node_id: ioctl: %s\n", strerror(errno));
		return 1;
	}
	/* An unknown ioctl must be refused, not crash or succeed. */
	if (ioctl(fd, _IO(VDVK_IOC_MAGIC, 99), 0) == 0 || errno != ENOTTY) {
		printf("vdvk_node_id: unknown ioctl not refused with ENOTTY\n");
		return 1;
	}
	printf("node_id=%d\n", node);
	close(fd);
	return 0;
}
