/* SPDX-License-Identifier: MIT */
#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "rel.h"

#if defined(__SANITIZE_ADDRESS__)
#define REL_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define REL_ASAN 1
#endif
#endif
#ifndef REL_ASAN
#define REL_ASAN 0
#endif

bool rel_asan(void)
{
	return REL_ASAN;
}

double rel_scale(void)
{
	static double scale;
	const char *env;

	if (scale > 0) {
		return scale;
	}
	env = getenv("HORUS_RELIABILITY_SCALE");
	if (env && *env) {
		char *end;
		double v = strtod(env, &end);

		if (*end != '\0' || !(v > 0) || v > 1000) {
			fprintf(stderr, "HORUS_RELIABILITY_SCALE=%s: want a number in (0, 1000]\n",
				env);
			exit(2);
		}
		scale = v;
		printf("note: loop counts scaled by %g (HORUS_RELIABILITY_SCALE)\n", scale);
	} else if (rel_asan()) {
		/* Fork, kill and every memory access cost several times more under ASan. */
		scale = 0.25;
		printf("note: ASan build: loop counts scaled by %g "
		       "(set HORUS_RELIABILITY_SCALE to change)\n",
		       scale);
	} else {
		scale = 1;
	}
	fflush(stdout);
	return scale;
}

unsigned rel_count(unsigned base)
{
	double n = base * rel_scale();

	return n < 1 ? 1 : (unsigned)n;
}

unsigned rel_seconds(unsigned def)
{
	const char *env = getenv("HORUS_RELIABILITY_SECONDS");
	char *end;
	unsigned long v;

	if (!env || !*env) {
		return def;
	}
	v = strtoul(env, &end, 10);
	if (*end != '\0' || v == 0 || v > 3600) {
		fprintf(stderr, "HORUS_RELIABILITY_SECONDS=%s: want whole seconds in [1, 3600]\n",
			env);
		exit(2);
	}
	return (unsigned)v;
}

void rel_loop_ended(unsigned done, unsigned planned, unsigned cap_s)
{
	if (done < planned) {
		printf("note: the loop stopped at its %u s wall-clock cap after %u of %u rounds\n",
		       cap_s, done, planned);
		fflush(stdout);
	}
	ck_assert_uint_ge(done, planned / 10);
}

void rel_figure(const char *what, const char *fmt, ...)
{
	va_list ap;

	printf("RELIABILITY: %s: ", what);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	/* Children are forked after this: nothing may stay buffered to be printed twice. */
	fflush(stdout);
}

pid_t rel_spawn(int (*fn)(void *arg), void *arg)
{
	pid_t pid;

	fflush(stdout);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		_exit(fn(arg));
	}
	return pid;
}

/* ---- /dev/shm footprint --------------------------------------------------------------------- */

struct rel_footprint rel_footprint_of(const char *ns)
{
	struct rel_footprint fp = {0};
	char prefix[64];
	struct dirent *de;
	DIR *dir = opendir("/dev/shm");

	ck_assert_ptr_nonnull(dir);
	snprintf(prefix, sizeof(prefix), "horus.%s.", ns);
	while ((de = readdir(dir))) {
		char path[300];
		struct stat st;

		if (strncmp(de->d_name, prefix, strlen(prefix)) != 0) {
			continue;
		}
		snprintf(path, sizeof(path), "/dev/shm/%s", de->d_name);
		if (stat(path, &st) == 0) {
			fp.segments++;
			fp.bytes += (uint64_t)st.st_blocks * 512;
		}
	}
	closedir(dir);
	return fp;
}

/*
 * Runs `horusctl --namespace ns --json clean`, prints what it said, asserts that it succeeded,
 * and returns how many segments it reports removed.
 */
static int horusctl_clean(const char *ctl, const char *ns)
{
	const char *removed;
	char out[4096];
	size_t n = 0;
	int fds[2], status;
	pid_t pid;

	ck_assert_int_eq(pipe(fds), 0);
	fflush(stdout);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		dup2(fds[1], STDOUT_FILENO);
		dup2(fds[1], STDERR_FILENO);
		close(fds[0]);
		execl(ctl, ctl, "--namespace", ns, "--json", "clean", (char *)NULL);
		_exit(127);
	}
	close(fds[1]);
	for (;;) {
		struct pollfd pfd = {.fd = fds[0], .events = POLLIN};
		ssize_t r;

		if (poll(&pfd, 1, 10000) != 1) {
			break; /* silent for 10 s: the wait below decides */
		}
		r = read(fds[0], out + n, sizeof(out) - 1 - n);
		if (r <= 0) {
			break;
		}
		n += (size_t)r;
		if (n == sizeof(out) - 1) {
			break;
		}
	}
	out[n] = '\0';
	close(fds[0]);
	status = t_child_wait(pid, 10000);
	printf("horusctl --namespace %s --json clean: exit %d: %s%s", ns, status, out,
	       n && out[n - 1] == '\n' ? "" : "\n");
	fflush(stdout);
	ck_assert_int_eq(status, 0);
	removed = strstr(out, "\"removed\": ");
	ck_assert_msg(removed, "horusctl clean did not say how many it removed: %s", out);
	return atoi(removed + strlen("\"removed\": "));
}

const char *rel_clean_twice(const char *ns, unsigned expected)
{
	const char *used;
	const char *ctl = getenv("HORUSCTL");
	struct rel_footprint fp = rel_footprint_of(ns);

	ck_assert_msg(fp.segments == expected, "%u segments in namespace %s, expected %u",
		      fp.segments, ns, expected);
	if (ctl && access(ctl, X_OK) == 0) {
		ck_assert_int_eq(horusctl_clean(ctl, ns), (int)expected);
		fp = rel_footprint_of(ns);
		ck_assert_msg(fp.segments == 0, "horusctl clean left %u segments", fp.segments);
		ck_assert_int_eq(horusctl_clean(ctl, ns), 0);
		ck_assert_int_eq(rel_footprint_of(ns).segments, 0);
		ck_assert_int_eq(horus_clean(ns), 0);
		used = "horusctl clean";
	} else {
		ck_assert_int_eq(horus_clean(ns), (int)expected);
		ck_assert_int_eq(rel_footprint_of(ns).segments, 0);
		ck_assert_int_eq(horus_clean(ns), 0);
		used = "horus_clean()";
	}
	ck_assert_uint_eq(rel_footprint_of(ns).bytes, 0);
	return used;
}

/* ---- checking what a subscriber receives ------------------------------------------------- */

void rel_stream_init(struct rel_stream *s, struct rel_tally *tally)
{
	memset(s, 0, sizeof(*s));
	s->tally = tally;
	s->last = calloc(REL_WRITERS, sizeof(*s->last));
	ck_assert_ptr_nonnull(s->last);
}

void rel_stream_fini(struct rel_stream *s)
{
	free(s->last);
	s->last = NULL;
}

/* The topic-wide sequence: each gap must be exactly the lost count reported with it. */
static void stream_seq(struct rel_stream *s, uint64_t seq, uint64_t lost)
{
	if (s->started && seq != s->next_seq + lost) {
		atomic_fetch_add(&s->tally->gap_mismatch, 1);
	}
	s->started = true;
	s->next_seq = seq + 1;
}

/* The message itself, already known to verify: its writer's counts only ever go up. */
static void stream_msg(struct rel_stream *s, const struct t_msg *m)
{
	if (m->writer != REL_END_WRITER) {
		if (m->writer >= REL_WRITERS) {
			atomic_fetch_add(&s->tally->corrupt, 1);
			return;
		}
		if (s->last[m->writer] && m->count < s->last[m->writer]) {
			atomic_fetch_add(&s->tally->disorder, 1);
		}
		s->last[m->writer] = m->count + 1;
	}
	atomic_fetch_add(&s->tally->delivered, 1);
}

int rel_read_one(struct horus_sub *sub, enum rel_read_mode mode, struct rel_stream *s, void *buf,
		 size_t cap, struct t_msg *ret_msg)
{
	struct t_msg m;
	bool ok;
	int r;

	if (mode == REL_READ_TAKE) {
		struct horus_sample smp;

		r = horus_sub_take(sub, &smp);
		if (r < 0) {
			return r;
		}
		/* Verified where it lies; the check afterwards says whether that counted. */
		ok = t_msg_verify(smp.data, smp.len);
		if (ok) {
			memcpy(&m, smp.data, sizeof(m));
		}
		if (horus_sub_check(sub, &smp) != 0) {
			stream_seq(s, smp.seq, smp.lost);
			atomic_fetch_add(&s->tally->stale, 1);
			return -ESTALE;
		}
		stream_seq(s, smp.seq, smp.lost);
		r = (int)smp.len;
	} else {
		struct horus_msg_info mi;

		r = horus_sub_read(sub, buf, cap, &mi);
		if (r < 0) {
			return r;
		}
		stream_seq(s, mi.seq, mi.lost);
		ok = t_msg_verify(buf, (size_t)r);
		if (ok) {
			memcpy(&m, buf, sizeof(m));
		}
	}
	if (!ok) {
		atomic_fetch_add(&s->tally->corrupt, 1);
		memset(ret_msg, 0, sizeof(*ret_msg));
		ret_msg->writer = UINT32_MAX;
		return r;
	}
	stream_msg(s, &m);
	*ret_msg = m;
	return r;
}

int rel_publish(struct horus_pub *pub, bool loan, void *buf, uint32_t len, uint32_t writer,
		uint64_t count)
{
	void *slot;
	int r;

	if (!loan) {
		t_msg_fill(buf, len, writer, count, 0);
		return horus_pub_publish(pub, buf, len);
	}
	r = horus_pub_loan(pub, len, &slot);
	if (r < 0) {
		return r;
	}
	t_msg_fill(slot, len, writer, count, 0); /* in place: a kill can land mid-fill */
	return horus_pub_commit(pub, slot);
}

void rel_check_sub_end(int idx, const struct rel_sub_end *end, struct rel_tally *tally,
		       uint64_t sequences)
{
	ck_assert_msg(end->ended, "subscriber %d never saw the end", idx);
	ck_assert_msg(end->error == 0, "subscriber %d: error %d", idx, end->error);
	ck_assert_msg(atomic_load(&tally->corrupt) == 0,
		      "subscriber %d: %llu torn or corrupt reads", idx,
		      (unsigned long long)atomic_load(&tally->corrupt));
	ck_assert_msg(atomic_load(&tally->disorder) == 0, "subscriber %d: %llu out of order", idx,
		      (unsigned long long)atomic_load(&tally->disorder));
	ck_assert_msg(atomic_load(&tally->gap_mismatch) == 0,
		      "subscriber %d: %llu gaps not reported as lost", idx,
		      (unsigned long long)atomic_load(&tally->gap_mismatch));
	ck_assert_uint_eq(end->received, atomic_load(&tally->delivered));
	ck_assert_uint_eq(end->end_seq + 1, sequences);
	ck_assert_msg(end->received + end->lost == sequences,
		      "subscriber %d: received %llu + lost %llu != sequences %llu", idx,
		      (unsigned long long)end->received, (unsigned long long)end->lost,
		      (unsigned long long)sequences);
}

int rel_write_until_stopped(const struct rel_writer *w)
{
	uint64_t seed = 0x9e3779b9u + w->writer, count = 0;
	struct horus_pub *pub;
	uint8_t *buf = malloc(w->max_len);

	if (!buf || horus_pub_open(t_ns, w->topic, w->opts, &pub) != 0) {
		return 2;
	}
	t_pipe_signal(w->ready);
	while (!atomic_load(w->stop)) {
		uint32_t len =
		    w->min_len + (uint32_t)(t_rand(&seed) % (w->max_len - w->min_len + 1));
		bool loan = w->loan_every && count % w->loan_every == w->loan_every - 1;
		int r = rel_publish(pub, loan, buf, len, w->writer, count);

		if (r == 0) {
			atomic_store_explicit(w->published, ++count, memory_order_relaxed);
		} else if (r == -EAGAIN) {
			atomic_fetch_add(w->refused, 1);
		} else {
			atomic_store(w->error, r);
			return 3;
		}
		if (w->pace_us) {
			t_nap_us(w->pace_us); /* pacing, not synchronisation */
		}
	}
	horus_pub_close(pub);
	free(buf);
	return 0;
}

int rel_read_until_end(const struct rel_reader *r)
{
	uint64_t deadline = t_now_ns() + r->give_up_ns;
	size_t cap = r->opts->max_msg;
	struct rel_sub_end *end = r->end;
	struct rel_stream s;
	struct horus_sub *sub;
	uint8_t *buf = malloc(cap);

	if (!buf || horus_sub_open(t_ns, r->topic, r->opts, 0, &sub) != 0) {
		return 2;
	}
	rel_stream_init(&s, r->tally);
	t_pipe_signal(r->ready);
	while (!end->ended && t_now_ns() < deadline) {
		struct t_msg m;
		int n = rel_read_one(sub, r->mode, &s, buf, cap, &m);

		if (n == -EAGAIN) {
			n = horus_sub_wait(sub, 100 * (int64_t)T_MS);
			if (n == 0 || n == -ETIMEDOUT || n == -EINTR) {
				continue;
			}
		}
		if (n == -ESTALE || (n >= 0 && m.writer == UINT32_MAX)) {
			continue; /* counted: lost (stale), or corrupt */
		}
		if (n < 0) {
			end->error = n;
			break;
		}
		if (m.writer == REL_END_WRITER) {
			end->end_seq = s.next_seq - 1;
			end->ended = 1;
		}
		if (r->on_msg) {
			r->on_msg(sub, &m, r->arg);
		}
	}
	end->received = horus_sub_received(sub);
	end->lost = horus_sub_lost(sub);
	horus_sub_close(sub);
	rel_stream_fini(&s);
	free(buf);
	return 0;
}

bool rel_await_all_above(_Atomic uint64_t *values, const uint64_t *floors, unsigned n,
			 unsigned bound_ms, uint64_t *ret_waited_ns)
{
	uint64_t start = t_now_ns(), end = start + (uint64_t)bound_ms * T_MS;

	for (;;) {
		unsigned i = 0;

		while (i < n && atomic_load(&values[i]) > floors[i]) {
			i++;
		}
		*ret_waited_ns = t_now_ns() - start;
		if (i == n) {
			return true;
		}
		if (t_now_ns() > end) {
			return false;
		}
		t_nap_us(100);
	}
}
