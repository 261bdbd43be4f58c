/* SPDX-License-Identifier: MIT */
/*
 * Segments as untrusted input: corrupt or foreign files are refused with -EPROTO and never
 * crash or wedge a reader or a writer; half-created files, cleaning, file mode, listing.
 */

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <horus/pubsub.h>

#include "common.h"
#include "peek.h"
#include "segment.h"

/* 1792-byte header + 4 slots of 576 bytes: exactly one page, so a read past the end faults. */
static const struct horus_topic_opts page = { .capacity = 4, .max_msg = 560 };

/* Creates topic `topic` with no handle left open on it. */
static void make_hub(const char *topic, const struct horus_topic_opts *o)
{
	struct horus_pub *pub;

	ck_assert_int_eq(horus_pub_open(t_ns, topic, o, &pub), 0);
	horus_pub_close(pub);
}

static void publish(struct horus_pub *pub, uint64_t i, uint32_t len)
{
	uint8_t buf[560] = { 0 };

	memcpy(buf, &i, sizeof(i));
	ck_assert_int_eq(horus_pub_publish(pub, buf, len), 0);
}

/* ---- header validation -------------------------------------------------------------------- */

static struct shm_header *good_header(uint32_t kind, uint32_t cap, uint32_t max_msg, size_t *size)
{
	struct shm_header *h;

	*size = shm_total_size(cap, max_msg);
	h = calloc(1, *size);
	ck_assert_ptr_nonnull(h);
	h->magic = SHM_MAGIC;
	h->version = SHM_LAYOUT_VERSION;
	h->header_size = sizeof(*h);
	h->total_size = *size;
	h->kind = kind;
	h->capacity = cap;
	h->max_msg = max_msg;
	h->slot_stride = (uint32_t)shm_stride(max_msg);
	h->slots_offset = sizeof(*h);
	strcpy(h->name, "t");
	return h;
}

START_TEST(validate_header)
{
	size_t size;
	struct shm_header *h = good_header(HORUS_KIND_HUB, 8, 100, &size);
	struct shm_header *c = malloc(size);

	ck_assert_ptr_nonnull(c);
	ck_assert_int_eq(shm_validate(h, size, HORUS_KIND_HUB), 0);
	ck_assert_int_eq(shm_validate(h, size, 0), 0); /* any kind */
	ck_assert_int_eq(shm_validate(h, size, HORUS_KIND_LINK), -EPROTO);
	ck_assert_int_eq(shm_validate(h, size - 1, HORUS_KIND_HUB), -EPROTO);
	ck_assert_int_eq(shm_validate(h, size + 64, HORUS_KIND_HUB), -EPROTO);
	ck_assert_int_eq(shm_validate(h, sizeof(*h) - 1, HORUS_KIND_HUB), -EPROTO);
	ck_assert_int_eq(shm_validate(h, 0, HORUS_KIND_HUB), -EPROTO);

#define CORRUPT(stmt)                                                   \
	do {                                                            \
		memcpy(c, h, size);                                     \
		stmt;                                                   \
		ck_assert_msg(shm_validate(c, size, 0) == -EPROTO, #stmt); \
	} while (0)
	CORRUPT(c->magic ^= 1);
	CORRUPT(c->magic = 0);
	CORRUPT(c->version = SHM_LAYOUT_VERSION + 1);
	CORRUPT(c->version = 0);
	CORRUPT(c->header_size += 64);
	CORRUPT(c->kind = 0);
	CORRUPT(c->kind = 3);
	CORRUPT(c->capacity = 0);
	CORRUPT(c->capacity = 1);
	CORRUPT(c->capacity = 6);
	CORRUPT(c->capacity = 16); /* a power of two, but not what the sizes say */
	CORRUPT(c->capacity = 1u << 31);
	CORRUPT(c->max_msg = 0);
	CORRUPT(c->max_msg = 200); /* another stride */
	CORRUPT(c->max_msg = UINT32_MAX);
	CORRUPT(c->slot_stride += 64);
	CORRUPT(c->slot_stride = 0);
	CORRUPT(c->slots_offset += 64);
	CORRUPT(c->slots_offset = 0);
	CORRUPT(c->total_size += 1);
	CORRUPT(c->total_size = UINT64_MAX);
	CORRUPT(memset(c->name, 'x', sizeof(c->name)));
#undef CORRUPT
	free(c);
	free(h);
}
END_TEST

/* ---- corrupt files ----------------------------------------------------------------------- */

struct corruption {
	const char *what;
	void (*apply)(struct t_seg *m);
};

static void c_magic(struct t_seg *m)
{
	m->hdr->magic = UINT64_C(0x0123456789abcdef);
}

static void c_version(struct t_seg *m)
{
	m->hdr->version = SHM_LAYOUT_VERSION + 1;
}

static void c_header_size(struct t_seg *m)
{
	m->hdr->header_size = 64;
}

static void c_kind(struct t_seg *m)
{
	m->hdr->kind = HORUS_KIND_LINK; /* a hub's file that says it is a link */
}

static void c_kind_wild(struct t_seg *m)
{
	m->hdr->kind = 77;
}

static void c_capacity_not_pow2(struct t_seg *m)
{
	m->hdr->capacity = 3;
}

static void c_capacity_big(struct t_seg *m)
{
	m->hdr->capacity = 1u << 20; /* slots far past the end of the file */
}

static void c_capacity_zero(struct t_seg *m)
{
	m->hdr->capacity = 0;
}

static void c_max_msg(struct t_seg *m)
{
	m->hdr->max_msg = 100000;
}

static void c_max_msg_zero(struct t_seg *m)
{
	m->hdr->max_msg = 0;
}

static void c_stride(struct t_seg *m)
{
	m->hdr->slot_stride = 64;
}

static void c_slots_offset(struct t_seg *m)
{
	m->hdr->slots_offset = 1u << 30;
}

static void c_total_size(struct t_seg *m)
{
	m->hdr->total_size *= 2;
}

static void c_name(struct t_seg *m)
{
	memset(m->hdr->name, 'n', sizeof(m->hdr->name));
}

static void c_not_ready(struct t_seg *m)
{
	m->hdr->ready = 0; /* a creator that died before marking it ready */
}

static void c_truncate_0(struct t_seg *m)
{
	ck_assert_int_eq(ftruncate(m->fd, 0), 0);
}

static void c_truncate_100(struct t_seg *m)
{
	ck_assert_int_eq(ftruncate(m->fd, 100), 0);
}

static void c_truncate_header(struct t_seg *m)
{
	ck_assert_int_eq(ftruncate(m->fd, sizeof(struct shm_header) + 1), 0);
}

static void c_truncate_slot(struct t_seg *m)
{
	ck_assert_int_eq(ftruncate(m->fd, (off_t)m->size - 64), 0);
}

static void c_extend(struct t_seg *m)
{
	ck_assert_int_eq(ftruncate(m->fd, (off_t)m->size + 4096), 0);
}

static void c_huge_file(struct t_seg *m)
{
	/* Sparse, bigger than any valid geometry: refused before it is mapped. */
	ck_assert_int_eq(ftruncate(m->fd, (off_t)1 << 46), 0);
}

static void c_garbage(struct t_seg *m)
{
	uint64_t seed = 1;

	for (size_t i = 0; i < m->size; i++) {
		m->base[i] = (uint8_t)t_rand(&seed);
	}
}

static const struct corruption corruptions[] = {
	{ "magic", c_magic },
	{ "version", c_version },
	{ "header_size", c_header_size },
	{ "kind", c_kind },
	{ "kind_wild", c_kind_wild },
	{ "capacity_not_pow2", c_capacity_not_pow2 },
	{ "capacity_big", c_capacity_big },
	{ "capacity_zero", c_capacity_zero },
	{ "max_msg", c_max_msg },
	{ "max_msg_zero", c_max_msg_zero },
	{ "stride", c_stride },
	{ "slots_offset", c_slots_offset },
	{ "total_size", c_total_size },
	{ "name", c_name },
	{ "not_ready", c_not_ready },
	{ "truncate_0", c_truncate_0 },
	{ "truncate_100", c_truncate_100 },
	{ "truncate_header", c_truncate_header },
	{ "truncate_slot", c_truncate_slot },
	{ "extend", c_extend },
	{ "huge_file", c_huge_file },
	{ "garbage", c_garbage },
};

#define N_CORRUPTIONS ((int)(sizeof(corruptions) / sizeof(corruptions[0])))

struct listed {
	int n;
	struct horus_topic_info last;
};

static int collect(const struct horus_topic_info *info, void *userdata)
{
	struct listed *l = userdata;

	l->n++;
	l->last = *info;
	return 0;
}

/* Each corruption of a real segment: every way in says -EPROTO; list and clean cope. */
START_TEST(corrupt_file)
{
	const struct corruption *c = &corruptions[_i];
	struct horus_topic_info info;
	struct horus_pub *pub;
	struct horus_sub *sub;
	struct listed l = { 0 };
	struct t_seg m;
	char file[300];
	bool unready;

	make_hub("c", &page);
	t_seg_map(&m, HORUS_KIND_HUB, "c");
	c->apply(&m);
	{
		struct stat st;

		/* An empty file reads as one its creator has not sized yet. */
		unready = stat(m.path, &st) == 0 &&
			  (st.st_size == 0 || atomic_load(&m.hdr->ready) != SHM_READY);
	}
	t_seg_unmap(&m);

	if (unready) {
		/* Never marked ready, as a creator killed while it sized or initialised the
		 * file leaves it, and nobody holds it: the next opener removes it and creates
		 * the topic anew (after a grace period for a creator that might still be at
		 * work); one that only looks finds no topic. */
		ck_assert_msg(horus_topic_info(t_ns, "c", HORUS_KIND_HUB, &info) == -ENOENT,
			      "%s: info", c->what);
		ck_assert_msg(horus_sub_open(t_ns, "c", &page, 0, &sub) == 0, "%s: sub_open",
			      c->what);
		horus_sub_close(sub);
		return;
	}
	ck_assert_msg(horus_sub_open(t_ns, "c", &page, 0, &sub) == -EPROTO, "%s: sub_open",
		      c->what);
	ck_assert_msg(horus_pub_open(t_ns, "c", &page, &pub) == -EPROTO, "%s: pub_open", c->what);
	ck_assert_msg(horus_sub_open(t_ns, "c", NULL, 0, &sub) == -EPROTO, "%s: sub_open(NULL)",
		      c->what);
	ck_assert_msg(horus_topic_info(t_ns, "c", HORUS_KIND_HUB, &info) == -EPROTO, "%s: info",
		      c->what);

	/* Listed as unreadable, under its file name. */
	ck_assert_int_eq(horus_topic_list(t_ns, collect, &l), 1);
	ck_assert_int_eq(l.n, 1);
	ck_assert_msg(l.last.kind == 0, "%s: listed as kind %u", c->what, l.last.kind);
	snprintf(file, sizeof(file), "horus.%s.hub.c", t_ns);
	ck_assert_str_eq(l.last.name, file);

	/* Nobody holds it: clean removes it, and the name can be used afresh. */
	ck_assert_int_eq(horus_clean(t_ns), 1);
	ck_assert(!t_exists(m.path));
	ck_assert_int_eq(horus_sub_open(t_ns, "c", &page, 0, &sub), 0);
	horus_sub_close(sub);
}
END_TEST

/* ---- wild values in slots and indices ----------------------------------------------------- */

START_TEST(bad_slot_len)
{
	struct horus_pub *pub;
	struct horus_sub *sub;
	struct horus_sample s;
	struct horus_msg_info mi;
	struct horus_link *p, *c;
	struct t_seg m;
	uint8_t buf[560];
	static const uint32_t lens[] = { 561, 4096, 1u << 31, UINT32_MAX };

	ck_assert_int_eq(horus_sub_open(t_ns, "len", &page, 0, &sub), 0);
	ck_assert_int_eq(horus_pub_open(t_ns, "len", &page, &pub), 0);
	t_seg_map(&m, HORUS_KIND_HUB, "len");
	/* A length no writer could have set: that message is lost (counted), never returned,
	 * and the subscriber is not stuck on it. Every way of reading agrees. */
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		publish(pub, i, 100);
		atomic_store(&t_seg_slot(&m, i)->len, lens[i]);
		switch (i % 3) {
		case 0:
			ck_assert_int_eq(horus_sub_read(sub, buf, sizeof(buf), &mi), -EAGAIN);
			break;
		case 1:
			ck_assert_int_eq(horus_sub_next_len(sub), -EAGAIN);
			break;
		default:
			ck_assert_int_eq(horus_sub_take(sub, &s), -EAGAIN);
			break;
		}
		ck_assert_uint_eq(horus_sub_lost(sub), i + 1);
	}
	publish(pub, 4, 100);
	ck_assert_int_eq(horus_sub_read(sub, buf, SIZE_MAX, &mi), 100);
	ck_assert_uint_eq(mi.seq, 4);
	ck_assert_uint_eq(mi.lost, 4);
	t_seg_unmap(&m);
	horus_pub_close(pub);
	horus_sub_close(sub);

	/* Link: nothing may be skipped silently there; the bad slot is refused each time. */
	ck_assert_int_eq(horus_link_open(t_ns, "len", HORUS_LINK_PRODUCER, &page, &p), 0);
	ck_assert_int_eq(horus_link_open(t_ns, "len", HORUS_LINK_CONSUMER, &page, &c), 0);
	ck_assert_int_eq(horus_link_send(p, buf, 100), 0);
	t_seg_map(&m, HORUS_KIND_LINK, "len");
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		atomic_store(&t_seg_slot(&m, 0)->len, lens[i]);
		ck_assert_int_eq(horus_link_recv(c, buf, sizeof(buf)), -EPROTO);
		ck_assert_int_eq(horus_link_recv(c, buf, SIZE_MAX), -EPROTO);
	}
	t_seg_unmap(&m);
	horus_link_close(p);
	horus_link_close(c);
}
END_TEST

/*
 * One slot stamp carrying a sequence far ahead of the topic (one bad 8-byte write). Nothing may
 * crash, and the damage must stay local: the subscriber has to go on receiving what is
 * published afterwards, and its lost count cannot exceed what was ever published.
 */
START_TEST(wild_stamp_reader)
{
	struct horus_pub *pub;
	struct horus_sub *sub;
	struct horus_msg_info mi = { 0 };
	struct t_seg m;
	uint8_t buf[560];
	int r = -EAGAIN;

	ck_assert_int_eq(horus_sub_open(t_ns, "wild", &page, 0, &sub), 0);
	ck_assert_int_eq(horus_pub_open(t_ns, "wild", &page, &pub), 0);
	publish(pub, 0, 50);
	ck_assert_int_eq(horus_sub_read(sub, buf, sizeof(buf), &mi), 50);
	t_seg_map(&m, HORUS_KIND_HUB, "wild");
	atomic_store(&t_seg_slot(&m, 1)->stamp, stamp_make(1 + ((uint64_t)1 << 40), 0, 0));
	t_seg_unmap(&m);

	/* Read what there is (the wild slot), then everything published after it. */
	(void)horus_sub_read(sub, buf, sizeof(buf), &mi);
	for (uint64_t i = 1; i <= 3 * page.capacity; i++) {
		publish(pub, i, 50);
	}
	for (uint64_t end = t_now_ns() + 2 * T_S; t_now_ns() < end;) {
		r = horus_sub_read(sub, buf, sizeof(buf), &mi);
		if (r >= 0 && *(uint64_t *)buf == 3 * page.capacity) {
			break;
		}
	}
	ck_assert_msg(r == 50, "the newest message never arrived (last read %d)", r);
	ck_assert_msg(horus_sub_lost(sub) <= 3 * page.capacity + 1, "lost %llu",
		      (unsigned long long)horus_sub_lost(sub));
	horus_pub_close(pub);
	horus_sub_close(sub);
}
END_TEST

/* Runs publish attempts in a child; the parent only learns whether it returned in time. */
static void publish_in_child(const char *topic, int n, int deadline_ms)
{
	pid_t pid = fork();
	int status;

	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct horus_pub *pub;
		uint8_t buf[8] = { 0 };

		if (horus_pub_open(t_ns, topic, &page, &pub) != 0) {
			_exit(2);
		}
		for (int i = 0; i < n; i++) {
			(void)horus_pub_publish(pub, buf, sizeof(buf)); /* any result, but return */
		}
		horus_pub_close(pub);
		_exit(0);
	}
	status = t_child_wait(pid, deadline_ms);
	ck_assert_msg(status != -1, "publisher wedged: no return within %d ms", deadline_ms);
	ck_assert_msg(status == 0, "publisher ended with status %d", status);
}

/* Every slot claims a sequence far ahead of head: a publisher must not walk head up to it. */
START_TEST(wild_stamps_writer)
{
	struct t_seg m;

	make_hub("wildw", &page);
	t_seg_map(&m, HORUS_KIND_HUB, "wildw");
	for (uint32_t i = 0; i < page.capacity; i++) {
		atomic_store(&t_seg_slot(&m, i)->stamp,
			     stamp_make(i + ((uint64_t)1 << 40), 0, 0));
	}
	t_seg_unmap(&m);
	publish_in_child("wildw", 4, 3000);
}
END_TEST

/*
 * A slot left BUSY by a writer index whose participant entry is free (role NONE, no lock): the
 * owner is dead and has nothing to reap. A publisher that laps the slot must not spin forever.
 */
START_TEST(busy_stamp_no_owner_writer)
{
	struct t_seg m;

	make_hub("busyw", &page);
	t_seg_map(&m, HORUS_KIND_HUB, "busyw");
	atomic_store(&t_seg_slot(&m, 0)->stamp, stamp_make(0, 40, STAMP_BUSY));
	atomic_store(&m.hdr->head, 1);
	t_seg_unmap(&m);
	publish_in_child("busyw", 2 * (int)page.capacity, 3000);
}
END_TEST

/*
 * The same slot seen by a subscriber: the sequence can never be written, later ones exist, so
 * the subscriber must give it up (as it does for any stuck sequence) and read on.
 */
START_TEST(busy_stamp_no_owner_reader)
{
	static const struct horus_topic_opts o = { .capacity = 8, .max_msg = 64 };
	struct horus_pub *pub;
	struct horus_sub *sub;
	struct horus_msg_info mi = { 0 };
	struct t_seg m;
	uint8_t buf[64];
	int r = -EAGAIN;

	ck_assert_int_eq(horus_sub_open(t_ns, "busyr", &o, 0, &sub), 0);
	ck_assert_int_eq(horus_pub_open(t_ns, "busyr", &o, &pub), 0);
	t_seg_map(&m, HORUS_KIND_HUB, "busyr");
	atomic_store(&t_seg_slot(&m, 0)->stamp, stamp_make(0, 40, STAMP_BUSY));
	atomic_store(&m.hdr->head, 1);
	t_seg_unmap(&m);
	for (uint64_t i = 1; i < 4; i++) { /* no lap: the publisher never meets the slot */
		uint64_t v = i;

		ck_assert_int_eq(horus_pub_publish(pub, &v, sizeof(v)), 0);
	}
	/* The stall rule gives up a stuck sequence after HUB_STALL_NS (250 ms). */
	for (uint64_t end = t_now_ns() + 2 * T_S; r == -EAGAIN && t_now_ns() < end;) {
		r = horus_sub_read(sub, buf, sizeof(buf), &mi);
	}
	ck_assert_msg(r == 8, "subscriber stuck on the ownerless slot (last read %d)", r);
	ck_assert_uint_eq(mi.seq, 1);
	ck_assert_uint_eq(mi.lost, 1);
	horus_pub_close(pub);
	horus_sub_close(sub);
}
END_TEST

/*
 * A slot held by a dead publisher (its entry still says publisher, its lock is free): the
 * writer that laps it and the subscriber both reclaim it and go on.
 */
START_TEST(busy_stamp_dead_publisher)
{
	struct horus_pub *pub;
	struct horus_sub *sub;
	struct horus_msg_info mi;
	struct horus_topic_info info;
	struct t_seg m;
	uint8_t buf[560];
	uint64_t t0;

	ck_assert_int_eq(horus_sub_open(t_ns, "dead", &page, 0, &sub), 0);
	ck_assert_int_eq(horus_pub_open(t_ns, "dead", &page, &pub), 0);
	t_seg_map(&m, HORUS_KIND_HUB, "dead");
	atomic_store(&m.hdr->parts[40].role, SHM_ROLE_PUB);
	atomic_store(&m.hdr->parts[40].pid, 999999);
	atomic_fetch_add(&m.hdr->publishers, 1);
	atomic_store(&t_seg_slot(&m, 0)->stamp, stamp_make(0, 40, STAMP_BUSY));
	atomic_store(&m.hdr->head, 1);
	t_seg_unmap(&m);

	t0 = t_now_ns();
	for (uint64_t i = 1; i <= 2 * page.capacity; i++) {
		publish(pub, i, 20);
	}
	ck_assert_uint_lt(t_now_ns() - t0, 2 * T_S);
	ck_assert_int_eq(horus_sub_read(sub, buf, sizeof(buf), &mi), 20);
	ck_assert_uint_eq(*(uint64_t *)buf, page.capacity + 1);
	info = (struct horus_topic_info){ 0 };
	ck_assert_int_eq(horus_topic_info(t_ns, "dead", HORUS_KIND_HUB, &info), 0);
	ck_assert_uint_eq(info.publishers, 1);
	ck_assert_uint_eq(info.holes, 1);
	horus_pub_close(pub);
	horus_sub_close(sub);
}
END_TEST

START_TEST(wild_link_indices)
{
	struct horus_link *p, *c;
	struct t_seg m;
	uint8_t buf[8] = { 0 };

	ck_assert_int_eq(horus_link_open(t_ns, "idx", HORUS_LINK_PRODUCER, &page, &p), 0);
	horus_link_close(p);
	t_seg_map(&m, HORUS_KIND_LINK, "idx");

	/* More pending than the ring holds, or a tail further ahead of the head than a ring:
	 * refused at open. (A tail a little ahead is a producer that died between publishing a
	 * slot and advancing head, and the consumer read it: accepted, see xproc.) */
	atomic_store(&m.hdr->head, 10);
	atomic_store(&m.hdr->tail, 5);
	ck_assert_int_eq(horus_link_open(t_ns, "idx", HORUS_LINK_PRODUCER, &page, &p), -EPROTO);
	ck_assert_int_eq(horus_link_open(t_ns, "idx", HORUS_LINK_CONSUMER, &page, &c), -EPROTO);
	atomic_store(&m.hdr->head, 5);
	atomic_store(&m.hdr->tail, 10);
	ck_assert_int_eq(horus_link_open(t_ns, "idx", HORUS_LINK_PRODUCER, &page, &p), -EPROTO);
	ck_assert_int_eq(horus_link_open(t_ns, "idx", HORUS_LINK_CONSUMER, &page, &c), -EPROTO);

	/* A tail that goes wild under a running producer: -EPROTO, not an overwrite. */
	atomic_store(&m.hdr->head, 0);
	atomic_store(&m.hdr->tail, 0);
	ck_assert_int_eq(horus_link_open(t_ns, "idx", HORUS_LINK_PRODUCER, &page, &p), 0);
	for (uint32_t i = 0; i < page.capacity; i++) {
		ck_assert_int_eq(horus_link_send(p, buf, sizeof(buf)), 0);
	}
	atomic_store(&m.hdr->tail, UINT64_MAX - 3);
	ck_assert_int_eq(horus_link_send(p, buf, sizeof(buf)), -EPROTO);
	ck_assert_int_eq(horus_link_wait(p, 0), 0); /* ready: to report the error */
	horus_link_close(p);
	t_seg_unmap(&m);
}
END_TEST

/* head near the top of its range: whatever happens to the stamps, no crash and no hang. */
START_TEST(wild_hub_head)
{
	struct t_seg m;
	pid_t pid;
	int status;

	make_hub("head", &page);
	t_seg_map(&m, HORUS_KIND_HUB, "head");
	atomic_store(&m.hdr->head, UINT64_MAX - 2);
	t_seg_unmap(&m);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct horus_pub *pub;
		struct horus_sub *sub;
		uint8_t buf[560] = { 0 };

		if (horus_sub_open(t_ns, "head", &page, 2, &sub) != 0 ||
		    horus_pub_open(t_ns, "head", &page, &pub) != 0) {
			_exit(2);
		}
		for (int i = 0; i < 20; i++) {
			(void)horus_pub_publish(pub, buf, 8);
			(void)horus_sub_read(sub, buf, sizeof(buf), NULL);
			(void)horus_sub_wait(sub, 0);
		}
		horus_pub_close(pub);
		horus_sub_close(sub);
		_exit(0);
	}
	status = t_child_wait(pid, 5000);
	ck_assert_msg(status != -1, "wedged near the end of the sequence space");
	ck_assert_int_eq(status, 0);
}
END_TEST

/* Participant entries and counters are shared too: garbage there is cleaned up, not trusted. */
START_TEST(wild_participants)
{
	struct horus_topic_info info;
	struct horus_sub *sub;
	struct t_seg m;

	make_hub("parts", &page);
	t_seg_map(&m, HORUS_KIND_HUB, "parts");
	for (uint32_t i = 0; i < SHM_PARTICIPANTS; i++) {
		atomic_store(&m.hdr->parts[i].role, i % 2 ? SHM_ROLE_PUB : 1000 + i);
		atomic_store(&m.hdr->parts[i].pid, -1);
	}
	atomic_store(&m.hdr->publishers, 0);
	atomic_store(&m.hdr->subscribers, 0);
	atomic_store(&m.hdr->data_sleepers, UINT64_MAX); /* every dead entry "asleep" */
	t_seg_unmap(&m);

	/* Nobody holds a participant lock: every entry is a dead one, reclaimed on the way. */
	ck_assert_int_eq(horus_topic_info(t_ns, "parts", HORUS_KIND_HUB, &info), 0);
	ck_assert_uint_eq(info.publishers, 0); /* never below zero */
	ck_assert_uint_eq(info.subscribers, 0);
	ck_assert_int_eq(horus_sub_open(t_ns, "parts", &page, 0, &sub), 0);
	ck_assert_int_eq(horus_topic_info(t_ns, "parts", HORUS_KIND_HUB, &info), 0);
	ck_assert_uint_eq(info.subscribers, 1);
	horus_sub_close(sub);
	t_seg_map(&m, HORUS_KIND_HUB, "parts");
	ck_assert_uint_eq(atomic_load(&m.hdr->data_sleepers), 0);
	t_seg_unmap(&m);
}
END_TEST

/* ---- half-created segments --------------------------------------------------------------- */

/* Creates the file of (t_ns, hub, topic) by hand, as a creator that died half-way would. */
static int make_raw(const char *topic, off_t size)
{
	char name[SHM_NAME_MAX];
	int fd;

	ck_assert_int_eq(shm_make_name(name, sizeof(name), t_ns, HORUS_KIND_HUB, topic), 0);
	fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, size), 0);
	return fd;
}

START_TEST(orphan_not_ready)
{
	struct horus_sub *sub;
	struct horus_pub *pub;
	uint64_t t0, dt;

	/* Sized but never initialised, and empty: no creator holds either. The next opener
	 * removes them and creates the topics anew, within a short grace period. */
	close(make_raw("zeros", (off_t)shm_total_size(4, 560)));
	close(make_raw("empty", 0));
	t0 = t_now_ns();
	ck_assert_int_eq(horus_sub_open(t_ns, "zeros", &page, 0, &sub), 0);
	ck_assert_int_eq(horus_pub_open(t_ns, "empty", &page, &pub), 0);
	dt = t_now_ns() - t0;
	ck_assert_uint_lt(dt, 3 * T_S);
	ck_assert_int_eq(horus_pub_publish(pub, "x", 1), 0);
	ck_assert_int_eq(horus_clean(t_ns), 0); /* both in use */
	horus_sub_close(sub);
	horus_pub_close(pub);
}
END_TEST

START_TEST(creator_alive_too_long)
{
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = SHM_LOCK_CREATOR,
			    .l_len = 1 };
	struct horus_sub *sub;
	uint64_t t0, dt;
	int fd = make_raw("slow", (off_t)shm_total_size(4, 560));

	/* A live creator that never finishes: openers give up after a bounded wait. */
	ck_assert_int_eq(fcntl(fd, F_OFD_SETLK, &fl), 0);
	t0 = t_now_ns();
	ck_assert_int_eq(horus_sub_open(t_ns, "slow", &page, 0, &sub), -ETIMEDOUT);
	dt = t_now_ns() - t0;
	ck_assert_uint_ge(dt, T_S / 2);
	ck_assert_uint_lt(dt, 10 * T_S);
	/* Held by its creator: clean leaves it alone. */
	ck_assert_int_eq(horus_clean(t_ns), 0);
	close(fd);
}
END_TEST

struct opener {
	int r;
	struct horus_sub *sub;
};

static void *open_sub(void *arg)
{
	struct opener *o = arg;

	o->r = horus_sub_open(t_ns, "late", &page, 0, &o->sub);
	return NULL;
}

START_TEST(creator_finishes)
{
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = SHM_LOCK_CREATOR,
			    .l_len = 1 };
	struct opener o = { .r = 1 };
	struct horus_pub *pub;
	struct t_seg m;
	pthread_t th;
	uint32_t ready;

	/* A real segment, turned back into one whose creator is still initialising it. */
	make_hub("late", &page);
	t_seg_map(&m, HORUS_KIND_HUB, "late");
	ck_assert_int_eq(fcntl(m.fd, F_OFD_SETLK, &fl), 0);
	ready = atomic_exchange(&m.hdr->ready, 0);
	ck_assert_int_eq(pthread_create(&th, NULL, open_sub, &o), 0);
	/* Not synchronisation: the result must be the same whether the opener is already waiting
	 * or not; this only makes it likely that its wait path runs. */
	t_nap_us(100 * 1000);
	atomic_store(&m.hdr->ready, ready);
	fl.l_type = F_UNLCK;
	ck_assert_int_eq(fcntl(m.fd, F_OFD_SETLK, &fl), 0);
	pthread_join(th, NULL);
	ck_assert_int_eq(o.r, 0);
	ck_assert_int_eq(horus_pub_open(t_ns, "late", &page, &pub), 0);
	publish(pub, 7, 8);
	ck_assert_int_eq(horus_sub_next_len(o.sub), 8);
	horus_pub_close(pub);
	horus_sub_close(o.sub);
	t_seg_unmap(&m);
}
END_TEST

/* ---- cleaning, mode, listing --------------------------------------------------------------- */

START_TEST(clean)
{
	char other_ns[64], path[4][512];
	struct horus_pub *pub;
	struct horus_sub *sub, *osub;
	struct horus_link *link;

	make_hub("stale/a", &page);
	make_hub("stale/b", &page);
	ck_assert_int_eq(horus_link_open(t_ns, "stale", HORUS_LINK_CONSUMER, &page, &link), 0);
	horus_link_close(link);
	t_shm_path(path[0], sizeof(path[0]), t_ns, HORUS_KIND_HUB, "stale/a");
	t_shm_path(path[1], sizeof(path[1]), t_ns, HORUS_KIND_HUB, "stale/b");
	t_shm_path(path[2], sizeof(path[2]), t_ns, HORUS_KIND_LINK, "stale");
	ck_assert_int_eq(horus_pub_open(t_ns, "held/pub", &page, &pub), 0);
	ck_assert_int_eq(horus_sub_open(t_ns, "held/sub", &page, 0, &sub), 0);
	ck_assert_int_eq(horus_link_open(t_ns, "held", HORUS_LINK_PRODUCER, &page, &link), 0);
	/* A namespace that starts like ours is another namespace. */
	snprintf(other_ns, sizeof(other_ns), "%sx", t_ns);
	ck_assert_uint_le(strlen(other_ns), HORUS_NAMESPACE_MAX);
	ck_assert_int_eq(horus_sub_open(other_ns, "stale/a", &page, 0, &osub), 0);
	horus_sub_close(osub);
	t_shm_path(path[3], sizeof(path[3]), other_ns, HORUS_KIND_HUB, "stale/a");

	ck_assert_int_eq(horus_clean(t_ns), 3);
	for (int i = 0; i < 3; i++) {
		ck_assert_msg(!t_exists(path[i]), "%s not removed", path[i]);
	}
	ck_assert(t_exists(path[3]));
	ck_assert_int_eq(horus_clean(t_ns), 0); /* idempotent */

	/* Held segments are intact and usable. */
	publish(pub, 1, 8);
	horus_pub_close(pub);
	ck_assert_int_eq(horus_clean(t_ns), 1); /* the publisher's topic, now free */
	horus_sub_close(sub);
	horus_link_close(link);
	ck_assert_int_eq(horus_clean(t_ns), 2);
	ck_assert_int_eq(horus_clean(t_ns), 0);
	ck_assert_int_eq(horus_clean(other_ns), 1);
	ck_assert(!t_exists(path[3]));
}
END_TEST

/*
 * An entry of the namespace that cannot be opened (here a directory; for a non-root cleaner,
 * another user's 0600 segment is the same) is skipped: it must not stop the cleaning of the
 * stale segments next to it, nor turn the result into an error.
 */
START_TEST(clean_skips_unopenable)
{
	char dir[512], path[512];
	int r, gone;

	make_hub("stale", &page);
	t_shm_path(path, sizeof(path), t_ns, HORUS_KIND_HUB, "stale");
	t_shm_path(dir, sizeof(dir), t_ns, HORUS_KIND_HUB, "dir");
	ck_assert_int_eq(mkdir(dir, 0700), 0);
	r = horus_clean(t_ns);
	gone = !t_exists(path);
	rmdir(dir); /* before asserting: shm_unlink cannot remove it for us later */
	ck_assert_msg(r == 1, "horus_clean() returned %d", r);
	ck_assert(gone);
}
END_TEST

START_TEST(file_mode)
{
	struct horus_pub *pub;
	struct horus_link *link;
	char path[512];
	struct stat st;

	/* Whatever the process umask, group members may use the bus. */
	umask(077);
	ck_assert_int_eq(horus_pub_open(t_ns, "mode", &page, &pub), 0);
	ck_assert_int_eq(horus_link_open(t_ns, "mode", HORUS_LINK_PRODUCER, &page, &link), 0);
	t_shm_path(path, sizeof(path), t_ns, HORUS_KIND_HUB, "mode");
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_uint_eq(st.st_mode & 07777, 0660);
	ck_assert_uint_eq(st.st_uid, geteuid());
	t_shm_path(path, sizeof(path), t_ns, HORUS_KIND_LINK, "mode");
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_uint_eq(st.st_mode & 07777, 0660);
	horus_pub_close(pub);
	horus_link_close(link);
}
END_TEST

struct list_all {
	int n;
	struct horus_topic_info infos[8];
};

static int collect_all(const struct horus_topic_info *info, void *userdata)
{
	struct list_all *l = userdata;

	if (l->n < 8) {
		l->infos[l->n] = *info;
	}
	l->n++;
	return 0;
}

static int stop_at_first(const struct horus_topic_info *info, void *userdata)
{
	(void)info;
	++*(int *)userdata;
	return 1;
}

static const struct horus_topic_info *find(const struct list_all *l, const char *name)
{
	for (int i = 0; i < l->n && i < 8; i++) {
		if (strcmp(l->infos[i].name, name) == 0) {
			return &l->infos[i];
		}
	}
	ck_abort_msg("'%s' not listed", name);
	return NULL;
}

START_TEST(topic_list)
{
	struct list_all l = { 0 };
	const struct horus_topic_info *i;
	struct horus_pub *pub;
	struct horus_sub *sub;
	struct horus_link *link;
	char junk[300];
	int fd, calls = 0;

	ck_assert_int_eq(horus_topic_list(t_ns, collect_all, &l), 0);
	ck_assert_int_eq(l.n, 0);
	ck_assert_int_eq(horus_pub_open(t_ns, "cam/front", &page, &pub), 0);
	ck_assert_int_eq(horus_sub_open(t_ns, "cam/front", &page, 0, &sub), 0);
	ck_assert_int_eq(horus_link_open(t_ns, "cmd", HORUS_LINK_PRODUCER, &page, &link), 0);
	make_hub("idle", &page);
	publish(pub, 0, 100);
	ck_assert_int_eq(horus_link_send(link, junk, 10), 0);
	/* Ours by its name, not by its contents. */
	snprintf(junk, sizeof(junk), "/horus.%s.hub.junk", t_ns);
	fd = shm_open(junk, O_RDWR | O_CREAT | O_EXCL, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, "not a segment, not at all, no", 29), 29);
	close(fd);

	ck_assert_int_eq(horus_topic_list(t_ns, collect_all, &l), 4);
	ck_assert_int_eq(l.n, 4);
	i = find(&l, "cam/front");
	ck_assert_uint_eq(i->kind, HORUS_KIND_HUB);
	ck_assert_uint_eq(i->publishers, 1);
	ck_assert_uint_eq(i->subscribers, 1);
	ck_assert_uint_eq(i->messages, 1);
	ck_assert_uint_eq(i->bytes, 100);
	ck_assert_uint_eq(i->capacity, page.capacity);
	ck_assert_uint_eq(i->max_msg, page.max_msg);
	i = find(&l, "cmd");
	ck_assert_uint_eq(i->kind, HORUS_KIND_LINK);
	ck_assert_uint_eq(i->publishers, 1);
	ck_assert_uint_eq(i->subscribers, 0);
	ck_assert_uint_eq(i->pending, 1);
	i = find(&l, "idle");
	ck_assert_uint_eq(i->publishers, 0);
	i = find(&l, junk + 1);
	ck_assert_uint_eq(i->kind, 0);

	/* A callback can stop the walk. */
	ck_assert_int_ge(horus_topic_list(t_ns, stop_at_first, &calls), 1);
	ck_assert_int_eq(calls, 1);
	ck_assert_int_eq(horus_topic_list(t_ns, NULL, NULL), -EINVAL);
	ck_assert_int_eq(horus_topic_list("bad.ns", collect_all, &l), -EINVAL);
	horus_pub_close(pub);
	horus_sub_close(sub);
	horus_link_close(link);
}
END_TEST

/* ---- cleaners racing attachers, at exact points ------------------------------------------ */

/*
 * Fault injection. This executable defines fcntl(), so the library's lock calls come here first
 * (the executable's definition interposes libc's). A test arms `inject` with the lock it cares
 * about; just before the library first asks for that lock, the hook runs the test's `peer`, a
 * rival process's worth of work done at that exact point: races made deterministic. With
 * _FILE_OFFSET_BITS=64 (meson's default) this definition is the symbol fcntl64, which is what
 * the library calls.
 */
struct injection {
	off_t start, len;
	void (*peer)(void);
};

static struct injection inject;
static _Thread_local bool in_peer;

int fcntl(int fd, int cmd, ...)
{
	static int (*real)(int, int, ...);
	va_list ap;
	void *arg;

	va_start(ap, cmd);
	arg = va_arg(ap, void *); /* as glibc does: every command's argument fits a pointer */
	va_end(ap);
	if (!real) {
		*(void **)&real = dlsym(RTLD_NEXT, sizeof(off_t) == 8 ? "fcntl64" : "fcntl");
	}
	if (cmd == F_OFD_SETLK && inject.peer && !in_peer) {
		const struct flock *fl = arg;

		if (fl->l_type == F_WRLCK && fl->l_start == inject.start &&
		    fl->l_len == inject.len) {
			void (*peer)(void) = inject.peer;

			inject.peer = NULL; /* once */
			in_peer = true;
			peer();
			in_peer = false;
		}
	}
	return real(fd, cmd, arg);
}

/* A cleaner, as horus_clean() works on one file: open by name, lock the header, unlink. */
struct rival_cleaner {
	char path[512];
	char name[SHM_NAME_MAX];
	struct t_pipe locked;
	int removed;
};

static struct rival_cleaner rival;

static void *rival_clean(void *arg)
{
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0,
			    .l_len = (off_t)sizeof(struct shm_header) };
	int fd = open(rival.path, O_RDWR | O_CLOEXEC);

	(void)arg;
	in_peer = true; /* its own locks are not the ones under test */
	if (fd >= 0 && fcntl(fd, F_OFD_SETLK, &fl) == 0) {
		t_pipe_signal(&rival.locked);
		/* Hold it a moment while the creator goes on (not synchronisation: the creator's
		 * outcome must be right however long this takes), then remove the file. */
		t_nap_us(20 * 1000);
		rival.removed = shm_unlink(rival.name) == 0;
	} else {
		t_pipe_signal(&rival.locked);
	}
	if (fd >= 0) {
		close(fd);
	}
	return NULL;
}

static pthread_t rival_thread;

/* Runs between the creator's exclusive create and its creator lock: a cleaner finds the new,
 * still empty file, which nobody holds yet, and takes it. */
static void cleaner_takes_new_file(void)
{
	ck_assert_int_eq(pthread_create(&rival_thread, NULL, rival_clean, NULL), 0);
	ck_assert(t_pipe_await(&rival.locked, 10000));
}

/*
 * A creator and a cleaner meet on a file that is being created: the creator must not fail for
 * it (horus_pub_open() knows no -EAGAIN) and must end up on a segment others can find.
 */
START_TEST(create_vs_cleaner)
{
	struct horus_pub *pub = NULL;
	struct horus_sub *sub;
	uint8_t buf[8];
	int r;

	t_shm_path(rival.path, sizeof(rival.path), t_ns, HORUS_KIND_HUB, "fresh");
	ck_assert_int_eq(shm_make_name(rival.name, sizeof(rival.name), t_ns, HORUS_KIND_HUB,
				       "fresh"),
			 0);
	t_pipe_open(&rival.locked);
	inject = (struct injection){ SHM_LOCK_CREATOR, 1, cleaner_takes_new_file };
	r = horus_pub_open(t_ns, "fresh", &page, &pub);
	pthread_join(rival_thread, NULL);
	ck_assert_ptr_null(inject.peer); /* the injection point was reached */
	ck_assert_msg(r == 0, "horus_pub_open() failed with %d because a cleaner was around", r);
	ck_assert(t_exists(rival.path));
	ck_assert_int_eq(horus_sub_open(t_ns, "fresh", &page, 0, &sub), 0);
	publish(pub, 1, 8);
	ck_assert_int_eq(horus_sub_read(sub, buf, sizeof(buf), NULL), 8);
	horus_sub_close(sub);
	horus_pub_close(pub);
	t_pipe_close(&rival.locked);
}
END_TEST

static struct horus_pub *reborn_pub;

/* Runs when cleaner A has opened the stale file and is about to lock it. */
static void second_cleaner_and_creator(void)
{
	/* Cleaner B removes the stale file first... */
	ck_assert_int_eq(horus_clean(t_ns), 1);
	/* ...and a publisher creates the topic afresh under the same name, and holds it. */
	ck_assert_int_eq(horus_pub_open(t_ns, "reborn", &page, &reborn_pub), 0);
}

/*
 * Two cleaners at once (horusctl clean beside a daemon starting up) must not remove a segment
 * in use: cleaner A locked the stale file it opened, but the name now leads to another file.
 */
START_TEST(two_cleaners)
{
	struct horus_sub *sub;
	char path[512];
	uint8_t buf[8];

	make_hub("reborn", &page);
	t_shm_path(path, sizeof(path), t_ns, HORUS_KIND_HUB, "reborn");
	inject = (struct injection){ 0, (off_t)sizeof(struct shm_header),
				     second_cleaner_and_creator };
	(void)horus_clean(t_ns); /* cleaner A */
	ck_assert_ptr_null(inject.peer);
	ck_assert_ptr_nonnull(reborn_pub);
	ck_assert_msg(t_exists(path), "a cleaner removed a segment in use");
	/* A newcomer finds the publisher's segment, not a new one of its own. */
	ck_assert_int_eq(horus_sub_open(t_ns, "reborn", &page, 0, &sub), 0);
	publish(reborn_pub, 1, 8);
	ck_assert_int_eq(horus_sub_read(sub, buf, sizeof(buf), NULL), 8);
	horus_sub_close(sub);
	horus_pub_close(reborn_pub);
}
END_TEST

/* ---- cleaners racing attachers, at random points ----------------------------------------- */

struct cleaner {
	atomic_bool stop;
	long removed;
};

static void *clean_loop(void *arg)
{
	struct cleaner *c = arg;

	while (!atomic_load(&c->stop)) {
		int r = horus_clean(t_ns);

		if (r > 0) {
			c->removed += r;
		}
	}
	return NULL;
}

/*
 * horus_clean in a loop beside open/publish/read/close cycles: a segment in use is never
 * removed from under its users (a subscriber opened after the publisher shares its segment and
 * receives its message), and opens never fail for a cleaner's sake.
 */
START_TEST(clean_vs_attach)
{
	static const struct horus_topic_opts o = { .capacity = 2, .max_msg = 8 };
	struct cleaner c = { 0 };
	pthread_t th;
	uint64_t end = t_now_ns() + T_S;
	int rounds = 0;

	ck_assert_int_eq(pthread_create(&th, NULL, clean_loop, &c), 0);
	while (t_now_ns() < end) {
		struct horus_pub *pub;
		struct horus_sub *sub;
		uint64_t v = (uint64_t)rounds, got = 0;
		int r;

		/* -EAGAIN: the creator met the cleaner on a new file (create_vs_cleaner). Not
		 * what this test is about: try again. */
		while ((r = horus_pub_open(t_ns, "race", &o, &pub)) == -EAGAIN) {
		}
		ck_assert_msg(r == 0, "round %d: pub_open %d", rounds, r);
		while ((r = horus_sub_open(t_ns, "race", &o, 0, &sub)) == -EAGAIN) {
		}
		ck_assert_msg(r == 0, "round %d: sub_open %d", rounds, r);
		ck_assert_int_eq(horus_pub_publish(pub, &v, sizeof(v)), 0);
		r = horus_sub_read(sub, &got, sizeof(got), NULL);
		ck_assert_msg(r == 8 && got == v, "round %d: the subscriber is on another segment",
			      rounds);
		horus_sub_close(sub);
		horus_pub_close(pub);
		rounds++;
	}
	atomic_store(&c.stop, true);
	pthread_join(th, NULL);
	ck_assert_int_gt(rounds, 10);
	ck_assert_int_gt(c.removed, 0); /* the race was real: the cleaner did remove things */
}
END_TEST

int main(void)
{
	Suite *s = suite_create("segment");
	TCase *tc;

	tcase_add_test(t_tcase(s, "validate_header", 10), validate_header);
	tc = t_tcase(s, "corrupt_file", 10);
	tcase_add_loop_test(tc, corrupt_file, 0, N_CORRUPTIONS);
	tcase_add_test(t_tcase(s, "bad_slot_len", 10), bad_slot_len);
	tcase_add_test(t_tcase(s, "wild_stamp_reader", 10), wild_stamp_reader);
	tcase_add_test(t_tcase(s, "wild_stamps_writer", 15), wild_stamps_writer);
	tcase_add_test(t_tcase(s, "busy_stamp_no_owner_writer", 15), busy_stamp_no_owner_writer);
	tcase_add_test(t_tcase(s, "busy_stamp_no_owner_reader", 15), busy_stamp_no_owner_reader);
	tcase_add_test(t_tcase(s, "busy_stamp_dead_publisher", 10), busy_stamp_dead_publisher);
	tcase_add_test(t_tcase(s, "wild_link_indices", 10), wild_link_indices);
	tcase_add_test(t_tcase(s, "wild_hub_head", 15), wild_hub_head);
	tcase_add_test(t_tcase(s, "wild_participants", 10), wild_participants);
	tcase_add_test(t_tcase(s, "orphan_not_ready", 10), orphan_not_ready);
	tcase_add_test(t_tcase(s, "creator_alive_too_long", 15), creator_alive_too_long);
	tcase_add_test(t_tcase(s, "creator_finishes", 10), creator_finishes);
	tcase_add_test(t_tcase(s, "clean", 10), clean);
	tcase_add_test(t_tcase(s, "clean_skips_unopenable", 10), clean_skips_unopenable);
	tcase_add_test(t_tcase(s, "file_mode", 10), file_mode);
	tcase_add_test(t_tcase(s, "topic_list", 10), topic_list);
	tcase_add_test(t_tcase(s, "create_vs_cleaner", 10), create_vs_cleaner);
	tcase_add_test(t_tcase(s, "two_cleaners", 10), two_cleaners);
	tcase_add_test(t_tcase(s, "clean_vs_attach", 15), clean_vs_attach);
	return t_run(s, "seg");
}
