/*
 * c_api_test.c - the DVK C API from a C program, against a real host-backend
 * (run_with_backend.sh starts one and sets VDVK_SOCKET). Includes only dvk.h.
 * Prints each failed check and exits non-zero if any failed.
 */
#include <dvk/dvk.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int failures;

#define CHECK(cond)                                                     \
	do {                                                            \
		if (!(cond)) {                                          \
			fprintf(stderr, "%s:%d: CHECK failed: %s\n",    \
				__FILE__, __LINE__, #cond);             \
			failures++;                                     \
		}                                                       \
	} while (0)

#define CHECK_RC(expr, want)                                                  \
	do {                                                                  \
		long rc_ = (expr);                                            \
		if (rc_ != (want)) {                                          \
			fprintf(stderr, "%s:%d: %s = %ld (%s), want %ld\n",   \
				__FILE__, __LINE__, #expr, rc_,               \
				dvk_strerror(rc_), (long)(want));             \
			failures++;                                           \
		}                                                             \
	} while (0)

int main(void)
{
	dvs_usr_t dvs;
	dc_usr_t dc;
	proc_usr_t p;
	message m;
	const int ep = 5;

	CHECK_RC(dvk_open(), 0);

	memset(&dvs, 0xff, sizeof(dvs));
	CHECK_RC(dvk_getdvsinfo(&dvs), 0); /* returns the node id: 0 */
	CHECK(dvs.d_max_copylen == MAXCOPYLEN);

	CHECK_RC(dvk_getdcinfo(0, &dc), 0);
	CHECK(dc.dc_dcid == 0);
	CHECK(dc.dc_nr_procs == NR_PROCS);
	CHECK(dc.dc_nr_tasks == DC0_NR_TASKS);
	CHECK(dc.dc_nr_sysprocs == NR_SYS_PROCS);
	CHECK(dc.dc_flags == DC_RUNNING);

	CHECK_RC(dvk_bind(0, ep), ep);
	CHECK_RC(dvk_getep(getpid()), ep);
	CHECK_RC(dvk_getprocinfo(0, ep, &p), 0);
	CHECK(p.p_endpoint == ep);
	CHECK(p.p_lpid == getpid());
	CHECK((p.p_rts_flags & SLOT_FREE) == 0);

	memset(&m, 0, sizeof(m));
	CHECK_RC(dvk_receive_T(ANY, &m, TIMEOUT_NOWAIT), EDVSAGAIN);

	CHECK_RC(dvk_unbind(0, ep), 0);
	CHECK_RC(dvk_getep(getpid()), EDVSNOTBIND);
	CHECK_RC(dvk_getprocinfo(0, ep, &p), 0);
	CHECK((p.p_rts_flags & SLOT_FREE) != 0);

	CHECK_RC(dvk_getdvsinfo(NULL), EDVSFAULT);
	CHECK(strcmp(dvk_strerror(0), "OK") == 0);
	CHECK(strcmp(dvk_strerror(EDVSSLOTUSED), "EDVSSLOTUSED (-337): slot already in use") == 0);
	CHECK(strstr(dvk_strerror(EDVSAGAIN), "EDVSAGAIN (-11)") != NULL);
	CHECK(strcmp(dvk_strerror(12345), "unknown DVK error") == 0);

	CHECK_RC(dvk_close(), 0);
	if (failures)
		fprintf(stderr, "c_api_test: %d check(s) failed\n", failures);
	else
		printf("c_api_test: all checks passed\n");
	return failures ? 1 : 0;
}
