/*
 * vcopy_peer.c - host-native DVK process for the guest vcopy test.
 *
 *   vcopy_peer EP BYTES
 *
 * Binds EP, owns a BYTES buffer, prints "bound", then serves vcopy_proto.h
 * requests until VC_QUIT. Between requests it sits in receive, which is when
 * the guest may vcopy into or out of its buffer.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dvk/dvk.h"
#include "vcopy_proto.h"

int main(int argc, char **argv)
{
	message m;
	long rc;
	int ep, size, quit = 0;
	uint8_t *buf;

	if (argc != 3) {
		fprintf(stderr, "usage: vcopy_peer EP BYTES\n");
		return 2;
	}
	ep = atoi(argv[1]);
	size = atoi(argv[2]);
	buf = size > 0 ? calloc(1, (size_t)size) : NULL;
	if (!buf)
		return 2;
	rc = dvk_bind(0, ep);
	if (rc != ep) {
		fprintf(stderr, "vcopy_peer: bind %d: %ld (%s)\n", ep, rc, dvk_strerror(rc));
		return 1;
	}
	printf("bound %d\n", ep);
	fflush(stdout);
	while (!quit) {
		int seed, n, i;

		memset(&m, 0, sizeof(m));
		rc = dvk_receive(ANY, &m);
		if (rc < 0) {
			fprintf(stderr, "vcopy_peer: receive: %ld (%s)\n", rc, dvk_strerror(rc));
			return 1;
		}
		seed = m.m1_i1;
		n = m.m1_i2;
		if (n < 0 || n > size)
			n = 0;
		switch (m.m_type) {
		case VC_ADDR:
			m.m_u.m_m1.m1p1_u64 = (uint64_t)(uintptr_t)buf;
			m.m1_i1 = size;
			break;
		case VC_FILL:
			for (i = 0; i < n; i++)
				buf[i] = vc_pattern(seed, (uint64_t)i);
			m.m1_i1 = 0;
			break;
		case VC_CHECK:
			m.m1_i1 = 0;
			for (i = 0; i < n; i++)
				if (buf[i] != vc_pattern(seed, (uint64_t)i)) {
					m.m1_i1 = i + 1;
					break;
				}
			break;
		case VC_PUSH:
			/* The host as the caller, the guest as the (blocked) peer. */
			m.m1_i1 = (int)dvk_vcopy(SELF, buf, m.m_source,
						 (void *)(uintptr_t)m.m_u.m_m1.m1p1_u64, n);
			break;
		case VC_QUIT:
			quit = 1;
			break;
		default:
			m.m1_i1 = -1;
		}
		rc = dvk_reply(m.m_source, &m);
		if (rc < 0) {
			fprintf(stderr, "vcopy_peer: reply: %ld (%s)\n", rc, dvk_strerror(rc));
			return 1;
		}
	}
	dvk_unbind(0, ep);
	printf("vcopy_peer done\n");
	return 0;
}
