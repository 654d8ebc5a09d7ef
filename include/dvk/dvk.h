/*
 * dvk.h - the DVK API of vdvk, with the DVS names, for C and C++.
 *
 * A DVS program ports by replacing its include block (com/com.h, com/ipc.h,
 * com/dvs_errno.h, com/stub_dvkcall.h, ...) with this one header and linking
 * -ldvk.
 *
 * Conventions:
 *  - Every call returns >= 0 on success and a negative EDVS* code on failure
 *    (never -1/errno). dvk_strerror() names a code.
 *  - The caller's identity is its process (getpid()), established by the
 *    backend from the socket's peer credentials; it is never cached across
 *    fork: a child's first call attaches anew as itself.
 *  - Calls are thread-safe but serialized per process: one thread blocked in
 *    dvk_receive() makes another thread's call of this process wait.
 *  - The backend is found at $VDVK_SOCKET, else /run/vdvk/node$VDVK_NODE.sock,
 *    else /run/vdvk/node0.sock.
 *  - Unlike DVS, message pointers are pointers (DVS's macros cast them to
 *    int, which truncates on 64-bit); programs passing (long) m_ptr still work.
 */
#ifndef VDVK_INCLUDE_DVK_DVK_H
#define VDVK_INCLUDE_DVK_DVK_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1 /* cpu_set_t in the DVS structs */
#endif
#include <sched.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- constants (DVS include/com/com.h) ---------------------------------- */
#ifndef OK
#define OK 0
#endif
#define TIMEOUT_NOWAIT 0
#define TIMEOUT_FOREVER (-1)

#define ANY 0x7ace  /* any process (receive) */
#define NONE 0x6ace /* no process at all */
#define SELF 0x8ace /* the calling process */
#define KERNEL (-1)
#define HARDWARE KERNEL
#define SYSTEM (-2)
#define LOCALNODE (-1)
#define PROC_NO_PID (-1)

#define SELF_BIND 0
#define LCL_BIND 1
#define RMT_BIND 2
#define BKUP_BIND 3
#define REPLICA_BIND 4
#define WAIT_BIND 0
#define WAIT_UNBIND 1
#define MIGR_START 0
#define MIGR_COMMIT 1
#define MIGR_ROLLBACK 2

/* DVS default limits; the backend brings DC 0 up with DC0_* values. */
#define NR_DCS 32
#define NR_NODES 32
#define NR_SYSTASKS 32
#define NR_TASKS 35
#define NR_PROCS 221
#define NR_SYS_PROCS 64
#define MAXCOPYBUF 65536
#define MAXCOPYLEN (1024 * 1024)
#define DC0_NR_TASKS 34
#define MAXPROCNAME 16
#define MAXDCNAME 16
#define MAXNODENAME 16

/* Endpoints: _ENDPOINT(gen, nr) = gen * (NR_TASKS + SELF + 1) + nr. */
#define _ENDPOINT_GENERATION_SIZE (NR_TASKS + SELF + 1)
#define _ENDPOINT(g, p) ((g) * _ENDPOINT_GENERATION_SIZE + (p))
#define _ENDPOINT_G(e) (((e) + NR_TASKS) / _ENDPOINT_GENERATION_SIZE)
#define _ENDPOINT_P(e) ((((e) + NR_TASKS) % _ENDPOINT_GENERATION_SIZE) - NR_TASKS)

/* Notifications. */
#define NOTIFY_MESSAGE 0x1000
#define NOTIFY_FROM(p) (NOTIFY_MESSAGE | (p))
#define NOTIFY_SOURCE m_source
#define NOTIFY_TYPE m_type
#define NOTIFY_FLAGS m9_i1
#define NOTIFY_ARG m9_l1
#define NOTIFY_TIMESTAMP m9_t1

/* p_rts_flags bits reported by dvk_getprocinfo (DVS proc_sts.h). */
#define BIT_SLOT_FREE 0
#define BIT_NO_MAP 1
#define BIT_SENDING 2
#define BIT_RECEIVING 3
#define BIT_WAITMIGR 4
#define BIT_REMOTE 5
#define BIT_RMTOPER 6
#define BIT_MIGRATE 7
#define BIT_ONCOPY 8
#define BIT_WAITBIND 9
#define BIT_WAITUNBIND 10
#define SLOT_FREE (1 << BIT_SLOT_FREE)
#define SENDING (1 << BIT_SENDING)
#define RECEIVING (1 << BIT_RECEIVING)
#define REMOTE (1 << BIT_REMOTE)
#define ONCOPY (1 << BIT_ONCOPY)
#define WAITBIND (1 << BIT_WAITBIND)
#define DC_RUNNING 0x00
#define DC_FREE (1 << 1)

/* ---- error codes (DVS include/com/dvs_errno.h numbering) ---------------- */
#define EDVSGENERIC (-99)
#define EDVSPERM (-1)
#define EDVSNOENT (-2)
#define EDVSSRCH (-3)
#define EDVSINTR (-4)
#define EDVSIO (-5)
#define EDVSNXIO (-6)
#define EDVS2BIG (-7)
#define EDVSNOEXEC (-8)
#define EDVSBADF (-9)
#define EDVSCHILD (-10)
#define EDVSAGAIN (-11)
#define EDVSNOMEM (-12)
#define EDVSACCES (-13)
#define EDVSFAULT (-14)
#define EDVSNOTBLK (-15)
#define EDVSBUSY (-16)
#define EDVSEXIST (-17)
#define EDVSXDEV (-18)
#define EDVSNODEV (-19)
#define EDVSNOTDIR (-20)
#define EDVSISDIR (-21)
#define EDVSINVAL (-22)
#define EDVSNFILE (-23)
#define EDVSMFILE (-24)
#define EDVSNOTTY (-25)
#define EDVSTXTBSY (-26)
#define EDVSFBIG (-27)
#define EDVSNOSPC (-28)
#define EDVSSPIPE (-29)
#define EDVSROFS (-30)
#define EDVSMLINK (-31)
#define EDVSPIPE (-32)
#define EDVSDOM (-33)
#define EDVSRANGE (-34)
#define EDVSDEADLK (-35)
#define EDVSNAMETOOLONG (-36)
#define EDVSNOLCK (-37)
#define EDVSNOSYS (-38)
#define EDVSNOTEMPTY (-39)
#define EDVSLOOP (-40)
#define EDVSPACKSIZE (-50)
#define EDVSOUTOFBUFS (-51)
#define EDVSBADIOCTL (-52)
#define EDVSBADMODE (-53)
#define EDVSWOULDBLOCK (-54)
#define EDVSBADDEST (-55)
#define EDVSDSTNOTRCH (-56)
#define EDVSISCONN (-57)
#define EDVSADDRINUSE (-58)
#define EDVSCONNREFUSED (-59)
#define EDVSCONNRESET (-60)
#define EDVSTIMEDOUT (-61)
#define EDVSURG (-62)
#define EDVSNOURG (-63)
#define EDVSNOTCONN (-64)
#define EDVSSHUTDOWN (-65)
#define EDVSNOCONN (-66)
#define EDVSAFNOSUPPORT (-67)
#define EDVSPROTONOSUPPORT (-68)
#define EDVSPROTOTYPE (-69)
#define EDVSINPROGRESS (-70)
#define EDVSADDRNOTAVAIL (-71)
#define EDVSALREADY (-72)
#define EDVSMSGSIZE (-73)
#define EDVSNOTSOCK (-74)
#define EDVSNOPROTOOPT (-75)
#define EDVSLOCKED (-101)
#define EDVSBADCALL (-102)
#define EDVSBADSRCDST (-103)
#define EDVSCALLDENIED (-104)
#define EDVSDEADSRCDST (-105)
#define EDVSNOTREADY (-106)
#define EDVSBADREQUEST (-107)
#define EDVSSRCDIED (-108)
#define EDVSDSTDIED (-109)
#define EDVSTRAPDENIED (-110)
#define EDVSDONTREPLY (-201)
#define EDVSERRCODE (-300)
#define EDVSBADNODEID (-301)
#define EDVSBADDCID (-302)
#define EDVSDCNOTRUN (-303)
#define EDVSBADPROC (-304)
#define EDVSBADPID (-305)
#define EDVSENDPOINT (-306)
#define EDVSNOPROXY (-307)
#define EDVSRMTPROC (-308)
#define EDVSLCLPROC (-309)
#define EDVSNOTBIND (-310)
#define EDVSPROXYRUN (-311)
#define EDVSACKDST (-312)
#define EDVSACKSRC (-313)
#define EDVSACKWAIT (-314)
#define EDVSNODEBUSY (-315)
#define EDVSNONODE (-316)
#define EDVSDVSBUSY (-317)
#define EDVSDVSINIT (-318)
#define EDVSNODCNODE (-319)
#define EDVSPROCRUN (-320)
#define EDVSNOMSG (-321)
#define EDVSDCRUN (-323)
#define EDVSPROCSTS (-324)
#define EDVSNODEFREE (-325)
#define EDVSDCNODE (-326)
#define EDVSBADPROXY (-327)
#define EDVSONCOPY (-328)
#define EDVSENQUEUED (-329)
#define EDVSOVERRUN (-330)
#define EDVSBADOWNER (-331)
#define EDVSMIGRATE (-332)
#define EDVSPROXYFREE (-333)
#define EDVSGRPLEADER (-334)
#define EDVSPRIVILEGES (-335)
#define EDVSBINDTYPE (-336)
#define EDVSSLOTUSED (-337)
#define EDVSBADRANGE (-338)
#define EDVSBADVALUE (-339)
#define EDVSBADDIR (-340)
#define EDVSBADFILE (-341)
#define EDVSRSCBUSY (-342)
#define EDVSNAMESIZE (-343)
#define EDVSALLOCMEM (-344)
#define EDVSPROXYID (-345)
#define EDVSREPLPROC (-346)
#define EDVSALIGN (-347)
#define EDVSWOKENUP (-348)

/* ---- the message: MINIX layouts, fixed 64 bytes on every architecture ---- */
#define M3_STRING 14
#define MD5_SIZE 16
#define MC_STRING (M3_STRING - 4)
#define SLOTS_BY_MSG 4

/* 8-byte aligned everywhere (i386 aligns int64_t to 4 otherwise). */
#define DVK_ALIGN8 __attribute__((aligned(8)))
/* A pointer field that is 8 bytes everywhere (a peer's address, for vcopy). */
#define DVK_PTR(name) union { char *name; uint64_t name##_u64 DVK_ALIGN8; }
#define DVK_LONG(name) int64_t name DVK_ALIGN8

typedef struct { int32_t m1i1, m1i2, m1i3; DVK_PTR(m1p1); DVK_PTR(m1p2); DVK_PTR(m1p3); } mess_1;
typedef struct { int32_t m2i1, m2i2, m2i3; DVK_LONG(m2l1); DVK_LONG(m2l2); DVK_PTR(m2p1); } mess_2;
typedef struct { int32_t m3i1, m3i2; DVK_PTR(m3p1); char m3ca1[M3_STRING]; } mess_3;
typedef struct { DVK_LONG(m4l1); DVK_LONG(m4l2); DVK_LONG(m4l3); DVK_LONG(m4l4); DVK_LONG(m4l5); } mess_4;
typedef struct { int16_t m5c1, m5c2; int32_t m5i1, m5i2; DVK_LONG(m5l1); DVK_LONG(m5l2); DVK_LONG(m5l3); } mess_5;
typedef struct { char m6ca1[sizeof(mess_3)]; } mess_6;
typedef struct { int32_t m7i1, m7i2, m7i3, m7i4; DVK_PTR(m7p1); DVK_PTR(m7p2); } mess_7;
typedef struct { int32_t m8i1, m8i2; DVK_PTR(m8p1); DVK_PTR(m8p2); DVK_PTR(m8p3); DVK_PTR(m8p4); } mess_8;
typedef struct { DVK_LONG(tv_sec); DVK_LONG(tv_nsec); } dvk_timespec_t;
typedef struct { int32_t m9i1, m9l1; dvk_timespec_t m9t1; } mess_9;
typedef struct { int32_t mAdst, mAnr, mAia[SLOTS_BY_MSG]; } mess_A;
typedef struct { DVK_LONG(mBnr); char mBmd5[MD5_SIZE]; } mess_B;
typedef struct { int32_t mCi1, mCi2, mCi3, mCi4; char mCca1[MC_STRING]; } mess_C;

typedef struct {
	int32_t m_source; /* who sent the message: always set by the backend */
	int32_t m_type;   /* what kind of message is it */
	union {
		mess_1 m_m1; mess_2 m_m2; mess_3 m_m3; mess_4 m_m4; mess_5 m_m5; mess_6 m_m6;
		mess_7 m_m7; mess_8 m_m8; mess_9 m_m9; mess_A m_mA; mess_B m_mB; mess_C m_mC;
		uint8_t m_raw[56];
	} m_u;
} message;

#define m1_i1 m_u.m_m1.m1i1
#define m1_i2 m_u.m_m1.m1i2
#define m1_i3 m_u.m_m1.m1i3
#define m1_p1 m_u.m_m1.m1p1
#define m1_p2 m_u.m_m1.m1p2
#define m1_p3 m_u.m_m1.m1p3
#define m2_i1 m_u.m_m2.m2i1
#define m2_i2 m_u.m_m2.m2i2
#define m2_i3 m_u.m_m2.m2i3
#define m2_l1 m_u.m_m2.m2l1
#define m2_l2 m_u.m_m2.m2l2
#define m2_p1 m_u.m_m2.m2p1
#define m3_i1 m_u.m_m3.m3i1
#define m3_i2 m_u.m_m3.m3i2
#define m3_p1 m_u.m_m3.m3p1
#define m3_ca1 m_u.m_m3.m3ca1
#define m4_l1 m_u.m_m4.m4l1
#define m4_l2 m_u.m_m4.m4l2
#define m4_l3 m_u.m_m4.m4l3
#define m4_l4 m_u.m_m4.m4l4
#define m4_l5 m_u.m_m4.m4l5
#define m5_c1 m_u.m_m5.m5c1
#define m5_c2 m_u.m_m5.m5c2
#define m5_i1 m_u.m_m5.m5i1
#define m5_i2 m_u.m_m5.m5i2
#define m5_l1 m_u.m_m5.m5l1
#define m5_l2 m_u.m_m5.m5l2
#define m5_l3 m_u.m_m5.m5l3
#define m6_ca1 m_u.m_m6.m6ca1
#define m7_i1 m_u.m_m7.m7i1
#define m7_i2 m_u.m_m7.m7i2
#define m7_i3 m_u.m_m7.m7i3
#define m7_i4 m_u.m_m7.m7i4
#define m7_p1 m_u.m_m7.m7p1
#define m7_p2 m_u.m_m7.m7p2
#define m8_i1 m_u.m_m8.m8i1
#define m8_i2 m_u.m_m8.m8i2
#define m8_p1 m_u.m_m8.m8p1
#define m8_p2 m_u.m_m8.m8p2
#define m8_p3 m_u.m_m8.m8p3
#define m8_p4 m_u.m_m8.m8p4
#define m9_i1 m_u.m_m9.m9i1
#define m9_l1 m_u.m_m9.m9l1
#define m9_t1 m_u.m_m9.m9t1
#define mA_nr m_u.m_mA.mAnr
#define mA_dst m_u.m_mA.mAdst
#define mA_ia m_u.m_mA.mAia
#define mB_nr m_u.m_mB.mBnr
#define mB_md5 m_u.m_mB.mBmd5
#define mC_i1 m_u.m_mC.mCi1
#define mC_i2 m_u.m_mC.mCi2
#define mC_i3 m_u.m_mC.mCi3
#define mC_i4 m_u.m_mC.mCi4
#define mC_ca1 m_u.m_mC.mCca1

#define MSG1_FORMAT "source=%d type=%d m1i1=%d m1i2=%d m1i3=%d m1p1=%p m1p2=%p m1p3=%p \n"
#define MSG1_FIELDS(p) (p)->m_source, (p)->m_type, (p)->m1_i1, (p)->m1_i2, (p)->m1_i3, (void *)(p)->m1_p1, (void *)(p)->m1_p2, (void *)(p)->m1_p3
#define MSG2_FORMAT "source=%d type=%d m2i1=%d m2i2=%d m2i3=%d m2l1=%ld m2l2=%ld m2p1=%p\n"
#define MSG2_FIELDS(p) (p)->m_source, (p)->m_type, (p)->m2_i1, (p)->m2_i2, (p)->m2_i3, (long)(p)->m2_l1, (long)(p)->m2_l2, (void *)(p)->m2_p1
#define MSG3_FORMAT "source=%d type=%d m3i1=%d m3i2=%d m3p1=%p m3ca1=[%s]\n"
#define MSG3_FIELDS(p) (p)->m_source, (p)->m_type, (p)->m3_i1, (p)->m3_i2, (void *)(p)->m3_p1, (p)->m3_ca1
#define MSG4_FORMAT "source=%d type=%d m4l1=%ld m4l2=%ld m4l3=%ld m4l4=%ld m4l5=%ld\n"
#define MSG4_FIELDS(p) (p)->m_source, (p)->m_type, (long)(p)->m4_l1, (long)(p)->m4_l2, (long)(p)->m4_l3, (long)(p)->m4_l4, (long)(p)->m4_l5
#define MSG9_FORMAT "source=%d type=%d m9i1=%d m9l1=%d m9t1.tv_sec=%ld m9t1.tv_nsec=%ld\n"
#define MSG9_FIELDS(p) (p)->m_source, (p)->m_type, (p)->m9_i1, (p)->m9_l1, (long)(p)->m9_t1.tv_sec, (long)(p)->m9_t1.tv_nsec

/* ---- user-visible structs (DVS field names and types) -------------------- */
typedef struct dc_usr {
	int dc_dcid;
	int dc_flags;
	int dc_nr_procs;
	int dc_nr_tasks;
	int dc_nr_sysprocs;
	int dc_nr_nodes;
	unsigned long int dc_nodes;
	int dc_warn2proc;
	int dc_warnmsg;
	pid_t dc_pid;
	char dc_name[MAXDCNAME];
	cpu_set_t dc_cpumask;
} dc_usr_t;
#define DC_USR1_FORMAT "dc_dcid=%d dc_nr_procs=%d dc_nr_tasks=%d dc_nr_sysprocs=%d dc_nr_nodes=%d\n"
#define DC_USR1_FIELDS(p) (p)->dc_dcid, (p)->dc_nr_procs, (p)->dc_nr_tasks, (p)->dc_nr_sysprocs, (p)->dc_nr_nodes
#define DC_USR2_FORMAT "flags=%X dc_nodes=%lX dc_pid=%ld dc_name=%s\n"
#define DC_USR2_FIELDS(p) (p)->dc_flags, (p)->dc_nodes, (long)(p)->dc_pid, (p)->dc_name

typedef struct proc_usr {
	int p_nr;
	int p_endpoint;
	int p_dcid;
	volatile unsigned long p_rts_flags;
	int p_lpid;
	int p_vpid;
	int p_nodeid;
	unsigned long p_nodemap;
	volatile unsigned long p_misc_flags;
	int p_getfrom;
	int p_sendto;
	int p_waitmigr;
	int p_waitunbind;
	int p_proxy;
	unsigned long p_lclsent;
	unsigned long p_rmtsent;
	unsigned long p_lclcopy;
	unsigned long p_rmtcopy;
	char p_name[MAXPROCNAME];
	cpu_set_t p_cpumask;
} proc_usr_t;
#define PROC_USR_FORMAT "nr=%d endp=%d dcid=%d flags=%lX misc=%lX lpid=%d vpid=%d nodeid=%d name=%s \n"
#define PROC_USR_FIELDS(p) (p)->p_nr, (p)->p_endpoint, (p)->p_dcid, (p)->p_rts_flags, (p)->p_misc_flags, (p)->p_lpid, (p)->p_vpid, (p)->p_nodeid, (p)->p_name
#define PROC_COUNT_FORMAT "nr=%d endp=%d dcid=%d p_lclsent=%ld p_rmtsent=%ld p_lclcopy=%ld p_rmtcopy=%ld \n"
#define PROC_COUNT_FIELDS(p) (p)->p_nr, (p)->p_endpoint, (p)->p_dcid, (p)->p_lclsent, (p)->p_rmtsent, (p)->p_lclcopy, (p)->p_rmtcopy

typedef struct dvs_usr {
	char d_name[MAXPROCNAME];
	int d_nr_dcs;
	int d_nr_nodes;
	int d_nr_procs;
	int d_nr_tasks;
	int d_nr_sysprocs;
	int d_max_copybuf;
	int d_max_copylen;
	unsigned long int d_dbglvl;
	int d_version;
	unsigned long d_flags;
	int d_size_proc;
} dvs_usr_t;
#define DVS_USR_FORMAT "d_name=%s d_nr_dcs=%d d_nr_nodes=%d d_nr_procs=%d d_nr_tasks=%d d_nr_sysprocs=%d \n"
#define DVS_USR_FIELDS(p) (p)->d_name, (p)->d_nr_dcs, (p)->d_nr_nodes, (p)->d_nr_procs, (p)->d_nr_tasks, (p)->d_nr_sysprocs
#define DVS_MAX_FORMAT "d_max_copybuf=%d d_max_copylen=%d\n"
#define DVS_MAX_FIELDS(p) (p)->d_max_copybuf, (p)->d_max_copylen

#define NODE_FREE 0
#define NODE_ATTACHED (1 << 1)
typedef struct node_usr {
	int n_nodeid;
	volatile unsigned long n_flags;
	int n_proxies;
	unsigned long int n_dcs;
	struct timespec n_stimestamp;
	struct timespec n_rtimestamp;
	unsigned long n_pxsent;
	unsigned long n_pxrcvd;
	char n_name[MAXNODENAME];
} node_usr_t;
#define NODE_USR_FORMAT "n_nodeid=%d n_proxies=%d n_flags=%lX n_dcs=%lX n_name=%s\n"
#define NODE_USR_FIELDS(p) (p)->n_nodeid, (p)->n_proxies, (p)->n_flags, (p)->n_dcs, (p)->n_name

typedef struct priv_usr {
	int priv_id;
	int priv_warn;
	int priv_level;
	int priv_reserved;
} priv_usr_t;

/* ---- calls ---------------------------------------------------------------- */
long dvk_open(void);  /* attach now (optional: any call attaches); 0 or EDVS* */
long dvk_close(void); /* detach this process */
const char *dvk_strerror(long code);

long dvk_dvs_init(int nodeid, dvs_usr_t *dvsu_ptr); /* EDVSDVSINIT: the backend is the DVS */
long dvk_dvs_end(void);
long dvk_getdvsinfo(dvs_usr_t *dvsu_ptr); /* returns the local node id */
long dvk_dc_init(dc_usr_t *dcu_ptr);
long dvk_dc_end(int dcid);
long dvk_getdcinfo(int dcid, dc_usr_t *dcu_ptr);
long dvk_getprocinfo(int dcid, int p_nr, proc_usr_t *p_usr);
long dvk_getnodeinfo(int nodeid, node_usr_t *nodeu_ptr);
long dvk_add_node(int dcid, int nodeid);
long dvk_del_node(int dcid, int nodeid);
#define dvk_addnode dvk_add_node
#define dvk_delnode dvk_del_node
long dvk_node_up(char *name, int nodeid, int pxid);
long dvk_node_down(int nodeid);

long dvk_bind_X(int cmd, int dcid, int pid, int endpoint, int nodeid);
long dvk_rmtbind_X(int dcid, const char *name, int endpoint, int nodeid);
#define dvk_bind(dcid, endpoint) dvk_bind_X(SELF_BIND, dcid, (-1), endpoint, LOCALNODE)
#define dvk_tbind(dcid, endpoint) dvk_bind_X(SELF_BIND, dcid, (-1), endpoint, LOCALNODE)
#define dvk_lclbind(dcid, pid, endpoint) dvk_bind_X(LCL_BIND, dcid, pid, endpoint, LOCALNODE)
#define dvk_rmtbind(dcid, name, endpoint, nodeid) dvk_rmtbind_X(dcid, (const char *)(name), endpoint, nodeid)
#define dvk_bkupbind(dcid, pid, endpoint, nodeid) dvk_bind_X(BKUP_BIND, dcid, pid, endpoint, nodeid)
#define dvk_replbind(dcid, pid, endpoint) dvk_bind_X(REPLICA_BIND, dcid, pid, endpoint, LOCALNODE)
long dvk_unbind_T(int dcid, int endpoint, long timeout_ms);
#define dvk_unbind(dcid, ep) dvk_unbind_T(dcid, ep, TIMEOUT_FOREVER)
long dvk_getep(int pid); /* endpoint of local process pid, or EDVSNOTBIND */
long dvk_wait4bindep_X(int cmd, int endpoint, long timeout_ms);
#define dvk_wait4bind() dvk_wait4bindep_X(WAIT_BIND, SELF, TIMEOUT_FOREVER)
#define dvk_wait4bindep(ep) dvk_wait4bindep_X(WAIT_BIND, ep, TIMEOUT_FOREVER)
#define dvk_wait4unbind(ep) dvk_wait4bindep_X(WAIT_UNBIND, ep, TIMEOUT_FOREVER)
#define dvk_wait4bind_T(to) dvk_wait4bindep_X(WAIT_BIND, SELF, to)
#define dvk_wait4bindep_T(ep, to) dvk_wait4bindep_X(WAIT_BIND, ep, to)
#define dvk_wait4unbind_T(ep, to) dvk_wait4bindep_X(WAIT_UNBIND, ep, to)

long dvk_send_T(int endpoint, message *mptr, long timeout_ms);
long dvk_receive_T(int endpoint, message *mptr, long timeout_ms);
long dvk_sendrec_T(int endpoint, message *mptr, long timeout_ms);
long dvk_reply_T(int endpoint, message *mptr, long timeout_ms);
long dvk_rcvrqst_T(message *mptr, long timeout_ms);
long dvk_relay(int endpoint, message *mptr);
#define dvk_send(dst_ep, m) dvk_send_T(dst_ep, (message *)(m), TIMEOUT_FOREVER)
#define dvk_receive(src_ep, m) dvk_receive_T(src_ep, (message *)(m), TIMEOUT_FOREVER)
#define dvk_sendrec(ep, m) dvk_sendrec_T(ep, (message *)(m), TIMEOUT_FOREVER)
#define dvk_reply(dst_ep, m) dvk_reply_T(dst_ep, (message *)(m), TIMEOUT_FOREVER)
#define dvk_rcvrqst(m) dvk_rcvrqst_T((message *)(m), TIMEOUT_FOREVER)

long dvk_notify_X(int src_nr, int dst_ep, int value);
#define dvk_notify(dst_ep) dvk_notify_X(SELF, dst_ep, HARDWARE)
#define dvk_hdw_notify(dcid, dst_ep) dvk_notify_X(HARDWARE, dst_ep, dcid)
#define dvk_ntfy_value(src_nr, dst_ep, value) dvk_notify_X(src_nr, dst_ep, value)
#define dvk_src_notify(src_nr, dst_ep) dvk_notify_X(src_nr, dst_ep, HARDWARE)

long dvk_vcopy(int src_ep, void *src_addr, int dst_ep, void *dst_addr, int bytes);
long dvk_wakeup(int dcid, int dst_ep);
long dvk_getpriv(int dcid, int endpoint, priv_usr_t *priv);
long dvk_setpriv(int dcid, int endpoint, priv_usr_t *priv);
long dvk_migrate_X(int cmd, int pid, int dcid, int endpoint, int nodeid);

/* vdvk extension: backend counters (struct vdvk_stats in wire/vdvk_ring.h). */
struct vdvk_stats;
long dvk_stats(struct vdvk_stats *out);

#ifdef __cplusplus
} /* extern "C" */
static_assert(sizeof(message) == 64, "message is 64 bytes");
#else
_Static_assert(sizeof(message) == 64, "message is 64 bytes");
#endif

#endif /* VDVK_INCLUDE_DVK_DVK_H */
