/*
 * xstate_check - run inside a UML guest to check that the guest's extended
 * FPU state survives UML's save/restore (the xstate patch).
 *
 * 1. printf("%s") through glibc: when the AVX-512 state is corrupted or
 *    dropped, glibc's EVEX string functions misbehave and the text comes out
 *    wrong (typically "%s" printed literally).
 * 2. With AVX-512: puts known patterns in zmm1 (upper half: XSAVE component 6)
 *    and zmm31 (component 7, the last one that fits UML's buffer), makes
 *    many syscalls (each one stops the process and UML saves and restores its
 *    FP state through ptrace) while a child process writes other values into
 *    the same registers, and checks the patterns are intact.
 *
 * Prints "xstate_check: <word> ok" lines; exits 0 only if everything held.
 */
#define _GNU_SOURCE
#include <cpuid.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

enum { kSyscalls = 2000 };

static int check_printf(void)
{
	char out[128];
	const char *word = "vdvk-printf-s";

	/* snprintf + strcmp also go through the EVEX string functions. */
	snprintf(out, sizeof(out), "[%s|%d|%s]", word, 42, "tail");
	if (strcmp(out, "[vdvk-printf-s|42|tail]") != 0) {
		printf("xstate_check: printf FAILED, got '%s'\n", out);
		return 1;
	}
	printf("xstate_check: printf %s ok\n", word);
	return 0;
}

/* The OS must have enabled ZMM state (XCR0 bits 5-7), not just the CPU. */
static int have_avx512(void)
{
	unsigned int a, b, c, d;
	uint32_t xcr0_lo, xcr0_hi;

	if (!__get_cpuid_count(7, 0, &a, &b, &c, &d) || !(b & (1u << 16)))
		return 0;
	if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & (1u << 27)))	/* OSXSAVE */
		return 0;
	__asm__ volatile("xgetbv" : "=a"(xcr0_lo), "=d"(xcr0_hi) : "c"(0));
	return (xcr0_lo & 0xe6) == 0xe6;
}

/*
 * One asm block from load to store: between them only raw sched_yield
 * syscalls (the kernel preserves vector registers across syscall), no
 * compiler- or libc-generated code that could legitimately touch zmm1/zmm31
 * (glibc's vzeroupper would clear zmm1's upper half).
 */
__attribute__((target("avx512f"))) static void hold_zmm(const uint64_t *v1, const uint64_t *v31,
							 uint64_t *o1, uint64_t *o31, int syscalls)
{
	__asm__ volatile("vmovdqu64 (%[v1]), %%zmm1\n\t"
			 "vmovdqu64 (%[v31]), %%zmm31\n\t"
			 "1:\n\t"
			 "mov %[nr], %%eax\n\t"
			 "syscall\n\t"
			 "dec %[n]\n\t"
			 "jnz 1b\n\t"
			 "vmovdqu64 %%zmm1, (%[o1])\n\t"
			 "vmovdqu64 %%zmm31, (%[o31])"
			 : [n] "+r"(syscalls)
			 : [v1] "r"(v1), [v31] "r"(v31), [o1] "r"(o1), [o31] "r"(o31),
			   [nr] "i"(SYS_sched_yield)
			 : "rax", "rcx", "r11", "xmm1", "xmm31", "memory", "cc");
}

static void fill(uint64_t *v, uint64_t seed)
{
	for (int i = 0; i < 8; i++)
		v[i] = seed * 0x9e3779b97f4a7c15ull + (uint64_t)i;
}

static int check_zmm(void)
{
	uint64_t want1[8], want31[8], got1[8], got31[8], junk1[8], junk31[8];
	pid_t child;
	int status;

	fill(want1, 1);
	fill(want31, 31);
	fill(junk1, 0xbad1);
	fill(junk31, 0xbad31);

	/* A child keeps other values in the same registers the whole time. */
	child = fork();
	if (child < 0) {
		perror("xstate_check: fork");
		return 1;
	}
	if (child == 0) {
		uint64_t sink1[8], sink31[8];

		for (;;)
			hold_zmm(junk1, junk31, sink1, sink31, 16);
	}

	hold_zmm(want1, want31, got1, got31, kSyscalls);

	kill(child, SIGKILL);
	waitpid(child, &status, 0);

	if (memcmp(got1, want1, sizeof(want1)) != 0 || memcmp(got31, want31, sizeof(want31)) != 0) {
		printf("xstate_check: zmm FAILED: zmm1[7]=%#llx (want %#llx) zmm31[7]=%#llx (want %#llx)\n",
		       (unsigned long long)got1[7], (unsigned long long)want1[7],
		       (unsigned long long)got31[7], (unsigned long long)want31[7]);
		return 1;
	}
	printf("xstate_check: zmm1+zmm31 across %d syscalls ok\n", kSyscalls);
	return 0;
}

int main(void)
{
	int failed = check_printf();

	if (have_avx512())
		failed |= check_zmm();
	else
		printf("xstate_check: no AVX-512 here, zmm check skipped\n");
	return failed;
}
