/* SPDX-License-Identifier: MIT */
/*
 * horus-bench scheduler: how late a real horusd starts ticks, and what one tick dispatch costs,
 * next to the floor of this machine measured in the same run.
 *
 * Each daemon case starts the built horusd on a generated config in a private directory: N
 * instances of the bench node (empty ticks) at R Hz, optionally with spin_us. After a warm-up it
 * measures over a window:
 *   - lateness: each node's late_us {p50,p99,max} from "1 node list" (tick start minus its
 *     scheduled time, the daemon's own histogram); reported as the median over nodes of p50 and
 *     the maximum over nodes of p99 and of max;
 *   - dispatch_ns: the daemon's own figure ("dispatch_ns" of "1 status", p50 and p99 since it
 *     started): per wake-up of a tick thread, its time from the timer's callback to going back
 *     to sleep, minus plugin calls, the timer's read and re-arm, and waits for a deadline, over
 *     the ticks it ran. The cost of dispatching a tick, without the kernel's wake-up
 *     (docs/performance.md says why);
 *   - cpu_tick_ns: CPU time of the daemon's tick threads (every thread named horus-tick, from
 *     /proc/PID/task/TID/schedstat) over 1 s slices of the window, divided by the ticks the
 *     daemon dispatched in the slice ("dispatches" of "1 status"); the median over slices.
 *     Everything a tick costs the tick threads, wake-ups and empty plugin calls included;
 *   - cpu_pct: the whole daemon's CPU time over the window, in % of one core;
 *   - min_rate_pct: the slowest node's ticks over the window, in % of rate x window.
 *
 * The floor: a bare timerfd loop at the same rate in this process (absolute deadlines,
 * TFD_TIMER_ABSTIME, PR_SET_TIMERSLACK of 1 ns, one blocking read per period): its lateness,
 * rounded up as the daemon's histogram rounds (see hist_round), and in the cpu/tick column its
 * own thread's CPU time per wake-up (CLOCK_THREAD_CPUTIME_ID over the measured samples): what
 * merely sleeping until a deadline and waking costs on this machine, with no work at all. A
 * daemon case whose ticks share wake-ups (10 nodes at 1 kHz: 10 ticks a wake-up) cannot spend
 * less CPU a tick than that figure over the ticks per wake-up; the targets' lines show the
 * daemon's cpu/tick next to that share, and what is left, as a check on dispatch_ns.
 */

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "bench-daemon.h"
#include "bench.h"

#define CMD "scheduler"

#define DEFAULT_NODES 10u
#define DEFAULT_RATE 1000u
/* spin_us only helps when it covers the kernel's wake-up jitter: this VM's timerfd p99 is
 * 115-180 us (the floor case shows it), so 100 us leaves the slowest 1% late. */
#define DEFAULT_SPIN_US 200u
#define DEFAULT_MANY 500u
#define DEFAULT_MANY_RATE 100u
#define DEFAULT_WARMUP 1.0
#define DEFAULT_DURATION 5.0
/*
 * The cases run in rounds (floor, nodes, spin, many, then again), and the targets are judged on
 * the median over rounds: a host stall of a few ms in one case's window (this VM has them) then
 * decides one round, not the verdict, and every case saw the machine at about the same times.
 */
#define DEFAULT_ROUNDS 3u
#define ROUNDS_MAX 20u
#define SLICE_NS 1000000000ull
#define NODES_MAX 5000u
#define START_NODES_TIMEOUT_NS (20ull * 1000 * 1000 * 1000)

enum case_kind {
	C_FLOOR,
	C_NODES,
	C_SPIN,
	C_MANY,
	C_COUNT,
};

static const char *const case_names[C_COUNT] = {
    [C_FLOOR] = "floor",
    [C_NODES] = "nodes",
    [C_SPIN] = "spin",
    [C_MANY] = "many",
};

struct options {
	char horusd[PATH_MAX];
	char plugin[PATH_MAX];
	const char *horusd_opt;
	const char *plugin_opt;
	uint32_t cases; /* bit per enum case_kind */
	uint32_t nodes, rate, spin_us, many, many_rate, rounds;
	double warmup, duration;
	bool json;
};

struct result {
	enum case_kind kind;
	bool ran;
	uint32_t nodes;
	uint32_t rate_hz;
	uint32_t spin_us;
	double p50_us, p99_us, max_us;	     /* lateness, aggregated as above */
	double p99_median_us;		     /* median over nodes of p99 */
	double dispatch_ns, dispatch_p99_ns; /* the daemon's own; NAN for the floor */
	double cpu_tick_ns;		     /* the floor: its thread's CPU time per wake-up */
	double cpu_pct, tick_cpu_pct;	     /* % of one core */
	double min_rate_pct;		     /* slowest node */
	double min_actual_hz;		     /* the daemon's own 1 s figure, lowest node */
	uint64_t ticks, dispatches;	     /* over the window */
	double runs_per_dispatch;	     /* times a tick thread got a CPU, per dispatch */
	uint64_t samples;		     /* floor */
	unsigned tick_threads;
	double seconds;
};

/* ---- the daemon's histogram rounding, for the floor -------------------------------------- */

/*
 * The daemon keeps lateness in a log-linear histogram (daemon/stats.c: 8 sub-buckets per power
 * of two of ns) and reports the upper bound of the bucket a percentile falls in, capped by the
 * maximum. The floor's exact percentiles are rounded the same way, so that the two are compared
 * like for like (the rounding is up to 12.5%).
 */
#define HIST_SUB_BITS 3

static uint64_t hist_round(uint64_t v, uint64_t max)
{
	unsigned msb, sub, shift;
	uint64_t top;

	if (v < (1u << HIST_SUB_BITS)) {
		return v;
	}
	msb = 63u - (unsigned)__builtin_clzll(v);
	sub = (unsigned)(v >> (msb - HIST_SUB_BITS)) & ((1u << HIST_SUB_BITS) - 1);
	shift = msb - HIST_SUB_BITS;
	top = ((uint64_t)((1u << HIST_SUB_BITS) + sub + 1) << shift) - 1;
	return top < max ? top : max;
}

/* ---- the floor --------------------------------------------------------------------------- */

static uint64_t thread_cpu_ns(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) < 0) {
		return 0;
	}
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int run_floor(const struct options *o, struct result *res)
{
	uint64_t period = 1000000000ull / o->rate;
	uint64_t warm = (uint64_t)(o->warmup * o->rate);
	size_t cap = (size_t)(o->duration * o->rate) + 1, n = 0; /* + 1: never 0 */
	int old_slack = prctl(PR_GET_TIMERSLACK, 0, 0, 0, 0);
	uint64_t *samples = malloc(cap * sizeof(uint64_t));
	uint64_t next, start, count = 0, cpu0, cpu1;
	struct bench_stats st;
	int tfd, r = 0;

	if (!samples) {
		return -ENOMEM;
	}
	memset(samples, 0, cap * sizeof(uint64_t)); /* fault it in now */
	tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
	if (tfd < 0) {
		r = -errno;
		free(samples);
		return r;
	}
	prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
	start = bench_now_ns();
	cpu0 = thread_cpu_ns();
	next = start + period;
	while (n < cap) {
		struct itimerspec its = {0};
		uint64_t exp, now;

		its.it_value.tv_sec = (time_t)(next / 1000000000ull);
		its.it_value.tv_nsec = (long)(next % 1000000000ull);
		if (timerfd_settime(tfd, TFD_TIMER_ABSTIME, &its, NULL) < 0) {
			r = -errno;
			break;
		}
		if (read(tfd, &exp, sizeof(exp)) != sizeof(exp)) {
			if (errno == EINTR && !bench_interrupted) {
				continue;
			}
			r = -errno;
			break;
		}
		now = bench_now_ns();
		if (count++ == warm) {
			cpu0 = thread_cpu_ns(); /* the wake-ups of the samples, as the lateness */
		}
		if (count > warm) {
			samples[n++] = now - next;
		}
		/* As the daemon: the next point of the grid after now, no catch-up burst. */
		next += period;
		if (next <= now) {
			next += ((now - next) / period + 1) * period;
		}
	}
	cpu1 = thread_cpu_ns();
	prctl(PR_SET_TIMERSLACK, (unsigned long)(old_slack > 0 ? old_slack : 50000), 0, 0, 0);
	close(tfd);
	if (r == 0) {
		bench_stats_compute(samples, n, &st);
		res->p50_us = hist_round(st.p50, st.max) / 1e3;
		res->p99_us = hist_round(st.p99, st.max) / 1e3;
		res->max_us = st.max / 1e3;
		res->p99_median_us = res->p99_us;
		res->samples = n;
		res->dispatch_ns = res->dispatch_p99_ns = NAN;
		res->cpu_tick_ns = n ? (double)(cpu1 - cpu0) / (double)n : NAN;
		res->ticks = n;
		res->seconds = (double)n / o->rate;
	}
	free(samples);
	return r;
}

/* ---- a daemon case ----------------------------------------------------------------------- */

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, size_t n)
{
	if (n == 0) {
		return NAN;
	}
	qsort(v, n, sizeof(v[0]), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static char *make_config(uint32_t nodes, uint32_t rate, uint32_t spin_us)
{
	size_t cap = 256 + (size_t)nodes * 128, len;
	char *body = malloc(cap);

	if (!body) {
		return NULL;
	}
	/* One worker: the empty ticks submit nothing. */
	len = (size_t)snprintf(body, cap, "workers = 1\n\n");
	for (uint32_t i = 0; i < nodes; i++) {
		len += (size_t)snprintf(body + len, cap - len,
					"[node.n%04u]\nplugin = bench_node\nrate_hz = %u\n"
					"spin_us = %u\nmode = empty\n\n",
					i, rate, spin_us);
	}
	return body;
}

/* Waits until every node has ticked at least once. */
static int wait_ticking(struct bench_daemon *d, uint32_t nodes)
{
	uint64_t start = bench_now_ns();

	for (;;) {
		struct bench_node_snap *v = NULL;
		uint64_t at;
		int n = bench_daemon_nodes(d, &v, &at), ticking = 0;

		for (int i = 0; i < n; i++) {
			ticking += v[i].ticks > 0;
		}
		free(v);
		if (n == (int)nodes && ticking == n) {
			return 0;
		}
		if (!bench_daemon_alive(d) || bench_interrupted) {
			return -ECHILD;
		}
		if (bench_now_ns() - start > START_NODES_TIMEOUT_NS) {
			fprintf(stderr,
				"horus-bench " CMD
				": %d of %u nodes ticking after 20 s; giving up\n",
				ticking, nodes);
			return -ETIMEDOUT;
		}
		bench_sleep_ns(20000000ull);
	}
}

struct sample {
	uint64_t at_ns;
	struct bench_status status;
	uint64_t tick_cpu_ns;
	uint64_t tick_runs;
	uint64_t proc_cpu_ns;
	unsigned tick_threads;
};

static int take_sample(struct bench_daemon *d, struct sample *s)
{
	int r;

	s->at_ns = bench_now_ns();
	r = bench_threads_cpu_ns(d->pid, "horus-tick", &s->tick_cpu_ns, &s->tick_runs,
				 &s->tick_threads);
	if (r == 0) {
		r = bench_daemon_status(d, &s->status);
	}
	if (r == 0) {
		r = bench_process_cpu_ns(d->pid, &s->proc_cpu_ns);
	}
	return r;
}

static int run_daemon_case(const struct options *o, struct result *res)
{
	struct bench_node_snap *a = NULL, *b = NULL;
	struct bench_daemon d;
	struct sample s0, prev, cur;
	double *slices = NULL, *p50s = NULL, *p99s = NULL;
	size_t n_slices = 0, max_slices = (size_t)(o->duration * 1e9 / SLICE_NS) + 2;
	uint64_t at_a, at_b, window_end;
	char *body = NULL;
	int na = 0, nb = 0, r;

	r = bench_daemon_init(&d, "sched", o->plugin);
	if (r < 0) {
		goto out;
	}
	body = make_config(res->nodes, res->rate_hz, res->spin_us);
	slices = calloc(max_slices, sizeof(double));
	if (!body || !slices) {
		r = -ENOMEM;
		goto out;
	}
	r = bench_daemon_start(&d, o->horusd, body);
	if (r < 0) {
		goto out;
	}
	r = wait_ticking(&d, res->nodes);
	if (r < 0) {
		d.failed = true;
		goto out;
	}
	if (!bench_sleep_ns((uint64_t)(o->warmup * 1e9))) {
		r = -EINTR;
		goto out;
	}

	/* The window: node snapshots at both ends, CPU and dispatch samples every slice. */
	na = bench_daemon_nodes(&d, &a, &at_a);
	r = na < 0 ? na : take_sample(&d, &s0);
	if (r < 0) {
		goto out;
	}
	prev = s0;
	window_end = s0.at_ns + (uint64_t)(o->duration * 1e9);
	while (prev.at_ns + SLICE_NS / 2 < window_end) {
		uint64_t next = prev.at_ns + SLICE_NS;

		if (next > window_end) {
			next = window_end;
		}
		if (!bench_sleep_ns(next - bench_now_ns())) {
			r = -EINTR;
			goto out;
		}
		r = take_sample(&d, &cur);
		if (r < 0) {
			goto out;
		}
		if (cur.status.dispatches > prev.status.dispatches && n_slices < max_slices) {
			slices[n_slices++] =
			    (double)(cur.tick_cpu_ns - prev.tick_cpu_ns) /
			    (double)(cur.status.dispatches - prev.status.dispatches);
		}
		prev = cur;
	}
	nb = bench_daemon_nodes(&d, &b, &at_b);
	if (nb < 0) {
		r = nb;
		goto out;
	}
	if (!bench_daemon_alive(&d)) {
		r = -ECHILD;
		goto out;
	}

	/* Aggregate. */
	p50s = calloc((size_t)nb + 1, sizeof(double));
	p99s = calloc((size_t)nb + 1, sizeof(double));
	if (!p50s || !p99s) {
		r = -ENOMEM;
		goto out;
	}
	res->seconds = (double)(prev.at_ns - s0.at_ns) / 1e9;
	res->p99_us = res->max_us = 0;
	res->min_rate_pct = INFINITY;
	res->min_actual_hz = INFINITY;
	for (int i = 0; i < nb; i++) {
		const struct bench_node_snap *x = bench_node_find(a, na, b[i].name);
		double secs = (double)(at_b - at_a) / 1e9;

		p50s[i] = b[i].late_p50_us;
		p99s[i] = b[i].late_p99_us;
		res->p99_us = fmax(res->p99_us, b[i].late_p99_us);
		res->max_us = fmax(res->max_us, b[i].late_max_us);
		res->min_actual_hz = fmin(res->min_actual_hz, b[i].actual_hz);
		if (x) {
			double pct =
			    100.0 * (double)(b[i].ticks - x->ticks) / (secs * (double)res->rate_hz);

			res->ticks += b[i].ticks - x->ticks;
			res->min_rate_pct = fmin(res->min_rate_pct, pct);
		} else {
			res->min_rate_pct = 0; /* a node that appeared during the window */
		}
	}
	if (nb != (int)res->nodes) {
		fprintf(stderr, "horus-bench " CMD ": %d nodes listed, %u configured\n", nb,
			res->nodes);
		res->min_rate_pct = 0;
	}
	res->p50_us = median(p50s, (size_t)nb);
	res->p99_median_us = median(p99s, (size_t)nb);
	res->cpu_tick_ns = median(slices, n_slices);
	res->dispatch_ns = prev.status.dispatch_p50_ns;
	res->dispatch_p99_ns = prev.status.dispatch_p99_ns;
	res->dispatches = prev.status.dispatches - s0.status.dispatches;
	res->runs_per_dispatch =
	    res->dispatches ? (double)(prev.tick_runs - s0.tick_runs) / (double)res->dispatches
			    : NAN;
	res->cpu_pct =
	    100.0 * (double)(prev.proc_cpu_ns - s0.proc_cpu_ns) / (double)(prev.at_ns - s0.at_ns);
	res->tick_cpu_pct =
	    100.0 * (double)(prev.tick_cpu_ns - s0.tick_cpu_ns) / (double)(prev.at_ns - s0.at_ns);
	res->tick_threads = prev.tick_threads;
	r = 0;
out:
	if (r < 0 && r != -EINTR) {
		d.failed = true;
		if (d.log[0]) {
			bench_daemon_log_tail(&d, 3000);
		}
	}
	bench_daemon_fini(&d);
	free(a);
	free(b);
	free(p50s);
	free(p99s);
	free(slices);
	free(body);
	return r;
}

/* ---- rounds ------------------------------------------------------------------------------ */

/* The median over the rounds in which case k ran of the double at `offset` in struct result. */
static double median_field(struct result (*res)[C_COUNT], unsigned rounds, int k, size_t offset)
{
	double v[ROUNDS_MAX];
	size_t n = 0;

	for (unsigned i = 0; i < rounds; i++) {
		if (res[i][k].ran) {
			memcpy(&v[n++], (const char *)&res[i][k] + offset, sizeof(double));
		}
	}
	return median(v, n);
}

/* Case k's row of medians over the rounds (counts from the last round that ran it). */
static struct result median_result(struct result (*res)[C_COUNT], unsigned rounds, int k)
{
	static const size_t fields[] = {
	    offsetof(struct result, p50_us),	    offsetof(struct result, p99_us),
	    offsetof(struct result, max_us),	    offsetof(struct result, p99_median_us),
	    offsetof(struct result, dispatch_ns),   offsetof(struct result, dispatch_p99_ns),
	    offsetof(struct result, cpu_tick_ns),   offsetof(struct result, cpu_pct),
	    offsetof(struct result, tick_cpu_pct),  offsetof(struct result, min_rate_pct),
	    offsetof(struct result, min_actual_hz), offsetof(struct result, runs_per_dispatch),
	    offsetof(struct result, seconds),
	};
	struct result m = {0};

	for (unsigned i = 0; i < rounds; i++) {
		if (res[i][k].ran) {
			m = res[i][k];
		}
	}
	for (size_t f = 0; m.ran && f < sizeof(fields) / sizeof(fields[0]); f++) {
		double v = median_field(res, rounds, k, fields[f]);

		memcpy((char *)&m + fields[f], &v, sizeof(double));
	}
	return m;
}

/* ---- output ------------------------------------------------------------------------------ */

static const struct result *find(const struct result *res, enum case_kind k)
{
	return res[k].ran ? &res[k] : NULL;
}

static void print_header(const struct options *o)
{
	printf("horus-bench scheduler, %u round(s) of the cases, then the median of each column "
	       "over them.\n",
	       o->rounds);
	printf("lateness = tick start - scheduled time, in us; over nodes: "
	       "median of p50,\nmax of p99 and max. dispatch = the daemon's own work a tick, p50 "
	       "(its dispatch_ns: wake-ups\nand plugin calls left out). cpu/tick = tick-thread CPU "
	       "/ ticks dispatched, everything included\n(median of 1 s slices; the floor: its "
	       "thread's CPU per wake-up). wakes = times a tick thread\ngot a CPU, per tick "
	       "dispatched. warm-up %.1f s, window %.1f s per case\n\n",
	       o->warmup, o->duration);
	printf("%-6s %-7s %5s %6s %5s %8s %8s %9s %9s %9s %6s %7s %6s %9s\n", "case", "mode",
	       "nodes", "rate", "spin", "p50", "p99", "max", "dispatch", "cpu/tick", "wakes",
	       "cpu%", "tick%", "min rate%");
	fflush(stdout);
}

/* A row: round 1..rounds, or 0 for the medians. */
static void print_result(const struct result *r, unsigned round, const struct options *o)
{
	bool is_floor = r->kind == C_FLOOR;
	const char *mode = is_floor ? "timerfd" : "horusd";

	if (o->json) {
		bench_json_begin(stdout, CMD, case_names[r->kind]);
		if (round) {
			bench_json_u64(stdout, "round", round);
		} else {
			bench_json_str(stdout, "aggregate", "median");
			bench_json_u64(stdout, "rounds", o->rounds);
		}
		bench_json_u64(stdout, "nodes", r->nodes);
		bench_json_u64(stdout, "rate_hz", r->rate_hz);
		fprintf(stdout, ",\"lateness_us\":{\"p50\":%.3f,\"p99\":%.3f,\"max\":%.3f}",
			r->p50_us, r->p99_us, r->max_us);
		if (!is_floor) {
			bench_json_double(stdout, "dispatch_ns", r->dispatch_ns);
			bench_json_double(stdout, "dispatch_p99_ns", r->dispatch_p99_ns);
		}
		/* The floor's: its CPU time per wake-up (one tick a wake-up). */
		bench_json_double(stdout, "cpu_tick_ns", r->cpu_tick_ns);
		bench_json_str(stdout, "mode", mode);
		bench_json_u64(stdout, "spin_us", r->spin_us);
		if (!is_floor) {
			bench_json_double(stdout, "cpu_pct", r->cpu_pct);
			bench_json_double(stdout, "tick_cpu_pct", r->tick_cpu_pct);
			bench_json_double(stdout, "min_rate_pct", r->min_rate_pct);
			bench_json_double(stdout, "min_actual_hz", r->min_actual_hz);
			bench_json_double(stdout, "p99_median_us", r->p99_median_us);
			bench_json_u64(stdout, "dispatches", r->dispatches);
			bench_json_double(stdout, "wakeups_per_dispatch", r->runs_per_dispatch);
			bench_json_u64(stdout, "tick_threads", r->tick_threads);
		} else {
			bench_json_u64(stdout, "samples", r->samples);
		}
		bench_json_double(stdout, "seconds", r->seconds);
		bench_json_end(stdout);
		return;
	}
	printf("%-6s %-7s %5u %6u %5u %8.1f %8.1f %9.1f", case_names[r->kind], mode, r->nodes,
	       r->rate_hz, r->spin_us, r->p50_us, r->p99_us, r->max_us);
	if (is_floor) {
		printf(" %9s %7.0fns %6.2f %7s %6s %9s\n", "-", r->cpu_tick_ns, 1.0, "-", "-", "-");
	} else {
		printf(" %7.0fns %7.0fns %6.2f %6.1f%% %5.1f%% %8.2f%%\n", r->dispatch_ns,
		       r->cpu_tick_ns, r->runs_per_dispatch, r->cpu_pct, r->tick_cpu_pct,
		       r->min_rate_pct);
	}
	fflush(stdout);
}

static void print_check(bool ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void print_check(bool ok, const char *fmt, ...)
{
	va_list ap;

	printf("  %-4s ", ok ? "ok" : "MISS");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

/* The targets, against this run (human output only). */
static void print_targets(const struct result *res)
{
	const struct result *fl = find(res, C_FLOOR), *nd = find(res, C_NODES),
			    *sp = find(res, C_SPIN), *mn = find(res, C_MANY);

	printf("\ntargets:\n");
	if (fl && nd) {
		print_check(nd->p50_us <= fl->p50_us + 10,
			    "nodes p50 %.1f us <= floor p50 %.1f + 10 us", nd->p50_us, fl->p50_us);
		print_check(nd->p99_us <= fl->p99_us + 20,
			    "nodes p99 %.1f us <= floor p99 %.1f + 20 us", nd->p99_us, fl->p99_us);
	}
	if (sp) {
		print_check(sp->p99_us <= 10, "spin p99 %.1f us <= 10 us", sp->p99_us);
	}
	if (nd) {
		print_check(nd->dispatch_ns <= 1000,
			    "nodes dispatch %.0f ns <= 1000 ns (p99 %.0f ns)", nd->dispatch_ns,
			    nd->dispatch_p99_ns);
		if (fl && nd->runs_per_dispatch > 0) {
			double share = fl->cpu_tick_ns * nd->runs_per_dispatch;

			printf(
			    "       (CPU a tick, all included: %.0f ns. A bare wake-up, the "
			    "floor's, "
			    "is %.0f ns of CPU;\n       over %.1f ticks a wake-up %.0f ns a tick, "
			    "which leaves %.0f ns a tick to the daemon)\n",
			    nd->cpu_tick_ns, fl->cpu_tick_ns, 1 / nd->runs_per_dispatch, share,
			    nd->cpu_tick_ns - share);
		}
	}
	if (mn) {
		print_check(mn->dispatch_ns <= 1000,
			    "many dispatch %.0f ns <= 1000 ns (p99 %.0f ns; CPU a tick, all "
			    "included: %.0f ns)",
			    mn->dispatch_ns, mn->dispatch_p99_ns, mn->cpu_tick_ns);
		print_check(mn->min_rate_pct >= 99 && mn->cpu_pct < 100,
			    "many: slowest node %.2f%% of its rate (>= 99%%) on %u tick thread(s), "
			    "daemon at %.1f%% of one core",
			    mn->min_rate_pct, mn->tick_threads, mn->cpu_pct);
	}
	fflush(stdout);
}

/* ---- options ----------------------------------------------------------------------------- */

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: horus-bench scheduler [options]\n"
		"\n"
		"Tick lateness and dispatch cost of a real horusd with empty-tick nodes, next to\n"
		"a bare timerfd loop (the floor) at the same rate, in the same run.\n"
		"\n"
		"Cases (--cases, default all):\n"
		"  floor   a timerfd loop in this process at --rate\n"
		"  nodes   --nodes nodes at --rate\n"
		"  spin    the same with spin_us = --spin-us\n"
		"  many    --many nodes at --many-rate\n"
		"\n"
		"Options:\n"
		"  --cases LIST       of floor,nodes,spin,many\n"
		"  --nodes N          nodes of the nodes and spin cases (default %u)\n"
		"  --rate HZ          their rate, and the floor's (default %u)\n"
		"  --spin-us US       spin_us of the spin case (default %u)\n"
		"  --many N           nodes of the many case (default %u)\n"
		"  --many-rate HZ     their rate (default %u)\n"
		"  --warmup S         seconds before the window (default %.1f)\n"
		"  --duration S       the window, per case (default %.1f)\n"
		"  --rounds N         run the cases N times in turn; the targets are judged on\n"
		"                     the median of each column (default %u)\n"
		"  --horusd PATH      the daemon (default: the build tree's, else horusd on PATH)\n"
		"  --plugin PATH      the bench node (default: bench_node.so beside horus-bench)\n"
		"  --json             one JSON object per case and line\n"
		"  -h, --help         this text\n",
		DEFAULT_NODES, DEFAULT_RATE, DEFAULT_SPIN_US, DEFAULT_MANY, DEFAULT_MANY_RATE,
		DEFAULT_WARMUP, DEFAULT_DURATION, DEFAULT_ROUNDS);
}

static int parse_options(int argc, char **argv, struct options *o)
{
	enum {
		O_CASES = 256,
		O_NODES,
		O_RATE,
		O_SPIN,
		O_MANY,
		O_MANY_RATE,
		O_WARMUP,
		O_DUR,
		O_ROUNDS,
		O_HORUSD,
		O_PLUGIN,
		O_JSON,
	};
	static const struct option longopts[] = {
	    {"cases", required_argument, NULL, O_CASES},
	    {"nodes", required_argument, NULL, O_NODES},
	    {"rate", required_argument, NULL, O_RATE},
	    {"spin-us", required_argument, NULL, O_SPIN},
	    {"many", required_argument, NULL, O_MANY},
	    {"many-rate", required_argument, NULL, O_MANY_RATE},
	    {"warmup", required_argument, NULL, O_WARMUP},
	    {"duration", required_argument, NULL, O_DUR},
	    {"rounds", required_argument, NULL, O_ROUNDS},
	    {"horusd", required_argument, NULL, O_HORUSD},
	    {"plugin", required_argument, NULL, O_PLUGIN},
	    {"json", no_argument, NULL, O_JSON},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	static const char *const expected[O_JSON - O_CASES] = {
	    "a list of floor, nodes, spin, many",
	    "a count in 1..5000",
	    "a rate in 1..10000 Hz",
	    "a number of us in 0..10000",
	    "a count in 1..5000",
	    "a rate in 1..10000 Hz",
	    "a number of seconds in (0, 60]",
	    "a number of seconds in (0, 3600]",
	    "a count in 1..20",
	    "an executable file",
	    "a file",
	};
	uint64_t v = 0;
	int opt, r;

	memset(o, 0, sizeof(*o));
	o->cases = (1u << C_COUNT) - 1;
	o->nodes = DEFAULT_NODES;
	o->rate = DEFAULT_RATE;
	o->spin_us = DEFAULT_SPIN_US;
	o->many = DEFAULT_MANY;
	o->many_rate = DEFAULT_MANY_RATE;
	o->warmup = DEFAULT_WARMUP;
	o->duration = DEFAULT_DURATION;
	o->rounds = DEFAULT_ROUNDS;

	opterr = 0;
	optind = 1;
	while ((opt = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		r = 0;
		switch (opt) {
		case 'h':
			usage(stdout);
			exit(BENCH_EXIT_OK);
		case O_CASES:
			r = bench_parse_words(optarg, case_names, C_COUNT, &o->cases);
			break;
		case O_NODES:
		case O_MANY:
			r = bench_parse_u64(optarg, 1, NODES_MAX, &v);
			*(opt == O_NODES ? &o->nodes : &o->many) = (uint32_t)v;
			break;
		case O_RATE:
		case O_MANY_RATE:
			r = bench_parse_u64(optarg, 1, 10000, &v);
			*(opt == O_RATE ? &o->rate : &o->many_rate) = (uint32_t)v;
			break;
		case O_SPIN:
			r = bench_parse_u64(optarg, 0, 10000, &v);
			o->spin_us = (uint32_t)v;
			break;
		case O_WARMUP:
			r = bench_parse_seconds(optarg, 60, &o->warmup);
			break;
		case O_DUR:
			r = bench_parse_seconds(optarg, 3600, &o->duration);
			break;
		case O_ROUNDS:
			r = bench_parse_u64(optarg, 1, ROUNDS_MAX, &v);
			o->rounds = (uint32_t)v;
			break;
		case O_HORUSD:
			o->horusd_opt = optarg;
			break;
		case O_PLUGIN:
			o->plugin_opt = optarg;
			break;
		case O_JSON:
			o->json = true;
			break;
		default:
			return bench_option_error(CMD, argv, opt);
		}
		if (r < 0) {
			return bench_bad_value(CMD, bench_option_name(longopts, opt), optarg,
					       expected[opt - O_CASES]);
		}
	}
	if (optind < argc) {
		return bench_usage_error(CMD, "unexpected argument '%s'", argv[optind]);
	}
	if (!(o->cases & ~(1u << C_FLOOR))) {
		return 0; /* the floor alone needs no daemon */
	}
	return bench_locate(CMD, o->horusd_opt, o->horusd, sizeof(o->horusd), o->plugin_opt,
			    o->plugin, sizeof(o->plugin));
}

/* Runs case k once into *rs; false when interrupted. */
static bool run_case(const struct options *o, int k, struct result *rs, int *status)
{
	int r;

	rs->kind = (enum case_kind)k;
	rs->nodes = k == C_FLOOR ? 1 : k == C_MANY ? o->many : o->nodes;
	rs->rate_hz = k == C_MANY ? o->many_rate : o->rate;
	rs->spin_us = k == C_SPIN ? o->spin_us : 0;
	rs->dispatch_ns = NAN;
	if (isatty(STDERR_FILENO)) {
		fprintf(stderr, "\r  %-8s ...", case_names[k]);
	}
	r = k == C_FLOOR ? run_floor(o, rs) : run_daemon_case(o, rs);
	if (isatty(STDERR_FILENO)) {
		fprintf(stderr, "\r%20s\r", "");
	}
	if (bench_interrupted) {
		fprintf(stderr, "horus-bench " CMD ": interrupted\n");
		return false;
	}
	if (r < 0) {
		fprintf(stderr, "horus-bench " CMD ": case %s failed: %s\n", case_names[k],
			strerror(-r));
		*status = BENCH_EXIT_FAIL;
		return true;
	}
	rs->ran = true;
	return true;
}

int bench_scheduler_main(int argc, char **argv)
{
	struct result(*res)[C_COUNT] = NULL, med[C_COUNT];
	struct options o;
	int r, status = BENCH_EXIT_OK;

	r = parse_options(argc, argv, &o);
	if (r != 0) {
		return r;
	}
	res = calloc(o.rounds, sizeof(*res));
	if (!res) {
		fprintf(stderr, "horus-bench " CMD ": out of memory\n");
		return BENCH_EXIT_FAIL;
	}
	bench_signals_init();
	if (!o.json) {
		print_header(&o);
	}
	for (unsigned i = 0; i < o.rounds; i++) {
		if (!o.json) {
			printf("round %u\n", i + 1);
		}
		for (int k = 0; k < C_COUNT; k++) {
			if (!(o.cases & (1u << k))) {
				continue;
			}
			if (!run_case(&o, k, &res[i][k], &status)) {
				free(res);
				return BENCH_EXIT_FAIL;
			}
			if (res[i][k].ran) {
				print_result(&res[i][k], i + 1, &o);
			}
		}
	}
	if (!o.json) {
		printf("median of %u round(s)\n", o.rounds);
	}
	for (int k = 0; k < C_COUNT; k++) {
		med[k] = median_result(res, o.rounds, k);
		if (med[k].ran) {
			print_result(&med[k], 0, &o);
		}
	}
	if (!o.json) {
		print_targets(med);
	}
	free(res);
	return status;
}
