/* SPDX-License-Identifier: MIT */
/*
 * The bus under load: 4 publishers and 4 subscribers on one Hub topic, and 4 Links (producer and
 * consumer each), every one its own process, for $HORUS_RELIABILITY_SECONDS (default 20 s), with
 * `stress-ng --cpu 2` loading both cores of the machine at the same time.
 *
 * Invariants: every message is checked (checksummed payloads of varying length, copies and
 * loans, copying and zero-copy readers) and none is corrupt; every subscriber's sequence only
 * goes up, each gap reported as lost, and at the end received + lost equals the sequences the
 * publishers used (their published counts, plus their refusals, plus the closing lap); the
 * header counts exactly the messages published; every Link delivers everything its producer
 * sent, in order.
 */

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "rel.h"

#define DEFAULT_S 20
#define PUBS 4
#define SUBS 4
#define LINKS 4
#define MAX_MSG (16 * 1024u)
#define SETTLER (REL_WRITERS - 1)

static const struct horus_topic_opts hub_opts = {.capacity = 256, .max_msg = MAX_MSG};
static const struct horus_topic_opts link_opts = {.capacity = 64, .max_msg = MAX_MSG};

struct link_state {
	atomic_int done; /* the producer left: sent is final */
	_Atomic uint64_t sent, received;
	_Atomic uint64_t corrupt, disorder;
	_Atomic int error;
};

struct shared {
	struct t_pipe ready;
	atomic_int stop;
	_Atomic uint64_t published[PUBS], refused[PUBS];
	_Atomic int pub_error;
	struct rel_tally tally[SUBS];
	struct rel_sub_end end[SUBS];
	struct link_state link[LINKS];
};

static struct shared *sh;

static int publisher(void *arg)
{
	uint32_t idx = (uint32_t)(intptr_t)arg;
	const struct rel_writer w = {
	    .topic = "load",
	    .opts = &hub_opts,
	    .writer = idx,
	    .min_len = T_MSG_MIN,
	    .max_len = MAX_MSG,
	    .loan_every = 4,
	    .ready = &sh->ready,
	    .stop = &sh->stop,
	    .published = &sh->published[idx],
	    .refused = &sh->refused[idx],
	    .error = &sh->pub_error,
	};

	return rel_write_until_stopped(&w);
}

static int subscriber(void *arg)
{
	int idx = (int)(intptr_t)arg;
	const struct rel_reader r = {
	    .topic = "load",
	    .opts = &hub_opts,
	    .mode = idx % 2 ? REL_READ_TAKE : REL_READ_COPY,
	    .ready = &sh->ready,
	    .tally = &sh->tally[idx],
	    .end = &sh->end[idx],
	    .give_up_ns = (rel_seconds(DEFAULT_S) + 120) * T_S,
	};

	return rel_read_until_end(&r);
}

static void link_name(char *buf, size_t size, int idx)
{
	snprintf(buf, size, "load-link-%d", idx);
}

static int producer(void *arg)
{
	int idx = (int)(intptr_t)arg;
	struct link_state *ls = &sh->link[idx];
	uint64_t seed = 200 + (uint64_t)idx, count = 0;
	struct horus_link *p;
	uint8_t *buf = malloc(MAX_MSG);
	char name[32];

	link_name(name, sizeof(name), idx);
	if (!buf || horus_link_open(t_ns, name, HORUS_LINK_PRODUCER, &link_opts, &p) != 0) {
		return 2;
	}
	t_pipe_signal(&sh->ready);
	while (!atomic_load(&sh->stop)) {
		uint32_t len = T_MSG_MIN + (uint32_t)(t_rand(&seed) % (MAX_MSG - T_MSG_MIN + 1));
		int r;

		t_msg_fill(buf, len, (uint32_t)idx, count, 0);
		r = horus_link_send(p, buf, len);
		if (r == 0) {
			atomic_store(&ls->sent, ++count);
		} else if (r == -EAGAIN) {
			r = horus_link_wait(p, 100 * (int64_t)T_MS);
			if (r != 0 && r != -ETIMEDOUT) {
				atomic_store(&ls->error, r);
				return 3;
			}
		} else {
			atomic_store(&ls->error, r);
			return 3;
		}
	}
	horus_link_close(p);
	atomic_store(&ls->done, 1);
	free(buf);
	return 0;
}

static int consumer(void *arg)
{
	int idx = (int)(intptr_t)arg;
	struct link_state *ls = &sh->link[idx];
	struct horus_link *c;
	uint8_t *buf = malloc(MAX_MSG);
	uint64_t next = 0;
	char name[32];

	link_name(name, sizeof(name), idx);
	if (!buf || horus_link_open(t_ns, name, HORUS_LINK_CONSUMER, &link_opts, &c) != 0) {
		return 2;
	}
	t_pipe_signal(&sh->ready);
	for (;;) {
		struct t_msg m;
		int r = horus_link_recv(c, buf, MAX_MSG);

		if (r == -EAGAIN) {
			if (atomic_load(&ls->done) && next == atomic_load(&ls->sent)) {
				break;
			}
			r = horus_link_wait(c, 100 * (int64_t)T_MS);
			if (r == 0 || r == -ETIMEDOUT) {
				continue;
			}
		}
		if (r < 0) {
			atomic_store(&ls->error, r);
			break;
		}
		if (!t_msg_verify(buf, (size_t)r)) {
			atomic_fetch_add(&ls->corrupt, 1);
			continue;
		}
		memcpy(&m, buf, sizeof(m));
		if (m.writer != (uint32_t)idx || m.count != next) {
			atomic_fetch_add(&ls->disorder, 1);
		}
		next = m.count + 1;
		atomic_store(&ls->received, atomic_load(&ls->received) + 1);
	}
	horus_link_close(c);
	free(buf);
	return 0;
}

/* ---- the CPU stressor ---------------------------------------------------------------------- */

static bool on_path(const char *prog)
{
	const char *path = getenv("PATH");
	char buf[512];

	while (path && *path) {
		size_t n = strcspn(path, ":");

		snprintf(buf, sizeof(buf), "%.*s/%s", (int)n, path, prog);
		if (access(buf, X_OK) == 0) {
			return true;
		}
		path += n + (path[n] == ':');
	}
	return false;
}

/* Starts `stress-ng --cpu 2` in a process group of its own; 0 if it is not installed. */
static pid_t stress_start(unsigned seconds)
{
	char timeout[32];
	pid_t pid;

	if (!on_path("stress-ng")) {
		printf("note: stress-ng not found: running without the CPU stressor "
		       "(scripts/deps.sh installs it)\n");
		return 0;
	}
	snprintf(timeout, sizeof(timeout), "%us", seconds);
	fflush(stdout);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		setpgid(0, 0);
		execlp("stress-ng", "stress-ng", "--cpu", "2", "--timeout", timeout, "--quiet",
		       (char *)NULL);
		_exit(127);
	}
	setpgid(pid, pid);
	return pid;
}

/* Stops the stressor and its workers; true if it was still running, as it should be. */
static bool stress_stop(pid_t pid)
{
	bool running;

	if (pid <= 0) {
		return false;
	}
	running = waitpid(pid, NULL, WNOHANG) == 0;
	kill(-pid, SIGKILL);
	(void)waitpid(pid, NULL, 0);
	return running;
}

/* ---- the test ----------------------------------------------------------------------------- */

START_TEST(load)
{
	unsigned seconds = rel_seconds(DEFAULT_S);
	uint64_t published = 0, refused = 0, delivered = 0, linked = 0, t0, elapsed;
	pid_t pubs[PUBS], subs[SUBS], prods[LINKS], conss[LINKS], stress;
	struct horus_topic_info info;
	struct horus_pub *pub;
	uint8_t buf[T_MSG_MIN];
	double worst_loss = 0;
	bool stressed;

	sh = t_shared_alloc(sizeof(*sh));
	t_pipe_open(&sh->ready);
	stress = stress_start(seconds + 60);
	/* Readers first: their accounting then covers every sequence from 0. */
	for (int i = 0; i < SUBS; i++) {
		subs[i] = rel_spawn(subscriber, (void *)(intptr_t)i);
		ck_assert(t_pipe_await(&sh->ready, 10000));
	}
	for (int i = 0; i < LINKS; i++) {
		conss[i] = rel_spawn(consumer, (void *)(intptr_t)i);
		ck_assert(t_pipe_await(&sh->ready, 10000));
	}
	t0 = t_now_ns();
	for (int i = 0; i < PUBS; i++) {
		pubs[i] = rel_spawn(publisher, (void *)(intptr_t)i);
		ck_assert(t_pipe_await(&sh->ready, 10000));
	}
	for (int i = 0; i < LINKS; i++) {
		prods[i] = rel_spawn(producer, (void *)(intptr_t)i);
		ck_assert(t_pipe_await(&sh->ready, 10000));
	}
	/* The run: nobody may give up meanwhile. */
	while (t_now_ns() - t0 < seconds * T_S) {
		pid_t gone = waitpid(-1, NULL, WNOHANG);

		ck_assert_msg(gone == 0, "process %d left during the run", (int)gone);
		t_nap_us(100 * 1000);
	}
	atomic_store(&sh->stop, 1);
	for (int i = 0; i < PUBS; i++) {
		ck_assert_int_eq(t_child_wait(pubs[i], 30000), 0);
		published += atomic_load(&sh->published[i]);
		refused += atomic_load(&sh->refused[i]);
	}
	for (int i = 0; i < LINKS; i++) {
		ck_assert_int_eq(t_child_wait(prods[i], 30000), 0);
	}
	elapsed = t_now_ns() - t0;
	ck_assert_int_eq(atomic_load(&sh->pub_error), 0);

	/* A lap settles the holes (counted when their slot is next written), then the end. */
	ck_assert_int_eq(horus_pub_open(t_ns, "load", &hub_opts, &pub), 0);
	for (uint32_t i = 0; i < hub_opts.capacity; i++) {
		ck_assert_int_eq(rel_publish(pub, false, buf, T_MSG_MIN, SETTLER, i), 0);
	}
	ck_assert_int_eq(rel_publish(pub, false, buf, T_MSG_MIN, REL_END_WRITER, 0), 0);
	for (int i = 0; i < SUBS; i++) {
		ck_assert_int_eq(t_child_wait(subs[i], 60000), 0);
	}
	for (int i = 0; i < LINKS; i++) {
		ck_assert_int_eq(t_child_wait(conss[i], 60000), 0);
	}
	stressed = stress_stop(stress);
	horus_pub_close(pub);

	ck_assert_int_eq(horus_topic_info(t_ns, "load", HORUS_KIND_HUB, &info), 0);
	ck_assert_uint_eq(info.messages, published + hub_opts.capacity + 1);
	/* Holes: refusals, and claims given up by a writer lapped while preempted (it retries
	 * with a new sequence, the message is not lost). */
	ck_assert_uint_ge(info.holes, refused);
	ck_assert_uint_eq(info.sequences, info.messages + info.holes);
	for (int i = 0; i < SUBS; i++) {
		double loss = (double)sh->end[i].lost / (double)info.sequences;

		rel_check_sub_end(i, &sh->end[i], &sh->tally[i], info.sequences);
		delivered += sh->end[i].received;
		if (loss > worst_loss) {
			worst_loss = loss;
		}
	}
	for (int i = 0; i < LINKS; i++) {
		struct link_state *ls = &sh->link[i];
		char name[32];
		struct horus_topic_info li;

		ck_assert_int_eq(atomic_load(&ls->error), 0);
		ck_assert_uint_eq(atomic_load(&ls->corrupt), 0);
		ck_assert_msg(atomic_load(&ls->disorder) == 0, "link %d: %llu out of order", i,
			      (unsigned long long)atomic_load(&ls->disorder));
		ck_assert_uint_eq(atomic_load(&ls->received), atomic_load(&ls->sent));
		ck_assert_uint_gt(atomic_load(&ls->sent), 0);
		link_name(name, sizeof(name), i);
		ck_assert_int_eq(horus_topic_info(t_ns, name, HORUS_KIND_LINK, &li), 0);
		ck_assert_uint_eq(li.messages, atomic_load(&ls->sent));
		ck_assert_uint_eq(li.pending, 0);
		linked += atomic_load(&ls->sent);
	}
	rel_figure("bus load",
		   "%.1f s, %s; Hub: %d publishers published %llu messages (%.0f/s, %llu refused "
		   "-EAGAIN, %llu holes), %d subscribers verified %llu reads, 0 corrupt, 0 out of "
		   "order, each "
		   "received + lost == sequences (%llu), worst loss %.1f%%; Links: %d delivered "
		   "%llu messages (%.0f/s), all in order, 0 corrupt, 0 lost",
		   (double)elapsed / T_S,
		   stressed ? "stress-ng --cpu 2 running throughout" : "no CPU stressor", PUBS,
		   (unsigned long long)published, (double)published * T_S / (double)elapsed,
		   (unsigned long long)refused, (unsigned long long)info.holes, SUBS,
		   (unsigned long long)delivered, (unsigned long long)info.sequences,
		   100 * worst_loss, LINKS, (unsigned long long)linked,
		   (double)linked * T_S / (double)elapsed);
	if (stress > 0) {
		ck_assert_msg(stressed, "stress-ng stopped before the run ended");
	}
	rel_clean_twice(t_ns, 1 + LINKS);
	t_pipe_close(&sh->ready);
	t_shared_free(sh, sizeof(*sh));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("load");

	tcase_add_test(t_tcase(s, "load", rel_seconds(DEFAULT_S) + 180), load);
	return t_run(s, "rld");
}
