/*
 * guest_remote.c - runs inside a UML guest attached to node 1 (static, guest
 * libdvk): the parts of "a guest talks to a host process on another node"
 * that uml-vdvk/tests/guest_dvk.c does not cover. Exit 0 on success, 1 with a
 * line on stderr on the first wrong result.
 *
 *   guest_remote notify EP DST
 *       binds EP, notifies DST (bound on another node), unbinds. A remote
 *       notify returns once DST's node holds it, so leaving at once is fine
 *       (unlike guest_dvk notify-send, which waits for a local receiver).
 *   guest_remote vcopy EP PEER [N]
 *       binds EP; PEER is vcopy_peer (vcopy_proto.h) on another node. Tries a
 *       pull (PEER -> us), a push (us -> PEER) and a host-initiated push into
 *       us (VC_PUSH), N bytes each (default BYTES: several link chunks, not a
 *       page multiple; at most BYTES; a small N travels inside the link call);
 *       prints each result as "vcopy KIND -> RC NAME". A result of 0 must
 *       carry the right bytes; an error must be a DVK error, and afterwards
 *       the peer still answers and its buffer is unchanged.
 *   guest_remote vcopy3 EP PEER [N]
 *       a third-party vcopy: a child binds EP+1 and waits in a sendrec to us;
 *       we copy the child's buffer to PEER and PEER's back into the child's
 *       (so the guest party is not the caller); PEER and the child check the
 *       bytes. Prints "vcopy third-party KIND -> RC NAME".
 *   guest_remote vcopy-intr EP PEER N
 *       N pulls of BYTES from PEER while SIGALRM (no SA_RESTART) is due every
 *       300 us (the guest's tick makes it every 10 ms or so): a signal in a
 *       pull makes the driver cancel it, and the backend answers the real
 *       result if the copy is already under way, else EDVSINTR. Each pull must
 *       end 0 with the right bytes or EDVSINTR, the driver must not report a
 *       call left uncompleted, and one more pull must work afterwards.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dvk/dvk.h"
#include "uml-vdvk/tests/vcopy_proto.h"

#define BYTES 1000000
/* The size of each copy in the vcopy and vcopy3 modes (their N). */
static int copy_bytes = BYTES;
#include <sys/wait.h>
#include <signal.h>
#include <sys/time.h>

static int fail(const char *what, long rc)
{
	fprintf(stderr, "guest_remote: %s: %ld (%s)\n", what, rc, dvk_strerror(rc));
	return 1;
}

static int notify(int ep, int dst)
{
	long rc = dvk_bind(0, ep);

	if (rc != ep)
		return fail("bind", rc);
	rc = dvk_notify(dst);
	if (rc != 0)
		return fail("notify", rc);
	printf("guest_remote: notify %d -> %d acknowledged\n", ep, dst);
	rc = dvk_unbind(0, ep);
	return rc < 0 ? fail("unbind", rc) : 0;
}

/* One request to the peer: 0 with its answer in *m, or the sendrec's error. */
static long ask(int peer, int type, int seed, int n, uint64_t p1, message *m)
{
	long rc;

	memset(m, 0, sizeof(*m));
	m->m_type = type;
	m->m1_i1 = seed;
	m->m1_i2 = n;
	m->m_u.m_m1.m1p1_u64 = p1;
	rc = dvk_sendrec(peer, m);
	if (rc != 0)
		return rc;
	if (m->m_source != peer || m->m_type != type)
		return EDVSBADVALUE;
	return 0;
}

/* The peer answers, then enters its receive: a vcopy in between finds it not
 * receiving (EDVSPROCSTS, DVK's rule); try again shortly. */
static long vcopy_retry(int src, void *src_addr, int dst, void *dst_addr)
{
	long rc = EDVSPROCSTS;
	int i;

	for (i = 0; i < 1000 && rc == EDVSPROCSTS; i++) {
		if (i)
			usleep(1000);
		rc = dvk_vcopy(src, src_addr, dst, dst_addr, copy_bytes);
	}
	return rc;
}

static int report(const char *kind, long rc)
{
	printf("guest_remote: vcopy %s -> %ld %s\n", kind, rc, rc ? dvk_strerror(rc) : "ok");
	fflush(stdout);
	return rc > 0 ? fail("vcopy returned a positive value", rc) : 0;
}

/* Binds EP, learns PEER's buffer address and fills it with pattern 7. */
static int bind_and_fill_peer(int ep, int peer, uint64_t *peer_buf)
{
	message m;
	long rc;

	if ((rc = dvk_bind(0, ep)) != ep)
		return fail("bind", rc);
	if ((rc = ask(peer, VC_ADDR, 0, 0, 0, &m)) != 0)
		return fail("VC_ADDR", rc);
	*peer_buf = m.m_u.m_m1.m1p1_u64;
	if (m.m1_i1 < copy_bytes)
		return fail("peer buffer too small", m.m1_i1);
	if ((rc = ask(peer, VC_FILL, 7, copy_bytes, 0, &m)) != 0 || m.m1_i1 != 0)
		return fail("VC_FILL", rc ? rc : m.m1_i1);
	return 0;
}

static int vcopy(int ep, int peer)
{
	static uint8_t buf[BYTES];
	message m;
	uint64_t peer_buf;
	long rc;
	int i, seed;

	if (bind_and_fill_peer(ep, peer, &peer_buf))
		return 1;

	/* Pull: the peer's pattern lands here, or nothing changes. */
	memset(buf, 0xee, sizeof(buf));
	rc = vcopy_retry(peer, (void *)(uintptr_t)peer_buf, SELF, buf);
	if (report("pull", rc))
		return 1;
	for (i = 0; i < copy_bytes; i++) {
		uint8_t want = rc == 0 ? vc_pattern(7, (uint64_t)i) : 0xee;
		if (buf[i] != want)
			return fail("pulled bytes wrong at", i);
	}
	if (copy_bytes < BYTES && buf[copy_bytes] != 0xee)
		return fail("the pull wrote past its length at", copy_bytes);
	/* Push: our pattern replaces the peer's, or the peer keeps its own. */
	for (i = 0; i < copy_bytes; i++)
		buf[i] = vc_pattern(9, (uint64_t)i);
	rc = vcopy_retry(SELF, buf, peer, (void *)(uintptr_t)peer_buf);
	if (report("push", rc))
		return 1;
	seed = rc == 0 ? 9 : 7;
	if ((rc = ask(peer, VC_CHECK, seed, copy_bytes, 0, &m)) != 0 || m.m1_i1 != 0)
		return fail("peer buffer after the push (VC_CHECK)", rc ? rc : m.m1_i1);
	/* The host peer as the caller, copying into us while we wait in sendrec. */
	memset(buf, 0xee, sizeof(buf));
	if ((rc = ask(peer, VC_PUSH, 0, copy_bytes, (uint64_t)(uintptr_t)buf, &m)) != 0)
		return fail("VC_PUSH", rc);
	if (report("host-initiated", m.m1_i1))
		return 1;
	for (i = 0; i < copy_bytes; i++) {
		if (m.m1_i1 == 0 ? buf[i] != vc_pattern(seed, (uint64_t)i) : buf[i] != 0xee)
			return fail("bytes after the host-initiated vcopy wrong at", i);
	}
	if ((rc = ask(peer, VC_QUIT, 0, 0, 0, &m)) != 0)
		return fail("VC_QUIT", rc);
	printf("guest_remote: vcopy checks done, peer still answered\n");
	rc = dvk_unbind(0, ep);
	return rc < 0 ? fail("unbind", rc) : 0;
}

/* The child of vcopy3: hands its buffer's address to the parent and waits in
 * that sendrec while the parent copies in and out of it; the reply says which
 * pattern must be there now. */
static int third_party_child(int ep, int parent)
{
	static uint8_t buf[BYTES];
	message m;
	long rc;
	int i;

	if ((rc = dvk_bind(0, ep)) != ep)
		return fail("child bind", rc);
	for (i = 0; i < copy_bytes; i++)
		buf[i] = vc_pattern(21, (uint64_t)i);
	memset(&m, 0, sizeof(m));
	m.m_u.m_m1.m1p1_u64 = (uint64_t)(uintptr_t)buf;
	if ((rc = dvk_sendrec(parent, &m)) != 0)
		return fail("child sendrec", rc);
	for (i = 0; i < copy_bytes; i++)
		if (buf[i] != vc_pattern(m.m1_i1, (uint64_t)i))
			return fail("child buffer after the pull, wrong at", i);
	dvk_unbind(0, ep);
	return 0;
}

static int vcopy3(int ep, int peer)
{
	message m;
	uint64_t peer_buf, child_buf;
	long rc;
	int status, child_ep = ep + 1;
	pid_t pid;

	if (bind_and_fill_peer(ep, peer, &peer_buf))
		return 1;
	fflush(stdout);
	pid = fork();
	if (pid < 0)
		return fail("fork", -1);
	if (pid == 0)
		_exit(third_party_child(child_ep, ep));
	/* ANY: the child may not be bound yet. */
	if ((rc = dvk_receive(ANY, &m)) != 0 || m.m_source != child_ep)
		return fail("receive from the child", rc ? rc : m.m_source);
	child_buf = m.m_u.m_m1.m1p1_u64;
	/* child (guest, not the caller) -> PEER on node 0 */
	rc = vcopy_retry(child_ep, (void *)(uintptr_t)child_buf, peer, (void *)(uintptr_t)peer_buf);
	if (report("third-party push", rc))
		return 1;
	if ((rc = ask(peer, VC_CHECK, rc == 0 ? 21 : 7, copy_bytes, 0, &m)) != 0 || m.m1_i1 != 0)
		return fail("peer buffer after the third-party push (VC_CHECK)", rc ? rc : m.m1_i1);
	/* PEER -> child */
	if ((rc = ask(peer, VC_FILL, 23, copy_bytes, 0, &m)) != 0 || m.m1_i1 != 0)
		return fail("VC_FILL", rc ? rc : m.m1_i1);
	rc = vcopy_retry(peer, (void *)(uintptr_t)peer_buf, child_ep, (void *)(uintptr_t)child_buf);
	if (report("third-party pull", rc))
		return 1;
	memset(&m, 0, sizeof(m));
	m.m1_i1 = rc == 0 ? 23 : 21;
	if ((rc = dvk_reply(child_ep, &m)) != 0)
		return fail("reply to the child", rc);
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return fail("child", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	if ((rc = ask(peer, VC_QUIT, 0, 0, 0, &m)) != 0)
		return fail("VC_QUIT", rc);
	printf("guest_remote: third-party vcopy checks done\n");
	rc = dvk_unbind(0, ep);
	return rc < 0 ? fail("unbind", rc) : 0;
}

static volatile sig_atomic_t alarms;

static void on_alarm(int sig)
{
	(void)sig;
	alarms++;
}

static int vcopy_intr(int ep, int peer, int n)
{
	static uint8_t buf[BYTES];
	struct sigaction sa;
	struct itimerval it = {{0, 300}, {0, 300}};
	uint64_t peer_buf;
	message m;
	long rc;
	int k, i, ok = 0, intr = 0;

	if (bind_and_fill_peer(ep, peer, &peer_buf))
		return 1;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm;  /* no SA_RESTART: a signal ends the call */
	sigaction(SIGALRM, &sa, NULL);
	setitimer(ITIMER_REAL, &it, NULL);
	for (k = 0; k < n; k++) {
		memset(buf, 0xee, sizeof(buf));
		rc = dvk_vcopy(peer, (void *)(uintptr_t)peer_buf, SELF, buf, BYTES);
		if (rc == EDVSINTR) {
			intr++;
			continue;
		}
		if (rc != 0)
			return fail("interrupted pull", rc);
		for (i = 0; i < BYTES; i++)
			if (buf[i] != vc_pattern(7, (uint64_t)i))
				return fail("pulled bytes wrong at", i);
		ok++;
	}
	memset(&it, 0, sizeof(it));
	setitimer(ITIMER_REAL, &it, NULL);
	memset(buf, 0xee, sizeof(buf));
	if ((rc = vcopy_retry(peer, (void *)(uintptr_t)peer_buf, SELF, buf)) != 0)
		return fail("pull after the interrupted ones", rc);
	for (i = 0; i < BYTES; i++)
		if (buf[i] != vc_pattern(7, (uint64_t)i))
			return fail("bytes of the last pull wrong at", i);
	if ((rc = ask(peer, VC_QUIT, 0, 0, 0, &m)) != 0)
		return fail("VC_QUIT", rc);
	printf("guest_remote: vcopy-intr %d pulls: %d ok, %d interrupted, %d signals; the next pull ok\n", n, ok,
	       intr, (int)alarms);
	if (alarms == 0)
		return fail("no SIGALRM arrived during the pulls", 0);
	rc = dvk_unbind(0, ep);
	return rc < 0 ? fail("unbind", rc) : 0;
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "";

	if (!strcmp(mode, "notify") && argc == 4)
		return notify(atoi(argv[2]), atoi(argv[3]));
	if ((!strcmp(mode, "vcopy") || !strcmp(mode, "vcopy3")) && (argc == 4 || argc == 5)) {
		copy_bytes = argc == 5 ? atoi(argv[4]) : BYTES;
		if (copy_bytes <= 0 || copy_bytes > BYTES) {
			fprintf(stderr, "guest_remote: N must be 1..%d\n", BYTES);
			return 2;
		}
		return !strcmp(mode, "vcopy") ? vcopy(atoi(argv[2]), atoi(argv[3]))
					       : vcopy3(atoi(argv[2]), atoi(argv[3]));
	}
	if (!strcmp(mode, "vcopy-intr") && argc == 5)
		return vcopy_intr(atoi(argv[2]), atoi(argv[3]), atoi(argv[4]));
	fprintf(stderr, "usage: see the comment at the top of guest_remote.c\n");
	return 2;
}
