/*
 * guest_vcopy.c - runs inside a UML guest (static, libdvk_guest): vcopy
 * between this guest process and vcopy_peer, a host-native process or a
 * process in another guest; the backend does it in one copy through its
 * mapping of guest memory (the peer's guest pins the peer's pages on request).
 *
 *   guest_vcopy PEER_EP EP LOOPS
 *
 * Binds EP; for 1 B, 4 KiB (unaligned: spans two pages) and 1 MiB:
 * host -> guest (peer fills, we vcopy in and check) and guest -> host (we
 * fill, vcopy out, the peer checks). Bad guest pointers on either side give
 * EDVSFAULT; the peer copies into our memory while we wait for its reply
 * (1 MiB, and 4 KiB at an unaligned address; a bad address of ours is
 * EDVSFAULT). Then LOOPS x 1 MiB each way, timed (prints MB/s). Tells the peer
 * to quit. Exit 0 on success, 1 with a line on stderr otherwise.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dvk/dvk.h"
#include "vcopy_proto.h"

#define MIB (1 << 20)

static int peer, self;
static uint64_t peer_buf;

static int fail(const char *what, long rc)
{
	fprintf(stderr, "guest_vcopy: %s: %ld (%s)\n", what, rc, dvk_strerror(rc));
	return 1;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static long ask(int type, int seed, int n, message *m)
{
	memset(m, 0, sizeof(*m));
	m->m_type = type;
	m->m1_i1 = seed;
	m->m1_i2 = n;
	return dvk_sendrec(peer, m);
}

/* The peer must sit in receive: right after its reply it may not be there yet. */
static long vcopy(int src, void *sa, int dst, void *da, int n)
{
	long rc;
	int tries;

	for (tries = 0; tries < 2000; tries++) {
		rc = dvk_vcopy(src, sa, dst, da, n);
		if (rc != EDVSPROCSTS)
			return rc;
		usleep(500);
	}
	return rc;
}

/* Asks the peer to fill n bytes of its buffer with seed's pattern, and
 * zeroes ours, before a copy from it. */
static int peer_fill(uint8_t *local, int n, int seed)
{
	message m;
	long rc;

	if ((rc = ask(VC_FILL, seed, n, &m)) < 0 || m.m1_i1 != 0)
		return fail("peer fill", rc < 0 ? rc : m.m1_i1);
	memset(local, 0, (size_t)n);
	return 0;
}

/* 0 if local holds seed's pattern, else 1 with the first wrong byte said. */
static int expect_pattern(const uint8_t *local, int n, int seed, const char *how)
{
	int i;

	for (i = 0; i < n; i++)
		if (local[i] != vc_pattern(seed, (uint64_t)i)) {
			fprintf(stderr, "guest_vcopy: %d bytes %s: byte %d is %u, want %u\n", n, how,
				i, local[i], vc_pattern(seed, (uint64_t)i));
			return 1;
		}
	return 0;
}

static int round_trip(uint8_t *local, int n, int seed)
{
	message m;
	long rc;
	int i;

	if (peer_fill(local, n, seed))
		return 1;
	if ((rc = vcopy(peer, (void *)(uintptr_t)peer_buf, self, local, n)) < 0)
		return fail("vcopy peer -> guest", rc);
	if (expect_pattern(local, n, seed, "peer -> guest"))
		return 1;
	for (i = 0; i < n; i++)
		local[i] = vc_pattern(seed + 1, (uint64_t)i);
	if ((rc = vcopy(self, local, peer, (void *)(uintptr_t)peer_buf, n)) < 0)
		return fail("vcopy guest -> peer", rc);
	if ((rc = ask(VC_CHECK, seed + 1, n, &m)) < 0)
		return fail("peer check", rc);
	if (m.m1_i1 != 0) {
		fprintf(stderr, "guest_vcopy: %d bytes guest -> peer: peer byte %d wrong\n", n,
			m.m1_i1 - 1);
		return 1;
	}
	printf("vcopy %d bytes both ways ok\n", n);
	return 0;
}

/* The peer fills its buffer, then vcopies n bytes of it to `local` itself. */
static int push(uint8_t *local, int n, int seed)
{
	message m;
	long rc;

	if (peer_fill(local, n, seed))
		return 1;
	memset(&m, 0, sizeof(m));
	m.m_type = VC_PUSH;
	m.m1_i2 = n;
	m.m_u.m_m1.m1p1_u64 = (uint64_t)(uintptr_t)local;
	if ((rc = dvk_sendrec(peer, &m)) < 0)
		return fail("peer push", rc);
	if (m.m1_i1 != 0)
		return fail("peer vcopy into the guest", m.m1_i1);
	return expect_pattern(local, n, seed, "pushed by the peer");
}

int main(int argc, char **argv)
{
	message m;
	uint8_t *big;
	long rc, loops, i;
	double t0, t1, t2;

	if (argc != 4) {
		fprintf(stderr, "usage: guest_vcopy PEER_EP EP LOOPS\n");
		return 2;
	}
	peer = atoi(argv[1]);
	self = atoi(argv[2]);
	loops = atol(argv[3]);
	if ((rc = dvk_bind(0, self)) != self)
		return fail("bind", rc);
	if ((rc = ask(VC_ADDR, 0, 0, &m)) < 0)
		return fail("peer address", rc);
	peer_buf = m.m_u.m_m1.m1p1_u64;
	if (m.m1_i1 < MIB + 8192)
		return fail("peer buffer too small", m.m1_i1);
	big = malloc(MIB + 8192);
	if (!big)
		return fail("malloc", 0);
	/* 4 KiB at offset 100: two guest pages, usually not contiguous. */
	if (round_trip(big, 1, 3) || round_trip(big + 100, 4096, 5) || round_trip(big, MIB, 9))
		return 1;

	/* A bad pointer of ours: the driver cannot pin it, the backend says EDVSFAULT. */
	rc = vcopy(peer, (void *)(uintptr_t)peer_buf, self, (void *)16, 4096);
	if (rc != EDVSFAULT)
		return fail("vcopy into a bad guest pointer (want EDVSFAULT)", rc);
	rc = vcopy(self, (void *)16, peer, (void *)(uintptr_t)peer_buf, 4096);
	if (rc != EDVSFAULT)
		return fail("vcopy from a bad guest pointer (want EDVSFAULT)", rc);
	/* A bad pointer on the host side: process_vm_* fails, EDVSFAULT too. */
	rc = vcopy(self, big, peer, (void *)16, 4096);
	if (rc != EDVSFAULT)
		return fail("vcopy to a bad host pointer (want EDVSFAULT)", rc);
	printf("bad pointers -> EDVSFAULT\n");

	/* The peer as the caller, we as the blocked party (we wait in sendrec
	 * for its reply): our guest kernel pins our pages when the backend asks. */
	if (push(big, MIB, 21) || push(big + 100, 4096, 23))
		return 1;
	memset(&m, 0, sizeof(m));
	m.m_type = VC_PUSH;
	m.m1_i2 = 4096;
	m.m_u.m_m1.m1p1_u64 = 16;
	if ((rc = dvk_sendrec(peer, &m)) < 0)
		return fail("peer push", rc);
	if (m.m1_i1 != EDVSFAULT)
		return fail("peer vcopy into a bad address of ours (want EDVSFAULT)", m.m1_i1);
	printf("peer-initiated vcopy into the guest ok\n");

	t0 = now_s();
	for (i = 0; i < loops; i++)
		if ((rc = vcopy(peer, (void *)(uintptr_t)peer_buf, self, big, MIB)) < 0)
			return fail("timed vcopy host -> guest", rc);
	t1 = now_s();
	for (i = 0; i < loops; i++)
		if ((rc = vcopy(self, big, peer, (void *)(uintptr_t)peer_buf, MIB)) < 0)
			return fail("timed vcopy guest -> host", rc);
	t2 = now_s();
	if (loops > 0)
		printf("1 MiB vcopy x %ld: peer->guest %.1f MB/s, guest->peer %.1f MB/s\n", loops,
		       loops * (MIB / 1e6) / (t1 - t0), loops * (MIB / 1e6) / (t2 - t1));
	ask(VC_QUIT, 0, 0, &m);
	dvk_unbind(0, self);
	printf("guest vcopy ok\n");
	return 0;
}
