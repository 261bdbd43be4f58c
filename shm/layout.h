/* SPDX-License-Identifier: MIT */
#ifndef HORUS_SHM_LAYOUT_H
#define HORUS_SHM_LAYOUT_H

/*
 * The bytes of a segment, as every process sees them. Everything here is shared with processes
 * we do not trust to be well-behaved: readers copy the geometry once, validate it, and never
 * re-read it; every index taken from shared memory is masked or bounds-checked before use.
 *
 *   [struct shm_header][slot 0][slot 1]...[slot capacity-1]
 *
 * A slot is struct shm_slot followed by max_msg payload bytes, padded to a cache line.
 *
 * Bump SHM_LAYOUT_VERSION on any change to these structs or to the meaning of a field.
 */

#include <stdalign.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define SHM_MAGIC UINT64_C(0x314d48535355524f) /* "ORUSSHM1" little-endian, after 'H' */
#define SHM_LAYOUT_VERSION 3u
#define SHM_READY UINT32_C(0x59444552) /* "REDY" */
#define SHM_CACHELINE 64u
#define SHM_PARTICIPANTS 64u

enum shm_role {
	SHM_ROLE_NONE = 0,
	SHM_ROLE_PUB = 1,
	SHM_ROLE_SUB = 2,
	SHM_ROLE_PRODUCER = 3,
	SHM_ROLE_CONSUMER = 4,
};

/*
 * One attached handle. Ownership of entry i is an OFD write lock on byte
 * SHM_LOCK_PART(i) of the segment file: the kernel drops it when the holder dies, so a free lock
 * with role != NONE means a dead participant whose leftovers may be reclaimed.
 */
struct shm_participant {
	_Atomic uint32_t role;
	_Atomic uint32_t gen;
	_Atomic int32_t pid;
	_Atomic uint32_t active; /* hub sole publisher: odd while inside a claim or commit */
	uint32_t reserved[4];
};

struct shm_header {
	/* Fixed offsets: identity and geometry, written once by the creator before `ready`. */
	uint64_t magic;		/* 0 */
	uint32_t version;	/* 8 */
	uint32_t header_size;	/* 12: sizeof(struct shm_header) */
	uint64_t total_size;	/* 16 */
	uint32_t kind;		/* 24: enum horus_kind */
	uint32_t capacity;	/* 28: power of two */
	uint32_t max_msg;	/* 32 */
	uint32_t slot_stride;	/* 36 */
	uint64_t slots_offset;	/* 40 */
	_Atomic uint32_t ready; /* 48: SHM_READY, stored last */
	int32_t creator_pid;	/* 52 */
	uint32_t creator_uid;	/* 56 */
	uint32_t reserved0;	/* 60 */
	char name[208];		/* 64: the topic name, NUL-terminated */
	uint8_t reserved1[240]; /* room to grow without moving the hot fields */

	/* Written by publishers (hub) or the producer (link). */
	alignas(SHM_CACHELINE) _Atomic uint64_t head; /* hub: next sequence to claim;
						       * link: next sequence to send */
	_Atomic uint64_t messages;		      /* committed messages */
	_Atomic uint64_t bytes;			      /* committed payload bytes */
	_Atomic uint64_t holes;			      /* hub: sequences with no message */
	_Atomic uint32_t solo; /* hub: the sole publisher's participant index + 1 (0: none),
				* | SOLO_REVOKING while another writer takes the privilege away.
				* On this line because the sole publisher writes it anyway. */

	/* Written by the consumer (link). */
	alignas(SHM_CACHELINE) _Atomic uint64_t tail; /* link: next sequence to receive */

	/*
	 * Sleepers: participant i sets bit i before each futex wait, and clears it when it
	 * stops waiting; a waker takes (exchanges to 0) the bits it wakes, so a sleeper that is
	 * stopped costs one wake-up. One atomic OR registers and one AND leaves, so a sleeper
	 * killed at any instant leaves at most its own bit, which whoever reclaims its entry
	 * clears. Futex words count wake-ups, not messages.
	 */
	alignas(SHM_CACHELINE) _Atomic uint32_t data_futex;
	_Atomic uint32_t space_futex; /* link: producer waits for room */
	_Atomic uint64_t data_sleepers;
	_Atomic uint64_t space_sleepers;

	/* Bookkeeping, rarely written. */
	alignas(SHM_CACHELINE) _Atomic uint32_t publishers;
	_Atomic uint32_t subscribers;
	_Atomic uint64_t lost; /* hub: sum over subscribers */

	alignas(SHM_CACHELINE) struct shm_participant parts[SHM_PARTICIPANTS];
};

/*
 * Slot header. stamp packs the slot's state so that it changes in one atomic step:
 *   bits 63..8  sequence + 1 of the message in the slot (0: never used)
 *   bits  7..2  participant index of the writer (meaningful while BUSY)
 *   bit      1  HOLE: the sequence carries no message (discarded, or its writer died)
 *   bit      0  BUSY: a writer owns the slot
 * Hub readers use it as a seqlock: a copy is valid if the stamp was committed before and is
 * unchanged after. Link slots only ever hold committed stamps (seq + 1) << 8.
 */
struct shm_slot {
	_Atomic uint64_t stamp;
	_Atomic uint32_t len;
	_Atomic uint32_t counted; /* hub: counted_tag() of the message whose writer added it to
				   * `messages`; anything else (a lap-old tag, 0): not counted */
				  /* payload follows */
};

#define SHM_SLOT_HDR ((uint32_t)sizeof(struct shm_slot))

#define SOLO_REVOKING UINT32_C(0x80000000)
#define SOLO_PART_MASK UINT32_C(0x7fffffff)

#define STAMP_BUSY UINT64_C(1)
#define STAMP_HOLE UINT64_C(2)
#define STAMP_OWNER_SHIFT 2
#define STAMP_OWNER_MASK UINT64_C(0x3f)
#define STAMP_SEQ_SHIFT 8

static inline uint64_t stamp_seq1(uint64_t st)
{
	return st >> STAMP_SEQ_SHIFT; /* sequence + 1, 0 for an unused slot */
}

static inline uint32_t stamp_owner(uint64_t st)
{
	return (uint32_t)((st >> STAMP_OWNER_SHIFT) & STAMP_OWNER_MASK);
}

/* The `counted` mark of the message a (busy) stamp names: never 0, and differs from the mark
 * of the same slot's message a lap earlier (capacity is far below 2^32). */
static inline uint32_t counted_tag(uint64_t st)
{
	return (uint32_t)stamp_seq1(st) | 1u;
}

static inline uint64_t stamp_make(uint64_t seq, uint32_t owner, uint64_t flags)
{
	return ((seq + 1) << STAMP_SEQ_SHIFT) | ((uint64_t)owner << STAMP_OWNER_SHIFT) | flags;
}

/*
 * Byte offsets locked (OFD locks, never written through the lock) to prove liveness.
 * They lie inside the header so that one lock over [0, header_size) tells whether anyone
 * holds the segment at all.
 */
#define SHM_LOCK_CREATOR ((off_t)offsetof(struct shm_header, ready))
#define SHM_LOCK_PART(i)                                                                           \
	((off_t)(offsetof(struct shm_header, parts) + (size_t)(i) * sizeof(struct shm_participant)))
#define SHM_LOCK_PRODUCER ((off_t)offsetof(struct shm_header, reserved1))
#define SHM_LOCK_CONSUMER ((off_t)offsetof(struct shm_header, reserved1) + 1)

_Static_assert(offsetof(struct shm_header, ready) == 48, "ready offset is ABI");
_Static_assert(offsetof(struct shm_header, name) == 64, "name offset is ABI");
_Static_assert(sizeof(struct shm_slot) == 16, "slot header is 16 bytes");
_Static_assert(sizeof(struct shm_participant) == 32, "participant entries pack two per line");
_Static_assert(SHM_PARTICIPANTS <= 64, "one sleeper bit per participant");
_Static_assert(sizeof(struct shm_header) % SHM_CACHELINE == 0, "header keeps slots aligned");

#endif /* HORUS_SHM_LAYOUT_H */
