/* SPDX-License-Identifier: MIT */
/*
 * Hub subscribers SIGKILLed in the middle of their reads, copying, zero-copy (between take and
 * check) or asleep in horus_sub_wait, again and again, while two publishers and a long-lived
 * subscriber carry on in other processes (one publisher paced, one flat out).
 *
 * Invariants: after every kill the topic counts exactly the live subscribers again (the dead
 * one is reclaimed); registered sleepers (each costs every publish a futex wake) are the live
 * ones plus those leaked in the one known window of shm_wait(), counted; the publishers never
 * fail and keep publishing after every kill; no subscriber, killed or not, ever sees a torn
 * message; the long-lived subscriber accounts for every sequence (received + lost == sequences).
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "rel.h"
#include "peek.h"

#define KILLS 1000
#define LOOP_CAP_S 60
#define KILL_DELAY_MAX_US 2000
#define PROGRESS_BOUND_MS 5000
#define PUBS 2
#define MAX_MSG (64 * 1024)
#define SETTLER (REL_WRITERS - 1)

static const struct horus_topic_opts opts = {.capacity = 16, .max_msg = MAX_MSG};

/* What a doomed subscriber was doing when it was killed. */
enum phase {
	PHASE_OPEN,
	PHASE_READ, /* horus_sub_read: copying */
	PHASE_TAKE, /* between horus_sub_take and horus_sub_check, reading in place */
	PHASE_WAIT, /* asleep in horus_sub_wait */
	PHASES,
};

struct shared {
	struct t_pipe ready;
	_Atomic int phase;
	atomic_int stop;
	_Atomic uint64_t published[PUBS];
	_Atomic uint64_t refused[PUBS];
	_Atomic int pub_error;
	struct rel_tally doomed_tally; /* all the killed subscribers together */
	struct rel_tally keeper_tally;
	struct rel_sub_end keeper_end;
};

static struct shared *sh;

static int publisher(void *arg)
{
	uint32_t idx = (uint32_t)(intptr_t)arg;
	const struct rel_writer w = {
	    .topic = "readers",
	    .opts = &opts,
	    .writer = idx,
	    .min_len = T_MSG_MIN,
	    .max_len = MAX_MSG,
	    .loan_every = 3,
	    /* One paced: subscribers catch up and go to sleep, to be killed there too. */
	    .pace_us = idx == 0 ? 20 : 0,
	    .ready = &sh->ready,
	    .stop = &sh->stop,
	    .published = &sh->published[idx],
	    .refused = &sh->refused[idx],
	    .error = &sh->pub_error,
	};

	return rel_write_until_stopped(&w);
}

/* The long-lived subscriber: reads everything until the end message. */
static int keeper(void *arg)
{
	const struct rel_reader r = {
	    .topic = "readers",
	    .opts = &opts,
	    .mode = REL_READ_COPY,
	    .ready = &sh->ready,
	    .tally = &sh->keeper_tally,
	    .end = &sh->keeper_end,
	    .give_up_ns = (LOOP_CAP_S + 60) * T_S,
	};

	(void)arg;
	return rel_read_until_end(&r);
}

/* Reads in every way there is until SIGKILL lands. */
static int doomed(void *arg)
{
	struct rel_stream s;
	struct horus_sub *sub;
	uint8_t *buf = malloc(MAX_MSG);

	(void)arg;
	atomic_store(&sh->phase, PHASE_OPEN);
	if (!buf || horus_sub_open(t_ns, "readers", &opts, 0, &sub) != 0) {
		return 2;
	}
	rel_stream_init(&s, &sh->doomed_tally);
	t_pipe_signal(&sh->ready);
	for (unsigned n = 0;; n++) {
		enum rel_read_mode mode = n % 2 ? REL_READ_TAKE : REL_READ_COPY;
		struct t_msg m;
		int r;

		atomic_store(&sh->phase, mode == REL_READ_TAKE ? PHASE_TAKE : PHASE_READ);
		r = rel_read_one(sub, mode, &s, buf, MAX_MSG, &m);
		if (r == -EAGAIN) {
			atomic_store(&sh->phase, PHASE_WAIT);
			(void)horus_sub_wait(sub, 100 * (int64_t)T_MS);
		}
	}
}

static struct horus_topic_info topic_info(void)
{
	struct horus_topic_info info;

	ck_assert_int_eq(horus_topic_info(t_ns, "readers", HORUS_KIND_HUB, &info), 0);
	return info;
}

START_TEST(kill_subscribers)
{
	unsigned kills = rel_count(KILLS), done = 0, by_phase[PHASES] = {0};
	uint64_t seed = 0x5eed0002, t0, loop_end, published = 0, refused = 0;
	uint32_t max_sleepers = 0, leaked;
	struct horus_topic_info info;
	struct horus_pub *pub;
	pid_t pubs[PUBS], keep;
	struct t_seg seg;
	uint8_t buf[T_MSG_MIN];

	sh = t_shared_alloc(sizeof(*sh));
	t_pipe_open(&sh->ready);
	keep = rel_spawn(keeper, NULL);
	ck_assert(t_pipe_await(&sh->ready, 10000));
	for (int i = 0; i < PUBS; i++) {
		pubs[i] = rel_spawn(publisher, (void *)(intptr_t)i);
		ck_assert(t_pipe_await(&sh->ready, 10000));
	}
	t_seg_map(&seg, HORUS_KIND_HUB, "readers");

	t0 = t_now_ns();
	loop_end = t0 + LOOP_CAP_S * T_S;
	for (; done < kills && t_now_ns() < loop_end; done++) {
		uint64_t base[PUBS], waited;
		uint32_t sleepers;
		pid_t pid = rel_spawn(doomed, NULL);

		ck_assert_msg(t_pipe_await(&sh->ready, 10000), "subscriber %u never started", done);
		ck_assert_uint_eq(topic_info().subscribers, 2);
		/* The fault: a random moment of its reading life (seeded, repeatable). */
		t_nap_us((unsigned)(t_rand(&seed) % KILL_DELAY_MAX_US));
		t_child_kill(pid);
		by_phase[atomic_load(&sh->phase)]++;

		info = topic_info(); /* reclaims the dead participant on the way */
		ck_assert_msg(info.subscribers == 1, "kill %u (phase %d): %u subscribers counted",
			      done, atomic_load(&sh->phase), info.subscribers);
		ck_assert_uint_eq(info.publishers, PUBS);
		sleepers = (unsigned)__builtin_popcountll(atomic_load(&seg.hdr->data_sleepers));
		if (sleepers > max_sleepers) {
			max_sleepers = sleepers;
		}
		for (int i = 0; i < PUBS; i++) {
			base[i] = atomic_load(&sh->published[i]);
		}
		ck_assert_msg(
		    rel_await_all_above(sh->published, base, PUBS, PROGRESS_BOUND_MS, &waited),
		    "kill %u: a publisher stopped", done);
	}
	t0 = t_now_ns() - t0;
	atomic_store(&sh->stop, 1);
	for (int i = 0; i < PUBS; i++) {
		ck_assert_int_eq(t_child_wait(pubs[i], 10000), 0);
		published += atomic_load(&sh->published[i]);
		refused += atomic_load(&sh->refused[i]);
	}
	ck_assert_int_eq(atomic_load(&sh->pub_error), 0);

	/* A lap settles holes, then the end message lets the long-lived subscriber finish. */
	ck_assert_int_eq(horus_pub_open(t_ns, "readers", &opts, &pub), 0);
	for (uint32_t i = 0; i < opts.capacity; i++) {
		ck_assert_int_eq(rel_publish(pub, false, buf, T_MSG_MIN, SETTLER, i), 0);
	}
	ck_assert_int_eq(rel_publish(pub, false, buf, T_MSG_MIN, REL_END_WRITER, 0), 0);
	ck_assert_int_eq(t_child_wait(keep, 60000), 0);
	info = topic_info();
	ck_assert_uint_eq(info.subscribers, 0);
	/*
	 * Nobody is subscribed now: a sleeper still registered would have been leaked by a kill,
	 * and every publish would pay a futex wake for it. shm_wait() registers with one atomic OR
	 * of its participant's bit, which the reclaimer clears: no kill may leak one, and the
	 * loop never saw more than the one live sleeper.
	 */
	leaked = (unsigned)__builtin_popcountll(atomic_load(&seg.hdr->data_sleepers));
	ck_assert_uint_eq(leaked, 0);
	ck_assert_msg(max_sleepers <= 1, "%u sleepers registered with 1 subscriber alive",
		      max_sleepers);
	ck_assert_uint_eq(info.messages, published + opts.capacity + 1);
	ck_assert_uint_eq(info.messages + info.holes, info.sequences);
	rel_check_sub_end(0, &sh->keeper_end, &sh->keeper_tally, info.sequences);
	ck_assert_msg(atomic_load(&sh->doomed_tally.corrupt) == 0,
		      "%llu torn messages in killed subscribers",
		      (unsigned long long)atomic_load(&sh->doomed_tally.corrupt));
	ck_assert_uint_eq(atomic_load(&sh->doomed_tally.disorder), 0);
	ck_assert_uint_eq(atomic_load(&sh->doomed_tally.gap_mismatch), 0);
	ck_assert_uint_gt(atomic_load(&sh->doomed_tally.delivered), 0);

	rel_figure(
	    "hub subscriber SIGKILL",
	    "%u kills in %.1f s (at: copy read %u, zero-copy take/check %u, asleep in wait %u, "
	    "open %u); subscriber count back to 1 after every kill; sleeper registrations "
	    "leaked: %u; 0 torn of %llu verified reads in killed subscribers",
	    done, (double)t0 / T_S, by_phase[PHASE_READ], by_phase[PHASE_TAKE],
	    by_phase[PHASE_WAIT], by_phase[PHASE_OPEN], leaked,
	    (unsigned long long)atomic_load(&sh->doomed_tally.delivered));
	rel_figure(
	    "hub subscriber SIGKILL publishers",
	    "%d publishers published %llu messages with 0 errors and %llu refusals, and kept "
	    "publishing after every kill; long-lived subscriber received %llu + lost %llu == "
	    "sequences %llu, 0 torn",
	    PUBS, (unsigned long long)published, (unsigned long long)refused,
	    (unsigned long long)sh->keeper_end.received, (unsigned long long)sh->keeper_end.lost,
	    (unsigned long long)info.sequences);
	rel_loop_ended(done, kills, LOOP_CAP_S);
	t_seg_unmap(&seg);
	horus_pub_close(pub);
	rel_clean_twice(t_ns, 1);
	t_pipe_close(&sh->ready);
	t_shared_free(sh, sizeof(*sh));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("kill-subscriber");

	tcase_add_test(t_tcase(s, "kill_subscribers", LOOP_CAP_S + 120), kill_subscribers);
	return t_run(s, "rks");
}
