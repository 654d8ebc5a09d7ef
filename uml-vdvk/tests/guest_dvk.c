/*
 * guest_dvk.c - runs inside a UML guest, linked statically against
 * libdvk_guest (the C API over /dev/vdvk). Each mode exits 0 on success,
 * 1 with a line on stderr on the first wrong result.
 *
 *   guest_dvk client NODE SERVER_EP COUNT [EP]
 *       getdvsinfo says NODE; binds EP (default 42); a NOWAIT receive is EDVSAGAIN;
 *       COUNT sendrecs to the host's latency_server at SERVER_EP with payload
 *       and m_source checks (prints the mean round trip); unbinds.
 *   guest_dvk keep EP        binds EP and exits bound (the driver reports the exit)
 *   guest_dvk free EP        getprocinfo(0, EP) says SLOT_FREE
 *   guest_dvk receiving EP   waits (10 s at most) until EP is blocked in a receive
 *   guest_dvk serve EP N     binds EP, answers N pings (latency protocol), unbinds
 *   guest_dvk signal EP      binds EP; SIGALRM interrupts a blocking receive
 *                            (EDVSINTR), after which calls work as before
 *   guest_dvk hostile        bad pointers, opcodes and lengths straight at
 *                            the ioctl: errors, never a crash
 *   guest_dvk notify-recv EP SRC   binds EP, receives one notify from SRC
 *   guest_dvk notify-send EP DST   binds EP, waits for DST to bind, notifies it,
 *                                  waits for DST to unbind
 *   guest_dvk fork EP1 EP2   binds EP1, forks a child that binds EP2 through the
 *                            inherited fd and exits: EP2 is free while we still run
 *   guest_dvk broken EP      binds EP, blocks in receive until the host
 *                            corrupts the ring: EDVSNOTCONN, and so are later calls
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "dvk/dvk.h"
#include "uml-vdvk/driver/vdvk_ioctl.h"

/* proxies/latency/latency_proto.h, restated in C. */
#define PING 0x4c01
#define PONG 0x4c02
static int64_t ping_field(int64_t seq, int i) { return seq * 0x10001 + (int64_t)i * 0x3b9aca07; }
static int64_t pong_field(int64_t v) { return ~v ^ 0x5a5a5a5a5a5aLL; }

static int fail(const char *what, long rc)
{
	fprintf(stderr, "guest_dvk: %s: %ld (%s)\n", what, rc, dvk_strerror(rc));
	return 1;
}

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int client(int node, int server_ep, long count, int ep)
{
	dvs_usr_t dvs;
	message m;
	long rc, i;
	double t0, t1;

	memset(&dvs, 0, sizeof(dvs));
	rc = dvk_getdvsinfo(&dvs);
	if (rc != node)
		return fail("getdvsinfo node id", rc);
	rc = dvk_bind(0, ep);
	if (rc != ep)
		return fail("bind", rc);
	memset(&m, 0, sizeof(m));
	rc = dvk_receive_T(ANY, &m, TIMEOUT_NOWAIT);
	if (rc != EDVSAGAIN)
		return fail("NOWAIT receive (want EDVSAGAIN)", rc);
	/* A timed receive nobody answers: EDVSTIMEDOUT, not before its time
	 * (the backend's clock runs it; the guest sleeps in the driver). */
	t0 = now_us();
	rc = dvk_receive_T(ANY, &m, 80);
	t1 = now_us();
	if (rc != EDVSTIMEDOUT)
		return fail("80 ms receive (want EDVSTIMEDOUT)", rc);
	if (t1 - t0 < 75000.0 || t1 - t0 > 5e6)
		return fail("80 ms receive took (us)", (long)(t1 - t0));
	printf("guest_dvk: timed receive -> EDVSTIMEDOUT after %.0f ms\n", (t1 - t0) / 1000);
	t0 = now_us();
	for (i = 0; i < count; i++) {
		memset(&m, 0, sizeof(m));
		m.m_type = PING;
		m.m4_l1 = ping_field(i, 1);
		m.m4_l2 = ping_field(i, 2);
		m.m4_l3 = ping_field(i, 3);
		m.m4_l4 = ping_field(i, 4);
		m.m4_l5 = ping_field(i, 5);
		rc = dvk_sendrec(server_ep, &m);
		if (rc < 0)
			return fail("sendrec", rc);
		if (m.m_type != PONG || m.m4_l1 != pong_field(ping_field(i, 1)) ||
		    m.m4_l2 != pong_field(ping_field(i, 2)) || m.m4_l3 != pong_field(ping_field(i, 3)) ||
		    m.m4_l4 != pong_field(ping_field(i, 4)) || m.m4_l5 != pong_field(ping_field(i, 5)))
			return fail("reply payload wrong at round", i);
		if (m.m_source != server_ep)
			return fail("reply m_source is not the server", m.m_source);
	}
	t1 = now_us();
	printf("guest_dvk: %ld sendrecs ok, mean round trip %.1f us\n", count,
	       count ? (t1 - t0) / count : 0.0);
	rc = dvk_unbind(0, ep);
	if (rc < 0)
		return fail("unbind", rc);
	return 0;
}

static int answer_ping(message *m)
{
	int src = m->m_source;
	message r;

	memset(&r, 0, sizeof(r));
	if (m->m_type != PING)
		return fail("unexpected message type", m->m_type);
	r.m_type = PONG;
	r.m4_l1 = pong_field(m->m4_l1);
	r.m4_l2 = pong_field(m->m4_l2);
	r.m4_l3 = pong_field(m->m4_l3);
	r.m4_l4 = pong_field(m->m4_l4);
	r.m4_l5 = pong_field(m->m4_l5);
	long rc = dvk_reply(src, &r);
	return rc < 0 ? fail("reply", rc) : 0;
}

static int serve(int ep, long n)
{
	message m;
	long rc, i;

	rc = dvk_bind(0, ep);
	if (rc != ep)
		return fail("bind", rc);
	printf("guest_dvk: serving on %d\n", ep);
	fflush(stdout);
	for (i = 0; i < n; i++) {
		rc = dvk_receive(ANY, &m);
		if (rc < 0)
			return fail("receive", rc);
		if (answer_ping(&m))
			return 1;
	}
	rc = dvk_unbind(0, ep);
	return rc < 0 ? fail("unbind", rc) : 0;
}

static void on_alarm(int sig)
{
	(void)sig;
}

static int signal_mode(int ep)
{
	struct sigaction sa;
	message m;
	long rc;

	if ((rc = dvk_bind(0, ep)) != ep)
		return fail("bind", rc);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm;	/* no SA_RESTART: the call must come back */
	sigaction(SIGALRM, &sa, NULL);
	alarm(1);
	rc = dvk_receive(ANY, &m);
	if (rc != EDVSINTR)
		return fail("receive interrupted by SIGALRM (want EDVSINTR)", rc);
	/* The cancelled receive is gone: a new one is not EDVSBUSY. */
	rc = dvk_receive_T(ANY, &m, TIMEOUT_NOWAIT);
	if (rc != EDVSAGAIN)
		return fail("NOWAIT receive after the interrupt (want EDVSAGAIN)", rc);
	rc = dvk_unbind(0, ep);
	if (rc < 0)
		return fail("unbind", rc);
	printf("guest_dvk: signal -> EDVSINTR, calls work afterwards\n");
	return 0;
}

/* One raw ioctl; returns -errno or 0 (then *res is cqe.res). */
static int raw_call(int fd, struct vdvk_ioc_call *c, int *res)
{
	if (ioctl(fd, VDVK_IOC_CALL, c) < 0)
		return -errno;
	*res = c->cqe.res;
	return 0;
}

static int hostile(void)
{
	static struct vdvk_ioc_call c;
	int fd = open("/dev/vdvk", O_RDWR);
	int r, res = 0;
	void *unmapped;

	if (fd < 0)
		return fail("open /dev/vdvk", -errno);
	/* Pointers the kernel must not follow. */
	if ((r = ioctl(fd, VDVK_IOC_CALL, (void *)8)) != -1 || errno != EFAULT)
		return fail("NULL-ish pointer (want EFAULT)", r < 0 ? -errno : r);
	unmapped = (void *)(uintptr_t)0x7fffffff0000ULL;
	if ((r = ioctl(fd, VDVK_IOC_CALL, unmapped)) != -1 || errno != EFAULT)
		return fail("unmapped pointer (want EFAULT)", r < 0 ? -errno : r);
	/* Opcodes: vdvk-internal and unknown ones are refused. */
	memset(&c, 0, sizeof(c));
	c.sqe.opcode = VDVK_OP_CANCEL;
	if ((r = raw_call(fd, &c, &res)) != -EINVAL)
		return fail("CANCEL from user space (want -EINVAL)", r);
	c.sqe.opcode = VDVK_OP_PROC_EXIT;
	if ((r = raw_call(fd, &c, &res)) != -EINVAL)
		return fail("PROC_EXIT from user space (want -EINVAL)", r);
	c.sqe.opcode = 999;
	if ((r = raw_call(fd, &c, &res)) != -EINVAL)
		return fail("opcode 999 (want -EINVAL)", r);
	/* VCOPY goes to the backend now (guest_vcopy.c tests it); an unbound
	 * caller's is refused there, not by the ioctl. */
	c.sqe.opcode = VDVK_OP_VCOPY;
	c.sqe.arg[2] = 64;
	if ((r = raw_call(fd, &c, &res)) != 0 || res >= 0)
		return fail("VCOPY by an unbound process (want an EDVS error)", r ? r : res);
	c.sqe.arg[2] = 0;
	c.sqe.opcode = VDVK_OP_GETDVSINFO;
	c.sqe.buf_len = VDVK_CALL_BUF + 1;
	if ((r = raw_call(fd, &c, &res)) != -EINVAL)
		return fail("buf_len 4097 (want -EINVAL)", r);
	/* Forged identity and fields are overwritten: the call still works and
	 * the caller is this process, so bind + getep see our own pid. */
	memset(&c, 0, sizeof(c));
	c.sqe.opcode = VDVK_OP_GETDVSINFO;
	c.sqe.buf_len = sizeof(struct vdvk_dvs_info);
	c.sqe.buf_index = 60000;
	c.sqe.flags = 0xffff;
	c.sqe.reserved0 = 7;
	c.sqe.caller_pid = 1;
	c.sqe.caller_tid = 1;
	c.sqe.tag = ~0ULL;
	c.sqe.timeout_ms = -1;
	if ((r = raw_call(fd, &c, &res)) != 0 || res < 0)
		return fail("getdvsinfo with forged fields", r ? r : res);
	memset(&c, 0, sizeof(c));
	c.sqe.opcode = VDVK_OP_BIND;
	c.sqe.arg[0] = SELF_BIND;
	c.sqe.arg[1] = 0;
	c.sqe.arg[2] = 1;	/* "pid 1": ignored for SELF_BIND */
	c.sqe.arg[3] = 48;
	c.sqe.arg[4] = LOCALNODE;
	c.sqe.caller_pid = 1;	/* forged: the driver says who we are */
	c.sqe.timeout_ms = -1;
	if ((r = raw_call(fd, &c, &res)) != 0 || res != 48)
		return fail("raw bind 48", r ? r : res);
	r = (int)dvk_getep(getpid());
	if (r != 48)
		return fail("getep(our pid) after a forged-pid bind", r);
	if ((r = (int)dvk_unbind(0, 48)) < 0)
		return fail("unbind 48", r);
	close(fd);
	printf("guest_dvk: hostile ioctls refused, identity not forgeable\n");
	return 0;
}

/* Binds EP and blocks in a receive: its result, or BIND_FAILED (reported). */
#define BIND_FAILED (-100000L)
static long wait_on(int ep)
{
	message m;
	long rc = dvk_bind(0, ep);

	if (rc != ep) {
		fail("bind", rc);
		return BIND_FAILED;
	}
	printf("guest_dvk: waiting on %d\n", ep);
	fflush(stdout);
	return dvk_receive(ANY, &m);
}

static int broken(int ep)
{
	message m;
	long rc = wait_on(ep);

	if (rc == BIND_FAILED)
		return 1;
	if (rc != EDVSNOTCONN)
		return fail("receive on a corrupted ring (want EDVSNOTCONN)", rc);
	rc = dvk_receive_T(ANY, &m, TIMEOUT_NOWAIT);
	if (rc != EDVSNOTCONN)
		return fail("next call on a corrupted ring (want EDVSNOTCONN)", rc);
	printf("guest_dvk: corrupted ring -> EDVSNOTCONN\n");
	return 0;
}

/*
 * Blocks in a receive on EP until the backend is killed (EDVSNOTCONN), then
 * waits (up to 60 s) for the device to re-attach to a new backend on the
 * same ring, and runs the client against SERVER_EP there.
 */
static int reattach(int ep, int node, int server_ep)
{
	dvs_usr_t dvs;
	long rc = wait_on(ep);
	int i;

	if (rc == BIND_FAILED)
		return 1;
	if (rc != EDVSNOTCONN)
		return fail("receive when the backend died (want EDVSNOTCONN)", rc);
	for (i = 0; i < 600; i++) {
		rc = dvk_getdvsinfo(&dvs);
		if (rc != EDVSNOTCONN)
			break;
		usleep(100000);
	}
	if (rc != node)
		return fail("getdvsinfo after the backend came back", rc);
	printf("guest_dvk: re-attached after %d.%d s\n", i / 10, i % 10);
	fflush(stdout);
	return client(node, server_ep, 100, 42);
}

/* Same (static, non-PIE) address in every guest_dvk process: a vcopy party. */
static char party_buf[1 << 20];

/* This guest's count of pinned user pages taken and given back (/proc/vmstat). */
static int foll_pins(long *acquired, long *released)
{
	char name[64];
	long v;
	FILE *f = fopen("/proc/vmstat", "r");
	int got = 0;

	if (!f)
		return -1;
	while (fscanf(f, "%63s %ld", name, &v) == 2) {
		if (!strcmp(name, "nr_foll_pin_acquired"))
			*acquired = v, got++;
		if (!strcmp(name, "nr_foll_pin_released"))
			*released = v, got++;
	}
	fclose(f);
	return got == 2 ? 0 : -1;
}

/*
 * A child binds EP and waits in a receive; we bind EP+1 and vcopy 1 MiB from
 * the child to OTHER_EP (in another guest, which the test has stopped): the
 * backend gets our guest's pin of the child's pages and waits for the other
 * guest's. Then the test kills the backend: our vcopy ends with EDVSNOTCONN,
 * and the pin must be released (no UNPIN will come) -- checked in vmstat.
 */
static int pin_held(int ep, int other_ep)
{
	long acquired = 0, released = 0, rc;
	proc_usr_t p;
	pid_t child;
	int i, st;

	memset(party_buf, 7, sizeof(party_buf));	/* the child's pages exist */
	child = fork();
	if (child == 0)
		_exit(wait_on(ep) == EDVSNOTCONN ? 0 : 1);
	if ((rc = dvk_bind(0, ep + 1)) != ep + 1)
		return fail("bind", rc);
	for (i = 0; i < 500; i++) {
		if (dvk_getprocinfo(0, ep, &p) >= 0 && (p.p_rts_flags & RECEIVING))
			break;
		usleep(10000);
	}
	printf("guest_dvk: vcopy %d -> %d under way\n", ep, other_ep);
	fflush(stdout);
	rc = dvk_vcopy(ep, party_buf, other_ep, party_buf, sizeof(party_buf));
	if (rc != EDVSNOTCONN)
		return fail("vcopy when the backend died (want EDVSNOTCONN)", rc);
	if (waitpid(child, &st, 0) != child || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
		return fail("the party's receive (want EDVSNOTCONN)", st);
	/* The release runs from a workqueue: give it a moment. */
	for (i = 0; i < 50; i++) {
		if (foll_pins(&acquired, &released))
			return fail("no nr_foll_pin_* in /proc/vmstat", -1);
		if (acquired == released)
			break;
		usleep(20000);
	}
	printf("guest_dvk: pinned pages acquired %ld released %ld\n", acquired, released);
	if (acquired < (long)(sizeof(party_buf) / 4096))
		return fail("the party's pages were never pinned", acquired);
	return acquired == released ? 0 : fail("pinned pages left", acquired - released);
}

static int notify_recv(int ep, int src)
{
	message m;
	long rc;

	if ((rc = dvk_bind(0, ep)) != ep)
		return fail("bind", rc);
	printf("guest_dvk: waiting for a notify on %d\n", ep);
	fflush(stdout);
	rc = dvk_receive(ANY, &m);
	if (rc < 0)
		return fail("receive", rc);
	if (m.m_source != src || m.m_type != NOTIFY_FROM(src))
		return fail("not a notify from the sender (m_type)", m.m_type);
	printf("guest_dvk: notify from %d received\n", src);
	return dvk_unbind(0, ep) < 0 ? fail("unbind", -1) : 0;
}

static int notify_send(int ep, int dst)
{
	long rc;

	if ((rc = dvk_bind(0, ep)) != ep)
		return fail("bind", rc);
	rc = dvk_wait4bindep_X(WAIT_BIND, dst, 20000);
	if (rc < 0)
		return fail("wait4bind", rc);
	rc = dvk_notify(dst);
	if (rc < 0)
		return fail("notify", rc);
	/* A pending notify dies with its sender's slot: stay bound until the
	 * receiver has taken it (it unbinds afterwards). */
	rc = dvk_wait4bindep_X(WAIT_UNBIND, dst, 20000);
	if (rc < 0)
		return fail("wait4unbind", rc);
	return dvk_unbind(0, ep) < 0 ? fail("unbind", -1) : 0;
}

static int slot_free(int ep)
{
	proc_usr_t p;
	long rc = dvk_getprocinfo(0, ep, &p);

	return rc >= 0 && (p.p_rts_flags & SLOT_FREE);
}

static int fork_mode(int ep1, int ep2)
{
	long rc;
	pid_t child;
	int st, i;

	if ((rc = dvk_bind(0, ep1)) != ep1)
		return fail("bind", rc);
	child = fork();
	if (child == 0)
		_exit(dvk_bind(0, ep2) == ep2 ? 0 : 1);	/* same fd, our own tgid */
	if (child < 0 || waitpid(child, &st, 0) != child || !WIFEXITED(st) || WEXITSTATUS(st))
		return fail("child bind", -1);
	/* The child's exit reaches the backend asynchronously. */
	for (i = 0; i < 200 && !slot_free(ep2); i++)
		usleep(10000);
	if (!slot_free(ep2))
		return fail("child exited but its slot is still bound", ep2);
	if (slot_free(ep1))
		return fail("our own slot went away with the child", ep1);
	printf("guest_dvk: forked child's exit freed %d, %d still bound\n", ep2, ep1);
	return dvk_unbind(0, ep1) < 0 ? fail("unbind", -1) : 0;
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "";

	if (!strcmp(mode, "client") && (argc == 5 || argc == 6))
		return client(atoi(argv[2]), atoi(argv[3]), atol(argv[4]), argc == 6 ? atoi(argv[5]) : 42);
	if (!strcmp(mode, "keep") && argc == 3) {
		long rc = dvk_bind(0, atoi(argv[2]));
		return rc == atoi(argv[2]) ? 0 : fail("bind", rc);
	}
	if (!strcmp(mode, "free") && argc == 3) {
		proc_usr_t p;
		long rc = dvk_getprocinfo(0, atoi(argv[2]), &p);

		if (rc < 0)
			return fail("getprocinfo", rc);
		if (!(p.p_rts_flags & SLOT_FREE))
			return fail("slot still in use, rts flags", (long)p.p_rts_flags);
		printf("guest_dvk: slot %s free\n", argv[2]);
		return 0;
	}
	if (!strcmp(mode, "receiving") && argc == 3) {
		proc_usr_t p;
		int i;

		for (i = 0; i < 1000; i++) {
			if (dvk_getprocinfo(0, atoi(argv[2]), &p) >= 0 && (p.p_rts_flags & RECEIVING))
				return 0;
			usleep(10000);
		}
		return fail("never saw the slot receiving", atoi(argv[2]));
	}
	if (!strcmp(mode, "serve") && argc == 4)
		return serve(atoi(argv[2]), atol(argv[3]));
	if (!strcmp(mode, "signal") && argc == 3)
		return signal_mode(atoi(argv[2]));
	if (!strcmp(mode, "notify-recv") && argc == 4)
		return notify_recv(atoi(argv[2]), atoi(argv[3]));
	if (!strcmp(mode, "notify-send") && argc == 4)
		return notify_send(atoi(argv[2]), atoi(argv[3]));
	if (!strcmp(mode, "fork") && argc == 4)
		return fork_mode(atoi(argv[2]), atoi(argv[3]));
	if (!strcmp(mode, "hostile") && argc == 2)
		return hostile();
	if (!strcmp(mode, "broken") && argc == 3)
		return broken(atoi(argv[2]));
	if (!strcmp(mode, "pin-held") && argc == 4)
		return pin_held(atoi(argv[2]), atoi(argv[3]));
	if (!strcmp(mode, "party") && argc == 3) {
		party_buf[0] = 1;	/* touched: the vcopy party's pages exist */
		return wait_on(atoi(argv[2])) == BIND_FAILED;
	}
	if (!strcmp(mode, "reattach") && argc == 5)
		return reattach(atoi(argv[2]), atoi(argv[3]), atoi(argv[4]));
	fprintf(stderr, "usage: guest_dvk client NODE SERVER_EP COUNT [EP] | keep EP | free EP | receiving EP | serve EP N |\n"
			"       signal EP | hostile | broken EP | notify-recv EP SRC | notify-send EP DST |\n"
			"       fork EP1 EP2 | reattach EP NODE SERVER_EP | pin-held EP OTHER_EP | party EP\n");
	return 2;
}
