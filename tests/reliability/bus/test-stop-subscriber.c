/* SPDX-License-Identifier: MIT */
/*
 * A Hub subscriber SIGSTOPped for seconds while a publisher publishes as fast as it can.
 *
 * Invariants: the publisher's rate while the subscriber is stopped stays at least half of its
 * rate just before (measured in the same run; in practice it rises, as the stopped reader no
 * longer competes for the CPU); once continued, the subscriber resumes with a lost count that
 * covers at least everything the ring could not hold, and after catching up it accounts for
 * every sequence exactly (received + lost == sequences, matching the header's sum), without a
 * torn or out-of-order message.
 *
 * And a subscriber stopped while asleep in horus_sub_wait costs the publisher one wake-up, not
 * one a message: the futex word, which counts wake-ups, moves by exactly one over 10,000
 * publishes, and the sleeper is woken when continued. (Before, its sleeper bit stayed set for the
 * whole stop and every publish paid a FUTEX_WAKE: the publisher ran at a third of its rate.)
 */

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>

#include "peek.h"
#include "rel.h"

#define STOP_S 2
#define WINDOW_MS 1000 /* rate measured over this long before the stop */
#define MSG_LEN 256u
#define MIN_RATIO 0.5
#define STOPPED_SLEEPER_MSGS 10000u

static const struct horus_topic_opts opts = {.capacity = 64, .max_msg = MSG_LEN};

struct shared {
	struct t_pipe ready;
	atomic_int stop;
	_Atomic uint64_t published, refused;
	_Atomic int pub_error;
	struct rel_tally tally;
	struct rel_sub_end end;
	_Atomic uint64_t received, lost; /* the subscriber's own totals, kept current */
	_Atomic uint64_t newest_count;	 /* count of the newest message it received, + 1 */
};

static struct shared *sh;

static int publisher(void *arg)
{
	const struct rel_writer w = {
	    .topic = "stopped",
	    .opts = &opts,
	    .min_len = MSG_LEN,
	    .max_len = MSG_LEN,
	    .ready = &sh->ready,
	    .stop = &sh->stop,
	    .published = &sh->published,
	    .refused = &sh->refused,
	    .error = &sh->pub_error,
	};

	(void)arg;
	return rel_write_until_stopped(&w);
}

static void note_progress(struct horus_sub *sub, const struct t_msg *m, void *arg)
{
	(void)arg;
	atomic_store(&sh->received, horus_sub_received(sub));
	atomic_store(&sh->lost, horus_sub_lost(sub));
	if (m->writer != REL_END_WRITER) {
		atomic_store(&sh->newest_count, m->count + 1);
	}
}

static int subscriber(void *arg)
{
	const struct rel_reader r = {
	    .topic = "stopped",
	    .opts = &opts,
	    .mode = REL_READ_COPY,
	    .ready = &sh->ready,
	    .tally = &sh->tally,
	    .end = &sh->end,
	    .give_up_ns = 120 * T_S,
	    .on_msg = note_progress,
	};

	(void)arg;
	return rel_read_until_end(&r);
}

/* Messages per second the publisher achieves over the next ms milliseconds. */
static double publish_rate(unsigned ms)
{
	uint64_t t0 = t_now_ns(), n0 = atomic_load(&sh->published), t1, n1;

	t_nap_us(ms * 1000); /* the measurement window */
	t1 = t_now_ns();
	n1 = atomic_load(&sh->published);
	return (double)(n1 - n0) * T_S / (double)(t1 - t0);
}

START_TEST(stop_subscriber)
{
	uint64_t lost_before, lost_jump, published_stopped, resume;
	double before, during;
	struct horus_topic_info info;
	struct horus_pub *end_pub;
	uint8_t buf[T_MSG_MIN];
	pid_t pub, sub;
	int status;

	sh = t_shared_alloc(sizeof(*sh));
	t_pipe_open(&sh->ready);
	sub = rel_spawn(subscriber, NULL);
	ck_assert(t_pipe_await(&sh->ready, 10000));
	pub = rel_spawn(publisher, NULL);
	ck_assert(t_pipe_await(&sh->ready, 10000));
	T_POLL(atomic_load(&sh->received) > 1000, 10000);
	ck_assert_uint_gt(atomic_load(&sh->received), 1000);

	before = publish_rate(WINDOW_MS);
	ck_assert_int_eq(kill(sub, SIGSTOP), 0);
	ck_assert_int_eq(waitpid(sub, &status, WUNTRACED), sub);
	ck_assert(WIFSTOPPED(status));
	lost_before = atomic_load(&sh->lost);
	published_stopped = atomic_load(&sh->published);
	during = publish_rate(STOP_S * 1000); /* the fault lasts this long */
	published_stopped = atomic_load(&sh->published) - published_stopped;
	ck_assert_uint_eq(atomic_load(&sh->lost),
			  lost_before); /* a stopped reader counts nothing */
	ck_assert_int_eq(kill(sub, SIGCONT), 0);

	/* Continued: it skips what was overwritten, counted, and reaches the newest messages. */
	resume = atomic_load(&sh->published);
	T_POLL(atomic_load(&sh->newest_count) > resume, 10000);
	ck_assert_uint_gt(atomic_load(&sh->newest_count), resume);
	lost_jump = atomic_load(&sh->lost) - lost_before;
	/* The publisher counts a message after its publish returns: the snapshot taken at the
	 * stop can trail what was committed by one, which the reader may still have read. */
	ck_assert_msg(lost_jump + opts.capacity + 1 >= published_stopped,
		      "lost rose by %llu while %llu messages were published in a ring of %u",
		      (unsigned long long)lost_jump, (unsigned long long)published_stopped,
		      opts.capacity);

	atomic_store(&sh->stop, 1);
	ck_assert_int_eq(t_child_wait(pub, 10000), 0);
	ck_assert_int_eq(atomic_load(&sh->pub_error), 0);
	ck_assert_uint_eq(atomic_load(&sh->refused), 0); /* alone on the topic */
	ck_assert_int_eq(horus_pub_open(t_ns, "stopped", &opts, &end_pub), 0);
	ck_assert_int_eq(rel_publish(end_pub, false, buf, T_MSG_MIN, REL_END_WRITER, 0), 0);
	ck_assert_int_eq(t_child_wait(sub, 60000), 0);
	ck_assert_int_eq(horus_topic_info(t_ns, "stopped", HORUS_KIND_HUB, &info), 0);
	ck_assert_uint_eq(info.sequences, atomic_load(&sh->published) + 1);
	ck_assert_uint_eq(info.messages, info.sequences);
	rel_check_sub_end(0, &sh->end, &sh->tally, info.sequences);
	ck_assert_uint_eq(info.lost, sh->end.lost);

	rel_figure("hub subscriber SIGSTOP",
		   "publisher %.2f M msg/s before, %.2f M msg/s during a %d s stop: ratio %.2f "
		   "(must be >= %.1f); the stopped subscriber's lost count rose by %llu for %llu "
		   "messages published while it was stopped (ring of %u); after catching up "
		   "received %llu + lost %llu == published %llu",
		   before / 1e6, during / 1e6, STOP_S, during / before, MIN_RATIO,
		   (unsigned long long)lost_jump, (unsigned long long)published_stopped,
		   opts.capacity, (unsigned long long)sh->end.received,
		   (unsigned long long)sh->end.lost, (unsigned long long)info.sequences);
	ck_assert_msg(during >= MIN_RATIO * before,
		      "the publisher slowed down while a subscriber was stopped: %.0f -> %.0f/s",
		      before, during);
	horus_pub_close(end_pub);
	rel_clean_twice(t_ns, 1);
	t_pipe_close(&sh->ready);
	t_shared_free(sh, sizeof(*sh));
}
END_TEST

/* Sleeps in horus_sub_wait until a message comes; exit 0 once it has read one. */
static int sleeper(void *arg)
{
	struct horus_sub *sub;
	uint8_t buf[MSG_LEN];
	int r;

	(void)arg;
	if (horus_sub_open(t_ns, "asleep", &opts, 0, &sub) < 0) {
		return 2;
	}
	t_pipe_signal(&sh->ready);
	r = horus_sub_wait(sub, 60 * (int64_t)T_S);
	if (r == 0) {
		r = horus_sub_read(sub, buf, sizeof(buf), NULL);
	}
	horus_sub_close(sub);
	return r > 0 ? 0 : 3;
}

START_TEST(stopped_sleeper_costs_one_wake)
{
	struct horus_pub *pub;
	struct t_seg seg;
	uint8_t buf[MSG_LEN] = {0};
	uint32_t f0, f1;
	uint64_t bits;
	pid_t sub;
	int status;

	sh = t_shared_alloc(sizeof(*sh));
	t_pipe_open(&sh->ready);
	sub = rel_spawn(sleeper, NULL);
	ck_assert(t_pipe_await(&sh->ready, 10000));
	t_seg_map(&seg, HORUS_KIND_HUB, "asleep");
	/* Registered as a sleeper: it is in horus_sub_wait, and stays there until a message. */
	T_POLL(atomic_load(&seg.hdr->data_sleepers) != 0, 10000);
	ck_assert_uint_ne(atomic_load(&seg.hdr->data_sleepers), 0);
	ck_assert_int_eq(kill(sub, SIGSTOP), 0);
	ck_assert_int_eq(waitpid(sub, &status, WUNTRACED), sub);
	ck_assert(WIFSTOPPED(status));

	ck_assert_int_eq(horus_pub_open(t_ns, "asleep", &opts, &pub), 0);
	f0 = atomic_load(&seg.hdr->data_futex);
	for (uint32_t i = 0; i < STOPPED_SLEEPER_MSGS; i++) {
		ck_assert_int_eq(horus_pub_publish(pub, buf, sizeof(buf)), 0);
	}
	f1 = atomic_load(&seg.hdr->data_futex);
	bits = atomic_load(&seg.hdr->data_sleepers);
	ck_assert_msg(f1 - f0 == 1 && bits == 0,
		      "a stopped sleeper cost %u wake-ups over %u publishes (want 1), sleeper bits "
		      "0x%llx left",
		      f1 - f0, STOPPED_SLEEPER_MSGS, (unsigned long long)bits);

	/* Continued, it takes the wake-up it was owed and reads. */
	ck_assert_int_eq(kill(sub, SIGCONT), 0);
	ck_assert_int_eq(t_child_wait(sub, 10000), 0);
	rel_figure("hub sleeper SIGSTOP",
		   "a subscriber stopped asleep in horus_sub_wait cost the publisher %u wake-up "
		   "over %u publishes, and read once continued",
		   f1 - f0, STOPPED_SLEEPER_MSGS);
	horus_pub_close(pub);
	t_seg_unmap(&seg);
	rel_clean_twice(t_ns, 1);
	t_pipe_close(&sh->ready);
	t_shared_free(sh, sizeof(*sh));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("stop-subscriber");

	tcase_add_test(t_tcase(s, "stop_subscriber", 90), stop_subscriber);
	tcase_add_test(t_tcase(s, "stopped_sleeper_costs_one_wake", 60),
		       stopped_sleeper_costs_one_wake);
	return t_run(s, "rss");
}
