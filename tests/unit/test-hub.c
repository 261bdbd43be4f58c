/* SPDX-License-Identifier: MIT */
/* Hub topics within one process: order, sequence numbers, loss accounting, loans, waits. */

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <horus/pubsub.h>

#include "common.h"

/* Small rings make laps cheap to provoke. */
static const struct horus_topic_opts small = { .capacity = 8, .max_msg = 64 };

/* Message i of a single-writer test: its index, then bytes that depend on it. */
static uint32_t fill_indexed(uint8_t *buf, uint32_t len, uint64_t i)
{
	memcpy(buf, &i, sizeof(i));
	for (uint32_t k = sizeof(i); k < len; k++) {
		buf[k] = (uint8_t)(i * 31 + k);
	}
	return len;
}

static uint64_t check_indexed(const uint8_t *buf, int len)
{
	uint64_t i;

	ck_assert_int_ge(len, (int)sizeof(i));
	memcpy(&i, buf, sizeof(i));
	for (int k = sizeof(i); k < len; k++) {
		ck_assert_uint_eq(buf[k], (uint8_t)(i * 31 + (uint64_t)k));
	}
	return i;
}

static void publish_indexed(struct horus_pub *pub, uint64_t i, uint32_t len)
{
	uint8_t buf[256];

	ck_assert_int_eq(horus_pub_publish(pub, buf, fill_indexed(buf, len, i)), 0);
}

static struct horus_topic_info info_of(const char *topic)
{
	struct horus_topic_info info;

	ck_assert_int_eq(horus_topic_info(t_ns, topic, HORUS_KIND_HUB, &info), 0);
	return info;
}

START_TEST(publish_read_order)
{
	struct horus_pub *pub;
	struct horus_sub *sub;
	struct horus_msg_info mi;
	uint8_t buf[64];

	ck_assert_int_eq(horus_sub_open(t_ns, "order", &small, 0, &sub), 0);
	ck_assert_int_eq(horus_pub_open(t_ns, "order", &small, &pub), 0);
	ck_assert_int_eq(horus_sub_read(sub, buf, sizeof(buf), &mi), -EAGAIN);
	/* Several laps, read as they come: nothing lost, order and contents intact. */
	for (uint64_t i = 0; i < 5 * small.capacity; i++) {
		uint32_t len = 8 + (uint32_t)(i % 57);

		publish_indexed(pub, i, len);
		ck_assert_int_eq(horus_sub_read(sub, buf, sizeof(buf), &mi), (int)len);
		ck_assert_uint_eq(check_indexed(buf, (int)len), i);
		ck_assert_uint_eq(mi.seq, i);
		ck_assert_uint_eq(mi.lost, 0);
	}
	/* A batch smaller than the ring: read back in order. */
	for (uint64_t i = 100; i < 100 + small.capacity; i++) {
		publish_indexed(pub, i, 16);
	}
	for (uint64_t i = 100; i < 100 + small.capacity; i++) {
		ck_assert_int_eq(horus_sub_read(sub, buf, sizeof(buf), NULL), 16);
		ck_assert_uint_eq(check_indexed(buf, 16), i);
	}
	ck_assert_int_eq(horus_sub_read(sub, buf, sizeof(buf), &mi), -EAGAIN);
	ck_assert_int_eq(horus_sub_next_len(sub), -EAGAIN);
	ck_assert_uint_eq(horus_sub_received(sub), 5 * small.capacity + small.capacity);
	ck_assert_uint_eq(horus_sub_lost(sub), 0);
	horus_pub_close(pub);
	horus_sub_close(sub);
}
END_TEST

/* Empty messages are messages too, and need no buffer at either end (NULL with length 0). */
START_TEST(empty_messages)
{
	struct horus_pub *pub;
	struct horus_sub *sub;
	struct horus_msg_info mi;
	struct horus_sample s;
	uint8_t buf[8];

	ck_assert_int_eq(horus_sub_open(t_ns, "empty", &small, 0, &sub), 0);
	ck_assert_int_eq(horus_pub_open(t_ns, "empty", &small, &pub), 0);
	ck_assert_int_eq(horus_pub_publish(pub, NULL, 0), 0);
	ck_assert_int_eq(horus_sub_next_len(sub), 0);
	ck_assert_int_eq(horus_sub_read(sub, buf, sizeof(buf), &mi), 0);
	ck_assert_int_eq(horus_pub_publish(pub, buf, 0), 0);
	ck_assert_int_eq(horus_sub_take(sub, &s), 0);
	ck_assert_uint_eq(s.len, 0);
	ck_assert_int_eq(horus_sub_check(sub, &s), 0);
	ck_assert_int_eq(horus_pub_publish(pub, NULL, 0), 0);
	ck_assert_int_eq(horus_sub_read(sub, NULL, 0, &mi), 0);
	ck_assert_uint_eq(mi.seq, 2);
	ck_assert_uint_eq(horus_sub_received(sub), 3);
	ck_assert_uint_eq(info_of("empty").messages, 3);
	ck_assert_uint_eq(info_of("empty").bytes, 0);
	horus_pub_close(pub);
	horus_sub_close(sub);
}
END_TEST

START_TEST(seq_numbers)
{
	struct horus_pub *a, *b;
	struct horus_sub *s1, *s2;
	struct horus_msg_info mi;
	uint8_t buf[64];

	ck_assert_int_eq(horus_pub_open(t_ns, "seq", &small, &a), 0);
	ck_assert_int_eq(horus_pub_open(t_ns, "seq", &small, &b), 0);
	ck_assert_int_eq(horus_sub_open(t_ns, "seq", &small, 0, &s1), 0);
	ck_assert_int_eq(horus_sub_open(t_ns, "seq", &small, 0, &s2), 0);
	/* One sequence for the topic, whichever publisher; every subscriber sees the same one. */
	for (uint64_t i = 0; i < 20; i++) {
		publish_indexed(i % 3 ? a : b, i, 12);
		ck_assert_int_eq(horus_sub_read(s1, buf, sizeof(buf), &mi), 12);
		ck_assert_uint_eq(mi.seq, i);
		ck_assert_uint_eq(check_indexed(buf, 12), i);
	}
	for (uint64_t i = 12; i < 20; i++) { /* s2 was 20 behind in a ring of 8 */
		ck_assert_int_eq(horus_sub_read(s2, buf, sizeof(buf), &mi), 12);
		ck_assert_uint_eq(mi.seq, i);
		ck_assert_uint_eq(mi.lost, i == 12 ? 12 : 0);
	}
	horus_pub_close(a);
	horus_pub_close(b);
	horus_sub_close(s1);
	horus_sub_close(s2);
}
END_TEST

START_TEST(last_n)
{
	struct horus_pub *pub;
	struct horus_sub *sub;
	struct horus_msg_info mi;
	uint8_t buf[64];

	/* Nothing published yet: last_n finds nothing. */
	ck_assert_int_eq(horus_sub_open(t_ns, "last", &small, 5, &sub), 0);
	ck_assert_int_eq(horus_sub_read(sub, buf, sizeof(buf), &mi), -EAGAIN);
	horus_sub_close(sub);

	ck_assert_int_eq(horus_pub_open(t_ns, "last", &small, &pub), 0);
	for (uint64_t i = 0; i < 5; i++) {
		publish_indexed(pub, i, 10);
	}
	ck_assert_int_eq(horus_sub_open(t_ns, "last", NULL, 3, &sub), 0);
	for (uint64_t i = 2; i < 5; i++) {
		ck_assert_int_eq(horus_sub_read(sub, buf, sizeof(buf), &mi), 10);
		ck_assert_uint_eq(mi.seq, i);
		ck_assert_uint_eq(mi.lost, 0);
	}
	ck_assert_int_eq(horus_sub_read(sub, buf, sizeof(buf), &mi), -EAGAIN);
	horus_sub_close(sub);

	/* More than published: everything there is. */
	ck_assert_int_eq(horus_sub_open(t_ns, "last", NULL, 100, &sub), 0);
	ck_assert_int_eq(horus_sub_read(sub, buf, sizeof(buf), &mi), 10);
	ck_assert_uint_eq(mi.seq, 0);
	horus_sub_close(sub);

	/* More than the ring holds: the whole ring, and nothing counted lost. */
	for (uint64_t i = 5; i < 20; i++) {
		publish_indexed(pub, i, 10);
	}
	ck_assert_int_eq(horus_sub_open(t_ns, "last", NULL, 1000, &sub), 0);
	for (uint64_t i = 20 - small.capacity; i < 20; i++) {
		ck_assert_int_eq(horus_sub_read(sub, buf, sizeof(buf), &mi), 10);
		ck_assert_uint_eq(mi.seq, i);
		ck_assert_uint_eq(check_indexed(buf, 10), i);
		ck_assert_uint_eq(mi.lost, 0);
	}
	ck_assert_int_eq(horus_sub_read(sub, buf, sizeof(buf), &mi), -EAGAIN);
	ck_assert_uint_eq(horus_sub_lost(sub), 0);
	horus_sub_close(sub);
	horus_pub_close(pub);
}
END_TEST

START_TEST(start_after_newest)
{
	struct horus_pub *pub;
	struct horus_sub *sub;
	struct horus_msg_info mi;
	uint8_t buf[64];

	ck_assert_int_eq(horus_pub_open(t_ns, "late", &small, &pub), 0);
	for (uint64_t i = 0; i < 5; i++) {
		publish_indexed(pub, i, 9);
	}
	ck_assert_int_eq(horus_sub_open(t_ns, "late", NULL, 0, &sub), 0);
	ck_assert_int_eq(horus_sub_read(sub, buf, sizeof(buf), &mi), -EAGAIN);
	publish_indexed(pub, 5, 9);
	ck_assert_int_eq(horus_sub_read(sub, buf, sizeof(buf), &mi), 9);
	ck_assert_uint_eq(mi.seq, 5);
	ck_assert_uint_eq(mi.lost, 0); /* what came before it joined is not lost */
	ck_assert_uint_eq(horus_sub_lost(sub), 0);
	horus_sub_close(sub);
	horus_pub_close(pub);
}
END_TEST

#define LOST_LEN(i) (8 + (uint32_t)((i) % 50))

START_TEST(lost_exact)
{
	struct horus_pub *pub;
	struct horus_sub *sub;
	struct horus_msg_info mi;
	uint8_t buf[64];
	uint64_t seed = 42, published = 0, expect = 0, prev = UINT64_MAX;

	ck_assert_int_eq(horus_sub_open(t_ns, "lost", &small, 0, &sub), 0);
	ck_assert_int_eq(horus_pub_open(t_ns, "lost", &small, &pub), 0);

	/* Fell 20 behind in a ring of 8: the oldest 12 are gone, the newest 8 are there. */
	for (; published < 20; published++) {
		publish_indexed(pub, published, LOST_LEN(published));
	}
	ck_assert_int_eq(horus_sub_read(sub, buf, sizeof(buf), &mi), LOST_LEN(12));
	ck_assert_uint_eq(mi.seq, 12);
	ck_assert_uint_eq(mi.lost, 12);
	ck_assert_uint_eq(check_indexed(buf, LOST_LEN(12)), 12);
	ck_assert_uint_eq(horus_sub_lost(sub), 12);
	ck_assert_uint_eq(info_of("lost").lost, 12);
	prev = 12;
	expect = 13;

	/*
	 * Random bursts and reads. With one writer the outcome is exact: a lapped reader gets the
	 * oldest message still in the ring; lapped again before it caught up (read everything),
	 * it resumes half a ring behind the newest. The gap from the previous message is its
	 * lost count.
	 */
	bool chasing = true; /* lapped above, not caught up since */

	for (int round = 0; round < 300; round++) {
		uint64_t burst = t_rand(&seed) % 20, reads = t_rand(&seed) % 12;

		for (uint64_t k = 0; k < burst; k++, published++) {
			publish_indexed(pub, published, LOST_LEN(published));
		}
		for (uint64_t k = 0; k < reads; k++) {
			int r = horus_sub_read(sub, buf, sizeof(buf), &mi);
			uint64_t oldest = published > small.capacity ? published - small.capacity : 0;

			if (expect < oldest) {
				expect = oldest;
				if (chasing && published - small.capacity / 2 > expect) {
					expect = published - small.capacity / 2;
				}
				chasing = true;
			}
			if (expect == published) {
				ck_assert_int_eq(r, -EAGAIN);
				chasing = false;
				break;
			}
			ck_assert_int_eq(r, (int)LOST_LEN(expect));
			ck_assert_uint_eq(mi.seq, expect);
			ck_assert_uint_eq(check_indexed(buf, r), expect);
			ck_assert_uint_eq(mi.lost, mi.seq - prev - 1);
			prev = mi.seq;
			expect++;
		}
	}
	while (horus_sub_read(sub, buf, sizeof(buf), &mi) >= 0) {
		ck_assert_uint_eq(mi.lost, mi.seq - prev - 1);
		prev = mi.seq;
	}
	ck_assert_uint_eq(prev, published - 1);
	ck_assert_uint_eq(horus_sub_received(sub) + horus_sub_lost(sub), published);
	ck_assert_uint_eq(info_of("lost").lost, horus_sub_lost(sub));
	ck_assert_uint_eq(info_of("lost").messages, published);
	ck_assert_uint_eq(info_of("lost").sequences, published);
	horus_pub_close(pub);
	horus_sub_close(sub);
}
END_TEST

START_TEST(msgsize)
{
	struct horus_pub *pub;
	struct horus_sub *sub;
	struct horus_msg_info mi = { 0 };
	uint8_t big[65], buf[64];
	void *loan = NULL;

	ck_assert_int_eq(horus_sub_open(t_ns, "size", &small, 0, &sub), 0);
	ck_assert_int_eq(horus_pub_open(t_ns, "size", &small, &pub), 0);
	ck_assert_uint_eq(horus_pub_max_msg(pub), 64);
	memset(big, 7, sizeof(big));

	/* Too big for the topic: refused, and no sequence number is burnt on it. */
	ck_assert_int_eq(horus_pub_publish(pub, big, 65), -EMSGSIZE);
	ck_assert_int_eq(horus_pub_loan(pub, 65, &loan), -EMSGSIZE);
	ck_assert_ptr_null(loan);
	ck_assert_int_eq(horus_pub_publish(pub, big, 64), 0);

	/* Too big for the reader's buffer: the message stays unread. */
	ck_assert_int_eq(horus_sub_read(sub, buf, 63, &mi), -EMSGSIZE);
	ck_assert_int_eq(horus_sub_read(sub, buf, 0, &mi), -EMSGSIZE);
	ck_assert_int_eq(horus_sub_next_len(sub), 64);
	ck_assert_uint_eq(horus_sub_received(sub), 0);
	ck_assert_int_eq(horus_sub_read(sub, buf, 64, &mi), 64);
	ck_assert_mem_eq(buf, big, 64);
	ck_assert_uint_eq(mi.seq, 0);
	ck_assert_uint_eq(mi.lost, 0);
	ck_assert_uint_eq(horus_sub_lost(sub), 0);
	ck_assert_uint_eq(info_of("size").messages, 1);
	ck_assert_uint_eq(info_of("size").holes, 0);
	horus_pub_close(pub);
	horus_sub_close(sub);
}
END_TEST

START_TEST(loan_commit_discard)
{
	struct horus_pub *pub;
	struct horus_sub *sub;
	struct horus_msg_info mi;
	struct horus_topic_info info;
	uint8_t buf[64];
	void *l[3], *d;

	ck_assert_int_eq(horus_sub_open(t_ns, "loan", &small, 0, &sub), 0);
	ck_assert_int_eq(horus_pub_open(t_ns, "loan", &small, &pub), 0);

	/* Three loans at once, committed out of order: read in sequence order. */
	for (int i = 0; i < 3; i++) {
		ck_assert_int_eq(horus_pub_loan(pub, 30, &l[i]), 0);
		fill_indexed(l[i], 30, (uint64_t)i);
	}
	ck_assert_int_eq(horus_sub_read(sub, buf, sizeof(buf), &mi), -EAGAIN);
	ck_assert_int_eq(horus_pub_commit(pub, l[2]), 0);
	ck_assert_int_eq(horus_pub_commit(pub, l[1]), 0);
	ck_assert_int_eq(horus_sub_read(sub, buf, sizeof(buf), &mi), -EAGAIN); /* seq 0 open */
	ck_assert_int_eq(horus_pub_commit(pub, l[0]), 0);
	for (uint64_t i = 0; i < 3; i++) {
		ck_assert_int_eq(horus_sub_read(sub, buf, sizeof(buf), &mi), 30);
		ck_assert_uint_eq(mi.seq, i);
		ck_assert_uint_eq(check_indexed(buf, 30), i);
	}
	/* A loan ends once. */
	ck_assert_int_eq(horus_pub_commit(pub, l[0]), -EINVAL);
	ck_assert_int_eq(horus_pub_discard(pub, l[1]), -EINVAL);

	/* A discarded loan is one hole, and one lost message for each subscriber. */
	ck_assert_int_eq(horus_pub_loan(pub, 10, &d), 0);
	ck_assert_int_eq(horus_pub_discard(pub, d), 0);
	ck_assert_int_eq(horus_pub_commit(pub, d), -EINVAL);
	ck_assert_int_eq(horus_pub_discard(pub, d), -EINVAL);
	publish_indexed(pub, 4, 12);
	ck_assert_int_eq(horus_sub_read(sub, buf, sizeof(buf), &mi), 12);
	ck_assert_uint_eq(mi.seq, 4);
	ck_assert_uint_eq(mi.lost, 1);
	info = info_of("loan");
	ck_assert_uint_eq(info.messages, 4);
	ck_assert_uint_eq(info.holes, 1); /* a discard is a hole at once */
	ck_assert_uint_eq(info.sequences, 5);
	ck_assert_uint_eq(info.lost, 1);
	ck_assert_uint_eq(horus_sub_received(sub) + horus_sub_lost(sub), info.sequences);

	/* Loans of zero and of max_msg bytes. */
	ck_assert_int_eq(horus_pub_loan(pub, 0, &d), 0);
	ck_assert_int_eq(horus_pub_commit(pub, d), 0);
	ck_assert_int_eq(horus_sub_read(sub, buf, sizeof(buf), &mi), 0);
	ck_assert_int_eq(horus_pub_loan(pub, 64, &d), 0);
	memset(d, 0xab, 64);
	ck_assert_int_eq(horus_pub_commit(pub, d), 0);
	ck_assert_int_eq(horus_sub_read(sub, buf, sizeof(buf), &mi), 64);
	ck_assert_uint_eq(buf[63], 0xab);
	horus_pub_close(pub);
	horus_sub_close(sub);
}
END_TEST

START_TEST(commit_foreign)
{
	struct horus_pub *pub, *other;
	struct horus_sub *sub;
	struct horus_msg_info mi;
	uint8_t local[64], buf[64];
	uint8_t *mine, *theirs, *old;

	ck_assert_int_eq(horus_sub_open(t_ns, "foreign", &small, 0, &sub), 0);
	ck_assert_int_eq(horus_pub_open(t_ns, "foreign", &small, &pub), 0);
	ck_assert_int_eq(horus_pub_open(t_ns, "foreign", &small, &other), 0);

	ck_assert_int_eq(horus_pub_loan(pub, 8, (void **)&old), 0);
	ck_assert_int_eq(horus_pub_commit(pub, old), 0);
	ck_assert_int_eq(horus_pub_loan(pub, 20, (void **)&mine), 0);
	ck_assert_int_eq(horus_pub_loan(other, 20, (void **)&theirs), 0);
	fill_indexed(mine, 20, 1);
	fill_indexed(theirs, 20, 2);

	/* Nothing but our own open loan, at its exact address, is accepted. */
	ck_assert_int_eq(horus_pub_commit(pub, local), -EINVAL);
	ck_assert_int_eq(horus_pub_commit(pub, mine + 1), -EINVAL);
	ck_assert_int_eq(horus_pub_commit(pub, mine - 1), -EINVAL);
	ck_assert_int_eq(horus_pub_commit(pub, mine - 16), -EINVAL); /* the slot header */
	ck_assert_int_eq(horus_pub_commit(pub, mine + 4096), -EINVAL);
	ck_assert_int_eq(horus_pub_commit(pub, theirs), -EINVAL);
	ck_assert_int_eq(horus_pub_commit(other, mine), -EINVAL);
	ck_assert_int_eq(horus_pub_commit(pub, old), -EINVAL); /* committed already */
	ck_assert_int_eq(horus_pub_commit(pub, NULL), -EINVAL);
	ck_assert_int_eq(horus_pub_discard(pub, local), -EINVAL);
	ck_assert_int_eq(horus_pub_discard(pub, theirs), -EINVAL);
	ck_assert_int_eq(horus_pub_commit(NULL, mine), -EINVAL);

	/* The refusals changed nothing: both loans still commit, and arrive intact. */
	ck_assert_int_eq(horus_pub_commit(other, theirs), 0);
	ck_assert_int_eq(horus_pub_commit(pub, mine), 0);
	ck_assert_int_eq(horus_sub_read(sub, buf, sizeof(buf), &mi), 8);
	ck_assert_int_eq(horus_sub_read(sub, buf, sizeof(buf), &mi), 20);
	ck_assert_uint_eq(check_indexed(buf, 20), 1);
	ck_assert_int_eq(horus_sub_read(sub, buf, sizeof(buf), &mi), 20);
	ck_assert_uint_eq(check_indexed(buf, 20), 2);
	ck_assert_uint_eq(horus_sub_lost(sub), 0);
	horus_pub_close(pub);
	horus_pub_close(other);
	horus_sub_close(sub);
}
END_TEST

START_TEST(close_discards_loans)
{
	struct horus_pub *pub, *next;
	struct horus_sub *sub;
	struct horus_msg_info mi;
	uint8_t buf[64];
	void *l;

	ck_assert_int_eq(horus_sub_open(t_ns, "close", &small, 0, &sub), 0);
	ck_assert_int_eq(horus_pub_open(t_ns, "close", &small, &pub), 0);
	ck_assert_int_eq(horus_pub_loan(pub, 10, &l), 0);
	horus_pub_close(pub);
	ck_assert_uint_eq(info_of("close").holes, 1);
	ck_assert_uint_eq(info_of("close").publishers, 0);

	/* The next publisher is not held up, and the subscriber is told of the gap. */
	ck_assert_int_eq(horus_pub_open(t_ns, "close", &small, &next), 0);
	publish_indexed(next, 1, 10);
	ck_assert_int_eq(horus_sub_read(sub, buf, sizeof(buf), &mi), 10);
	ck_assert_uint_eq(mi.seq, 1);
	ck_assert_uint_eq(mi.lost, 1);
	horus_pub_close(next);
	horus_sub_close(sub);
}
END_TEST

START_TEST(take_check)
{
	static const struct horus_topic_opts o = { .capacity = 4, .max_msg = 64 };
	struct horus_pub *pub;
	struct horus_sub *sub;
	struct horus_sample s;
	uint8_t buf[64];

	ck_assert_int_eq(horus_sub_open(t_ns, "take", &o, 0, &sub), 0);
	ck_assert_int_eq(horus_pub_open(t_ns, "take", &o, &pub), 0);
	ck_assert_int_eq(horus_sub_take(sub, &s), -EAGAIN);

	/* In place, and still valid afterwards. */
	publish_indexed(pub, 0, 24);
	ck_assert_int_eq(horus_sub_take(sub, &s), 0);
	ck_assert_uint_eq(s.len, 24);
	ck_assert_uint_eq(s.seq, 0);
	ck_assert_uint_eq(s.lost, 0);
	ck_assert_uint_eq(check_indexed(s.data, 24), 0);
	ck_assert_int_eq(horus_sub_check(sub, &s), 0);
	ck_assert_int_eq(horus_sub_take(sub, &s), -EAGAIN);

	/* Overwritten while held: -ESTALE, and it counts as lost, not received. */
	publish_indexed(pub, 1, 24);
	ck_assert_int_eq(horus_sub_take(sub, &s), 0);
	ck_assert_uint_eq(s.seq, 1);
	ck_assert_uint_eq(horus_sub_received(sub), 2);
	for (uint64_t i = 2; i < 6; i++) {
		publish_indexed(pub, i, 24);
	}
	ck_assert_int_eq(horus_sub_check(sub, &s), -ESTALE);
	ck_assert_uint_eq(horus_sub_received(sub), 1);
	ck_assert_uint_eq(horus_sub_lost(sub), 1);

	/* The reader goes on with what is still in the ring; the totals add up. */
	for (uint64_t i = 2; i < 6; i++) {
		ck_assert_int_eq(horus_sub_read(sub, buf, sizeof(buf), NULL), 24);
		ck_assert_uint_eq(check_indexed(buf, 24), i);
	}
	ck_assert_uint_eq(horus_sub_received(sub) + horus_sub_lost(sub), 6);
	ck_assert_uint_eq(info_of("take").lost, 1);
	ck_assert_int_eq(horus_sub_take(NULL, &s), -EINVAL);
	ck_assert_int_eq(horus_sub_take(sub, NULL), -EINVAL);
	ck_assert_int_eq(horus_sub_check(sub, NULL), -EINVAL);
	horus_pub_close(pub);
	horus_sub_close(sub);
}
END_TEST

/*
 * A caller may well check a sample more than once (midway and after use). The sample is one
 * message: whatever the number of checks, it counts as lost once.
 */
START_TEST(check_twice)
{
	static const struct horus_topic_opts o = { .capacity = 4, .max_msg = 64 };
	struct horus_pub *pub;
	struct horus_sub *sub;
	struct horus_sample s;

	ck_assert_int_eq(horus_sub_open(t_ns, "check2", &o, 0, &sub), 0);
	ck_assert_int_eq(horus_pub_open(t_ns, "check2", &o, &pub), 0);
	publish_indexed(pub, 0, 24);
	ck_assert_int_eq(horus_sub_take(sub, &s), 0);
	for (uint64_t i = 1; i < 5; i++) {
		publish_indexed(pub, i, 24);
	}
	ck_assert_int_eq(horus_sub_check(sub, &s), -ESTALE);
	ck_assert_int_eq(horus_sub_check(sub, &s), -ESTALE);
	ck_assert_uint_eq(horus_sub_received(sub), 0);
	ck_assert_uint_eq(horus_sub_lost(sub), 1);
	ck_assert_uint_eq(info_of("check2").lost, 1);
	horus_pub_close(pub);
	horus_sub_close(sub);
}
END_TEST

START_TEST(wait_timeout)
{
	struct horus_pub *pub;
	struct horus_sub *sub;
	uint8_t buf[64];
	uint64_t t0, dt;

	ck_assert_int_eq(horus_sub_open(t_ns, "wait", &small, 0, &sub), 0);
	ck_assert_int_eq(horus_pub_open(t_ns, "wait", &small, &pub), 0);

	t0 = t_now_ns();
	ck_assert_int_eq(horus_sub_wait(sub, 0), -ETIMEDOUT);
	ck_assert_uint_lt(t_now_ns() - t0, T_S / 2); /* 0 only looks: no sleep */

	t0 = t_now_ns();
	ck_assert_int_eq(horus_sub_wait(sub, 80 * (int64_t)T_MS), -ETIMEDOUT);
	dt = t_now_ns() - t0;
	ck_assert_uint_ge(dt, 80 * T_MS);
	ck_assert_uint_lt(dt, 2 * T_S);

	/* A message is there: no waiting at all, whatever the timeout. */
	publish_indexed(pub, 0, 8);
	ck_assert_int_eq(horus_sub_wait(sub, 0), 0);
	t0 = t_now_ns();
	ck_assert_int_eq(horus_sub_wait(sub, 10 * (int64_t)T_S), 0);
	ck_assert_int_eq(horus_sub_wait(sub, -1), 0);
	ck_assert_uint_lt(t_now_ns() - t0, 2 * T_S);
	ck_assert_int_eq(horus_sub_read(sub, buf, sizeof(buf), NULL), 8);
	ck_assert_int_eq(horus_sub_wait(sub, 0), -ETIMEDOUT);
	ck_assert_int_eq(horus_sub_wait(NULL, 0), -EINVAL);
	horus_pub_close(pub);
	horus_sub_close(sub);
}
END_TEST

struct waker {
	struct horus_pub *pub;
	atomic_bool stop;
	pthread_t waiter;
};

static void *publish_once(void *arg)
{
	struct waker *w = arg;

	publish_indexed(w->pub, 0, 8);
	return NULL;
}

START_TEST(wait_woken)
{
	struct waker w = { 0 };
	struct horus_sub *sub;
	pthread_t th;
	uint64_t t0;

	ck_assert_int_eq(horus_sub_open(t_ns, "woken", &small, 0, &sub), 0);
	ck_assert_int_eq(horus_pub_open(t_ns, "woken", &small, &w.pub), 0);
	/* Whether the publish lands before or during the wait, the wait must end with 0 at once. */
	t0 = t_now_ns();
	ck_assert_int_eq(pthread_create(&th, NULL, publish_once, &w), 0);
	ck_assert_int_eq(horus_sub_wait(sub, -1), 0);
	ck_assert_uint_lt(t_now_ns() - t0, 5 * T_S);
	pthread_join(th, NULL);
	ck_assert_int_eq(horus_sub_next_len(sub), 8);
	horus_pub_close(w.pub);
	horus_sub_close(sub);
}
END_TEST

static void on_signal(int sig)
{
	(void)sig;
}

static void *interrupt_waiter(void *arg)
{
	struct waker *w = arg;

	/* Keep interrupting until the waiter has come back: one signal lands inside the wait. */
	while (!atomic_load(&w->stop)) {
		pthread_kill(w->waiter, SIGUSR1);
		t_nap_us(2000);
	}
	return NULL;
}

START_TEST(wait_eintr)
{
	struct sigaction sa = { .sa_handler = on_signal }; /* no SA_RESTART */
	struct waker w = { .waiter = pthread_self() };
	struct horus_sub *sub;
	pthread_t th;

	ck_assert_int_eq(sigaction(SIGUSR1, &sa, NULL), 0);
	ck_assert_int_eq(horus_sub_open(t_ns, "eintr", &small, 0, &sub), 0);
	ck_assert_int_eq(pthread_create(&th, NULL, interrupt_waiter, &w), 0);
	ck_assert_int_eq(horus_sub_wait(sub, 10 * (int64_t)T_S), -EINTR);
	atomic_store(&w.stop, true);
	pthread_join(th, NULL);
	horus_sub_close(sub);
}
END_TEST

#define THREADS 4
#define PER_THREAD 10000

struct pub_thread {
	struct horus_pub *pub;
	uint32_t id;
	int errors;
};

static void *publish_many(void *arg)
{
	struct pub_thread *t = arg;

	for (uint64_t i = 0; i < PER_THREAD; i++) {
		uint64_t msg[2] = { t->id, i };

		if (horus_pub_publish(t->pub, msg, sizeof(msg)) != 0) {
			t->errors++;
		}
	}
	return NULL;
}

START_TEST(threads_one_handle)
{
	/* Room for everything: with nothing lapped, every message must arrive. */
	static const struct horus_topic_opts o = { .capacity = 65536, .max_msg = 16 };
	struct pub_thread t[THREADS];
	pthread_t th[THREADS];
	struct horus_pub *pub;
	struct horus_sub *sub;
	struct horus_msg_info mi;
	struct horus_topic_info info;
	uint64_t next[THREADS] = { 0 }, msg[2], got = 0, end = t_now_ns() + 20 * T_S;

	ck_assert_int_eq(horus_sub_open(t_ns, "threads", &o, 0, &sub), 0);
	ck_assert_int_eq(horus_pub_open(t_ns, "threads", &o, &pub), 0);
	for (uint32_t i = 0; i < THREADS; i++) {
		t[i] = (struct pub_thread){ .pub = pub, .id = i };
		ck_assert_int_eq(pthread_create(&th[i], NULL, publish_many, &t[i]), 0);
	}
	/* Read while they publish: each thread's messages in its own order, none twice. */
	while (got < THREADS * PER_THREAD && t_now_ns() < end) {
		int r = horus_sub_read(sub, msg, sizeof(msg), &mi);

		if (r == -EAGAIN) {
			continue;
		}
		ck_assert_int_eq(r, sizeof(msg));
		ck_assert_uint_eq(mi.seq, got);
		ck_assert_uint_eq(mi.lost, 0);
		ck_assert_uint_lt(msg[0], THREADS);
		ck_assert_uint_eq(msg[1], next[msg[0]]);
		next[msg[0]]++;
		got++;
	}
	for (uint32_t i = 0; i < THREADS; i++) {
		pthread_join(th[i], NULL);
		ck_assert_int_eq(t[i].errors, 0);
		ck_assert_uint_eq(next[i], PER_THREAD);
	}
	ck_assert_uint_eq(got, THREADS * PER_THREAD);
	ck_assert_uint_eq(horus_sub_lost(sub), 0);
	info = info_of("threads");
	ck_assert_uint_eq(info.messages, THREADS * PER_THREAD);
	ck_assert_uint_eq(info.bytes, THREADS * PER_THREAD * sizeof(msg));
	ck_assert_uint_eq(info.holes, 0);
	ck_assert_uint_eq(info.sequences, THREADS * PER_THREAD);
	horus_pub_close(pub);
	horus_sub_close(sub);
}
END_TEST

START_TEST(topic_info_counters)
{
	struct horus_pub *a, *b;
	struct horus_sub *s[3];
	struct horus_topic_info info;
	uint8_t buf[64];

	ck_assert_int_eq(horus_topic_info(t_ns, "info", HORUS_KIND_HUB, &info), -ENOENT);
	ck_assert_int_eq(horus_pub_open(t_ns, "info", &small, &a), 0);
	ck_assert_int_eq(horus_pub_open(t_ns, "info", &small, &b), 0);
	for (int i = 0; i < 3; i++) {
		ck_assert_int_eq(horus_sub_open(t_ns, "info", &small, 0, &s[i]), 0);
	}
	info = info_of("info");
	ck_assert_str_eq(info.name, "info");
	ck_assert_uint_eq(info.kind, HORUS_KIND_HUB);
	ck_assert_uint_eq(info.capacity, 8);
	ck_assert_uint_eq(info.max_msg, 64);
	ck_assert_uint_eq(info.publishers, 2);
	ck_assert_uint_eq(info.subscribers, 3);
	ck_assert_int_eq(info.creator_pid, getpid());
	ck_assert_uint_eq(info.messages, 0);
	ck_assert_uint_eq(info.bytes, 0);

	publish_indexed(a, 0, 10);
	publish_indexed(b, 1, 20);
	publish_indexed(a, 2, 30);
	ck_assert_int_eq(horus_pub_publish(a, buf, 65), -EMSGSIZE); /* not counted */
	horus_pub_close(b);
	horus_sub_close(s[2]);
	info = info_of("info");
	ck_assert_uint_eq(info.messages, 3);
	ck_assert_uint_eq(info.bytes, 60);
	ck_assert_uint_eq(info.publishers, 1);
	ck_assert_uint_eq(info.subscribers, 2);
	ck_assert_uint_eq(info.lost, 0);
	ck_assert_uint_eq(info.holes, 0);
	ck_assert_uint_eq(info.sequences, 3);
	ck_assert_uint_eq(info.pending, 0);

	/* lost sums the subscribers' losses as they discover them. */
	for (uint64_t i = 3; i < 20; i++) {
		publish_indexed(a, i, 8);
	}
	ck_assert_int_eq(horus_sub_read(s[0], buf, sizeof(buf), NULL), 8);
	ck_assert_int_eq(horus_sub_read(s[1], buf, sizeof(buf), NULL), 8);
	info = info_of("info");
	ck_assert_uint_eq(info.lost, 24);
	ck_assert_uint_eq(info.messages, 20);

	ck_assert_int_eq(horus_topic_info(t_ns, "info", HORUS_KIND_LINK, &info), -ENOENT);
	ck_assert_int_eq(horus_topic_info(t_ns, "info", HORUS_KIND_HUB, NULL), -EINVAL);
	ck_assert_int_eq(horus_topic_info(t_ns, NULL, HORUS_KIND_HUB, &info), -EINVAL);
	horus_pub_close(a);
	horus_sub_close(s[0]);
	horus_sub_close(s[1]);
	info = info_of("info");
	ck_assert_uint_eq(info.publishers, 0);
	ck_assert_uint_eq(info.subscribers, 0);
}
END_TEST

START_TEST(geometry)
{
	struct horus_topic_opts bigger = { .capacity = 16, .max_msg = 128 };
	struct horus_topic_opts smaller = { .capacity = 32, .max_msg = 32 };
	struct horus_topic_opts bad[] = {
		{ .capacity = 3 },
		{ .capacity = 1 },
		{ .capacity = 6 },
		{ .capacity = HORUS_CAPACITY_MAX * 2 },
		{ .max_msg = HORUS_MAX_MSG_MAX + 1 },
	};
	struct horus_pub *pub, *p2;
	struct horus_sub *sub;
	struct horus_link *link;
	char path[512];

	ck_assert_int_eq(horus_pub_open(t_ns, "geo", &small, &pub), 0);
	/* The first one decides; asking for more than it carries is refused. */
	ck_assert_int_eq(horus_sub_open(t_ns, "geo", &bigger, 0, &sub), -EMSGSIZE);
	ck_assert_int_eq(horus_pub_open(t_ns, "geo", &bigger, &p2), -EMSGSIZE);
	ck_assert_uint_eq(info_of("geo").subscribers, 0);
	ck_assert_uint_eq(info_of("geo").publishers, 1);
	/* Less is fine, and the capacity asked for is ignored. */
	ck_assert_int_eq(horus_pub_open(t_ns, "geo", &smaller, &p2), 0);
	ck_assert_uint_eq(horus_pub_max_msg(p2), 64);
	ck_assert_uint_eq(info_of("geo").capacity, 8);
	horus_pub_close(p2);
	horus_pub_close(pub);

	/* Defaults. */
	ck_assert_int_eq(horus_pub_open(t_ns, "defaults", NULL, &pub), 0);
	ck_assert_uint_eq(horus_pub_max_msg(pub), HORUS_DEFAULT_MAX_MSG);
	ck_assert_uint_eq(info_of("defaults").capacity, HORUS_DEFAULT_CAPACITY);
	horus_pub_close(pub);
	ck_assert_int_eq(horus_pub_open(t_ns, "zeros", &(struct horus_topic_opts){ 0 }, &pub), 0);
	ck_assert_uint_eq(info_of("zeros").capacity, HORUS_DEFAULT_CAPACITY);
	ck_assert_uint_eq(info_of("zeros").max_msg, HORUS_DEFAULT_MAX_MSG);
	horus_pub_close(pub);

	/* Impossible geometry: refused before anything is created. */
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_int_eq(horus_pub_open(t_ns, "bad", &bad[i], &pub), -EINVAL);
		ck_assert_int_eq(horus_sub_open(t_ns, "bad", &bad[i], 0, &sub), -EINVAL);
		ck_assert_int_eq(horus_link_open(t_ns, "bad", HORUS_LINK_PRODUCER, &bad[i], &link),
				 -EINVAL);
	}
	t_shm_path(path, sizeof(path), t_ns, HORUS_KIND_HUB, "bad");
	ck_assert(!t_exists(path));
	t_shm_path(path, sizeof(path), t_ns, HORUS_KIND_LINK, "bad");
	ck_assert(!t_exists(path));
}
END_TEST

START_TEST(bad_arguments)
{
	struct horus_pub *pub;
	struct horus_sub *sub;
	struct horus_sample s;
	uint8_t buf[8];
	void *l;

	ck_assert_int_eq(horus_pub_open(t_ns, "args", &small, NULL), -EINVAL);
	ck_assert_int_eq(horus_sub_open(t_ns, "args", &small, 0, NULL), -EINVAL);
	ck_assert_int_eq(horus_pub_open(t_ns, "args", &small, &pub), 0);
	ck_assert_int_eq(horus_sub_open(t_ns, "args", &small, 0, &sub), 0);
	ck_assert_int_eq(horus_pub_publish(NULL, buf, 1), -EINVAL);
	ck_assert_int_eq(horus_pub_publish(pub, NULL, 1), -EINVAL);
	ck_assert_int_eq(horus_pub_loan(NULL, 1, &l), -EINVAL);
	ck_assert_int_eq(horus_pub_loan(pub, 1, NULL), -EINVAL);
	ck_assert_int_eq(horus_pub_discard(NULL, buf), -EINVAL);
	ck_assert_int_eq(horus_sub_read(NULL, buf, 1, NULL), -EINVAL);
	ck_assert_int_eq(horus_sub_read(sub, NULL, 1, NULL), -EINVAL);
	ck_assert_int_eq(horus_sub_next_len(NULL), -EINVAL);
	ck_assert_int_eq(horus_sub_take(NULL, &s), -EINVAL);
	ck_assert_uint_eq(horus_pub_max_msg(NULL), 0);
	ck_assert_uint_eq(horus_sub_lost(NULL), 0);
	ck_assert_uint_eq(horus_sub_received(NULL), 0);
	horus_pub_close(NULL);
	horus_sub_close(NULL);
	horus_pub_close(pub);
	horus_sub_close(sub);
}
END_TEST

START_TEST(participants_full)
{
	static const struct horus_topic_opts o = { .capacity = 2, .max_msg = 8 };
	struct horus_sub *s[HORUS_PARTICIPANTS_MAX];
	struct horus_pub *pub;

	for (unsigned i = 0; i < HORUS_PARTICIPANTS_MAX; i++) {
		ck_assert_int_eq(horus_sub_open(t_ns, "full", &o, 0, &s[i]), 0);
	}
	ck_assert_uint_eq(info_of("full").subscribers, HORUS_PARTICIPANTS_MAX);
	ck_assert_int_eq(horus_pub_open(t_ns, "full", &o, &pub), -EUSERS);
	horus_sub_close(s[17]);
	ck_assert_int_eq(horus_pub_open(t_ns, "full", &o, &pub), 0);
	ck_assert_uint_eq(info_of("full").publishers, 1);
	horus_pub_close(pub);
	for (unsigned i = 0; i < HORUS_PARTICIPANTS_MAX; i++) {
		if (i != 17) {
			horus_sub_close(s[i]);
		}
	}
	ck_assert_uint_eq(info_of("full").subscribers, 0);
}
END_TEST

/*
 * A publisher that holds every slot with open loans cannot lap itself: the next loan gives up
 * within bounded time (-EAGAIN) instead of hanging, its sequence number becomes a hole (counted
 * at the latest when its slot is written again, a lap later), and once the loans are committed
 * subscribers carry on with exact accounting.
 */
START_TEST(loans_fill_ring)
{
	static const struct horus_topic_opts o = { .capacity = 4, .max_msg = 32 };
	struct horus_pub *pub;
	struct horus_sub *sub;
	struct horus_msg_info mi;
	struct horus_topic_info info;
	uint8_t buf[32];
	void *l[4], *extra;
	uint64_t t0;
	int r = -EAGAIN;

	ck_assert_int_eq(horus_sub_open(t_ns, "ring", &o, 0, &sub), 0);
	ck_assert_int_eq(horus_pub_open(t_ns, "ring", &o, &pub), 0);
	for (int i = 0; i < 4; i++) {
		ck_assert_int_eq(horus_pub_loan(pub, 16, &l[i]), 0);
		fill_indexed(l[i], 16, (uint64_t)i);
	}
	t0 = t_now_ns();
	ck_assert_int_eq(horus_pub_loan(pub, 16, &extra), -EAGAIN);
	ck_assert_uint_lt(t_now_ns() - t0, 3 * T_S);
	for (int i = 0; i < 4; i++) {
		ck_assert_int_eq(horus_pub_commit(pub, l[i]), 0);
	}
	for (uint64_t i = 0; i < 4; i++) {
		ck_assert_int_eq(horus_sub_read(sub, buf, sizeof(buf), &mi), 16);
		ck_assert_uint_eq(mi.seq, i);
		ck_assert_uint_eq(check_indexed(buf, 16), i);
	}
	publish_indexed(pub, 5, 16);
	/* Sequence 4 never carried a message: the subscriber gives it up (bounded) and goes on. */
	t0 = t_now_ns();
	while (t_now_ns() - t0 < 5 * T_S &&
	       (r = horus_sub_read(sub, buf, sizeof(buf), &mi)) == -EAGAIN) {
	}
	ck_assert_int_eq(r, 16);
	ck_assert_uint_eq(mi.seq, 5);
	ck_assert_uint_eq(mi.lost, 1);
	info = info_of("ring");
	ck_assert_uint_eq(info.messages, 5);
	ck_assert_uint_eq(info.sequences, 6);
	ck_assert_uint_eq(horus_sub_received(sub) + horus_sub_lost(sub), info.sequences);
	/* A lap later every sequence is a message or a counted hole. */
	for (uint64_t i = 6; i < 6 + o.capacity; i++) {
		publish_indexed(pub, i, 16);
	}
	while (horus_sub_read(sub, buf, sizeof(buf), &mi) >= 0) {
	}
	ck_assert_uint_eq(mi.seq, 5 + o.capacity);
	info = info_of("ring");
	ck_assert_uint_eq(info.holes, 1);
	ck_assert_uint_eq(info.messages + info.holes, info.sequences);
	ck_assert_uint_eq(horus_sub_received(sub) + horus_sub_lost(sub), info.sequences);
	horus_pub_close(pub);
	horus_sub_close(sub);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("hub");

	tcase_add_test(t_tcase(s, "publish_read_order", 10), publish_read_order);
	tcase_add_test(t_tcase(s, "empty_messages", 10), empty_messages);
	tcase_add_test(t_tcase(s, "seq_numbers", 10), seq_numbers);
	tcase_add_test(t_tcase(s, "last_n", 10), last_n);
	tcase_add_test(t_tcase(s, "start_after_newest", 10), start_after_newest);
	tcase_add_test(t_tcase(s, "lost_exact", 10), lost_exact);
	tcase_add_test(t_tcase(s, "msgsize", 10), msgsize);
	tcase_add_test(t_tcase(s, "loan_commit_discard", 10), loan_commit_discard);
	tcase_add_test(t_tcase(s, "commit_foreign", 10), commit_foreign);
	tcase_add_test(t_tcase(s, "close_discards_loans", 10), close_discards_loans);
	tcase_add_test(t_tcase(s, "take_check", 10), take_check);
	tcase_add_test(t_tcase(s, "check_twice", 10), check_twice);
	tcase_add_test(t_tcase(s, "wait_timeout", 10), wait_timeout);
	tcase_add_test(t_tcase(s, "wait_woken", 10), wait_woken);
	tcase_add_test(t_tcase(s, "wait_eintr", 15), wait_eintr);
	tcase_add_test(t_tcase(s, "threads_one_handle", 30), threads_one_handle);
	tcase_add_test(t_tcase(s, "topic_info_counters", 10), topic_info_counters);
	tcase_add_test(t_tcase(s, "geometry", 10), geometry);
	tcase_add_test(t_tcase(s, "bad_arguments", 10), bad_arguments);
	tcase_add_test(t_tcase(s, "participants_full", 15), participants_full);
	tcase_add_test(t_tcase(s, "loans_fill_ring", 15), loans_fill_ring);
	return t_run(s, "hub");
}
