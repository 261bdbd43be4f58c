/* SPDX-License-Identifier: MIT */
#ifndef HORUS_TESTS_FUZZ_SEGMENT_H
#define HORUS_TESTS_FUZZ_SEGMENT_H

/*
 * The script language of fuzz-segment (see the top of fuzz-segment.c), shared with the corpus
 * generator so that its seeds speak it. Append new codes at the end (codes are taken modulo
 * OP_COUNT), so that the kept corpus files keep their meaning as far as possible.
 */

/* cfg flags */
#define CFG_KIND_ANY 0u
#define CFG_KIND_HUB 1u
#define CFG_KIND_LINK 2u
#define CFG_KIND_FOREIGN 3u
#define CFG_PAD_FILE 4u

enum fuzz_op {
	OP_POKE8,	  /* off:u16 val:u64      8 bytes anywhere in the segment */
	OP_POKE4,	  /* off:u16 val:u32      4 bytes anywhere in the segment */
	OP_STAMP,	  /* slot:u8 delta:i16 bits:u8   slot stamp for sequence head+delta */
	OP_STAMP_RAW,	  /* slot:u8 val:u64 */
	OP_LEN,		  /* slot:u8 len:u32      small lengths mostly, raw if bit 31 */
	OP_COUNTER,	  /* which:u8 val:u64     see set_counter(); bit 7: 32-bit ones */
	OP_COUNTER_REL,	  /* which:u8 delta:i16   the same, relative to the current value */
	OP_PART,	  /* i:u8 role:u8 gen:u8 waiting:u8 */
	OP_READER_INIT,	  /* last_n:u32 */
	OP_HUB_READ,	  /* cap:u16 count:u8 */
	OP_HUB_NEXT_LEN,  /* - */
	OP_HUB_TAKE,	  /* flags:u8             bit 0: overwrite the stamp before the check */
	OP_HUB_WAIT,	  /* -                    timeout 0 */
	OP_REAP_ALL,	  /* - */
	OP_PART_CLAIM,	  /* role:u8              claim if we hold none, else release */
	OP_PART_REAP,	  /* i:u8 */
	OP_LINK_RECV,	  /* cap:u16 count:u8     consumer end (initialised on first use) */
	OP_LINK_SEND,	  /* len:u16 count:u8     producer end (initialised on first use) */
	OP_LINK_LOAN,	  /* len:u16 */
	OP_LINK_WAIT,	  /* -                    both ends, timeout 0 */
	OP_LINK_REINIT,	  /* -                    forget both ends: next use re-initialises */
	OP_HUB_PUBLISH,	  /* len:u16 flags:u8     bit 0: discard, 1: stamp changed meanwhile */
	OP_HUB_LOAN_FIND, /* off:u16 */
	OP_VALIDATE,	  /* kind:u8              shm_validate() on the live header */
	OP_COUNT,
};

#endif /* HORUS_TESTS_FUZZ_SEGMENT_H */
