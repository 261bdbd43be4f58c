/* SPDX-License-Identifier: MIT */
/* Hub ring operations: claim/commit for writers, seqlock reads, futex waits. See hub.h. */

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <string.h>

#include "cpu-relax.h"
#include "hub.h"

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

static int shared_claim(struct shm_seg *seg, uint32_t me, uint32_t len, bool store_len,
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
					/* Dead: reclaim what it left; if the slot is still marked
					 * as its own (a corrupt participant entry), take it over.
					 */
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
			if (take && atomic_compare_exchange_weak_explicit(&slot->stamp, &cur, busy,
									  memory_order_acquire,
									  memory_order_relaxed)) {
				uint64_t holes = holes_behind(cur, seq, seg->capacity);

				if (cur & STAMP_BUSY) {
					/* a dead writer's, mid-commit */
					hub_uncount(seg, slot, cur);
				}
				/* Seqlock writer: the busy stamp is visible before any data. */
				atomic_thread_fence(memory_order_release);
				if (store_len) {
					/* A loan: hub_loan_find() recovers its length from here. */
					atomic_store_explicit(&slot->len, len,
							      memory_order_relaxed);
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

/* Subtracts n, never below zero (a count a crashed writer never added). */
static void sub_saturating(_Atomic uint64_t *v, uint64_t n)
{
	uint64_t cur = atomic_load_explicit(v, memory_order_relaxed);

	while (!atomic_compare_exchange_weak_explicit(v, &cur, cur > n ? cur - n : 0,
						      memory_order_relaxed, memory_order_relaxed)) {
	}
}

void hub_uncount(struct shm_seg *seg, struct shm_slot *slot, uint64_t busy)
{
	struct shm_header *h = seg->hdr;
	uint32_t tag = counted_tag(busy);

	if (atomic_compare_exchange_strong_explicit(&slot->counted, &tag, 0, memory_order_relaxed,
						    memory_order_relaxed)) {
		sub_saturating(&h->messages, 1);
		sub_saturating(&h->bytes, atomic_load_explicit(&slot->len, memory_order_relaxed));
	}
}

static void wake_readers(struct shm_header *h)
{
	shm_wake(&h->data_futex, &h->data_sleepers);
}

static void shared_commit(struct shm_seg *seg, const struct hub_loan *loan)
{
	struct shm_header *h = seg->hdr;
	uint64_t done = loan->busy & ~(STAMP_BUSY | (STAMP_OWNER_MASK << STAMP_OWNER_SHIFT));
	uint64_t expect = loan->busy;

	/*
	 * Marked, counted, then committed: a writer killed after the mark leaves a busy slot that
	 * whoever reclaims it turns into a hole and uncounts (hub_uncount). One window remains:
	 * killed between the mark and the additions, it has a count taken back that it never
	 * added, and `messages`/`bytes` stay one message short (never below zero). Lost counts
	 * do not depend on them: readers count from sequence numbers.
	 */
	/* The length joins the stamp in one burst of stores to the line a caught-up reader
	 * polls: written earlier, before the payload, it would pull that line back and forth. */
	atomic_store_explicit(&loan->slot->len, loan->len, memory_order_relaxed);
	atomic_store_explicit(&loan->slot->counted, counted_tag(loan->busy), memory_order_relaxed);
	atomic_fetch_add_explicit(&h->messages, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&h->bytes, loan->len, memory_order_relaxed);
	/* CAS, not store: if we were declared dead and the slot was turned into a hole, or taken,
	 * we must not overwrite that decision. */
	if (!atomic_compare_exchange_strong_explicit(&loan->slot->stamp, &expect, done,
						     memory_order_release, memory_order_relaxed)) {
		hub_uncount(seg, loan->slot, loan->busy);
		return;
	}
	wake_readers(h);
}

static void shared_discard(struct shm_seg *seg, const struct hub_loan *loan)
{
	struct shm_header *h = seg->hdr;
	uint64_t hole =
	    (loan->busy & ~(STAMP_BUSY | (STAMP_OWNER_MASK << STAMP_OWNER_SHIFT))) | STAMP_HOLE;
	uint64_t expect = loan->busy;

	if (atomic_compare_exchange_strong_explicit(&loan->slot->stamp, &expect, hole,
						    memory_order_release, memory_order_relaxed)) {
		atomic_fetch_add_explicit(&h->holes, 1, memory_order_relaxed);
		wake_readers(h);
	}
}

/* ---- sole publisher ---------------------------------------------------------------------- */

/*
 * The shared protocol above costs five locked instructions per message, and each one waits for
 * the cache lines a caught-up reader keeps pulling away: about 4 M messages/s. A topic with one
 * publishing thread needs none of them. That thread, once it holds the topic's sole-publisher
 * privilege (header `solo` = its participant + 1), claims and commits with plain stores and no
 * fence, at the link's speed.
 *
 * The privilege is taken only while the topic has one publisher (`publishers` == 1, read after
 * the CAS that takes it; shm_part_claim() counts a new publisher before that publisher's first
 * look at `solo`, so one of the two sees the other), by the first thread that wrote through its
 * handle, and only if membarrier() works here. It is taken away by any other writer before that
 * writer touches the ring (solo_take_away):
 *   1. mark `solo` REVOKING;
 *   2. membarrier(GLOBAL_EXPEDITED): each CPU running the owner's process executes a full
 *      barrier, so the owner's `active` store of a claim or commit under way is now visible,
 *      and any claim or commit it starts from now on sees REVOKING;
 *   3. wait until the owner's `active` is even (or the owner is dead), then set `solo` to 0.
 * The owner brackets each claim and commit with `active` odd/even and reads `solo` in between;
 * seeing anything but its own index, it falls back to the shared protocol (and tries to take
 * the privilege again every SOLO_RETRY_EVERY claims, which succeeds once it is alone again).
 * Sleeping readers pay for the missing commit fence with the same membarrier (shm_wait).
 */

/* Shared-protocol claims between two tries of the first thread to become sole publisher. */
#define SOLO_RETRY_EVERY 4096u

static _Atomic uint64_t next_thread_token;
static _Thread_local uint64_t thread_token;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void forget_thread_token(void)
{
	thread_token = 0; /* a forked child's thread is not its parent's */
}

static void register_atfork(void)
{
	(void)pthread_atfork(NULL, NULL, forget_thread_token);
}

/* A token for the calling thread, unique within the process. */
static uint64_t this_thread(void)
{
	if (!thread_token) {
		pthread_once(&atfork_once, register_atfork);
		thread_token =
		    atomic_fetch_add_explicit(&next_thread_token, 1, memory_order_relaxed) + 1;
	}
	return thread_token;
}

void hub_solo_forget(struct shm_seg *seg, uint32_t i)
{
	_Atomic uint32_t *solo = &seg->hdr->solo;
	uint32_t s = atomic_load_explicit(solo, memory_order_acquire);

	if (s != 0 && (s & SOLO_PART_MASK) == i + 1) {
		atomic_compare_exchange_strong_explicit(solo, &s, 0, memory_order_acq_rel,
							memory_order_relaxed);
	}
}

/* Spins, then yields; false once `since` (set on the first call) is HUB_LAP_WAIT_NS old. */
static bool wait_a_little(unsigned *spins, uint64_t *since)
{
	if (++*spins < 256) {
		cpu_relax();
		return true;
	}
	if (!*since) {
		*since = shm_now_ns();
	} else if (shm_now_ns() - *since > HUB_LAP_WAIT_NS) {
		return false;
	}
	sched_yield();
	return true;
}

/*
 * Before a write by the shared protocol: makes sure no sole publisher writes with plain stores
 * any more. 0, or -EAGAIN if the owner stays inside one claim or commit for HUB_LAP_WAIT_NS
 * (stopped by a signal or a debugger in those few instructions).
 */
static int solo_take_away(struct shm_seg *seg)
{
	struct shm_header *h = seg->hdr;
	unsigned spins = 0;
	uint64_t since = 0;

	for (;;) {
		uint32_t s = atomic_load_explicit(&h->solo, memory_order_seq_cst);
		uint32_t owner = (s & SOLO_PART_MASK) - 1;
		bool fenced;

		if (s == 0) {
			return 0;
		}
		if (owner >= SHM_PARTICIPANTS) { /* names nobody: a corrupt header */
			atomic_compare_exchange_strong(&h->solo, &s, 0);
			continue;
		}
		if (!(s & SOLO_REVOKING)) {
			uint32_t want = s | SOLO_REVOKING;

			if (!atomic_compare_exchange_strong(&h->solo, &s, want)) {
				continue;
			}
			s = want;
		}
		/* Without membarrier (a seccomp filter) the owner drops the privilege itself at
		 * its next claim or commit (it sees REVOKING); until then we wait. */
		fenced = shm_membarrier() == 0;
		while (atomic_load_explicit(&h->solo, memory_order_acquire) == s) {
			bool idle = fenced && !(atomic_load_explicit(&h->parts[owner].active,
								     memory_order_acquire) &
						1);

			if (idle || !shm_part_alive(seg, owner)) {
				if (!idle) {
					shm_part_reap(seg, owner);
				}
				atomic_compare_exchange_strong(&h->solo, &s, 0);
				break;
			}
			if (!wait_a_little(&spins, &since)) {
				return -EAGAIN;
			}
		}
	}
}

/* Before a write by the shared protocol through a handle: 0 if the caller may go on. */
static int writer_prepare_shared(struct shm_seg *seg, struct hub_writer *w)
{
	if (atomic_load_explicit(&w->thread, memory_order_relaxed) == this_thread()) {
		if (w->solo) {
			return 0; /* the owner itself: nobody else writes */
		}
	} else if (!atomic_load_explicit(&w->shared_only, memory_order_relaxed)) {
		/* seq_cst: pairs with the owner's look at shared_only in solo_try(). */
		atomic_store_explicit(&w->shared_only, true, memory_order_seq_cst);
	}
	return solo_take_away(seg);
}

/* The first thread of a handle tries to become the topic's sole publisher. */
static void solo_try(struct shm_seg *seg, struct hub_writer *w)
{
	struct shm_header *h = seg->hdr;
	uint32_t mine = (uint32_t)seg->part + 1, s = 0;

	w->countdown = SOLO_RETRY_EVERY;
	if (atomic_load_explicit(&w->shared_only, memory_order_relaxed) ||
	    atomic_load_explicit(&h->solo, memory_order_relaxed) != 0 ||
	    atomic_load_explicit(&h->publishers, memory_order_relaxed) != 1 ||
	    !shm_membarrier_register()) {
		return;
	}
	if (!atomic_compare_exchange_strong_explicit(&h->solo, &s, mine, memory_order_seq_cst,
						     memory_order_relaxed)) {
		return;
	}
	if (atomic_load_explicit(&h->publishers, memory_order_seq_cst) != 1 ||
	    atomic_load_explicit(&w->shared_only, memory_order_seq_cst)) {
		/* Someone else writes after all. If a revoker marked it meanwhile, it finishes:
		 * our `active` is even. */
		s = mine;
		atomic_compare_exchange_strong(&h->solo, &s, 0);
		return;
	}
	w->solo = true;
}

static void solo_enter(struct shm_seg *seg, struct hub_writer *w)
{
	w->active++;
	atomic_store_explicit(&seg->hdr->parts[seg->part].active, w->active, memory_order_relaxed);
	/* The compiler must not sink that store below the look at `solo`; the CPU may, and the
	 * revoker's membarrier is what orders it then. */
	atomic_signal_fence(memory_order_seq_cst);
}

static void solo_leave(struct shm_seg *seg, struct hub_writer *w)
{
	w->active++;
	atomic_store_explicit(&seg->hdr->parts[seg->part].active, w->active, memory_order_release);
}

/* Inside solo_enter/leave: do we still hold the privilege? */
static bool solo_held(struct shm_seg *seg, struct hub_writer *w)
{
	if (atomic_load_explicit(&seg->hdr->solo, memory_order_acquire) ==
	    (uint32_t)seg->part + 1) {
		return true;
	}
	w->solo = false;
	return false;
}

/* The owner's claim: 0 with *ret, or 1 to use the shared protocol (privilege gone, or a slot
 * still held by a writer from before, which the shared protocol knows how to wait for). */
static int solo_claim(struct shm_seg *seg, struct hub_writer *w, uint32_t len, bool store_len,
		      struct hub_loan *ret)
{
	struct shm_header *h = seg->hdr;
	uint32_t me = (uint32_t)seg->part;
	int r = 1;

	solo_enter(seg, w);
	if (solo_held(seg, w)) {
		uint64_t seq = atomic_load_explicit(&h->head, memory_order_relaxed);
		struct shm_slot *slot = shm_slot_at(seg, seq);
		uint64_t cur = atomic_load_explicit(&slot->stamp, memory_order_relaxed);

		if (!(cur & STAMP_BUSY) && stamp_seq1(cur) < seq + 1) {
			uint64_t holes = holes_behind(cur, seq, seg->capacity);

			atomic_store_explicit(&h->head, seq + 1, memory_order_relaxed);
			/* Release: readers that see the stamp see head past it. */
			atomic_store_explicit(&slot->stamp, stamp_make(seq, me, STAMP_BUSY),
					      memory_order_release);
			/* Seqlock writer: the busy stamp is visible before any data. */
			atomic_thread_fence(memory_order_release);
			if (store_len) {
				atomic_store_explicit(&slot->len, len, memory_order_relaxed);
			}
			if (holes) {
				atomic_store_explicit(
				    &h->holes,
				    atomic_load_explicit(&h->holes, memory_order_relaxed) + holes,
				    memory_order_relaxed);
			}
			ret->slot = slot;
			ret->busy = stamp_make(seq, me, STAMP_BUSY);
			ret->len = len;
			r = 0;
		}
	}
	solo_leave(seg, w);
	return r;
}

static void add_plain(_Atomic uint64_t *v, uint64_t n)
{
	atomic_store_explicit(v, atomic_load_explicit(v, memory_order_relaxed) + n,
			      memory_order_relaxed);
}

/* The owner's commit: 0 when done, 1 to use the shared protocol. */
static int solo_commit(struct shm_seg *seg, struct hub_writer *w, const struct hub_loan *loan)
{
	struct shm_header *h = seg->hdr;
	uint64_t done = loan->busy & ~(STAMP_BUSY | (STAMP_OWNER_MASK << STAMP_OWNER_SHIFT));
	int r = 1;

	solo_enter(seg, w);
	if (solo_held(seg, w) &&
	    atomic_load_explicit(&loan->slot->stamp, memory_order_relaxed) == loan->busy) {
		/* As in shared_commit(): counted, then the stamp. */
		atomic_store_explicit(&loan->slot->len, loan->len, memory_order_relaxed);
		atomic_store_explicit(&loan->slot->counted, counted_tag(loan->busy),
				      memory_order_relaxed);
		add_plain(&h->messages, 1);
		add_plain(&h->bytes, loan->len);
		atomic_store_explicit(&loan->slot->stamp, done, memory_order_release);
		r = 0;
	}
	solo_leave(seg, w);
	if (r == 0) {
		shm_wake_unfenced(&h->data_futex, &h->data_sleepers);
	}
	return r;
}

int hub_writer_claim(struct shm_seg *seg, struct hub_writer *w, uint32_t len, bool store_len,
		     struct hub_loan *ret)
{
	uint64_t me = this_thread(), first = atomic_load_explicit(&w->thread, memory_order_relaxed);
	int r;

	if (len > seg->max_msg) {
		return -EMSGSIZE;
	}
	if (first == 0 && atomic_compare_exchange_strong(&w->thread, &first, me)) {
		first = me;
	}
	if (first == me) {
		if (w->solo) {
			if (solo_claim(seg, w, len, store_len, ret) == 0) {
				return 0;
			}
		} else if (w->countdown == 0) {
			solo_try(seg, w);
			if (w->solo && solo_claim(seg, w, len, store_len, ret) == 0) {
				return 0;
			}
		} else {
			w->countdown--;
		}
	}
	r = writer_prepare_shared(seg, w);
	if (r < 0) {
		return r;
	}
	return shared_claim(seg, (uint32_t)seg->part, len, store_len, ret);
}

void hub_writer_commit(struct shm_seg *seg, struct hub_writer *w, const struct hub_loan *loan)
{
	if (atomic_load_explicit(&w->thread, memory_order_relaxed) == this_thread() && w->solo &&
	    solo_commit(seg, w, loan) == 0) {
		return;
	}
	/* A commit cannot be refused: after HUB_LAP_WAIT_NS of an owner stopped inside its own
	 * commit, ours goes ahead; the worst outcome is a `messages` count off by one. */
	(void)writer_prepare_shared(seg, w);
	shared_commit(seg, loan);
}

void hub_writer_discard(struct shm_seg *seg, struct hub_writer *w, const struct hub_loan *loan)
{
	(void)writer_prepare_shared(seg, w); /* as in hub_writer_commit() */
	shared_discard(seg, loan);
}

int hub_claim(struct shm_seg *seg, uint32_t me, uint32_t len, struct hub_loan *ret)
{
	return hub_claim_ex(seg, me, len, true, ret);
}

int hub_claim_ex(struct shm_seg *seg, uint32_t me, uint32_t len, bool store_len,
		 struct hub_loan *ret)
{
	int r;

	if (len > seg->max_msg) {
		return -EMSGSIZE;
	}
	r = solo_take_away(seg);
	return r < 0 ? r : shared_claim(seg, me, len, store_len, ret);
}

void hub_commit(struct shm_seg *seg, const struct hub_loan *loan)
{
	(void)solo_take_away(seg);
	shared_commit(seg, loan);
}

void hub_discard(struct shm_seg *seg, const struct hub_loan *loan)
{
	(void)solo_take_away(seg);
	shared_discard(seg, loan);
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
		uint64_t st =
		    atomic_load_explicit(&shm_slot_at(seg, rd->next)->stamp, memory_order_acquire);
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
			if (atomic_load_explicit(&shm_slot_at(seg, r)->stamp,
						 memory_order_acquire) == st) {
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
			/* Lapped again before it caught up: a reader that keeps restarting at the
			 * oldest slot, which the writers are about to overwrite, is lapped at once
			 * each time and pays a miss and a torn copy for it (a 64 B reader chasing
			 * a 20 M/s writer got 3 M messages/s that way, 9 M resuming half a ring
			 * behind the newest claim instead). */
			if (rd->chasing && head > seg->capacity / 2 &&
			    head - seg->capacity / 2 > to) {
				to = head - seg->capacity / 2;
			}
			rd->chasing = true;
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
		rd->chasing = false; /* caught up with the writers */
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
				continue; /* overwritten meanwhile: the length was not this
					     message's */
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
	return shm_wait(seg, &h->data_futex, &h->data_sleepers, hub_ready_fn, hub_on_wake, rd,
			timeout_ns);
}
