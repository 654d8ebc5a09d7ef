/*
 * vcopy_proto.h - the little protocol between guest_dvk's "vcopy" mode (in a
 * UML guest) and vcopy_peer (a host process): the peer owns a buffer, the
 * guest moves bytes in and out of it with dvk_vcopy while the peer sits in
 * receive, and asks the peer to fill or check it between copies.
 */
#ifndef VDVK_VCOPY_PROTO_H
#define VDVK_VCOPY_PROTO_H

#include <stdint.h>

#define VC_ADDR 0x5601  /* reply: m1_p1 = buffer address, m1_i1 = its size */
#define VC_FILL 0x5602  /* m1_i1 seed, m1_i2 bytes: fill with the pattern; reply m1_i1 = 0 */
#define VC_CHECK 0x5603 /* m1_i1 seed, m1_i2 bytes: reply m1_i1 = 0, or 1 + first bad index */
#define VC_QUIT 0x5604  /* reply, then unbind and exit */
#define VC_PUSH 0x5605  /* m1_i2 bytes, m1_p1 an address of the sender: the peer vcopies
			 * its buffer there itself; reply m1_i1 = that vcopy's result */

/* Differs per seed and per page, so a misplaced page shows. */
static inline uint8_t vc_pattern(int seed, uint64_t i)
{
	return (uint8_t)((i * 131 + (uint64_t)seed * 7 + (i >> 12)) ^ (uint64_t)seed);
}

#endif
