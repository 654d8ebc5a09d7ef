/*
 * make_ring - writes a vdvk ring file laid out as host-backend lays it out
 * (rings/ring_layout.cc), optionally corrupted, to test the UML driver's
 * header validation.
 *
 *   make_ring PATH NODE_ID [ok|bad-magic|bad-version|bad-entries|
 *                          bad-offset|overlap|truncated|bad-node]
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "wire/vdvk_ring.h"

enum { kEntries = 64, kBufs = 4, kBufSize = 4096 };

static unsigned long long page_align(unsigned long long v)
{
	return (v + 4095) & ~4095ull;
}

int main(int argc, char **argv)
{
	struct vdvk_ring_hdr h;
	const char *mode;
	char *end;
	long node;
	size_t file_size;
	char *image;
	int fd;

	if (argc < 3 || argc > 4) {
		fprintf(stderr, "usage: %s PATH NODE_ID [ok|bad-magic|bad-version|bad-entries|"
				"bad-offset|overlap|truncated|bad-node]\n", argv[0]);
		return 2;
	}
	errno = 0;
	node = strtol(argv[2], &end, 10);
	if (errno || *end || node < -1000 || node > 1000) {
		fprintf(stderr, "make_ring: bad NODE_ID '%s'\n", argv[2]);
		return 2;
	}
	mode = argc == 4 ? argv[3] : "ok";

	memset(&h, 0, sizeof(h));
	h.magic = VDVK_RING_MAGIC;
	h.version = VDVK_RING_VERSION;
	h.hdr_size = VDVK_RING_HDR_SIZE;
	h.sq_entries = kEntries;
	h.cq_entries = kEntries;
	h.sqe_size = sizeof(struct vdvk_sqe);
	h.cqe_size = sizeof(struct vdvk_cqe);
	h.nr_bufs = kBufs;
	h.buf_size = kBufSize;
	h.sq_off = VDVK_RING_HDR_SIZE;
	h.cq_off = page_align(h.sq_off + (unsigned long long)kEntries * h.sqe_size);
	h.buf_off = page_align(h.cq_off + (unsigned long long)kEntries * h.cqe_size);
	h.file_size = page_align(h.buf_off + (unsigned long long)kBufs * kBufSize);
	h.node_id = (vdvk_s32)node;
	h.state = VDVK_STATE_LIVE;
	file_size = h.file_size;

	if (strcmp(mode, "ok") == 0) {
	} else if (strcmp(mode, "bad-magic") == 0) {
		h.magic = 0xdeadbeef;
	} else if (strcmp(mode, "bad-version") == 0) {
		h.version = 99;
	} else if (strcmp(mode, "bad-entries") == 0) {
		h.sq_entries = 63;
	} else if (strcmp(mode, "bad-offset") == 0) {
		h.buf_off = 0xfffffffffffff000ull;	/* would wrap a naive off + len */
	} else if (strcmp(mode, "overlap") == 0) {
		h.cq_off = h.sq_off;
	} else if (strcmp(mode, "truncated") == 0) {
		file_size = 100;	/* shorter than the header page */
	} else if (strcmp(mode, "bad-node") == 0) {
		h.node_id = 4096;
	} else {
		fprintf(stderr, "make_ring: unknown mode '%s'\n", mode);
		return 2;
	}

	image = calloc(1, h.file_size);
	if (!image) {
		perror("make_ring: calloc");
		return 1;
	}
	memcpy(image, &h, sizeof(h));
	fd = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || write(fd, image, file_size) != (ssize_t)file_size || close(fd) < 0) {
		fprintf(stderr, "make_ring: %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	free(image);
	return 0;
}
