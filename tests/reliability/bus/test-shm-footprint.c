/* SPDX-License-Identifier: MIT */
/*
 * /dev/shm does not grow, however processes die: a child creates (or attaches to) a Hub topic
 * and a Link, writes, and is SIGKILLed at a random moment from its start, so that kills land
 * while a segment is being created, sized and initialised as well as while it is used. Every
 * other round the namespace is cleaned, so that the next child creates the segments anew.
 *
 * Invariants: the namespace never holds more than its two topics' segments, nor more bytes
 * than their full size; a clean with nobody attached leaves nothing behind, whatever instant
 * the creator died at; a segment left unready by a creator killed mid-creation is never refused
 * (-EPROTO): the next opener, after a short grace, removes it and creates the topic anew, and
 * one that only looks finds no topic; `clean` twice in a row removes
 * nothing the second time (horus_clean(), and `horusctl clean` when it is built).
 */

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

#include "rel.h"

#define ROUNDS 400
#define LOOP_CAP_S 60
#define KILL_DELAY_MAX_US 1500
#define MAX_MSG (256 * 1024u)

/* 1 MiB each: sizing and zeroing them takes long enough for kills to land in it. */
static const struct horus_topic_opts opts = {.capacity = 4, .max_msg = MAX_MSG};

enum phase {
	PHASE_START,	 /* forked, nothing opened yet */
	PHASE_HUB_OPEN,	 /* creating or attaching the Hub topic */
	PHASE_LINK_OPEN, /* creating or attaching the Link */
	PHASE_WRITE,	 /* both open, writing */
	PHASES,
};

struct shared {
	_Atomic int phase;
};

static struct shared *sh;

static int churn(void *arg)
{
	struct horus_pub *pub;
	struct horus_link *link;
	uint8_t buf[T_MSG_MIN];
	int r;

	(void)arg;
	atomic_store(&sh->phase, PHASE_HUB_OPEN);
	r = horus_pub_open(t_ns, "churn", &opts, &pub);
	if (r == 0) {
		atomic_store(&sh->phase, PHASE_LINK_OPEN);
		r = horus_link_open(t_ns, "churn", HORUS_LINK_PRODUCER, &opts, &link);
	}
	if (r != 0) {
		return 2; /* an unready segment whose creator died: the test cleans it first */
	}
	atomic_store(&sh->phase, PHASE_WRITE);
	for (uint64_t i = 0;; i++) {
		(void)rel_publish(pub, i % 2, buf, T_MSG_MIN, 1, i);
		t_msg_fill(buf, T_MSG_MIN, 2, i, 0);
		if (horus_link_send(link, buf, T_MSG_MIN) == -EAGAIN) {
			(void)horus_link_wait(link, 10 * (int64_t)T_MS);
		}
	}
}

/*
 * How many of the topics' segments are refused as unready (-EPROTO): none may be, since an
 * opener removes what a killed creator left unready (after a short grace, in case the creator
 * were alive).
 */
static unsigned unready_segments(void)
{
	static const uint32_t kinds[] = {HORUS_KIND_HUB, HORUS_KIND_LINK};
	unsigned n = 0;

	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		struct horus_topic_info info;
		int r = horus_topic_info(t_ns, "churn", kinds[i], &info);

		ck_assert_msg(r == 0 || r == -ENOENT || r == -EPROTO, "topic_info: %d", r);
		n += r == -EPROTO;
	}
	return n;
}

START_TEST(footprint_under_kills)
{
	unsigned rounds = rel_count(ROUNDS), done = 0, by_phase[PHASES] = {0};
	unsigned refused = 0, cleaned = 0, max_segments = 0;
	uint64_t seed = 0x5eed0004, t0, loop_end, full, max_bytes = 0;
	struct horus_pub *pub;
	struct horus_link *link;
	struct rel_footprint fp;
	const char *used;

	sh = t_shared_alloc(sizeof(*sh));
	/* The size of both segments, fully created. */
	ck_assert_int_eq(horus_pub_open(t_ns, "churn", &opts, &pub), 0);
	ck_assert_int_eq(horus_link_open(t_ns, "churn", HORUS_LINK_PRODUCER, &opts, &link), 0);
	full = rel_footprint_of(t_ns).bytes;
	horus_pub_close(pub);
	horus_link_close(link);
	ck_assert_int_eq(horus_clean(t_ns), 2);

	t0 = t_now_ns();
	loop_end = t0 + LOOP_CAP_S * T_S;
	for (; done < rounds && t_now_ns() < loop_end; done++) {
		unsigned orphans;
		pid_t pid;
		int status;

		atomic_store(&sh->phase, PHASE_START);
		pid = rel_spawn(churn, NULL);
		/* The fault: a random moment from its start (seeded, repeatable). */
		t_nap_us((unsigned)(t_rand(&seed) % KILL_DELAY_MAX_US));
		kill(pid, SIGKILL);
		status = t_child_wait(pid, 10000);
		ck_assert_msg(status == 128 + SIGKILL, "round %u: child exit %d", done, status);
		by_phase[atomic_load(&sh->phase)]++;
		orphans = unready_segments();
		refused += orphans;
		fp = rel_footprint_of(t_ns);
		ck_assert_msg(fp.segments <= 2 && fp.bytes <= full,
			      "round %u: %u segments, %llu bytes (2 topics, %llu bytes)", done,
			      fp.segments, (unsigned long long)fp.bytes, (unsigned long long)full);
		if (fp.segments > max_segments) {
			max_segments = fp.segments;
		}
		if (fp.bytes > max_bytes) {
			max_bytes = fp.bytes;
		}
		if (done % 2 == 1 || orphans) {
			/* Nobody holds them now: a clean removes everything. */
			cleaned += (unsigned)horus_clean(t_ns);
			fp = rel_footprint_of(t_ns);
			ck_assert_msg(fp.segments == 0 && fp.bytes == 0,
				      "round %u: %u segments, %llu bytes left after a clean", done,
				      fp.segments, (unsigned long long)fp.bytes);
		}
	}
	t0 = t_now_ns() - t0;
	used = rel_clean_twice(t_ns, rel_footprint_of(t_ns).segments);

	rel_figure(
	    "/dev/shm footprint under SIGKILL",
	    "%u rounds in %.1f s, children killed while: creating/attaching the Hub topic "
	    "%u, the Link %u, writing %u, not started %u; %u segments refused as unready "
	    "(a creator killed mid-creation; the next opener removes them); at most %u segments, "
	    "%llu bytes (2 topics: %llu bytes); every clean left 0 segments, 0 bytes (%u "
	    "removed); at the end %s twice: the second removed 0",
	    done, (double)t0 / T_S, by_phase[PHASE_HUB_OPEN], by_phase[PHASE_LINK_OPEN],
	    by_phase[PHASE_WRITE], by_phase[PHASE_START], refused, max_segments,
	    (unsigned long long)max_bytes, (unsigned long long)full, cleaned, used);
	rel_loop_ended(done, rounds, LOOP_CAP_S);
	ck_assert_uint_gt(by_phase[PHASE_WRITE], 0);
	ck_assert_uint_eq(refused, 0);
	t_shared_free(sh, sizeof(*sh));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("shm-footprint");

	tcase_add_test(t_tcase(s, "footprint_under_kills", LOOP_CAP_S + 60), footprint_under_kills);
	return t_run(s, "rsf");
}
