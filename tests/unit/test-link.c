/* SPDX-License-Identifier: MIT */
/* Links within one process: FIFO, back-pressure, exclusive ends, hand-over, waits, loans. */

#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include <horus/pubsub.h>

#include "common.h"

static const struct horus_topic_opts small = { .capacity = 4, .max_msg = 64 };

/* Message i: its index, then bytes that depend on it; length varies with i. */
static uint32_t msg_len(uint64_t i)
{
	return 8 + (uint32_t)(i * 7 % 57);
}

static uint32_t fill(uint8_t *buf, uint64_t i)
{
	uint32_t len = msg_len(i);

	memcpy(buf, &i, sizeof(i));
	for (uint32_t k = sizeof(i); k < len; k++) {
		buf[k] = (uint8_t)(i ^ k);
	}
	return len;
}

static int send_msg(struct horus_link *l, uint64_t i)
{
	uint8_t buf[64];

	return horus_link_send(l, buf, fill(buf, i));
}

/* Receives one message and checks that it is message i, whole. */
static void recv_expect(struct horus_link *l, uint64_t i)
{
	uint8_t buf[64];
	uint64_t got;
	int r = horus_link_recv(l, buf, sizeof(buf));

	ck_assert_int_eq(r, (int)msg_len(i));
	memcpy(&got, buf, sizeof(got));
	ck_assert_uint_eq(got, i);
	for (int k = sizeof(got); k < r; k++) {
		ck_assert_uint_eq(buf[k], (uint8_t)(i ^ (uint64_t)k));
	}
}

static void open_end(const char *name, enum horus_link_role role, struct horus_link **ret)
{
	ck_assert_int_eq(horus_link_open(t_ns, name, role, &small, ret), 0);
}

static struct horus_topic_info info_of(const char *name)
{
	struct horus_topic_info info;

	ck_assert_int_eq(horus_topic_info(t_ns, name, HORUS_KIND_LINK, &info), 0);
	return info;
}

START_TEST(fifo)
{
	struct horus_link *p, *c;
	uint8_t buf[64];
	uint64_t sent = 0, received = 0, seed = 7;

	open_end("fifo", HORUS_LINK_PRODUCER, &p);
	open_end("fifo", HORUS_LINK_CONSUMER, &c);
	ck_assert_int_eq(horus_link_recv(c, buf, sizeof(buf)), -EAGAIN);
	/* Random amounts on both sides over many laps: every message, once, in order. */
	for (int round = 0; round < 500; round++) {
		uint64_t n = t_rand(&seed) % 5, m = t_rand(&seed) % 5;

		for (uint64_t k = 0; k < n && sent - received < small.capacity; k++) {
			ck_assert_int_eq(send_msg(p, sent), 0);
			sent++;
		}
		for (uint64_t k = 0; k < m && received < sent; k++) {
			recv_expect(c, received++);
		}
	}
	while (received < sent) {
		recv_expect(c, received++);
	}
	ck_assert_int_eq(horus_link_recv(c, buf, sizeof(buf)), -EAGAIN);
	ck_assert_uint_gt(sent, 100);
	ck_assert_uint_eq(info_of("fifo").messages, sent);
	ck_assert_uint_eq(info_of("fifo").pending, 0);
	horus_link_close(p);
	horus_link_close(c);
}
END_TEST

START_TEST(full)
{
	struct horus_link *p, *c;

	open_end("full", HORUS_LINK_PRODUCER, &p);
	open_end("full", HORUS_LINK_CONSUMER, &c);
	for (uint64_t i = 0; i < small.capacity; i++) {
		ck_assert_int_eq(send_msg(p, i), 0);
	}
	/* Full: refused, not overwritten, however often asked. */
	for (int k = 0; k < 3; k++) {
		ck_assert_int_eq(send_msg(p, 99), -EAGAIN);
	}
	ck_assert_uint_eq(info_of("full").pending, small.capacity);
	recv_expect(c, 0);
	ck_assert_int_eq(send_msg(p, small.capacity), 0);
	ck_assert_int_eq(send_msg(p, 99), -EAGAIN);
	for (uint64_t i = 1; i <= small.capacity; i++) {
		recv_expect(c, i);
	}
	ck_assert_uint_eq(info_of("full").messages, small.capacity + 1);
	horus_link_close(p);
	horus_link_close(c);
}
END_TEST

START_TEST(exclusive_ends)
{
	struct horus_link *p, *c, *x = NULL;
	uint8_t buf[64];
	void *l;

	open_end("busy", HORUS_LINK_PRODUCER, &p);
	open_end("busy", HORUS_LINK_CONSUMER, &c);
	ck_assert_int_eq(horus_link_open(t_ns, "busy", HORUS_LINK_PRODUCER, &small, &x), -EBUSY);
	ck_assert_int_eq(horus_link_open(t_ns, "busy", HORUS_LINK_CONSUMER, &small, &x), -EBUSY);
	ck_assert_ptr_null(x);
	/* The refused opens left nothing behind: the real ends still work. */
	ck_assert_int_eq(send_msg(p, 0), 0);
	recv_expect(c, 0);

	/* Each end does its own job only. */
	ck_assert_int_eq(horus_link_send(c, buf, 1), -EINVAL);
	ck_assert_int_eq(horus_link_loan(c, &l), -EINVAL);
	ck_assert_int_eq(horus_link_commit(c, 1), -EINVAL);
	ck_assert_int_eq(horus_link_recv(p, buf, sizeof(buf)), -EINVAL);
	ck_assert_int_eq(horus_link_open(t_ns, "busy", 0, &small, &x), -EINVAL);
	ck_assert_int_eq(horus_link_open(t_ns, "busy", 3, &small, &x), -EINVAL);
	ck_assert_int_eq(horus_link_open(t_ns, NULL, HORUS_LINK_PRODUCER, &small, &x), -EINVAL);
	ck_assert_int_eq(horus_link_open(t_ns, "busy", HORUS_LINK_PRODUCER, &small, NULL),
			 -EINVAL);
	ck_assert_int_eq(horus_link_send(NULL, buf, 1), -EINVAL);
	ck_assert_int_eq(horus_link_recv(NULL, buf, 1), -EINVAL);
	ck_assert_int_eq(horus_link_wait(NULL, 0), -EINVAL);
	ck_assert_uint_eq(horus_link_max_msg(NULL), 0);
	horus_link_close(NULL);

	/* Once an end is closed, its role is free again. */
	horus_link_close(p);
	open_end("busy", HORUS_LINK_PRODUCER, &p);
	horus_link_close(c);
	open_end("busy", HORUS_LINK_CONSUMER, &c);
	horus_link_close(p);
	horus_link_close(c);
}
END_TEST

START_TEST(handover)
{
	struct horus_link *p, *c;

	open_end("hand", HORUS_LINK_PRODUCER, &p);
	for (uint64_t i = 0; i < 3; i++) {
		ck_assert_int_eq(send_msg(p, i), 0);
	}
	horus_link_close(p);
	/* A consumer that comes later still gets what was sent: nothing is lost on a Link. */
	open_end("hand", HORUS_LINK_CONSUMER, &c);
	recv_expect(c, 0);
	/* A new producer continues after the old one's messages, not over them. */
	open_end("hand", HORUS_LINK_PRODUCER, &p);
	ck_assert_int_eq(send_msg(p, 3), 0);
	ck_assert_int_eq(send_msg(p, 4), 0);
	ck_assert_int_eq(send_msg(p, 5), -EAGAIN); /* 1 to 4 pending: full */
	recv_expect(c, 1);
	ck_assert_int_eq(send_msg(p, 5), 0);
	/* And a new consumer continues where the old one stopped. */
	horus_link_close(c);
	open_end("hand", HORUS_LINK_CONSUMER, &c);
	for (uint64_t i = 2; i < 6; i++) {
		recv_expect(c, i);
	}
	ck_assert_uint_eq(info_of("hand").pending, 0);
	ck_assert_uint_eq(info_of("hand").messages, 6);
	horus_link_close(p);
	horus_link_close(c);
}
END_TEST

START_TEST(wait_timeout)
{
	struct horus_link *p, *c;
	uint64_t t0, dt;

	open_end("wait", HORUS_LINK_PRODUCER, &p);
	open_end("wait", HORUS_LINK_CONSUMER, &c);

	/* Consumer: nothing to read. */
	ck_assert_int_eq(horus_link_wait(c, 0), -ETIMEDOUT);
	t0 = t_now_ns();
	ck_assert_int_eq(horus_link_wait(c, 80 * (int64_t)T_MS), -ETIMEDOUT);
	dt = t_now_ns() - t0;
	ck_assert_uint_ge(dt, 80 * T_MS);
	ck_assert_uint_lt(dt, 2 * T_S);
	/* Producer: room until full. */
	ck_assert_int_eq(horus_link_wait(p, 0), 0);
	for (uint64_t i = 0; i < small.capacity; i++) {
		ck_assert_int_eq(send_msg(p, i), 0);
	}
	ck_assert_int_eq(horus_link_wait(c, 0), 0);
	ck_assert_int_eq(horus_link_wait(c, -1), 0);
	ck_assert_int_eq(horus_link_wait(p, 0), -ETIMEDOUT);
	t0 = t_now_ns();
	ck_assert_int_eq(horus_link_wait(p, 80 * (int64_t)T_MS), -ETIMEDOUT);
	dt = t_now_ns() - t0;
	ck_assert_uint_ge(dt, 80 * T_MS);
	ck_assert_uint_lt(dt, 2 * T_S);
	recv_expect(c, 0);
	t0 = t_now_ns();
	ck_assert_int_eq(horus_link_wait(p, 10 * (int64_t)T_S), 0);
	ck_assert_uint_lt(t_now_ns() - t0, 2 * T_S);
	horus_link_close(p);
	horus_link_close(c);
}
END_TEST

#define STREAM 20000

static void *produce(void *arg)
{
	struct horus_link *p = arg;

	for (uint64_t i = 0; i < STREAM; i++) {
		int r;

		while ((r = send_msg(p, i)) == -EAGAIN) {
			if (horus_link_wait(p, 10 * (int64_t)T_S) != 0) {
				return (void *)"producer wait failed";
			}
		}
		if (r != 0) {
			return (void *)"send failed";
		}
	}
	return NULL;
}

/* Both ends block on each other through a 4-slot link: every message arrives, in order. */
START_TEST(wait_both_sides)
{
	struct horus_link *p, *c;
	pthread_t th;
	void *err;
	uint64_t i = 0, t0 = t_now_ns();

	open_end("stream", HORUS_LINK_PRODUCER, &p);
	open_end("stream", HORUS_LINK_CONSUMER, &c);
	ck_assert_int_eq(pthread_create(&th, NULL, produce, p), 0);
	while (i < STREAM && t_now_ns() - t0 < 20 * T_S) {
		ck_assert_int_eq(horus_link_wait(c, 10 * (int64_t)T_S), 0);
		recv_expect(c, i++);
	}
	pthread_join(th, &err);
	ck_assert_msg(err == NULL, "%s", (const char *)err);
	ck_assert_uint_eq(i, STREAM);
	ck_assert_uint_eq(info_of("stream").messages, STREAM);
	ck_assert_uint_eq(info_of("stream").pending, 0);
	horus_link_close(p);
	horus_link_close(c);
}
END_TEST

START_TEST(loan_commit)
{
	struct horus_link *p, *c;
	uint8_t *buf;

	open_end("loan", HORUS_LINK_PRODUCER, &p);
	open_end("loan", HORUS_LINK_CONSUMER, &c);
	ck_assert_uint_eq(horus_link_max_msg(p), 64);
	ck_assert_uint_eq(horus_link_max_msg(c), 64);
	ck_assert_int_eq(horus_link_commit(p, 8), -EINVAL); /* no loan open */
	ck_assert_int_eq(horus_link_loan(p, NULL), -EINVAL);

	/* A loaned slot has room for max_msg bytes; commit sends the first len of them. */
	ck_assert_int_eq(horus_link_loan(p, (void **)&buf), 0);
	fill(buf, 0);
	memset(buf + msg_len(0), 0xee, 64 - msg_len(0));
	ck_assert_int_eq(horus_link_commit(p, 65), -EMSGSIZE);
	ck_assert_int_eq(horus_link_commit(p, msg_len(0)), 0);
	ck_assert_int_eq(horus_link_commit(p, msg_len(0)), -EINVAL); /* one commit per loan */
	recv_expect(c, 0);

	/* Mixed with plain sends, through laps. */
	for (uint64_t i = 1; i < 40; i++) {
		if (i % 3) {
			ck_assert_int_eq(horus_link_loan(p, (void **)&buf), 0);
			ck_assert_int_eq(horus_link_commit(p, fill(buf, i)), 0);
		} else {
			ck_assert_int_eq(send_msg(p, i), 0);
		}
		recv_expect(c, i);
	}
	/* Full: no loan. */
	for (uint64_t i = 40; i < 40 + small.capacity; i++) {
		ck_assert_int_eq(send_msg(p, i), 0);
	}
	ck_assert_int_eq(horus_link_loan(p, (void **)&buf), -EAGAIN);
	ck_assert_int_eq(horus_link_commit(p, 8), -EINVAL);
	for (uint64_t i = 40; i < 40 + small.capacity; i++) {
		recv_expect(c, i);
	}
	horus_link_close(p);
	horus_link_close(c);
}
END_TEST

START_TEST(msgsize)
{
	static const struct horus_topic_opts bigger = { .capacity = 4, .max_msg = 65 };
	struct horus_link *p, *c, *x;
	uint8_t big[65] = { 0 }, buf[64];

	open_end("size", HORUS_LINK_PRODUCER, &p);
	open_end("size", HORUS_LINK_CONSUMER, &c);
	ck_assert_int_eq(horus_link_send(p, big, 65), -EMSGSIZE);
	ck_assert_int_eq(horus_link_send(p, big, 64), 0);
	ck_assert_uint_eq(info_of("size").messages, 1);
	/* Too small a buffer: refused, and the message kept for a bigger one. */
	ck_assert_int_eq(horus_link_recv(c, buf, 63), -EMSGSIZE);
	ck_assert_int_eq(horus_link_recv(c, NULL, 0), -EMSGSIZE);
	ck_assert_int_eq(horus_link_recv(c, buf, 64), 64);
	ck_assert_int_eq(horus_link_recv(c, buf, 64), -EAGAIN);
	/* An end that needs bigger messages than the link carries is refused. */
	horus_link_close(p);
	ck_assert_int_eq(horus_link_open(t_ns, "size", HORUS_LINK_PRODUCER, &bigger, &x),
			 -EMSGSIZE);
	horus_link_close(c);
}
END_TEST

/* Empty messages need no buffer at either end (NULL with length 0). */
START_TEST(empty_messages)
{
	struct horus_link *p, *c;
	uint8_t buf[8];

	open_end("empty", HORUS_LINK_PRODUCER, &p);
	open_end("empty", HORUS_LINK_CONSUMER, &c);
	ck_assert_int_eq(horus_link_send(p, buf, 0), 0);
	ck_assert_int_eq(horus_link_recv(c, buf, sizeof(buf)), 0);
	ck_assert_int_eq(horus_link_send(p, NULL, 0), 0);
	ck_assert_int_eq(horus_link_recv(c, NULL, 0), 0);
	ck_assert_int_eq(horus_link_recv(c, NULL, 0), -EAGAIN);
	ck_assert_uint_eq(info_of("empty").messages, 2);
	ck_assert_uint_eq(info_of("empty").bytes, 0);
	horus_link_close(p);
	horus_link_close(c);
}
END_TEST

START_TEST(info_counters)
{
	struct horus_link *p, *c;
	struct horus_topic_info info;

	open_end("info", HORUS_LINK_PRODUCER, &p);
	info = info_of("info");
	ck_assert_str_eq(info.name, "info");
	ck_assert_uint_eq(info.kind, HORUS_KIND_LINK);
	ck_assert_uint_eq(info.capacity, small.capacity);
	ck_assert_uint_eq(info.max_msg, small.max_msg);
	ck_assert_uint_eq(info.publishers, 1);
	ck_assert_uint_eq(info.subscribers, 0);
	ck_assert_int_eq(info.creator_pid, getpid());
	open_end("info", HORUS_LINK_CONSUMER, &c);
	for (uint64_t i = 0; i < 3; i++) {
		ck_assert_int_eq(send_msg(p, i), 0);
	}
	recv_expect(c, 0);
	info = info_of("info");
	ck_assert_uint_eq(info.subscribers, 1);
	ck_assert_uint_eq(info.messages, 3);
	ck_assert_uint_eq(info.bytes, msg_len(0) + msg_len(1) + msg_len(2));
	ck_assert_uint_eq(info.pending, 2);
	horus_link_close(p);
	info = info_of("info");
	ck_assert_uint_eq(info.publishers, 0);
	ck_assert_uint_eq(info.pending, 2);
	horus_link_close(c);
	ck_assert_uint_eq(info_of("info").subscribers, 0);
	ck_assert_int_eq(horus_topic_info(t_ns, "info", HORUS_KIND_HUB, &info), -ENOENT);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("link");

	tcase_add_test(t_tcase(s, "fifo", 10), fifo);
	tcase_add_test(t_tcase(s, "full", 10), full);
	tcase_add_test(t_tcase(s, "exclusive_ends", 10), exclusive_ends);
	tcase_add_test(t_tcase(s, "handover", 10), handover);
	tcase_add_test(t_tcase(s, "wait_timeout", 10), wait_timeout);
	tcase_add_test(t_tcase(s, "wait_both_sides", 30), wait_both_sides);
	tcase_add_test(t_tcase(s, "loan_commit", 10), loan_commit);
	tcase_add_test(t_tcase(s, "msgsize", 10), msgsize);
	tcase_add_test(t_tcase(s, "empty_messages", 10), empty_messages);
	tcase_add_test(t_tcase(s, "info_counters", 10), info_counters);
	return t_run(s, "lnk");
}
