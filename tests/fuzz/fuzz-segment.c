/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: a segment file written by someone we do not trust.
 *
 * The input is the bytes of a segment file, optionally followed by a script that plays a hostile
 * peer: it rewrites shared fields (stamps, lengths, head/tail, counters, participant entries,
 * even the geometry in the header) between calls of the reader, writer and participant paths.
 * Whatever it does, the code under test must not crash, touch memory outside the segment, or
 * loop forever.
 *
 *   input  := image [script]
 *   image  := if the input holds a whole header and its total_size field (u64 at offset 16) lies
 *             within the input, the first total_size bytes; otherwise the whole input.
 *   script := cfg op*
 *   cfg    := flags:u8 last_n:u8 live:u64le
 *             flags bits 0-1: kind passed to the attach (0 any, 1 hub, 2 link, 3 foreign)
 *             flags bit 2:    append 64 bytes to the file (its size then disagrees with the header)
 *             live bit i:     participant i is held by a live process (another open file
 *                             description holds its lock)
 *   op     := code:u8 args (see the OP_* list; arguments are little-endian, missing bytes read 0)
 *
 * Everything is read through a cursor that yields zeros past the end, so every input is valid.
 *
 * After a successful attach the mapping is replaced by an exactly sized heap copy: ASan then sees
 * every access, and one byte past the segment is a report rather than a silent read of the next
 * page (a file mapping pads its last page with zeros).
 *
 * A few writer situations wait on the clock by design (a live writer holding the slot being
 * lapped: up to HUB_LAP_WAIT_NS); the script skips those, since a fuzzer cannot tell slow from
 * stuck. No known bug is stepped around any more: the readers' wrap (bug 4 of tests/fuzz/README.md)
 * was fixed in f39f1c2, and its input is a plain regression test now.
 */

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <horus/pubsub.h>

#include "fuzz-segment.h"
#include "hub.h"
#include "link_ring.h"
#include "segment.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_OPS 96
#define MAX_READS_PER_OP 16


struct cursor {
	const uint8_t *p;
	size_t n;
};

static uint64_t take(struct cursor *c, unsigned bytes)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < bytes && c->n; i++, c->p++, c->n--) {
		v |= (uint64_t)c->p[0] << (8 * i);
	}
	return v;
}

struct ctx {
	struct shm_seg seg;
	int peer_fd; /* a second open file description: the locks of "live" participants */
	uint64_t live;
	struct hub_reader rd;
	struct link_end prod, cons;
	bool prod_ok, cons_ok;
	bool prod_tried, cons_tried;
};

static void poke(struct ctx *x, size_t off, const void *val, size_t len)
{
	if (x->seg.size < len) {
		return;
	}
	off %= x->seg.size - len + 1;
	memcpy(x->seg.base + off, val, len);
}

static _Atomic uint64_t *counter64(struct shm_header *h, unsigned which)
{
	switch (which % 8) {
	case 0:
		return &h->head;
	case 1:
		return &h->tail;
	case 2:
		return &h->messages;
	case 3:
		return &h->bytes;
	case 4:
		return &h->holes;
	case 5:
		return &h->data_sleepers;
	case 6:
		return &h->space_sleepers;
	default:
		return &h->lost;
	}
}

static _Atomic uint32_t *counter32(struct shm_header *h, unsigned which)
{
	switch (which % 4) {
	case 0:
		return &h->data_futex;
	case 1:
		return &h->space_futex;
	case 2:
		return &h->publishers;
	default:
		return &h->subscribers;
	}
}

static void set_counter(struct ctx *x, unsigned which, uint64_t val, bool rel)
{
	struct shm_header *h = x->seg.hdr;

	if (which & 0x80) {
		_Atomic uint32_t *c = counter32(h, which);

		atomic_store(c, (uint32_t)((rel ? atomic_load(c) : 0) + val));
	} else {
		_Atomic uint64_t *c = counter64(h, which);

		atomic_store(c, (rel ? atomic_load(c) : 0) + val);
	}
}

static bool is_live(const struct ctx *x, uint32_t i)
{
	return i < 64 && (x->live >> i) & 1;
}

/* Reads every byte of a buffer the code under test handed out, so that ASan checks its bounds. */
static void touch(const void *p, size_t len)
{
	const volatile uint8_t *b = p;
	uint8_t sum = 0;

	for (size_t i = 0; i < len; i++) {
		sum ^= b[i];
	}
	(void)sum;
}

/*
 * Would hub_claim() wait on the clock? A slot still BUSY for an older sequence is held by a
 * writer a lap behind; if that writer is alive (or is us, with an open loan), the claim waits up
 * to HUB_LAP_WAIT_NS by design before it gives up: correct, but too slow to fuzz (a script of
 * such claims would take seconds). Any such slot anywhere in the ring counts: an over-estimate
 * that does not depend on how the claim walks the ring.
 *
 * (Two hangs of the claim on corrupt stamps were found here and fixed in 0f4187a: a BUSY slot of
 * a dead owner whose participant entry was not a publisher, and slots stamped far ahead of head.
 * Their inputs stay in the corpus as seed-fixed-hang-claim-*.)
 */
static bool claim_would_wait(struct ctx *x)
{
	for (uint32_t s = 0; s < x->seg.capacity; s++) {
		uint64_t st = atomic_load(&shm_slot_at(&x->seg, s)->stamp);
		uint32_t owner = stamp_owner(st);

		if ((st & STAMP_BUSY) && ((int)owner == x->seg.part || is_live(x, owner))) {
			return true;
		}
	}
	return false;
}

static void op_hub_publish(struct ctx *x, uint32_t len, unsigned flags)
{
	struct hub_loan loan;

	if (x->seg.part < 0) {
		return; /* the library publishes only through a claimed participant */
	}
	if (claim_would_wait(x)) {
		return;
	}
	len %= x->seg.max_msg + 2; /* now and then one too many: -EMSGSIZE */
	if (hub_claim(&x->seg, (uint32_t)x->seg.part, len, &loan) < 0) {
		return;
	}
	memset(shm_slot_data(loan.slot), 0xa5, len);
	if (flags & 2) {
		/* A peer reclaims or overwrites the slot while we fill it: commit/discard must
		 * leave its decision alone. */
		atomic_fetch_add(&loan.slot->stamp, (uint64_t)1 << STAMP_SEQ_SHIFT);
	}
	if (flags & 1) {
		hub_discard(&x->seg, &loan);
	} else {
		hub_commit(&x->seg, &loan);
	}
}

/*
 * A caller's buffer of exactly `size` bytes, so that ASan catches a copy past it; NULL for size 0,
 * which horus_sub_read(), horus_link_recv() and horus_link_send() accept. (Passing that NULL on to
 * memcpy() was undefined behaviour, found here and fixed in bddf65e: inputs seed-fixed-ub-*.)
 */
static void *caller_buf(size_t size)
{
	return size ? malloc(size) : NULL;
}

static void op_hub_read(struct ctx *x, uint32_t cap, unsigned count)
{
	/* Exactly cap bytes, so that ASan catches a copy past the caller's buffer. */
	uint8_t *buf = caller_buf(cap);

	count = count % MAX_READS_PER_OP + 1;
	for (unsigned i = 0; i < count; i++) {
		uint64_t seq, lost;
		int r = hub_read(&x->seg, &x->rd, buf, cap, &seq, &lost);

		if (r >= 0 && (uint32_t)r > cap) {
			abort(); /* claims to have copied more than fits */
		}
		if (r < 0 && r != -EMSGSIZE && r != -EPROTO) {
			break;
		}
	}
	free(buf);
}

static void op_hub_take(struct ctx *x, unsigned flags)
{
	const void *data;
	size_t len;
	uint64_t seq, stamp, lost;

	if (hub_take(&x->seg, &x->rd, &data, &len, &seq, &stamp, &lost) < 0) {
		return;
	}
	touch(data, len);
	if (flags & 1) {
		atomic_fetch_add(&shm_slot_at(&x->seg, seq)->stamp, (uint64_t)1 << STAMP_SEQ_SHIFT);
	}
	(void)hub_check(&x->seg, &x->rd, seq, stamp);
}

static bool link_prod(struct ctx *x)
{
	if (!x->prod_tried) {
		x->prod_tried = true;
		x->prod_ok = link_producer_init(&x->seg, &x->prod) == 0;
	}
	return x->prod_ok;
}

static bool link_cons(struct ctx *x)
{
	if (!x->cons_tried) {
		x->cons_tried = true;
		x->cons_ok = link_consumer_init(&x->seg, &x->cons) == 0;
	}
	return x->cons_ok;
}

static void op_link_recv(struct ctx *x, uint32_t cap, unsigned count)
{
	uint8_t *buf = caller_buf(cap);

	if (!link_cons(x)) {
		free(buf);
		return;
	}
	count = count % MAX_READS_PER_OP + 1;
	for (unsigned i = 0; i < count; i++) {
		int r = link_recv(&x->seg, &x->cons, buf, cap);

		if (r >= 0 && (uint32_t)r > cap) {
			abort();
		}
		if (r < 0) {
			break;
		}
	}
	free(buf);
}

static void op_link_send(struct ctx *x, uint32_t len, unsigned count)
{
	uint8_t *msg;

	if (!link_prod(x)) {
		return;
	}
	len %= x->seg.max_msg + 2;
	msg = caller_buf(len);
	if (len) {
		memset(msg, 0x5a, len);
	}
	count = count % MAX_READS_PER_OP + 1;
	for (unsigned i = 0; i < count; i++) {
		if (link_send(&x->seg, &x->prod, msg, len) < 0) {
			break;
		}
	}
	free(msg);
}

static void op_link_loan(struct ctx *x, uint32_t len)
{
	void *buf;

	if (!link_prod(x) || link_loan(&x->seg, &x->prod, &buf) < 0) {
		return;
	}
	len %= x->seg.max_msg + 2;
	/* The loan promises max_msg bytes of room. */
	memset(buf, 0x3c, x->seg.max_msg);
	(void)link_commit(&x->seg, &x->prod, len);
}

static void op_part_claim(struct ctx *x, unsigned role)
{
	static const uint32_t roles[] = { SHM_ROLE_PUB, SHM_ROLE_SUB, SHM_ROLE_PRODUCER,
					  SHM_ROLE_CONSUMER };

	if (x->seg.part >= 0) {
		shm_part_release(&x->seg);
	} else {
		(void)shm_part_claim(&x->seg, roles[role % 4]);
	}
}

static void run_op(struct ctx *x, struct cursor *c)
{
	struct shm_header *h = x->seg.hdr;
	bool hub = x->seg.kind == HORUS_KIND_HUB;
	unsigned code = (unsigned)take(c, 1) % OP_COUNT;

	switch (code) {
	case OP_POKE8: {
		size_t off = take(c, 2);
		uint64_t v = take(c, 8);

		poke(x, off, &v, sizeof(v));
		break;
	}
	case OP_POKE4: {
		size_t off = take(c, 2);
		uint32_t v = (uint32_t)take(c, 4);

		poke(x, off, &v, sizeof(v));
		break;
	}
	case OP_STAMP: {
		uint64_t slot = take(c, 1);
		int16_t delta = (int16_t)take(c, 2);
		uint64_t bits = take(c, 1);
		uint64_t seq = atomic_load(&h->head) + (uint64_t)(int64_t)delta;

		atomic_store(&shm_slot_at(&x->seg, slot)->stamp,
			     stamp_make(seq, (uint32_t)(bits >> 2) & STAMP_OWNER_MASK, bits & 3));
		break;
	}
	case OP_STAMP_RAW: {
		uint64_t slot = take(c, 1);

		atomic_store(&shm_slot_at(&x->seg, slot)->stamp, take(c, 8));
		break;
	}
	case OP_LEN: {
		uint64_t slot = take(c, 1);
		uint32_t len = (uint32_t)take(c, 4);

		if (!(len & 0x80000000u)) {
			len %= x->seg.max_msg + 2;
		}
		atomic_store(&shm_slot_at(&x->seg, slot)->len, len);
		break;
	}
	case OP_COUNTER: {
		unsigned which = (unsigned)take(c, 1);

		set_counter(x, which, take(c, 8), false);
		break;
	}
	case OP_COUNTER_REL: {
		unsigned which = (unsigned)take(c, 1);

		set_counter(x, which, (uint64_t)(int64_t)(int16_t)take(c, 2), true);
		break;
	}
	case OP_PART: {
		struct shm_participant *p = &h->parts[take(c, 1) % SHM_PARTICIPANTS];

		atomic_store(&p->role, (uint32_t)take(c, 1));
		atomic_store(&p->gen, (uint32_t)take(c, 1));
		atomic_store(&p->active, (uint32_t)take(c, 1));
		break;
	}
	case OP_READER_INIT:
		if (hub) {
			hub_reader_init(&x->seg, &x->rd, (uint32_t)take(c, 4));
		}
		break;
	case OP_HUB_READ: {
		uint32_t cap = (uint32_t)take(c, 2);
		unsigned count = (unsigned)take(c, 1);

		if (hub) {
			op_hub_read(x, cap, count);
		}
		break;
	}
	case OP_HUB_NEXT_LEN:
		if (hub) {
			(void)hub_next_len(&x->seg, &x->rd);
		}
		break;
	case OP_HUB_TAKE: {
		unsigned flags = (unsigned)take(c, 1);

		if (hub) {
			op_hub_take(x, flags);
		}
		break;
	}
	case OP_HUB_WAIT:
		if (hub) {
			(void)hub_wait(&x->seg, &x->rd, 0);
		}
		break;
	case OP_REAP_ALL:
		shm_reap_all(&x->seg);
		break;
	case OP_PART_CLAIM:
		op_part_claim(x, (unsigned)take(c, 1));
		break;
	case OP_PART_REAP: {
		uint32_t i = (uint32_t)take(c, 1) % (SHM_PARTICIPANTS + 4); /* a few out of range */

		if (!shm_part_alive(&x->seg, i)) {
			shm_part_reap(&x->seg, i);
		}
		break;
	}
	case OP_LINK_RECV: {
		uint32_t cap = (uint32_t)take(c, 2);
		unsigned count = (unsigned)take(c, 1);

		if (!hub) {
			op_link_recv(x, cap, count);
		}
		break;
	}
	case OP_LINK_SEND: {
		uint32_t len = (uint32_t)take(c, 2);
		unsigned count = (unsigned)take(c, 1);

		if (!hub) {
			op_link_send(x, len, count);
		}
		break;
	}
	case OP_LINK_LOAN: {
		uint32_t len = (uint32_t)take(c, 2);

		if (!hub) {
			op_link_loan(x, len);
		}
		break;
	}
	case OP_LINK_WAIT:
		if (!hub && link_prod(x)) {
			(void)link_wait_space(&x->seg, &x->prod, 0);
		}
		if (!hub && link_cons(x)) {
			(void)link_wait_data(&x->seg, &x->cons, 0);
		}
		break;
	case OP_LINK_REINIT:
		x->prod_tried = x->cons_tried = false;
		break;
	case OP_HUB_PUBLISH: {
		uint32_t len = (uint32_t)take(c, 2);
		unsigned flags = (unsigned)take(c, 1);

		if (hub) {
			op_hub_publish(x, len, flags);
		}
		break;
	}
	case OP_HUB_LOAN_FIND: {
		size_t off = take(c, 2) % (x->seg.size + 64); /* a little past the end too */
		struct hub_loan loan;

		if (hub && x->seg.part >= 0 &&
		    hub_loan_find(&x->seg, (uint32_t)x->seg.part, x->seg.base + off, &loan) == 0) {
			hub_discard(&x->seg, &loan);
		}
		break;
	}
	case OP_VALIDATE:
		(void)shm_validate(h, x->seg.size, (uint32_t)take(c, 1) % 4);
		break;
	default:
		break;
	}
}

/* Another open file description of the same file: its locks look like another process's. */
static int open_peer(int fd, uint64_t live)
{
	char path[64];
	int peer;

	if (!live) {
		return -1;
	}
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	peer = open(path, O_RDWR | O_CLOEXEC);
	if (peer < 0) {
		return -1;
	}
	for (uint32_t i = 0; i < SHM_PARTICIPANTS; i++) {
		if ((live >> i) & 1) {
			(void)shm_lock_try(peer, SHM_LOCK_PART(i), 1);
		}
	}
	return peer;
}

/* Moves the attached segment into an exactly sized heap block (see the top comment). */
static int to_heap(struct shm_seg *seg)
{
	uint8_t *copy = aligned_alloc(SHM_CACHELINE, seg->size); /* size: a multiple of 64 */

	if (!copy) {
		return -ENOMEM;
	}
	memcpy(copy, seg->base, seg->size);
	munmap(seg->base, seg->size);
	seg->base = copy;
	seg->hdr = (struct shm_header *)copy;
	return 0;
}

static void split(const uint8_t *data, size_t size, size_t *ret_image)
{
	uint64_t total;

	*ret_image = size;
	if (size < sizeof(struct shm_header)) {
		return;
	}
	memcpy(&total, data + offsetof(struct shm_header, total_size), sizeof(total));
	if (total >= sizeof(struct shm_header) && total <= size) {
		*ret_image = (size_t)total;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint32_t kinds[] = { 0, HORUS_KIND_HUB, HORUS_KIND_LINK, 7 };
	static const uint8_t pad[64];
	struct ctx x = { .seg = { .fd = -1, .part = -1 }, .peer_fd = -1 };
	struct cursor c;
	size_t image;
	unsigned flags, last_n;
	int fd;

	split(data, size, &image);
	c = (struct cursor){ data + image, size - image };
	flags = (unsigned)take(&c, 1);
	last_n = (unsigned)take(&c, 1);
	x.live = take(&c, 8);

	/* The pure check first, on the input as it is. */
	(void)shm_validate((const struct shm_header *)(const void *)data, image, kinds[flags & 3]);

	fd = memfd_create("fuzz-segment", MFD_CLOEXEC);
	if (fd < 0) {
		abort();
	}
	if ((image && write(fd, data, image) != (ssize_t)image) ||
	    ((flags & 4) && write(fd, pad, sizeof(pad)) != (ssize_t)sizeof(pad))) {
		abort();
	}
	if (shm_seg_attach_fd(&x.seg, fd, kinds[flags & 3]) < 0) {
		close(fd);
		return 0;
	}
	/* What the validation promised: geometry consistent with the file. */
	if (x.seg.mask + 1 != x.seg.capacity ||
	    x.seg.slots_offset + (uint64_t)x.seg.capacity * x.seg.stride != x.seg.size ||
	    x.seg.stride < SHM_SLOT_HDR + x.seg.max_msg) {
		abort();
	}
	if (to_heap(&x.seg) < 0) {
		shm_seg_close(&x.seg);
		return 0;
	}
	x.peer_fd = open_peer(fd, x.live);
	if (x.seg.kind == HORUS_KIND_HUB) {
		hub_reader_init(&x.seg, &x.rd, last_n);
	}
	for (int i = 0; i < MAX_OPS && c.n; i++) {
		run_op(&x, &c);
	}
	shm_part_release(&x.seg);
	free(x.seg.base);
	x.seg.base = NULL; /* not a mapping any more: shm_seg_close() must not munmap it */
	shm_seg_close(&x.seg);
	if (x.peer_fd >= 0) {
		close(x.peer_fd);
	}
	return 0;
}
