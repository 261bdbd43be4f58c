/* SPDX-License-Identifier: MIT */
/*
 * The bus across real processes: ordering, no torn reads under heavy overwrite, exact loss
 * accounting, Link back-pressure, cross-process wake-ups, and processes killed with SIGKILL at
 * any point, which must never wedge a topic nor leak its participants.
 *
 * Children open their own handles after fork() and always end with _exit(); what they observe
 * comes back through their exit status or a MAP_SHARED report.
 */

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <horus/pubsub.h>

#include "common.h"
#include "peek.h"

/* Runs fn(arg) in a child process, which exits with its return value. */
static pid_t spawn(int (*fn)(void *arg), void *arg)
{
	pid_t pid = fork();

	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		_exit(fn(arg));
	}
	return pid;
}

static struct horus_topic_info info_of(uint32_t kind, const char *topic)
{
	struct horus_topic_info info;

	ck_assert_int_eq(horus_topic_info(t_ns, topic, kind, &info), 0);
	return info;
}

/*
 * Publishes one lap of verifiable messages (as writer `writer`). Holes are counted when their
 * slot is next written (pubsub.h), so after a lap every sequence is a message or a counted hole.
 */
static void publish_lap(const char *topic, const struct horus_topic_opts *o, uint32_t writer)
{
	struct horus_pub *pub;
	uint8_t buf[64];

	ck_assert_int_eq(horus_pub_open(t_ns, topic, o, &pub), 0);
	for (uint32_t i = 0; i < o->capacity; i++) {
		t_msg_fill(buf, sizeof(buf), writer, i, 0);
		ck_assert_int_eq(horus_pub_publish(pub, buf, sizeof(buf)), 0);
	}
	horus_pub_close(pub);
}

/* ---- what a verifying subscriber saw ------------------------------------------------------ */

#define WRITERS_MAX 128
#define END_WRITER 999u /* a message from this writer tells a subscriber to stop */

enum read_mode {
	READ_COPY, /* horus_sub_read */
	READ_TAKE, /* horus_sub_take, copy, horus_sub_check */
	READ_SLOW, /* horus_sub_read, dawdling after each message: loses a lot */
};

struct sub_report {
	uint64_t received, lost; /* the subscriber's own totals at the end */
	uint64_t delivered;      /* messages that verified */
	uint64_t bad;            /* failed t_msg_verify, or an unknown writer */
	uint64_t disorder;       /* a writer's count went backwards or repeated */
	uint64_t gap_mismatch;   /* seq - previous seq - 1 != the reported lost count */
	uint64_t stale;          /* take: overwritten while held */
	int64_t error;           /* an unexpected return value */
	uint64_t end_seq;        /* seq of the END message, if one came */
	int ended;
};

struct verifier {
	struct sub_report *rep;
	uint64_t next_seq; /* seq expected if nothing was lost */
	uint64_t last_count[WRITERS_MAX];
	bool seen[WRITERS_MAX];
};

/* Checks one delivered message; returns true if it is the END message. */
static bool verify_one(struct verifier *v, const uint8_t *buf, int len, uint64_t seq,
		       uint64_t lost)
{
	struct t_msg m;

	if (seq != v->next_seq + lost) {
		v->rep->gap_mismatch++;
	}
	v->next_seq = seq + 1;
	if (!t_msg_verify(buf, (size_t)len)) {
		v->rep->bad++;
		return false;
	}
	memcpy(&m, buf, sizeof(m));
	if (m.writer == END_WRITER) {
		v->rep->end_seq = seq;
		return true;
	}
	if (m.writer >= WRITERS_MAX) {
		v->rep->bad++;
		return false;
	}
	if (v->seen[m.writer] && m.count <= v->last_count[m.writer]) {
		v->rep->disorder++;
	}
	v->seen[m.writer] = true;
	v->last_count[m.writer] = m.count;
	v->rep->delivered++;
	return false;
}

/*
 * Reads one message in the given mode. Returns its length, -EAGAIN, -ESTALE (take: the copy
 * was overwritten; already accounted for), or another error.
 */
static int read_one(struct horus_sub *sub, struct verifier *v, enum read_mode mode, uint8_t *buf,
		    size_t cap, bool *is_end)
{
	uint64_t seq, lost;
	int r;

	*is_end = false;
	if (mode == READ_TAKE) {
		struct horus_sample s;

		r = horus_sub_take(sub, &s);
		if (r < 0) {
			return r;
		}
		/* Copy first, then ask whether the copy is valid: the zero-copy contract. */
		memcpy(buf, s.data, s.len < cap ? s.len : cap);
		if (horus_sub_check(sub, &s) != 0) {
			if (s.seq != v->next_seq + s.lost) {
				v->rep->gap_mismatch++;
			}
			v->next_seq = s.seq + 1;
			v->rep->stale++;
			return -ESTALE;
		}
		r = (int)s.len;
		seq = s.seq;
		lost = s.lost;
	} else {
		struct horus_msg_info mi;

		r = horus_sub_read(sub, buf, cap, &mi);
		if (r < 0) {
			return r;
		}
		seq = mi.seq;
		lost = mi.lost;
	}
	*is_end = verify_one(v, buf, r, seq, lost);
	if (mode == READ_SLOW) {
		uint64_t until = t_now_ns() + 20 * 1000;

		while (t_now_ns() < until) {
		}
	}
	return r;
}

/* ---- ordering ---------------------------------------------------------------------------- */

#define ORDER_WRITERS 2
#define ORDER_PER_WRITER 20000

static int order_writer(void *arg)
{
	static const struct horus_topic_opts o = { .capacity = 65536, .max_msg = 16 };
	uint64_t w = (uint64_t)(uintptr_t)arg;
	struct horus_pub *pub;

	if (horus_pub_open(t_ns, "order", &o, &pub) != 0) {
		return 2;
	}
	for (uint64_t i = 0; i < ORDER_PER_WRITER; i++) {
		uint64_t msg[2] = { w, i };

		if (horus_pub_publish(pub, msg, sizeof(msg)) != 0) {
			return 3;
		}
	}
	horus_pub_close(pub);
	return 0;
}

START_TEST(order_across_processes)
{
	/* Room for everything: nothing may be lost, and each writer's order must hold. */
	static const struct horus_topic_opts o = { .capacity = 65536, .max_msg = 16 };
	struct horus_sub *sub;
	struct horus_msg_info mi;
	pid_t pid[ORDER_WRITERS];
	uint64_t next[ORDER_WRITERS] = { 0 }, msg[2], got = 0, end;

	ck_assert_int_eq(horus_sub_open(t_ns, "order", &o, 0, &sub), 0);
	for (uintptr_t w = 0; w < ORDER_WRITERS; w++) {
		pid[w] = spawn(order_writer, (void *)w);
	}
	end = t_now_ns() + 20 * T_S;
	while (got < ORDER_WRITERS * ORDER_PER_WRITER && t_now_ns() < end) {
		int r = horus_sub_read(sub, msg, sizeof(msg), &mi);

		if (r == -EAGAIN) {
			continue;
		}
		ck_assert_int_eq(r, sizeof(msg));
		ck_assert_uint_eq(mi.seq, got);
		ck_assert_uint_eq(mi.lost, 0);
		ck_assert_uint_lt(msg[0], ORDER_WRITERS);
		ck_assert_uint_eq(msg[1], next[msg[0]]);
		next[msg[0]]++;
		got++;
	}
	for (int w = 0; w < ORDER_WRITERS; w++) {
		ck_assert_int_eq(t_child_wait(pid[w], 20000), 0);
	}
	ck_assert_uint_eq(got, ORDER_WRITERS * ORDER_PER_WRITER);
	ck_assert_uint_eq(info_of(HORUS_KIND_HUB, "order").messages, got);
	horus_sub_close(sub);
}
END_TEST

/* ---- torn reads and exact loss under heavy overwrite --------------------------------------- */

#define TORN_WRITERS 4
#define TORN_READERS 3
#define TORN_MAX 8192
#define TORN_RUN_NS (1200 * T_MS)

/* Two slots, big messages, four writers: a reader's copy is overwritten as often as can be.
 * Tuned so that a reader without its seqlock check fails this test nearly every run. */
static const struct horus_topic_opts torn_opts = { .capacity = 2, .max_msg = TORN_MAX };

struct torn_shared {
	atomic_int done; /* writers finished and `target` is set */
	uint64_t target; /* messages + holes once the writers are done */
	uint64_t published[TORN_WRITERS];
	uint64_t refused[TORN_WRITERS]; /* publish/loan -EAGAIN */
	struct sub_report rep[TORN_READERS];
	struct t_pipe ready;
};

struct torn_arg {
	struct torn_shared *sh;
	int idx;
};

static int torn_reader(void *arg)
{
	struct torn_arg *a = arg;
	struct sub_report *rep = &a->sh->rep[a->idx];
	struct verifier v = { .rep = rep };
	enum read_mode mode = (enum read_mode)a->idx;
	struct horus_sub *sub;
	uint8_t buf[TORN_MAX];
	uint64_t drain_end = 0;
	bool is_end;

	if (horus_sub_open(t_ns, "torn", &torn_opts, 0, &sub) != 0) {
		return 2;
	}
	t_pipe_signal(&a->sh->ready);
	for (;;) {
		int r = read_one(sub, &v, mode, buf, sizeof(buf), &is_end);

		if (r >= 0 || r == -ESTALE) {
			continue;
		}
		if (r != -EAGAIN) {
			rep->error = r;
			break;
		}
		/* Drained: every sequence the writers used is received or counted lost. */
		if (atomic_load(&a->sh->done)) {
			if (horus_sub_received(sub) + horus_sub_lost(sub) >= a->sh->target) {
				break;
			}
			if (!drain_end) {
				drain_end = t_now_ns() + 10 * T_S;
			} else if (t_now_ns() > drain_end) {
				break;
			}
		}
	}
	rep->received = horus_sub_received(sub);
	rep->lost = horus_sub_lost(sub);
	horus_sub_close(sub);
	return 0;
}

static int torn_writer(void *arg)
{
	struct torn_arg *a = arg;
	uint32_t w = (uint32_t)a->idx;
	uint64_t seed = w + 1, count = 0, end = t_now_ns() + TORN_RUN_NS;
	struct horus_pub *pub;
	uint8_t buf[TORN_MAX];

	if (horus_pub_open(t_ns, "torn", &torn_opts, &pub) != 0) {
		return 2;
	}
	while (t_now_ns() < end) {
		uint32_t len = T_MSG_MIN + (uint32_t)(t_rand(&seed) % (TORN_MAX - T_MSG_MIN + 1));
		int r;

		if (count % 3 == 2) {
			void *slot;

			/* Filled in place: readers race the writer byte by byte. */
			r = horus_pub_loan(pub, len, &slot);
			if (r == 0) {
				t_msg_fill(slot, len, w, count, 0);
				r = horus_pub_commit(pub, slot);
			}
		} else {
			t_msg_fill(buf, len, w, count, 0);
			r = horus_pub_publish(pub, buf, len);
		}
		if (r == 0) {
			count++;
		} else if (r == -EAGAIN) {
			a->sh->refused[w]++; /* a slot held too long by a preempted writer */
		} else {
			return 3;
		}
	}
	a->sh->published[w] = count;
	horus_pub_close(pub);
	return 0;
}

START_TEST(torn_reads_and_exact_loss)
{
	struct torn_shared *sh = t_shared_alloc(sizeof(*sh));
	struct torn_arg ra[TORN_READERS], wa[TORN_WRITERS + 1];
	pid_t readers[TORN_READERS], writers[TORN_WRITERS];
	struct horus_topic_info info;
	uint64_t published = 0, refused = 0;

	t_pipe_open(&sh->ready);
	for (int i = 0; i < TORN_READERS; i++) {
		ra[i] = (struct torn_arg){ .sh = sh, .idx = i };
		readers[i] = spawn(torn_reader, &ra[i]);
	}
	/* Readers join before any message: their accounting then covers every sequence. */
	for (int i = 0; i < TORN_READERS; i++) {
		ck_assert(t_pipe_await(&sh->ready, 10000));
	}
	for (int i = 0; i < TORN_WRITERS; i++) {
		wa[i] = (struct torn_arg){ .sh = sh, .idx = i };
		writers[i] = spawn(torn_writer, &wa[i]);
	}
	for (int i = 0; i < TORN_WRITERS; i++) {
		ck_assert_int_eq(t_child_wait(writers[i], 30000), 0);
		published += sh->published[i];
		refused += sh->refused[i];
	}
	publish_lap("torn", &torn_opts, TORN_WRITERS);
	info = info_of(HORUS_KIND_HUB, "torn");
	ck_assert_uint_eq(info.messages, published + torn_opts.capacity);
	ck_assert_uint_ge(info.holes, refused);
	ck_assert_uint_eq(info.messages + info.holes, info.sequences);
	sh->target = info.sequences;
	atomic_store(&sh->done, 1);
	for (int i = 0; i < TORN_READERS; i++) {
		ck_assert_int_eq(t_child_wait(readers[i], 30000), 0);
	}
	for (int i = 0; i < TORN_READERS; i++) {
		const struct sub_report *r = &sh->rep[i];

		ck_assert_msg(r->error == 0, "reader %d: error %lld", i, (long long)r->error);
		ck_assert_msg(r->bad == 0, "reader %d: %llu torn or corrupt messages", i,
			      (unsigned long long)r->bad);
		ck_assert_msg(r->disorder == 0, "reader %d: %llu out of order", i,
			      (unsigned long long)r->disorder);
		ck_assert_msg(r->gap_mismatch == 0, "reader %d: %llu gaps not reported as lost", i,
			      (unsigned long long)r->gap_mismatch);
		ck_assert_msg(r->received + r->lost == sh->target,
			      "reader %d: received %llu + lost %llu != sequences %llu", i,
			      (unsigned long long)r->received, (unsigned long long)r->lost,
			      (unsigned long long)info.sequences);
		ck_assert_uint_eq(r->received, r->delivered);
		ck_assert_uint_gt(r->delivered, 0);
	}
	ck_assert_uint_gt(published, 1000);
	t_pipe_close(&sh->ready);
	t_shared_free(sh, sizeof(*sh));
}
END_TEST

/* ---- Link back-pressure ------------------------------------------------------------------- */

#define LINK_N 30000
#define LINK_MAX 256

static const struct horus_topic_opts link_opts = { .capacity = 8, .max_msg = LINK_MAX };

struct link_shared {
	atomic_int full_seen;
	uint64_t refused;
};

static int link_producer(void *arg)
{
	struct link_shared *sh = arg;
	struct horus_link *p;
	uint8_t buf[LINK_MAX];
	uint64_t seed = 3;

	if (horus_link_open(t_ns, "bp", HORUS_LINK_PRODUCER, &link_opts, &p) != 0) {
		return 2;
	}
	for (uint64_t i = 0; i < LINK_N; i++) {
		uint32_t len = T_MSG_MIN + (uint32_t)(t_rand(&seed) % (LINK_MAX - T_MSG_MIN + 1));
		int r;

		t_msg_fill(buf, len, 0, i, 0);
		while ((r = horus_link_send(p, buf, len)) == -EAGAIN) {
			sh->refused++;
			atomic_store(&sh->full_seen, 1);
			if (horus_link_wait(p, 10 * (int64_t)T_S) != 0) {
				return 3;
			}
		}
		if (r != 0) {
			return 4;
		}
	}
	horus_link_close(p);
	return 0;
}

START_TEST(link_backpressure)
{
	struct link_shared *sh = t_shared_alloc(sizeof(*sh));
	struct horus_link *c;
	struct horus_topic_info info;
	uint8_t buf[LINK_MAX];
	uint64_t i = 0, end;
	pid_t pid;

	ck_assert_int_eq(horus_link_open(t_ns, "bp", HORUS_LINK_CONSUMER, &link_opts, &c), 0);
	pid = spawn(link_producer, sh);
	/* Let the producer run into a full link first: back-pressure is then certain. */
	T_POLL(atomic_load(&sh->full_seen), 10000);
	ck_assert(atomic_load(&sh->full_seen));
	ck_assert_uint_eq(info_of(HORUS_KIND_LINK, "bp").pending, link_opts.capacity);
	end = t_now_ns() + 30 * T_S;
	while (i < LINK_N && t_now_ns() < end) {
		struct t_msg m;
		int r = horus_link_recv(c, buf, sizeof(buf));

		if (r == -EAGAIN) {
			ck_assert_int_eq(horus_link_wait(c, 10 * (int64_t)T_S), 0);
			continue;
		}
		ck_assert_int_ge(r, (int)T_MSG_MIN);
		ck_assert_msg(t_msg_verify(buf, (size_t)r), "message %llu corrupt",
			      (unsigned long long)i);
		memcpy(&m, buf, sizeof(m));
		ck_assert_uint_eq(m.count, i);
		i++;
	}
	ck_assert_int_eq(t_child_wait(pid, 10000), 0);
	ck_assert_uint_eq(i, LINK_N);
	ck_assert_int_eq(horus_link_recv(c, buf, sizeof(buf)), -EAGAIN);
	info = info_of(HORUS_KIND_LINK, "bp");
	ck_assert_uint_eq(info.messages, LINK_N);
	ck_assert_uint_eq(info.pending, 0);
	ck_assert_uint_gt(sh->refused, 0);
	horus_link_close(c);
	t_shared_free(sh, sizeof(*sh));
}
END_TEST

/* ---- blocking subscriber woken from another process --------------------------------------- */

#define WAKE_ROUNDS 9

struct wake_shared {
	struct t_pipe ready;
	int rc[WAKE_ROUNDS];
	uint64_t latency_ns[WAKE_ROUNDS];
};

static int wake_sleeper(void *arg)
{
	struct wake_shared *sh = arg;
	struct horus_sub *sub;
	uint8_t buf[64];

	if (horus_sub_open(t_ns, "wake", NULL, 0, &sub) != 0) {
		return 2;
	}
	for (int i = 0; i < WAKE_ROUNDS; i++) {
		struct t_msg m;

		t_pipe_signal(&sh->ready);
		sh->rc[i] = horus_sub_wait(sub, 5 * (int64_t)T_S);
		if (horus_sub_read(sub, buf, sizeof(buf), NULL) < (int)T_MSG_MIN) {
			return 3;
		}
		memcpy(&m, buf, sizeof(m));
		sh->latency_ns[i] = t_now_ns() - m.stamp_ns;
	}
	horus_sub_close(sub);
	return 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/*
 * A subscriber asleep in horus_sub_wait() is woken by a publisher in another process through
 * the shared futex, not by its own periodic re-check: the publisher bumps the futex word because
 * it sees a sleeper, and the typical wake-up is far quicker than the 50 ms re-check slice.
 */
START_TEST(blocking_wake)
{
	struct wake_shared *sh = t_shared_alloc(sizeof(*sh));
	struct horus_pub *pub;
	struct t_seg m;
	uint8_t buf[64];
	pid_t pid;

	t_pipe_open(&sh->ready);
	ck_assert_int_eq(horus_pub_open(t_ns, "wake", NULL, &pub), 0);
	t_seg_map(&m, HORUS_KIND_HUB, "wake");
	pid = spawn(wake_sleeper, sh);
	for (int i = 0; i < WAKE_ROUNDS; i++) {
		uint32_t futex;

		ck_assert(t_pipe_await(&sh->ready, 10000));
		/* The sleeper is registered: from here on it is, or is about to be, in the futex. */
		T_POLL(atomic_load(&m.hdr->data_sleepers) != 0, 10000);
		ck_assert_uint_ne(atomic_load(&m.hdr->data_sleepers), 0);
		futex = atomic_load(&m.hdr->data_futex);
		t_msg_fill(buf, sizeof(buf), 0, (uint64_t)i, t_now_ns());
		ck_assert_int_eq(horus_pub_publish(pub, buf, sizeof(buf)), 0);
		ck_assert_uint_ne(atomic_load(&m.hdr->data_futex), futex);
	}
	ck_assert_int_eq(t_child_wait(pid, 20000), 0);
	for (int i = 0; i < WAKE_ROUNDS; i++) {
		ck_assert_int_eq(sh->rc[i], 0);
	}
	qsort(sh->latency_ns, WAKE_ROUNDS, sizeof(uint64_t), cmp_u64);
	ck_assert_msg(sh->latency_ns[WAKE_ROUNDS / 2] < 10 * T_MS, "median wake-up %llu us",
		      (unsigned long long)sh->latency_ns[WAKE_ROUNDS / 2] / 1000);
	/* Nobody sleeps now: publishing costs no wake-up. */
	ck_assert_uint_eq(atomic_load(&m.hdr->data_sleepers), 0);
	t_seg_unmap(&m);
	horus_pub_close(pub);
	t_pipe_close(&sh->ready);
	t_shared_free(sh, sizeof(*sh));
}
END_TEST

/* ---- SIGKILL at random points of a publisher's life ---------------------------------------- */

#define KILLS 120 /* < WRITERS_MAX, which is also the id of the settling writer */
#define KILL_MAX 4096

static const struct horus_topic_opts kill_opts = { .capacity = 8, .max_msg = KILL_MAX };

struct kill_shared {
	struct t_pipe ready;
	struct sub_report rep;
};

static int kill_reader(void *arg)
{
	struct kill_shared *sh = arg;
	struct verifier v = { .rep = &sh->rep };
	struct horus_sub *sub;
	uint8_t buf[KILL_MAX];
	uint64_t end = t_now_ns() + 60 * T_S;
	bool is_end = false;

	if (horus_sub_open(t_ns, "kill", &kill_opts, 0, &sub) != 0) {
		return 2;
	}
	t_pipe_signal(&sh->ready);
	while (!is_end && t_now_ns() < end) {
		int r = read_one(sub, &v, READ_COPY, buf, sizeof(buf), &is_end);

		if (r < 0 && r != -EAGAIN) {
			sh->rep.error = r;
			break;
		}
	}
	sh->rep.ended = is_end;
	sh->rep.received = horus_sub_received(sub);
	sh->rep.lost = horus_sub_lost(sub);
	horus_sub_close(sub);
	return 0;
}

/* Writer id of the next doomed writer: each process writes under its own id. */
static uint32_t doomed_id;

/* Publishes until killed, half the time through loans filled in place (killed mid-fill). */
static int doomed_writer(void *arg)
{
	struct kill_shared *sh = arg;
	uint64_t seed = (uint64_t)getpid(), count = 0;
	uint32_t w = doomed_id;
	struct horus_pub *pub;
	uint8_t buf[KILL_MAX];

	if (horus_pub_open(t_ns, "kill", &kill_opts, &pub) != 0) {
		return 2;
	}
	t_pipe_signal(&sh->ready);
	for (;;) {
		uint32_t len = T_MSG_MIN + (uint32_t)(t_rand(&seed) % (KILL_MAX - T_MSG_MIN + 1));
		void *slot;

		if (count & 1) {
			if (horus_pub_loan(pub, len, &slot) == 0) {
				t_msg_fill(slot, len, w, count, 0);
				horus_pub_commit(pub, slot);
			}
		} else {
			t_msg_fill(buf, len, w, count, 0);
			horus_pub_publish(pub, buf, len);
		}
		count++;
	}
}

START_TEST(kill_publisher_loop)
{
	struct kill_shared *sh = t_shared_alloc(sizeof(*sh));
	struct horus_topic_info info;
	struct horus_pub *pub;
	uint8_t buf[T_MSG_MIN];
	uint64_t seed = (uint64_t)getpid(), accounted;
	pid_t reader;

	t_pipe_open(&sh->ready);
	reader = spawn(kill_reader, sh);
	ck_assert(t_pipe_await(&sh->ready, 10000));
	for (int k = 0; k < KILLS; k++) {
		pid_t pid;

		doomed_id = (uint32_t)k;
		pid = spawn(doomed_writer, sh);

		ck_assert_msg(t_pipe_await(&sh->ready, 10000), "writer %d never started", k);
		/* A random moment of its writing life: not synchronisation, the point of the test. */
		t_nap_us((unsigned)(t_rand(&seed) % 3000));
		t_child_kill(pid);
	}
	/* Every dead writer was reclaimed: no participant leaked, no publisher left counted. */
	info = info_of(HORUS_KIND_HUB, "kill");
	ck_assert_uint_eq(info.publishers, 0);
	ck_assert_uint_eq(info.subscribers, 1);
	ck_assert_uint_gt(info.messages, 0);
	ck_assert_uint_gt(info.holes, 0); /* writers died holding slots: those became holes */

	/* The topic is not wedged: a new publisher gets through to the subscriber. */
	publish_lap("kill", &kill_opts, KILLS);
	ck_assert_int_eq(horus_pub_open(t_ns, "kill", &kill_opts, &pub), 0);
	t_msg_fill(buf, sizeof(buf), END_WRITER, 0, 0);
	ck_assert_int_eq(horus_pub_publish(pub, buf, sizeof(buf)), 0);
	ck_assert_int_eq(t_child_wait(reader, 20000), 0);
	ck_assert_msg(sh->rep.ended, "the subscriber never saw the last message");
	ck_assert_int_eq(sh->rep.error, 0);
	ck_assert_uint_eq(sh->rep.bad, 0);
	ck_assert_uint_eq(sh->rep.disorder, 0);
	ck_assert_uint_eq(sh->rep.gap_mismatch, 0);
	ck_assert_uint_gt(sh->rep.delivered, 0);

	/*
	 * The subscriber has accounted for every sequence up to the last message. Each of them
	 * is a message or a hole, except at most one per kill: a writer killed between making its
	 * message visible and counting it leaves a message uncounted (see kill_after_commit).
	 */
	info = info_of(HORUS_KIND_HUB, "kill");
	accounted = info.messages + info.holes;
	ck_assert_uint_eq(info.sequences, sh->rep.end_seq + 1);
	ck_assert_uint_eq(sh->rep.received + sh->rep.lost, info.sequences);
	ck_assert_uint_le(accounted, info.sequences);
	ck_assert_uint_ge(accounted + KILLS, info.sequences);
	horus_pub_close(pub);
	t_pipe_close(&sh->ready);
	t_shared_free(sh, sizeof(*sh));
}
END_TEST

/* ---- a publisher killed while it holds a loan, deterministically ---------------------------- */

static const struct horus_topic_opts loan_opts = { .capacity = 8, .max_msg = 64 };

static int loan_and_hang(void *arg)
{
	struct t_pipe *ready = arg;
	struct horus_pub *pub;
	void *slot;

	if (horus_pub_open(t_ns, "held", &loan_opts, &pub) != 0 ||
	    horus_pub_loan(pub, 40, &slot) != 0) {
		return 2;
	}
	memset(slot, 0x5a, 20); /* half written */
	t_pipe_signal(ready);
	for (;;) {
		pause(); /* until SIGKILL */
	}
}

/*
 * Starts a child that dies holding a loan on the next sequence of "held"; returns once it is
 * dead. `publishers` is the count expected while it lives.
 */
static void die_holding_loan(uint32_t publishers)
{
	struct t_pipe ready;
	pid_t pid;

	t_pipe_open(&ready);
	pid = spawn(loan_and_hang, &ready);
	ck_assert(t_pipe_await(&ready, 10000));
	ck_assert_uint_eq(info_of(HORUS_KIND_HUB, "held").publishers, publishers);
	t_child_kill(pid);
	t_pipe_close(&ready);
}

static void publish_count(struct horus_pub *pub, uint64_t i)
{
	uint8_t buf[T_MSG_MIN];

	t_msg_fill(buf, sizeof(buf), 1, i, 0);
	ck_assert_int_eq(horus_pub_publish(pub, buf, sizeof(buf)), 0);
}

/* The next publisher laps the dead writer's slot: it reclaims it and is not held up. */
START_TEST(kill_loaned_writer_laps)
{
	struct horus_pub *pub;
	struct horus_sub *sub;
	struct horus_msg_info mi;
	struct horus_topic_info info;
	uint8_t buf[64];
	uint64_t t0;

	ck_assert_int_eq(horus_sub_open(t_ns, "held", &loan_opts, 0, &sub), 0);
	die_holding_loan(1);
	ck_assert_int_eq(horus_pub_open(t_ns, "held", &loan_opts, &pub), 0);
	t0 = t_now_ns();
	for (uint64_t i = 1; i <= loan_opts.capacity; i++) { /* seq 8 laps slot 0 */
		publish_count(pub, i);
	}
	ck_assert_uint_lt(t_now_ns() - t0, 2 * T_S);
	ck_assert_int_eq(horus_sub_read(sub, buf, sizeof(buf), &mi), (int)T_MSG_MIN);
	ck_assert_uint_eq(mi.seq, 1);
	ck_assert_uint_eq(mi.lost, 1);
	ck_assert(t_msg_verify(buf, T_MSG_MIN));
	while (horus_sub_read(sub, buf, sizeof(buf), &mi) > 0) {
	}
	ck_assert_uint_eq(mi.seq, loan_opts.capacity);
	info = info_of(HORUS_KIND_HUB, "held");
	ck_assert_uint_eq(info.publishers, 1);
	ck_assert_uint_eq(info.holes, 1);
	ck_assert_uint_eq(info.messages, loan_opts.capacity);
	ck_assert_uint_eq(info.messages + info.holes, info.sequences);
	ck_assert_uint_eq(horus_sub_received(sub) + horus_sub_lost(sub), info.sequences);
	horus_pub_close(pub);
	horus_sub_close(sub);
}
END_TEST

/* A subscriber stuck behind the dead writer's slot reclaims it once a later message exists. */
START_TEST(kill_loaned_reader_skips)
{
	struct horus_pub *pub;
	struct horus_sub *sub;
	struct horus_msg_info mi = { 0 };
	struct horus_topic_info info;
	uint8_t buf[64];
	int r = -EAGAIN;

	ck_assert_int_eq(horus_sub_open(t_ns, "held", &loan_opts, 0, &sub), 0);
	die_holding_loan(1);
	ck_assert_int_eq(horus_sub_read(sub, buf, sizeof(buf), &mi), -EAGAIN);
	ck_assert_int_eq(horus_pub_open(t_ns, "held", &loan_opts, &pub), 0);
	publish_count(pub, 1);
	for (uint64_t end = t_now_ns() + 5 * T_S; r == -EAGAIN && t_now_ns() < end;) {
		r = horus_sub_read(sub, buf, sizeof(buf), &mi);
	}
	ck_assert_int_eq(r, (int)T_MSG_MIN);
	ck_assert_uint_eq(mi.seq, 1);
	ck_assert_uint_eq(mi.lost, 1);
	info = info_of(HORUS_KIND_HUB, "held");
	ck_assert_uint_eq(info.publishers, 1);
	ck_assert_uint_eq(info.holes, 1); /* reclaimed by the subscriber: counted at once */
	ck_assert_uint_eq(info.messages + info.holes, info.sequences);
	ck_assert_uint_eq(horus_sub_received(sub) + horus_sub_lost(sub), info.sequences);
	/* A subscriber that waits rather than polls reclaims too (seq 2 dies, seq 3 follows). */
	die_holding_loan(2);
	publish_count(pub, 3);
	ck_assert_int_eq(horus_sub_wait(sub, 5 * (int64_t)T_S), 0);
	ck_assert_int_eq(horus_sub_read(sub, buf, sizeof(buf), &mi), (int)T_MSG_MIN);
	ck_assert_uint_eq(mi.seq, 3);
	ck_assert_uint_eq(mi.lost, 1);
	ck_assert_uint_eq(info_of(HORUS_KIND_HUB, "held").holes, 2);
	horus_pub_close(pub);
	horus_sub_close(sub);
}
END_TEST

/*
 * A publisher killed right after claiming its sequence number (the fetch_add on head in
 * hub_claim), before it marked the slot: the same state a SIGKILL between those two
 * instructions leaves, produced deterministically. The sequence carries no message, so it must
 * be counted as a hole (at the latest when its slot is written again, a lap later).
 */
static int claim_and_die(void *arg)
{
	struct horus_pub *pub;
	struct t_seg m;

	(void)arg;
	if (horus_pub_open(t_ns, "claim", &loan_opts, &pub) != 0) {
		return 2;
	}
	t_seg_map(&m, HORUS_KIND_HUB, "claim");
	atomic_fetch_add(&m.hdr->head, 1);
	raise(SIGKILL);
	return 3;
}

START_TEST(kill_after_claim)
{
	struct horus_pub *pub;
	struct horus_sub *sub;
	struct horus_msg_info mi;
	struct horus_topic_info info;
	uint8_t buf[64];
	uint64_t end;

	ck_assert_int_eq(horus_sub_open(t_ns, "claim", &loan_opts, 0, &sub), 0);
	ck_assert_int_eq(horus_pub_open(t_ns, "claim", &loan_opts, &pub), 0);
	publish_count(pub, 0);
	ck_assert_int_eq(t_child_wait(spawn(claim_and_die, NULL), 10000), 128 + SIGKILL);
	for (uint64_t i = 2; i < 12; i++) { /* more than a lap: slot 1 is written again */
		publish_count(pub, i);
	}
	/* Drain: the subscriber gives the dead sequence up after its stall time. */
	end = t_now_ns() + 5 * T_S;
	while (horus_sub_received(sub) + horus_sub_lost(sub) < 12 && t_now_ns() < end) {
		(void)horus_sub_read(sub, buf, sizeof(buf), &mi);
	}
	info = info_of(HORUS_KIND_HUB, "claim");
	ck_assert_uint_eq(info.sequences, 12);
	ck_assert_uint_eq(horus_sub_received(sub) + horus_sub_lost(sub), info.sequences);
	ck_assert_uint_eq(info.messages, 11);
	ck_assert_msg(info.messages + info.holes == info.sequences,
		      "the dead writer's sequence is counted nowhere: messages %llu + holes %llu",
		      (unsigned long long)info.messages, (unsigned long long)info.holes);
	horus_pub_close(pub);
	horus_sub_close(sub);
}
END_TEST

/*
 * A publisher killed inside hub_commit(), after it counted its message but before the stamp
 * that would make it visible: nobody may receive it, and whoever reclaims the slot must take
 * the count back, or messages + holes overshoots the sequences handed out for good.
 */
static int commit_and_die(void *arg)
{
	struct horus_pub *pub;
	struct shm_slot *slot;
	struct t_seg m;
	void *buf;

	(void)arg;
	if (horus_pub_open(t_ns, "commit", &loan_opts, &pub) != 0 ||
	    horus_pub_loan(pub, T_MSG_MIN, &buf) != 0) {
		return 2;
	}
	t_msg_fill(buf, T_MSG_MIN, 2, 0, 0);
	/* hub_commit()'s first steps, as layout.h defines them: mark the slot counted, count. */
	slot = (struct shm_slot *)((uint8_t *)buf - SHM_SLOT_HDR);
	t_seg_map(&m, HORUS_KIND_HUB, "commit");
	atomic_store(&slot->counted, counted_tag(atomic_load(&slot->stamp)));
	atomic_fetch_add(&m.hdr->messages, 1);
	atomic_fetch_add(&m.hdr->bytes, T_MSG_MIN);
	raise(SIGKILL);
	return 3;
}

START_TEST(kill_after_commit)
{
	struct horus_pub *pub;
	struct horus_sub *sub;
	struct horus_msg_info mi = { 0 };
	struct horus_topic_info info;
	uint8_t buf[64];
	uint64_t end;

	ck_assert_int_eq(horus_sub_open(t_ns, "commit", &loan_opts, 0, &sub), 0);
	ck_assert_int_eq(t_child_wait(spawn(commit_and_die, NULL), 10000), 128 + SIGKILL);
	ck_assert_int_eq(horus_pub_open(t_ns, "commit", &loan_opts, &pub), 0);
	for (uint64_t i = 1; i <= loan_opts.capacity; i++) { /* a lap: the dead slot is retaken */
		publish_count(pub, i);
	}
	end = t_now_ns() + 5 * T_S;
	while (horus_sub_received(sub) + horus_sub_lost(sub) < loan_opts.capacity + 1 &&
	       t_now_ns() < end) {
		(void)horus_sub_read(sub, buf, sizeof(buf), &mi);
	}
	ck_assert_uint_eq(horus_sub_received(sub), loan_opts.capacity); /* not the dead one's */
	ck_assert_uint_eq(horus_sub_lost(sub), 1);
	info = info_of(HORUS_KIND_HUB, "commit");
	ck_assert_uint_eq(info.publishers, 1);
	ck_assert_uint_eq(info.messages, loan_opts.capacity);
	ck_assert_uint_eq(info.bytes, (uint64_t)loan_opts.capacity * T_MSG_MIN);
	ck_assert_uint_eq(horus_sub_received(sub) + horus_sub_lost(sub), info.sequences);
	ck_assert_msg(info.messages + info.holes == info.sequences,
		      "messages %llu + holes %llu != sequences %llu",
		      (unsigned long long)info.messages, (unsigned long long)info.holes,
		      (unsigned long long)info.sequences);
	horus_pub_close(pub);
	horus_sub_close(sub);
}
END_TEST

/*
 * A process killed while it claims a participant entry (shm_part_claim): it holds the entry's
 * lock and has stored its role, but not yet counted itself in `publishers`. Reclaiming that
 * entry must not take a live publisher off the count.
 */
static int claim_entry_and_die(void *arg)
{
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_len = 1 };
	struct t_seg m;

	(void)arg;
	t_seg_map(&m, HORUS_KIND_HUB, "entry");
	/* shm_part_claim(), step by step: the first entry whose lock is free is ours... */
	for (uint32_t i = 0; i < SHM_PARTICIPANTS; i++) {
		fl.l_start = SHM_LOCK_PART(i);
		if (fcntl(m.fd, F_OFD_SETLK, &fl) == 0) {
			atomic_store(&m.hdr->parts[i].pid, getpid());
			atomic_store(&m.hdr->parts[i].role, SHM_ROLE_PUB);
			raise(SIGKILL); /* ...killed before `publishers` is incremented */
		}
	}
	return 2;
}

START_TEST(kill_during_claim)
{
	struct horus_pub *pub;

	ck_assert_int_eq(horus_pub_open(t_ns, "entry", &loan_opts, &pub), 0);
	ck_assert_uint_eq(info_of(HORUS_KIND_HUB, "entry").publishers, 1);
	ck_assert_int_eq(t_child_wait(spawn(claim_entry_and_die, NULL), 10000), 128 + SIGKILL);
	ck_assert_msg(info_of(HORUS_KIND_HUB, "entry").publishers == 1,
		      "a live publisher is no longer counted");
	horus_pub_close(pub);
	ck_assert_uint_eq(info_of(HORUS_KIND_HUB, "entry").publishers, 0);
}
END_TEST

/* ---- dead Link ends are replaced ---------------------------------------------------------- */

static const struct horus_topic_opts small_link = { .capacity = 8, .max_msg = 64 };

static void send_count(struct horus_link *l, uint64_t i)
{
	uint8_t buf[T_MSG_MIN];

	t_msg_fill(buf, sizeof(buf), 0, i, 0);
	ck_assert_int_eq(horus_link_send(l, buf, sizeof(buf)), 0);
}

static void recv_count(struct horus_link *l, uint64_t i)
{
	uint8_t buf[64];
	struct t_msg m;

	ck_assert_int_eq(horus_link_recv(l, buf, sizeof(buf)), (int)T_MSG_MIN);
	ck_assert(t_msg_verify(buf, T_MSG_MIN));
	memcpy(&m, buf, sizeof(m));
	ck_assert_uint_eq(m.count, i);
}

static int produce_and_hang(void *arg)
{
	struct t_pipe *ready = arg;
	struct horus_link *p;
	uint8_t buf[T_MSG_MIN];

	if (horus_link_open(t_ns, "ends", HORUS_LINK_PRODUCER, &small_link, &p) != 0) {
		return 2;
	}
	for (uint64_t i = 0; i < 5; i++) {
		t_msg_fill(buf, sizeof(buf), 0, i, 0);
		if (horus_link_send(p, buf, sizeof(buf)) != 0) {
			return 3;
		}
	}
	t_pipe_signal(ready);
	for (;;) {
		pause();
	}
}

START_TEST(kill_link_producer)
{
	struct horus_link *p, *c;
	struct t_pipe ready;
	pid_t pid;

	t_pipe_open(&ready);
	pid = spawn(produce_and_hang, &ready);
	ck_assert(t_pipe_await(&ready, 10000));
	/* Exclusive across processes while it lives. */
	ck_assert_int_eq(horus_link_open(t_ns, "ends", HORUS_LINK_PRODUCER, &small_link, &p),
			 -EBUSY);
	ck_assert_uint_eq(info_of(HORUS_KIND_LINK, "ends").publishers, 1);
	t_child_kill(pid);
	ck_assert_uint_eq(info_of(HORUS_KIND_LINK, "ends").publishers, 0);

	/* Replaced by a new process (this one), continuing after the dead one's messages. */
	ck_assert_int_eq(horus_link_open(t_ns, "ends", HORUS_LINK_PRODUCER, &small_link, &p), 0);
	for (uint64_t i = 5; i < 8; i++) {
		send_count(p, i);
	}
	ck_assert_int_eq(horus_link_open(t_ns, "ends", HORUS_LINK_CONSUMER, &small_link, &c), 0);
	for (uint64_t i = 0; i < 8; i++) {
		recv_count(c, i);
	}
	horus_link_close(p);
	horus_link_close(c);
	t_pipe_close(&ready);
}
END_TEST

/*
 * A producer killed in the middle of link_send(): the message is published (its slot stamp is
 * stored) but head is not advanced yet. The consumer, which follows stamps, receives it; a new
 * producer must still be able to take over.
 */
static int send_and_die(void *arg)
{
	struct horus_link *p;
	struct shm_slot *slot;
	struct t_seg m;
	uint8_t buf[T_MSG_MIN];

	(void)arg;
	if (horus_link_open(t_ns, "mid", HORUS_LINK_PRODUCER, &small_link, &p) != 0) {
		return 2;
	}
	for (uint64_t i = 0; i < 2; i++) {
		t_msg_fill(buf, sizeof(buf), 0, i, 0);
		if (horus_link_send(p, buf, sizeof(buf)) != 0) {
			return 3;
		}
	}
	/* link_send() of message 2 up to its stamp store, as layout.h defines the slot. */
	t_seg_map(&m, HORUS_KIND_LINK, "mid");
	slot = t_seg_slot(&m, 2);
	t_msg_fill((uint8_t *)slot + SHM_SLOT_HDR, T_MSG_MIN, 0, 2, 0);
	atomic_store(&slot->len, T_MSG_MIN);
	atomic_store(&slot->stamp, stamp_make(2, 0, 0));
	raise(SIGKILL);
	return 4;
}

START_TEST(kill_link_producer_mid_send)
{
	struct horus_link *p = NULL, *c;
	int r;

	ck_assert_int_eq(t_child_wait(spawn(send_and_die, NULL), 10000), 128 + SIGKILL);
	ck_assert_int_eq(horus_link_open(t_ns, "mid", HORUS_LINK_CONSUMER, &small_link, &c), 0);
	for (uint64_t i = 0; i < 3; i++) {
		recv_count(c, i);
	}
	r = horus_link_open(t_ns, "mid", HORUS_LINK_PRODUCER, &small_link, &p);
	ck_assert_msg(r == 0, "no producer can take over: %d", r);
	send_count(p, 3);
	recv_count(c, 3);
	horus_link_close(p);
	horus_link_close(c);
}
END_TEST

static int consume_and_hang(void *arg)
{
	struct t_pipe *ready = arg;
	struct horus_link *c;
	uint8_t buf[64];

	if (horus_link_open(t_ns, "ends", HORUS_LINK_CONSUMER, &small_link, &c) != 0) {
		return 2;
	}
	for (int i = 0; i < 3; i++) {
		if (horus_link_wait(c, 10 * (int64_t)T_S) != 0 ||
		    horus_link_recv(c, buf, sizeof(buf)) != (int)T_MSG_MIN) {
			return 3;
		}
	}
	t_pipe_signal(ready);
	for (;;) {
		pause();
	}
}

START_TEST(kill_link_consumer)
{
	struct horus_link *p, *c;
	struct t_pipe ready;
	pid_t pid;

	t_pipe_open(&ready);
	pid = spawn(consume_and_hang, &ready);
	ck_assert_int_eq(horus_link_open(t_ns, "ends", HORUS_LINK_PRODUCER, &small_link, &p), 0);
	for (uint64_t i = 0; i < 8; i++) {
		send_count(p, i);
	}
	ck_assert(t_pipe_await(&ready, 10000));
	ck_assert_int_eq(horus_link_open(t_ns, "ends", HORUS_LINK_CONSUMER, &small_link, &c),
			 -EBUSY);
	t_child_kill(pid);
	ck_assert_int_eq(horus_link_open(t_ns, "ends", HORUS_LINK_CONSUMER, &small_link, &c), 0);
	for (uint64_t i = 3; i < 8; i++) {
		recv_count(c, i);
	}
	ck_assert_uint_eq(info_of(HORUS_KIND_LINK, "ends").pending, 0);
	horus_link_close(p);
	horus_link_close(c);
	t_pipe_close(&ready);
}
END_TEST

/* ---- dead subscribers are reclaimed ------------------------------------------------------- */

static int subscribe_and_sleep(void *arg)
{
	struct t_pipe *ready = arg;
	struct horus_sub *sub;

	if (horus_sub_open(t_ns, "sleepy", NULL, 0, &sub) != 0) {
		return 2;
	}
	t_pipe_signal(ready);
	for (;;) {
		(void)horus_sub_wait(sub, -1); /* nothing is ever published */
	}
}

START_TEST(kill_subscriber)
{
	struct horus_topic_info info;
	struct horus_sub *other;
	struct t_pipe ready;
	struct t_seg m;
	pid_t pid;

	ck_assert_int_eq(horus_sub_open(t_ns, "sleepy", NULL, 0, &other), 0);
	t_pipe_open(&ready);
	pid = spawn(subscribe_and_sleep, &ready);
	ck_assert(t_pipe_await(&ready, 10000));
	t_seg_map(&m, HORUS_KIND_HUB, "sleepy");
	/* One sleeper: one bit set. */
	T_POLL(__builtin_popcountll(atomic_load(&m.hdr->data_sleepers)) == 1, 10000);
	ck_assert_int_eq(__builtin_popcountll(atomic_load(&m.hdr->data_sleepers)), 1);
	ck_assert_uint_eq(info_of(HORUS_KIND_HUB, "sleepy").subscribers, 2);

	t_child_kill(pid);
	info = info_of(HORUS_KIND_HUB, "sleepy");
	ck_assert_uint_eq(info.subscribers, 1);
	/* Its sleeper registration went with it: publishers stop paying for a wake-up. */
	ck_assert_uint_eq(atomic_load(&m.hdr->data_sleepers), 0);
	t_seg_unmap(&m);
	horus_sub_close(other);
	ck_assert_uint_eq(info_of(HORUS_KIND_HUB, "sleepy").subscribers, 0);
	t_pipe_close(&ready);
}
END_TEST

/* ---- horus_clean removes what dead processes left ----------------------------------------- */

static int open_all_and_hang(void *arg)
{
	struct t_pipe *ready = arg;
	struct horus_pub *pub;
	struct horus_sub *sub;
	struct horus_link *link;

	if (horus_pub_open(t_ns, "left/pub", NULL, &pub) != 0 ||
	    horus_sub_open(t_ns, "left/sub", NULL, 0, &sub) != 0 ||
	    horus_link_open(t_ns, "left", HORUS_LINK_CONSUMER, NULL, &link) != 0) {
		return 2;
	}
	t_pipe_signal(ready);
	for (;;) {
		pause();
	}
}

START_TEST(clean_after_kill)
{
	struct t_pipe ready;
	char path[3][512];
	pid_t pid;

	t_shm_path(path[0], sizeof(path[0]), t_ns, HORUS_KIND_HUB, "left/pub");
	t_shm_path(path[1], sizeof(path[1]), t_ns, HORUS_KIND_HUB, "left/sub");
	t_shm_path(path[2], sizeof(path[2]), t_ns, HORUS_KIND_LINK, "left");
	t_pipe_open(&ready);
	pid = spawn(open_all_and_hang, &ready);
	ck_assert(t_pipe_await(&ready, 10000));
	ck_assert_int_eq(horus_clean(t_ns), 0); /* all held by a live process */
	for (int i = 0; i < 3; i++) {
		ck_assert(t_exists(path[i]));
	}
	t_child_kill(pid);
	ck_assert_int_eq(horus_clean(t_ns), 3);
	for (int i = 0; i < 3; i++) {
		ck_assert_msg(!t_exists(path[i]), "%s left behind", path[i]);
	}
	ck_assert_int_eq(horus_clean(t_ns), 0);
	t_pipe_close(&ready);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("xproc");

	tcase_add_test(t_tcase(s, "order_across_processes", 30), order_across_processes);
	tcase_add_test(t_tcase(s, "torn_reads_and_exact_loss", 60), torn_reads_and_exact_loss);
	tcase_add_test(t_tcase(s, "link_backpressure", 45), link_backpressure);
	tcase_add_test(t_tcase(s, "blocking_wake", 30), blocking_wake);
	tcase_add_test(t_tcase(s, "kill_publisher_loop", 60), kill_publisher_loop);
	tcase_add_test(t_tcase(s, "kill_loaned_writer_laps", 20), kill_loaned_writer_laps);
	tcase_add_test(t_tcase(s, "kill_loaned_reader_skips", 20), kill_loaned_reader_skips);
	tcase_add_test(t_tcase(s, "kill_after_claim", 20), kill_after_claim);
	tcase_add_test(t_tcase(s, "kill_after_commit", 20), kill_after_commit);
	tcase_add_test(t_tcase(s, "kill_during_claim", 20), kill_during_claim);
	tcase_add_test(t_tcase(s, "kill_link_producer", 20), kill_link_producer);
	tcase_add_test(t_tcase(s, "kill_link_producer_mid_send", 20), kill_link_producer_mid_send);
	tcase_add_test(t_tcase(s, "kill_link_consumer", 20), kill_link_consumer);
	tcase_add_test(t_tcase(s, "kill_subscriber", 20), kill_subscriber);
	tcase_add_test(t_tcase(s, "clean_after_kill", 20), clean_after_kill);
	return t_run(s, "xp");
}
