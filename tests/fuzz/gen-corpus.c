/* SPDX-License-Identifier: MIT */
/*
 * Writes the seed corpora of the fuzz targets:
 *
 *   fuzz-gen-corpus DIR     -> DIR/fuzz-segment/seed-*, DIR/fuzz-names/seed-*
 *
 * The segment seeds are real segments: created, published to and subscribed to by the same shm
 * code that libhorus runs (in a throw-away namespace, removed afterwards), copied byte for byte,
 * then followed by a script for fuzz-segment. Small geometries (capacity 2..4, max_msg 16..64) so
 * that a seed is about 2 KiB and mutations stay cheap. Corrupt variants change one thing each, so
 * that every refusal in shm_validate() has a seed one mutation away from passing it.
 * Process ids and uids are replaced by fixed values: a regenerated corpus is the same bytes.
 */

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <horus/pubsub.h>

#include "fuzz-segment.h"
#include "hub.h"
#include "link_ring.h"
#include "segment.h"

struct buf {
	uint8_t *p;
	size_t len;
};

static const char *out_dir;
static char ns[HORUS_NAMESPACE_MAX + 1];
static int written;

static void die(const char *what, int r)
{
	fprintf(stderr, "fuzz-gen-corpus: %s: %s\n", what, strerror(r < 0 ? -r : r));
	exit(1);
}

static void put(struct buf *b, uint64_t v, unsigned bytes)
{
	b->p = realloc(b->p, b->len + bytes);
	if (!b->p) {
		die("realloc", ENOMEM);
	}
	for (unsigned i = 0; i < bytes; i++) {
		b->p[b->len++] = (uint8_t)(v >> (8 * i));
	}
}

static void put_bytes(struct buf *b, const void *p, size_t len)
{
	b->p = realloc(b->p, b->len + len);
	if (!b->p) {
		die("realloc", ENOMEM);
	}
	memcpy(b->p + b->len, p, len);
	b->len += len;
}

static void write_seed(const char *target, const char *name, const struct buf *img,
		       const struct buf *script)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s/seed-%s", out_dir, target, name);
	f = fopen(path, "wb");
	if (!f) {
		die(path, errno);
	}
	if ((img->len && fwrite(img->p, 1, img->len, f) != img->len) ||
	    (script && script->len && fwrite(script->p, 1, script->len, f) != script->len) ||
	    fclose(f) != 0) {
		die(path, errno);
	}
	written++;
}

/* ---- real segments ------------------------------------------------------------------------ */

static void seg_open(struct shm_seg *seg, uint32_t kind, const char *topic, uint32_t cap,
		     uint32_t max_msg, bool create)
{
	struct shm_geometry geo = { .capacity = cap, .max_msg = max_msg };
	char name[SHM_NAME_MAX];
	int r = shm_make_name(name, sizeof(name), ns, kind, topic);

	if (r < 0) {
		die("shm_make_name", r);
	}
	r = shm_seg_open(seg, name, kind, topic, create ? &geo : NULL);
	if (r < 0) {
		die(name, r);
	}
}

static void seg_remove(struct shm_seg *seg)
{
	shm_unlink(seg->name);
	shm_seg_close(seg);
}

/* A byte copy of the segment with the run-dependent identities made fixed. */
static struct buf snapshot(const struct shm_seg *seg)
{
	struct buf b = { 0 };
	struct shm_header *h;

	put_bytes(&b, seg->base, seg->size);
	h = (struct shm_header *)(void *)b.p;
	h->creator_pid = 4242;
	h->creator_uid = 1000;
	for (uint32_t i = 0; i < SHM_PARTICIPANTS; i++) {
		if (atomic_load(&h->parts[i].pid)) {
			atomic_store(&h->parts[i].pid, 4243 + (int32_t)i);
		}
	}
	return b;
}

static void publish(struct shm_seg *seg, const char *text, bool commit)
{
	struct hub_loan loan;
	size_t len = strlen(text);
	int r = hub_claim(seg, (uint32_t)seg->part, (uint32_t)len, &loan);

	if (r < 0) {
		die("hub_claim", r);
	}
	memcpy(shm_slot_data(loan.slot), text, len);
	if (commit) {
		hub_commit(seg, &loan);
	} else {
		hub_discard(seg, &loan);
	}
}

/* ---- scripts ------------------------------------------------------------------------------ */

static void cfg(struct buf *s, unsigned flags, unsigned last_n, uint64_t live)
{
	put(s, flags, 1);
	put(s, last_n, 1);
	put(s, live, 8);
}

static void op(struct buf *s, enum fuzz_op code)
{
	put(s, code, 1);
}

static void op1(struct buf *s, enum fuzz_op code, uint64_t a, unsigned abytes)
{
	put(s, code, 1);
	put(s, a, abytes);
}

static void op2(struct buf *s, enum fuzz_op code, uint64_t a, unsigned abytes, uint64_t b,
		unsigned bbytes)
{
	op1(s, code, a, abytes);
	put(s, b, bbytes);
}

/* What a well-behaved subscriber, then a publisher, would do. */
static struct buf hub_script(unsigned last_n, uint64_t live)
{
	struct buf s = { 0 };

	cfg(&s, CFG_KIND_HUB, last_n, live);
	op2(&s, OP_HUB_READ, 64, 2, 3, 1);
	op(&s, OP_HUB_NEXT_LEN);
	op1(&s, OP_HUB_TAKE, 0, 1);
	op1(&s, OP_HUB_TAKE, 1, 1);
	op(&s, OP_HUB_WAIT);
	op1(&s, OP_READER_INIT, 16, 4);
	op2(&s, OP_HUB_READ, 4, 2, 1, 1); /* too small: -EMSGSIZE */
	op2(&s, OP_HUB_READ, 0, 2, 0, 1);
	op(&s, OP_REAP_ALL);
	op1(&s, OP_PART_CLAIM, 0, 1); /* as a publisher */
	op2(&s, OP_HUB_PUBLISH, 10, 2, 0, 1);
	op2(&s, OP_HUB_PUBLISH, 5, 2, 1, 1);
	op2(&s, OP_HUB_READ, 64, 2, 7, 1);
	op1(&s, OP_HUB_LOAN_FIND, sizeof(struct shm_header) + SHM_SLOT_HDR, 2);
	op1(&s, OP_PART_CLAIM, 0, 1); /* release */
	return s;
}

/* A hostile peer rewriting the ring under a reader. */
static struct buf hub_hostile_script(void)
{
	struct buf s = { 0 };

	cfg(&s, CFG_KIND_HUB, 4, 0);
	put(&s, OP_STAMP, 1);
	put(&s, 0, 1);
	put(&s, (uint16_t)-1, 2); /* the newest sequence, still busy */
	put(&s, (7u << 2) | 1u, 1);
	op2(&s, OP_LEN, 1, 1, 0x80000000u | 100000u, 4);
	op2(&s, OP_HUB_READ, 64, 2, 3, 1);
	op2(&s, OP_COUNTER, 0, 1, UINT64_C(1) << 62, 8); /* head far ahead */
	op2(&s, OP_HUB_READ, 64, 2, 3, 1);
	op1(&s, OP_READER_INIT, 0xffffffffu, 4);
	op2(&s, OP_STAMP_RAW, 1, 1, UINT64_MAX, 8);
	op(&s, OP_HUB_NEXT_LEN);
	op2(&s, OP_PART, 3, 1, SHM_ROLE_PUB, 1);
	op1(&s, OP_PART_REAP, 3, 1);
	op2(&s, OP_POKE4, offsetof(struct shm_header, capacity), 2, 65536, 4);
	op2(&s, OP_HUB_READ, 64, 2, 3, 1);
	op1(&s, OP_VALIDATE, CFG_KIND_HUB, 1);
	return s;
}

static struct buf link_script(void)
{
	struct buf s = { 0 };

	cfg(&s, CFG_KIND_LINK, 0, 0);
	op2(&s, OP_LINK_RECV, 64, 2, 3, 1);
	op2(&s, OP_LINK_SEND, 20, 2, 3, 1);
	op1(&s, OP_LINK_LOAN, 7, 2);
	op(&s, OP_LINK_WAIT);
	op2(&s, OP_LINK_RECV, 4, 2, 0, 1); /* too small: -EMSGSIZE */
	op2(&s, OP_LINK_RECV, 0, 2, 0, 1);
	op(&s, OP_LINK_REINIT);
	op2(&s, OP_LINK_RECV, 64, 2, 8, 1);
	op(&s, OP_REAP_ALL);
	return s;
}

static struct buf link_hostile_script(void)
{
	struct buf s = { 0 };

	cfg(&s, CFG_KIND_LINK, 0, 0);
	op2(&s, OP_LEN, 0, 1, 0x80000000u | 70000u, 4);
	op2(&s, OP_LINK_RECV, 64, 2, 3, 1);
	op2(&s, OP_COUNTER, 1, 1, 1000, 8); /* tail ahead of head */
	op2(&s, OP_LINK_SEND, 8, 2, 9, 1);
	op(&s, OP_LINK_REINIT);
	op2(&s, OP_COUNTER, 0, 1, 1003, 8); /* head - tail = 3 > capacity */
	op2(&s, OP_LINK_RECV, 64, 2, 3, 1);
	op2(&s, OP_COUNTER, 0, 1, 1002, 8);
	op(&s, OP_LINK_REINIT);
	op2(&s, OP_LINK_SEND, 8, 2, 9, 1);
	op2(&s, OP_LINK_RECV, 64, 2, 9, 1);
	return s;
}

/* ---- corrupt variants --------------------------------------------------------------------- */

static void variant(const char *name, const struct buf *img, size_t off, uint64_t val,
		    unsigned bytes, const struct buf *script)
{
	struct buf v = { 0 };

	put_bytes(&v, img->p, img->len);
	for (unsigned i = 0; i < bytes; i++) {
		v.p[off + i] = (uint8_t)(val >> (8 * i));
	}
	write_seed("fuzz-segment", name, &v, script);
	free(v.p);
}

static void corrupt_variants(const char *base, const struct buf *img, const struct buf *script)
{
	static const struct {
		const char *what;
		size_t off;
		uint64_t val;
		unsigned bytes;
	} bad[] = {
		{ "magic", offsetof(struct shm_header, magic), 0x4d48535355524f48, 8 },
		{ "version", offsetof(struct shm_header, version), SHM_LAYOUT_VERSION + 1, 4 },
		{ "header-size", offsetof(struct shm_header, header_size), 64, 4 },
		{ "kind", offsetof(struct shm_header, kind), 3, 4 },
		{ "capacity-3", offsetof(struct shm_header, capacity), 3, 4 },
		{ "capacity-0", offsetof(struct shm_header, capacity), 0, 4 },
		{ "capacity-huge", offsetof(struct shm_header, capacity), 1u << 31, 4 },
		{ "max-msg-0", offsetof(struct shm_header, max_msg), 0, 4 },
		{ "max-msg-big", offsetof(struct shm_header, max_msg), 1000, 4 },
		{ "stride", offsetof(struct shm_header, slot_stride), 64, 4 },
		{ "slots-offset", offsetof(struct shm_header, slots_offset), 0, 8 },
		{ "not-ready", offsetof(struct shm_header, ready), 0, 4 },
		{ "name-unterminated", offsetof(struct shm_header, name) + 207, 'x', 1 },
	};
	char name[128];
	struct buf s = { 0 };

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(name, sizeof(name), "%s-bad-%s", base, bad[i].what);
		variant(name, img, bad[i].off, bad[i].val, bad[i].bytes, script);
	}
	/* total_size decides where the image ends: one slot short, and the file padded. */
	snprintf(name, sizeof(name), "%s-bad-total-size", base);
	variant(name, img, offsetof(struct shm_header, total_size), img->len - 64, 8, script);
	put_bytes(&s, script->p, script->len);
	s.p[0] |= CFG_PAD_FILE;
	snprintf(name, sizeof(name), "%s-bad-file-size", base);
	write_seed("fuzz-segment", name, img, &s);
	/* Half a header. */
	{
		struct buf half = { .p = img->p, .len = sizeof(struct shm_header) / 2 };

		snprintf(name, sizeof(name), "%s-bad-truncated", base);
		write_seed("fuzz-segment", name, &half, NULL);
	}
	free(s.p);
}

/* ---- seeds -------------------------------------------------------------------------------- */

static void hub_seeds(void)
{
	struct shm_seg pub, sub;
	struct buf img, s;

	/* Empty, just created. */
	seg_open(&pub, HORUS_KIND_HUB, "seed/empty", 2, 64, true);
	img = snapshot(&pub);
	s = hub_script(0, 0);
	write_seed("fuzz-segment", "hub-empty", &img, &s);
	free(img.p);
	free(s.p);
	seg_remove(&pub);

	/* One publisher and one subscriber; three messages through two slots, so one was lapped. */
	seg_open(&pub, HORUS_KIND_HUB, "seed/imu", 2, 64, true);
	seg_open(&sub, HORUS_KIND_HUB, "seed/imu", 0, 0, false);
	if (shm_part_claim(&pub, SHM_ROLE_PUB) < 0 || shm_part_claim(&sub, SHM_ROLE_SUB) < 0) {
		die("shm_part_claim", EUSERS);
	}
	publish(&pub, "imu sample 0", true);
	publish(&pub, "imu sample 1, longer", true);
	publish(&pub, "imu 2", true);
	img = snapshot(&pub);
	s = hub_script(2, 0);
	write_seed("fuzz-segment", "hub-3msgs", &img, &s);
	free(s.p);
	/* The same with both participants alive. */
	s = hub_script(2, 3);
	write_seed("fuzz-segment", "hub-3msgs-live", &img, &s);
	free(s.p);
	s = hub_hostile_script();
	write_seed("fuzz-segment", "hub-hostile", &img, &s);
	free(s.p);
	s = hub_script(2, 0);
	corrupt_variants("hub", &img, &s);
	free(s.p);
	free(img.p);

	/* An open loan (BUSY stamp), then a discarded one (a hole): dead or alive writer. */
	{
		struct hub_loan loan;

		publish(&pub, "x", false);
		if (hub_claim(&pub, (uint32_t)pub.part, 3, &loan) < 0) {
			die("hub_claim", EAGAIN);
		}
		img = snapshot(&pub);
		s = hub_script(2, 0);
		write_seed("fuzz-segment", "hub-loan-dead", &img, &s);
		free(s.p);
		s = hub_script(2, 1);
		write_seed("fuzz-segment", "hub-loan-live", &img, &s);
		free(s.p);
		hub_discard(&pub, &loan);
		free(img.p);
	}
	seg_remove(&sub);
	seg_remove(&pub);

	/* Another geometry: capacity 4, 16-byte messages, ring lapped several times. */
	seg_open(&pub, HORUS_KIND_HUB, "seed/odom.fast", 4, 16, true);
	if (shm_part_claim(&pub, SHM_ROLE_PUB) < 0) {
		die("shm_part_claim", EUSERS);
	}
	for (int i = 0; i < 11; i++) {
		publish(&pub, i % 3 ? "odom" : "odometry 16 byte", i != 6);
	}
	img = snapshot(&pub);
	s = hub_script(4, 0);
	write_seed("fuzz-segment", "hub-cap4", &img, &s);
	free(s.p);
	free(img.p);
	seg_remove(&pub);
}

/*
 * Reproducers of the bugs described in README.md: known-* while a bug is there, fixed-* once it is
 * gone (then a plain regression test).
 */
static void known_bug_seeds(void)
{
	struct shm_seg seg;
	struct buf img, s = { 0 };

	seg_open(&seg, HORUS_KIND_HUB, "seed/known", 2, 64, true);
	img = snapshot(&seg);
	seg_remove(&seg);

	/* 1: slot 0 BUSY for sequence 0 by participant 5, whose entry is empty (role NONE). */
	cfg(&s, CFG_KIND_HUB, 0, 0);
	op2(&s, OP_STAMP_RAW, 0, 1, (5u << STAMP_OWNER_SHIFT) | STAMP_BUSY, 8);
	op1(&s, OP_PART_CLAIM, 0, 1);
	op2(&s, OP_HUB_PUBLISH, 8, 2, 0, 1);
	write_seed("fuzz-segment", "fixed-hang-claim-owner-none", &img, &s);
	free(s.p);

	/* 2: both slots stamped 2^40 sequences ahead of head. */
	s = (struct buf){ 0 };
	cfg(&s, CFG_KIND_HUB, 0, 0);
	op2(&s, OP_STAMP_RAW, 0, 1, UINT64_C(1) << (40 + STAMP_SEQ_SHIFT), 8);
	op2(&s, OP_STAMP_RAW, 1, 1, UINT64_C(1) << (40 + STAMP_SEQ_SHIFT), 8);
	op1(&s, OP_PART_CLAIM, 0, 1);
	op2(&s, OP_HUB_PUBLISH, 8, 2, 0, 1);
	write_seed("fuzz-segment", "fixed-hang-claim-far-lap", &img, &s);
	free(s.p);
	free(img.p);

	/* 4: capacity 4, slot 0 stamped with sequence 2: the reader wraps around 2^64 and back. */
	seg_open(&seg, HORUS_KIND_HUB, "seed/known4", 4, 16, true);
	img = snapshot(&seg);
	seg_remove(&seg);
	s = (struct buf){ 0 };
	cfg(&s, CFG_KIND_HUB, 0, 0);
	op2(&s, OP_STAMP_RAW, 0, 1, UINT64_C(3) << STAMP_SEQ_SHIFT, 8);
	op2(&s, OP_STAMP_RAW, 3, 1, UINT64_C(1) << STAMP_SEQ_SHIFT, 8);
	op2(&s, OP_HUB_READ, 16, 2, 0, 1);
	write_seed("fuzz-segment", "fixed-hang-read-stamp-wrap", &img, &s);
	free(s.p);

	/* 4 again, with head past the stamps' sequences so that they look claimed. */
	s = (struct buf){ 0 };
	cfg(&s, CFG_KIND_HUB, 0, 0);
	op2(&s, OP_COUNTER, 0, 1, 10, 8);
	op2(&s, OP_STAMP_RAW, 0, 1, UINT64_C(3) << STAMP_SEQ_SHIFT, 8);
	op2(&s, OP_STAMP_RAW, 3, 1, UINT64_C(1) << STAMP_SEQ_SHIFT, 8);
	op2(&s, OP_HUB_READ, 16, 2, 0, 1);
	write_seed("fuzz-segment", "fixed-hang-read-stamp-wrap-head", &img, &s);
	free(s.p);
	free(img.p);

	/* 3: a 0-byte message read into a NULL buffer of size 0, as horus_sub_read() allows. */
	seg_open(&seg, HORUS_KIND_HUB, "seed/known", 2, 64, true);
	if (shm_part_claim(&seg, SHM_ROLE_PUB) < 0) {
		die("shm_part_claim", EUSERS);
	}
	publish(&seg, "", true);
	img = snapshot(&seg);
	seg_remove(&seg);
	s = (struct buf){ 0 };
	cfg(&s, CFG_KIND_HUB, 1, 0);
	op2(&s, OP_HUB_READ, 0, 2, 0, 1);
	write_seed("fuzz-segment", "fixed-ub-hub-read-null-buf", &img, &s);
	free(s.p);
	free(img.p);

	/* 3 again: a 0-byte message sent from a NULL buffer, as horus_link_send() allows. */
	seg_open(&seg, HORUS_KIND_LINK, "seed/known", 2, 64, true);
	img = snapshot(&seg);
	seg_remove(&seg);
	s = (struct buf){ 0 };
	cfg(&s, CFG_KIND_LINK, 0, 0);
	op2(&s, OP_LINK_SEND, 0, 2, 0, 1);
	write_seed("fuzz-segment", "fixed-ub-link-send-null-buf", &img, &s);
	free(s.p);
	free(img.p);
}

static void link_seeds(void)
{
	struct shm_seg seg;
	struct link_end prod;
	struct buf img, s;

	seg_open(&seg, HORUS_KIND_LINK, "seed/cmd", 2, 64, true);
	img = snapshot(&seg);
	s = link_script();
	write_seed("fuzz-segment", "link-empty", &img, &s);
	free(img.p);

	if (shm_part_claim(&seg, SHM_ROLE_PRODUCER) < 0 || link_producer_init(&seg, &prod) < 0) {
		die("link producer", EPROTO);
	}
	if (link_send(&seg, &prod, "move 1.0 0.5", 12) < 0 ||
	    link_send(&seg, &prod, "stop", 4) < 0) {
		die("link_send", EAGAIN);
	}
	img = snapshot(&seg); /* full: capacity 2 */
	write_seed("fuzz-segment", "link-full", &img, &s);
	free(s.p);
	s = link_hostile_script();
	write_seed("fuzz-segment", "link-hostile", &img, &s);
	free(s.p);
	s = link_script();
	corrupt_variants("link", &img, &s);
	free(s.p);
	free(img.p);
	seg_remove(&seg);

	seg_open(&seg, HORUS_KIND_LINK, "seed/cmd4", 4, 16, true);
	if (shm_part_claim(&seg, SHM_ROLE_PRODUCER) < 0 || link_producer_init(&seg, &prod) < 0) {
		die("link producer", EPROTO);
	}
	(void)link_send(&seg, &prod, "a", 1);
	img = snapshot(&seg);
	s = link_script();
	write_seed("fuzz-segment", "link-cap4", &img, &s);
	free(s.p);
	free(img.p);
	seg_remove(&seg);
}

static void names_seed(const char *name, unsigned sel, unsigned shrink, const char *nsp,
		       const char *topic, const char *file)
{
	struct buf b = { 0 };

	put(&b, sel, 1);
	put(&b, shrink, 1);
	put_bytes(&b, nsp, strlen(nsp) + 1);
	put_bytes(&b, topic, strlen(topic) + 1);
	put_bytes(&b, file, strlen(file));
	write_seed("fuzz-names", name, &b, NULL);
	free(b.p);
}

static void names_seeds(void)
{
	char longest[HORUS_TOPIC_MAX + 1];

	memset(longest, 'a', HORUS_TOPIC_MAX);
	longest[HORUS_TOPIC_MAX] = '\0';
	names_seed("hub", 1, 0, "default", "camera/front", "horus.default.hub.camera+front");
	names_seed("link", 2, 0, "robot-1", "cmd_vel.v2", "horus.robot-1.link.cmd_vel.v2");
	names_seed("longest", 2, 1, "n2345678901234567890123456789012", longest, "horus.x.hub.a");
	names_seed("bad-topic", 1, 40, "default", "a//b/../c/", "horus.default.hub.+a");
	names_seed("bad-ns", 1, 0, "no.dots", "t", "horus.no.dots.hub.t");
	names_seed("foreign", 3, 0, "default", "imu", "other.default.hub.imu");
}

int main(int argc, char **argv)
{
	char dir[4096];

	if (argc != 2) {
		fprintf(stderr, "usage: fuzz-gen-corpus DIR\n");
		return 2;
	}
	out_dir = argv[1];
	snprintf(ns, sizeof(ns), "fuzzgen-%ld", (long)getpid());
	snprintf(dir, sizeof(dir), "%s/fuzz-segment", out_dir);
	(void)mkdir(out_dir, 0755);
	(void)mkdir(dir, 0755);
	snprintf(dir, sizeof(dir), "%s/fuzz-names", out_dir);
	(void)mkdir(dir, 0755);

	hub_seeds();
	known_bug_seeds();
	link_seeds();
	names_seeds();
	printf("fuzz-gen-corpus: %d seeds in %s\n", written, out_dir);
	return 0;
}
