/*
 * pipe_pingpong.c - the in-guest baseline of vdvk-uml-bench: two processes of
 * one guest bounce a message of SIZE bytes over a pipe pair, ITERS round
 * trips after 200 unmeasured ones, every echoed byte checked. Static (it runs
 * from the guest's hostfs root) and plain C: it must cost what any guest
 * program pays for its syscalls, nothing more.
 *
 *   pipe_pingpong [ITERS] [SIZE]      (defaults 5000, 64; SIZE <= 4096)
 *
 * Prints "pipe_pingpong: ITERS round trips of SIZE B verified: rtt_us X".
 * Exit status 0, or 1 with a line on stderr.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_SIZE 4096
#define WARMUP 200

static int rw_full(int fd, char *buf, size_t n, int writing)
{
	size_t off = 0;

	while (off < n) {
		ssize_t r = writing ? write(fd, buf + off, n - off) : read(fd, buf + off, n - off);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		off += (size_t)r;
	}
	return 0;
}

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

/* The partner: echoes every message, inverted, until its input closes. */
static void echo(int in, int out, size_t size)
{
	char buf[MAX_SIZE];
	size_t i;

	while (rw_full(in, buf, size, 0) == 0) {
		for (i = 0; i < size; i++)
			buf[i] = (char)~buf[i];
		if (rw_full(out, buf, size, 1) != 0)
			_exit(1);
	}
	_exit(0);
}

int main(int argc, char **argv)
{
	long iters = argc > 1 ? strtol(argv[1], NULL, 10) : 5000;
	long size = argc > 2 ? strtol(argv[2], NULL, 10) : 64;
	char buf[MAX_SIZE], want;
	int to_echo[2], from_echo[2], st;
	double t0 = 0;
	long seq, i;
	pid_t pid;

	if (iters < 1 || iters > 100000000 || size < 1 || size > MAX_SIZE) {
		fprintf(stderr, "usage: pipe_pingpong [ITERS 1..1e8] [SIZE 1..%d]\n", MAX_SIZE);
		return 2;
	}
	if (pipe(to_echo) || pipe(from_echo)) {
		perror("pipe_pingpong: pipe");
		return 1;
	}
	pid = fork();
	if (pid < 0) {
		perror("pipe_pingpong: fork");
		return 1;
	}
	if (pid == 0) {
		close(to_echo[1]);
		close(from_echo[0]);
		echo(to_echo[0], from_echo[1], (size_t)size);
	}
	close(to_echo[0]);
	close(from_echo[1]);
	for (seq = -WARMUP; seq < iters; seq++) {
		if (seq == 0)
			t0 = now_us();
		memset(buf, (int)(seq & 0x7f), (size_t)size);
		buf[0] = (char)(seq >> 8);
		if (rw_full(to_echo[1], buf, (size_t)size, 1) || rw_full(from_echo[0], buf, (size_t)size, 0)) {
			fprintf(stderr, "pipe_pingpong: pipe closed at round %ld\n", seq);
			return 1;
		}
		for (i = 1; i < size; i++) {
			want = (char)~(char)(seq & 0x7f);
			if (buf[i] != want) {
				fprintf(stderr, "pipe_pingpong: wrong echo at round %ld byte %ld\n", seq, i);
				return 1;
			}
		}
		if (buf[0] != (char)~(char)(seq >> 8)) {
			fprintf(stderr, "pipe_pingpong: wrong echo at round %ld byte 0\n", seq);
			return 1;
		}
	}
	printf("pipe_pingpong: %ld round trips of %ld B verified: rtt_us %.2f\n", iters, size,
	       (now_us() - t0) / (double)iters);
	close(to_echo[1]);
	if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		fprintf(stderr, "pipe_pingpong: echo process failed\n");
		return 1;
	}
	return 0;
}
