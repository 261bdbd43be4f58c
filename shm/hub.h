/* SPDX-License-Identifier: MIT */
#ifndef HORUS_SHM_HUB_H
#define HORUS_SHM_HUB_H

/*
 * Hub ring: many writers, many readers, broadcast, lossy for slow readers.
 *
 * Writers claim a sequence number with fetch_add on `head`, then take the slot (seq % capacity)
 * by CAS on its stamp, write, and commit by storing the stamp unbusy. Readers follow their own
 * position and validate every copy with the stamp (a seqlock), so a read is never torn.
 * A writer never waits for readers; it waits for another writer only when it laps a slot that
 * writer still holds, and reclaims it if that writer is dead.
 */

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "segment.h"

/* A reader gives up on a sequence that stays unreadable this long while later ones exist. */
#define HUB_STALL_NS (250ull * 1000 * 1000)
/* A writer waits this long for a live writer that holds the slot it laps, then gives up. */
#define HUB_LAP_WAIT_NS (100ull * 1000 * 1000)

struct hub_reader {
	uint64_t next;	       /* next sequence to read */
	uint64_t lost;	       /* total lost */
	uint64_t received;     /* total received */
	uint64_t pending_lost; /* lost since the last delivered message */
	uint64_t stall_seq;
	uint64_t stale_seq; /* seq + 1 of the last sample found stale by hub_check */
	uint64_t stall_since;
	uint32_t misses;
	bool chasing; /* lapped since it last caught up */
};

struct hub_loan {
	struct shm_slot *slot;
	uint64_t busy; /* the stamp we put on the slot */
	uint32_t len;
};

/*
 * A publisher handle's writer state. The first thread that writes through the handle may become
 * the topic's sole publisher when no other publisher exists: it then claims and commits with
 * plain stores and no fence (hub.c, "sole publisher"). Any other writer, another thread of the
 * same handle included, takes the privilege away before writing.
 */
struct hub_writer {
	_Atomic uint64_t thread;  /* token of the first thread that wrote through the handle */
	_Atomic bool shared_only; /* another thread wrote through it too: never sole again */
	/* Used by that first thread only: */
	bool solo;	    /* it holds the topic's sole-publisher privilege */
	uint32_t active;    /* its copy of parts[me].active: odd inside a claim/commit */
	uint32_t countdown; /* claims until the next try to become sole */
};

/* Claim/commit/discard through a handle's writer state (what libhorus uses). */
int hub_writer_claim(struct shm_seg *seg, struct hub_writer *w, uint32_t len, bool store_len,
		     struct hub_loan *ret);
void hub_writer_commit(struct shm_seg *seg, struct hub_writer *w, const struct hub_loan *loan);
void hub_writer_discard(struct shm_seg *seg, struct hub_writer *w, const struct hub_loan *loan);
/* Called when participant i is reclaimed or leaves: a privilege in its name lapses. */
void hub_solo_forget(struct shm_seg *seg, uint32_t i);

/*
 * Writer without handle state: always the shared protocol (taking a sole publisher's privilege
 * away first). me = our participant index. -EMSGSIZE, -EAGAIN (lapped a slot held too long, or
 * a sole publisher stopped inside a claim for as long).
 */
int hub_claim(struct shm_seg *seg, uint32_t me, uint32_t len, struct hub_loan *ret);
/* store_len false: the length is written only at commit (the copy path knows it then). */
int hub_claim_ex(struct shm_seg *seg, uint32_t me, uint32_t len, bool store_len,
		 struct hub_loan *ret);
void hub_commit(struct shm_seg *seg, const struct hub_loan *loan);
void hub_discard(struct shm_seg *seg, const struct hub_loan *loan);
/* Takes back the message count of a slot whose writer (busy stamp `busy`) counted it but never
 * committed it. */
void hub_uncount(struct shm_seg *seg, struct shm_slot *slot, uint64_t busy);
/* Finds our open loan whose payload is at buf; -EINVAL if there is none. */
int hub_loan_find(struct shm_seg *seg, uint32_t me, const void *buf, struct hub_loan *ret);

/* Reader. */
void hub_reader_init(struct shm_seg *seg, struct hub_reader *rd, uint32_t last_n);
int hub_read(struct shm_seg *seg, struct hub_reader *rd, void *buf, size_t cap, uint64_t *ret_seq,
	     uint64_t *ret_lost);
int hub_next_len(struct shm_seg *seg, struct hub_reader *rd);
int hub_take(struct shm_seg *seg, struct hub_reader *rd, const void **ret_data, size_t *ret_len,
	     uint64_t *ret_seq, uint64_t *ret_stamp, uint64_t *ret_lost);
int hub_check(struct shm_seg *seg, struct hub_reader *rd, uint64_t seq, uint64_t stamp);
int hub_wait(struct shm_seg *seg, struct hub_reader *rd, int64_t timeout_ns);

#endif /* HORUS_SHM_HUB_H */
