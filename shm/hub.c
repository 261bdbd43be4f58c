/* SPDX-License-Identifier: MIT */
/* Hub ring operations: claim/commit for writers, seqlock reads, futex waits. See hub.h. */

#include <errno.h>
#include <stdbool.h>
#include <sched.h>
#include <string.h>

#include "hub.h"

#if defined(__x86_64__) || defined(__i386__)
#define cpu_relax() __builtin_ia32_pause()
#elif defined(__aarch64__)
#define cpu_relax() __asm__ __volatile__("yield" ::: "memory")
#else
#define cpu_relax() ((void)0)
#endif

/* Readers check for a stuck sequence once per this many empty polls (a power of two). */
#define STUCK_CHECK_EVERY 4096u

/* ---- writer ------------------------------------------------------------------------------ */

/*
 * Sequence numbers of this slot's earlier laps, before `seq`, that carry no message: claimed by
 * a writer that never wrote (died between claim and write, or gave up), or left busy by one
 * that died. Counted by the writer that takes the slot over, so each is counted exactly once;
 * a writer that finds itself lapped counts nothing.
 */
static uint64_t holes_behind(uint64_t cur, uint64_t seq, uint32_t capacity)
{
	uint64_t v = stamp_seq1(cur), prev, n;

	if (v == 0) {
		return seq / capacity; /* a slot never written before */
	}
	prev = v - 1;
	if (prev >= seq || (seq - prev) % capacity != 0) {
		return 0; /* a corrupt stamp: nothing to say about the past */
	}
	n = (seq - prev) / capacity - 1;
	if (cur & STAMP_BUSY) {
		n++; /* its writer died mid-write */
	}
	return n;
}

int hub_claim(struct shm_seg *seg, uint32_t me, uint32_t len, struct hub_loan *ret)
{
	return hub_claim_ex(seg, me, len, true, ret);
}

int hub_claim_ex(struct shm_seg *seg, uint32_t me, uint32_t len, bool store_len,
		 struct hub_loan *ret)
{
	struct shm_header *h = seg->hdr;

	if (len > seg->max_msg) {
		return -EMSGSIZE;
	}
	for (;;) {
		uint64_t seq = atomic_fetch_add_explicit(&h->head, 1, memory_order_relaxed);
		struct shm_slot *slot = shm_slot_at(seg, seq);
		uint64_t busy = stamp_make(seq, me, STAMP_BUSY);
		uint64_t cur = atomic_load_explicit(&slot->stamp, memory_order_relaxed);
		uint64_t wait_start = 0;
		unsigned spins = 0;

		for (;;) {
			uint64_t v = stamp_seq1(cur);
			bool take = false;

			if (v >= seq + 1) {
				if (v - 1 < atomic_load_explicit(&h->head, memory_order_relaxed)) {
					break; /* lapped while preempted: take a new sequence */
				}
				take = true; /* a sequence nobody claimed yet: a corrupt stamp */
			} else if (!(cur & STAMP_BUSY)) {
				take = true;
			} else if (++spins < 256) {
				/* An older writer still holds this slot, a whole lap behind us. */
				cpu_relax();
			} else {
				uint32_t owner = stamp_owner(cur);

				if (!wait_start) {
					wait_start = shm_now_ns();
				}
				if (owner != me && !shm_part_alive(seg, owner)) {
					/* Dead: reclaim what it left; if the slot is still marked as
					 * its own (a corrupt participant entry), take it over. */
					shm_part_reap(seg, owner);
					take = atomic_load_explicit(&slot->stamp,
								    memory_order_relaxed) == cur;
				} else if (shm_now_ns() - wait_start > HUB_LAP_WAIT_NS) {
					/* A live writer (stopped, or our own open loan) keeps it:
					 * give our sequence up rather than wedge. The writer that
					 * takes this slot next counts it as a hole. */
					return -EAGAIN;
				} else {
					sched_yield();
				}
			}
			if (take &&
			    atomic_compare_exchange_weak_explicit(&slot->stamp, &cur, busy,
								  memory_order_acquire,
								  memory_order_relaxed)) {
				uint64_t holes = holes_behind(cur, seq, seg->capacity);

				if (cur & STAMP_BUSY) {
					hub_uncount(seg, slot); /* a dead writer's, mid-commit */
				}
				atomic_store_explicit(&slot->counted, 0, memory_order_relaxed);
				/* Seqlock writer: the busy stamp is visible before any data. */
				atomic_thread_fence(memory_order_release);
				if (store_len) {
					/* A loan: hub_loan_find() recovers its length from here. */
					atomic_store_explicit(&slot->len, len, memory_order_relaxed);
				}
				if (holes) {
					atomic_fetch_add_explicit(&h->holes, holes,
								  memory_order_relaxed);
				}
				ret->slot = slot;
				ret->busy = busy;
				ret->len = len;
				return 0;
			}
			if (!take) {
				cur = atomic_load_explicit(&slot->stamp, memory_order_relaxed);
			}
		}
	}
}

void hub_uncount(struct shm_seg *seg, struct shm_slot *slot)
{
	struct shm_header *h = seg->hdr;

	if (atomic_exchange_explicit(&slot->counted, 0, memory_order_relaxed)) {
		atomic_fetch_sub_explicit(&h->messages, 1, memory_order_relaxed);
		atomic_fetch_sub_explicit(&h->bytes,
					  atomic_load_explicit(&slot->len, memory_order_relaxed),
					  memory_order_relaxed);
	}
}

static void wake_readers(struct shm_header *h)
{
	shm_wake(&h->data_futex, &h->data_waiters);
}

void hub_commit(struct shm_seg *seg, const struct hub_loan *loan)
{
	struct shm_header *h = seg->hdr;
	uint64_t done = loan->busy & ~(STAMP_BUSY | (STAMP_OWNER_MASK << STAMP_OWNER_SHIFT));
	uint64_t expect = loan->busy;

	/*
	 * Counted before the commit, and the slot marked as counted: a writer killed between
	 * the two leaves a busy slot that whoever reclaims it uncounts (hub_uncount), so that
	 * messages + holes stays exact across any crash.
	 */
	/* The length joins the stamp in one burst of stores to the line a caught-up reader
	 * polls: written earlier, before the payload, it would pull that line back and forth. */
	atomic_store_explicit(&loan->slot->len, loan->len, memory_order_relaxed);
	atomic_store_explicit(&loan->slot->counted, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&h->messages, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&h->bytes, loan->len, memory_order_relaxed);
	/* CAS, not store: if we were declared dead and the slot was turned into a hole, or taken,
	 * we must not overwrite that decision. */
	if (!atomic_compare_exchange_strong_explicit(&loan->slot->stamp, &expect, done,
						     memory_order_release, memory_order_relaxed)) {
		hub_uncount(seg, loan->slot);
		return;
	}
	wake_readers(h);
}

void hub_discard(struct shm_seg *seg, const struct hub_loan *loan)
{
	struct shm_header *h = seg->hdr;
	uint64_t hole = (loan->busy & ~(STAMP_BUSY | (STAMP_OWNER_MASK << STAMP_OWNER_SHIFT))) |
			STAMP_HOLE;
	uint64_t expect = loan->busy;

	if (atomic_compare_exchange_strong_explicit(&loan->slot->stamp, &expect, hole,
						    memory_order_release, memory_order_relaxed)) {
		atomic_fetch_add_explicit(&h->holes, 1, memory_order_relaxed);
		wake_readers(h);
	}
}

int hub_loan_find(struct shm_seg *seg, uint32_t me, const void *buf, struct hub_loan *ret)
{
	const uint8_t *p = buf, *slots = seg->base + seg->slots_offset;
	struct shm_slot *slot;
	uint64_t st;
	size_t off;

	if (p < slots + SHM_SLOT_HDR || p >= seg->base + seg->size) {
		return -EINVAL;
	}
	off = (size_t)(p - slots) - SHM_SLOT_HDR;
	if (off % seg->stride != 0) {
		return -EINVAL;
	}
	slot = (struct shm_slot *)(slots + off);
	st = atomic_load_explicit(&slot->stamp, memory_order_relaxed);
	if (!(st & STAMP_BUSY) || stamp_owner(st) != me) {
		return -EINVAL;
	}
	ret->slot = slot;
	ret->busy = st;
	ret->len = atomic_load_explicit(&slot->len, memory_order_relaxed);
	return 0;
}

/* ---- reader ------------------------------------------------------------------------------ */

void hub_reader_init(struct shm_seg *seg, struct hub_reader *rd, uint32_t last_n)
{
	uint64_t head = atomic_load_explicit(&seg->hdr->head, memory_order_acquire);
	uint64_t back = last_n < seg->capacity ? last_n : seg->capacity;

	memset(rd, 0, sizeof(*rd));
	if (back > head) {
		back = head;
	}
	rd->next = head - back;
	/* Go back over slots that no longer hold what we ask for (holes, lapped): not lost. */
	while (rd->next < head) {
		uint64_t st = atomic_load_explicit(&shm_slot_at(seg, rd->next)->stamp,
						   memory_order_acquire);
		if (stamp_seq1(st) == rd->next + 1 && !(st & (STAMP_BUSY | STAMP_HOLE))) {
			break;
		}
		rd->next++;
	}
}

static void lose(struct shm_seg *seg, struct hub_reader *rd, uint64_t n)
{
	rd->lost += n;
	rd->pending_lost += n;
	atomic_fetch_add_explicit(&seg->hdr->lost, n, memory_order_relaxed);
}

/*
 * Called while rd->next is not readable. Returns true if it moved rd on (the sequence was
 * given up, or its dead writer reclaimed), so that the caller looks again.
 */
static bool check_stuck(struct shm_seg *seg, struct hub_reader *rd)
{
	uint64_t r = rd->next, now;
	uint64_t head = atomic_load_explicit(&seg->hdr->head, memory_order_relaxed);
	uint64_t st;

	if (head <= r + 1) {
		rd->stall_since = 0; /* nothing newer exists: just empty, or one write under way */
		return false;
	}
	st = atomic_load_explicit(&shm_slot_at(seg, r)->stamp, memory_order_acquire);
	if ((st & STAMP_BUSY) && stamp_seq1(st) == r + 1) {
		uint32_t owner = stamp_owner(st);

		if (!shm_part_alive(seg, owner)) {
			shm_part_reap(seg, owner);
			if (atomic_load_explicit(&shm_slot_at(seg, r)->stamp, memory_order_acquire) ==
			    st) {
				/* Still busy in a dead (or corrupt) writer's name: give it up. */
				lose(seg, rd, 1);
				rd->next = r + 1;
				rd->stall_since = 0;
			}
			return true;
		}
	}
	now = shm_now_ns();
	if (rd->stall_seq != r || !rd->stall_since) {
		rd->stall_seq = r;
		rd->stall_since = now;
		return false;
	}
	if (now - rd->stall_since < HUB_STALL_NS) {
		return false;
	}
	/* Claimed long ago and still not written, while later messages exist: give it up. */
	lose(seg, rd, 1);
	rd->next = r + 1;
	rd->stall_since = 0;
	return true;
}

static int not_ready(struct shm_seg *seg, struct hub_reader *rd)
{
	if ((++rd->misses & (STUCK_CHECK_EVERY - 1)) == 0 && check_stuck(seg, rd)) {
		return 1; /* look again */
	}
	return -EAGAIN;
}

/*
 * Positions rd at the next committed message, skipping (and counting) what was lost.
 * Returns 0 with its slot and stamp, or -EAGAIN.
 */
static int hub_next(struct shm_seg *seg, struct hub_reader *rd, struct shm_slot **ret_slot,
		    uint64_t *ret_stamp)
{
	for (;;) {
		uint64_t r = rd->next;
		struct shm_slot *slot = shm_slot_at(seg, r);
		uint64_t st = atomic_load_explicit(&slot->stamp, memory_order_acquire);
		uint64_t v = stamp_seq1(st);

		if (v == r + 1) {
			if (st & STAMP_BUSY) {
				if (not_ready(seg, rd) < 0) {
					return -EAGAIN;
				}
				continue;
			}
			if (st & STAMP_HOLE) {
				lose(seg, rd, 1);
				rd->next = r + 1;
				continue;
			}
			*ret_slot = slot;
			*ret_stamp = st;
			return 0;
		}
		if (v > r + 1) {
			/* Overwritten: everything up to a lap before the slot's sequence is gone,
			 * and so is everything a lap behind the newest claim. */
			uint64_t head = atomic_load_explicit(&seg->hdr->head, memory_order_relaxed);
			uint64_t to = v > seg->capacity ? v - seg->capacity : 0;

			if (v - 1 >= head || ((v - 1) & seg->mask) != (r & seg->mask)) {
				/* A sequence nobody claimed, or one that does not belong in this
				 * slot: a corrupt stamp. The writer of r will overwrite it; until
				 * then there is nothing to read. */
				if (not_ready(seg, rd) < 0) {
					return -EAGAIN;
				}
				continue;
			}
			if (head > seg->capacity && head - seg->capacity > to) {
				to = head - seg->capacity;
			}
			if (to <= r) {
				to = r + 1;
			}
			if (to > head) {
				to = head; /* never past what has been claimed */
			}
			if (to <= r) {
				/* A reader at or past head (a corrupt head): wait for writers. */
				if (not_ready(seg, rd) < 0) {
					return -EAGAIN;
				}
				continue;
			}
			lose(seg, rd, to - r);
			rd->next = to;
			continue;
		}
		if (not_ready(seg, rd) < 0) {
			return -EAGAIN;
		}
	}
}

static void deliver(struct hub_reader *rd, uint64_t *ret_seq, uint64_t *ret_lost)
{
	if (ret_seq) {
		*ret_seq = rd->next;
	}
	if (ret_lost) {
		*ret_lost = rd->pending_lost;
	}
	rd->pending_lost = 0;
	rd->next++;
	rd->received++;
	rd->misses = 0;
	rd->stall_since = 0;
}

int hub_read(struct shm_seg *seg, struct hub_reader *rd, void *buf, size_t cap, uint64_t *ret_seq,
	     uint64_t *ret_lost)
{
	for (;;) {
		struct shm_slot *slot;
		uint64_t st;
		uint32_t len;
		int r = hub_next(seg, rd, &slot, &st);

		if (r < 0) {
			return r;
		}
		len = atomic_load_explicit(&slot->len, memory_order_relaxed);
		if (len > seg->max_msg || len > cap) {
			atomic_thread_fence(memory_order_acquire);
			if (atomic_load_explicit(&slot->stamp, memory_order_relaxed) != st) {
				continue; /* overwritten meanwhile: the length was not this message's */
			}
			if (len <= seg->max_msg) {
				return -EMSGSIZE;
			}
			/* A length no writer could have set: a corrupt slot. Lose it, go on. */
			lose(seg, rd, 1);
			rd->next++;
			continue;
		}
		if (len) {
			memcpy(buf, shm_slot_data(slot), len);
		}
		atomic_thread_fence(memory_order_acquire);
		if (atomic_load_explicit(&slot->stamp, memory_order_relaxed) != st) {
			continue; /* torn: hub_next() now sees the overwrite and counts it */
		}
		deliver(rd, ret_seq, ret_lost);
		return (int)len;
	}
}

int hub_next_len(struct shm_seg *seg, struct hub_reader *rd)
{
	for (;;) {
		struct shm_slot *slot;
		uint64_t st;
		uint32_t len;
		int r = hub_next(seg, rd, &slot, &st);

		if (r < 0) {
			return r;
		}
		len = atomic_load_explicit(&slot->len, memory_order_relaxed);
		atomic_thread_fence(memory_order_acquire);
		if (atomic_load_explicit(&slot->stamp, memory_order_relaxed) != st) {
			continue;
		}
		if (len > seg->max_msg) {
			lose(seg, rd, 1); /* a corrupt slot, as in hub_read() */
			rd->next++;
			continue;
		}
		return (int)len;
	}
}

int hub_take(struct shm_seg *seg, struct hub_reader *rd, const void **ret_data, size_t *ret_len,
	     uint64_t *ret_seq, uint64_t *ret_stamp, uint64_t *ret_lost)
{
	for (;;) {
		struct shm_slot *slot;
		uint64_t st;
		uint32_t len;
		int r = hub_next(seg, rd, &slot, &st);

		if (r < 0) {
			return r;
		}
		len = atomic_load_explicit(&slot->len, memory_order_relaxed);
		if (len > seg->max_msg) {
			atomic_thread_fence(memory_order_acquire);
			if (atomic_load_explicit(&slot->stamp, memory_order_relaxed) == st) {
				lose(seg, rd, 1); /* a corrupt slot, as in hub_read() */
				rd->next++;
			}
			continue;
		}
		*ret_data = shm_slot_data(slot);
		*ret_len = len;
		*ret_stamp = st;
		deliver(rd, ret_seq, ret_lost);
		return 0;
	}
}

int hub_check(struct shm_seg *seg, struct hub_reader *rd, uint64_t seq, uint64_t stamp)
{
	struct shm_slot *slot = shm_slot_at(seg, seq);

	atomic_thread_fence(memory_order_acquire);
	if (atomic_load_explicit(&slot->stamp, memory_order_relaxed) == stamp) {
		return 0;
	}
	/* The in-place data was overwritten while the caller used it: not received after all.
	 * Counted once, however often the caller asks about the same sample. */
	if (rd->stale_seq == seq + 1) {
		return -ESTALE;
	}
	rd->stale_seq = seq + 1;
	if (rd->received > 0) {
		rd->received--;
	}
	lose(seg, rd, 1);
	rd->pending_lost--; /* it was delivered already; only the totals change */
	return -ESTALE;
}

static bool hub_ready(struct shm_seg *seg, struct hub_reader *rd)
{
	uint64_t r = rd->next;
	uint64_t st = atomic_load_explicit(&shm_slot_at(seg, r)->stamp, memory_order_acquire);
	uint64_t v = stamp_seq1(st);

	return v > r + 1 || (v == r + 1 && !(st & STAMP_BUSY));
}

static bool hub_ready_fn(struct shm_seg *seg, void *arg)
{
	return hub_ready(seg, arg);
}

static void hub_on_wake(struct shm_seg *seg, void *arg)
{
	/* Woken (or a slice ran out) and still not ready: the sequence we wait for may be stuck
	 * while later ones keep arriving. */
	(void)check_stuck(seg, arg);
}

int hub_wait(struct shm_seg *seg, struct hub_reader *rd, int64_t timeout_ns)
{
	struct shm_header *h = seg->hdr;

	if (timeout_ns == 0 && !hub_ready(seg, rd)) {
		(void)check_stuck(seg, rd);
	}
	return shm_wait(seg, &h->data_futex, &h->data_waiters, hub_ready_fn, hub_on_wake, rd,
			timeout_ns);
}
