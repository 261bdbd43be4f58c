/* SPDX-License-Identifier: MIT */
/*
 * horus-bench asyncio: the seed's scenario in a real horusd. A 100 Hz scheduler with a reader
 * node whose read blocks 50 ms, and three other 100 Hz nodes with empty ticks; the reader
 * either reads inside its tick (blocking) or submits the read to the daemon's worker pool and
 * polls the future from its tick, one read in flight (threaded). Each mode runs in a horusd of
 * its own for a fixed window after a warm-up.
 *
 * What is counted: a node's ticks completed in the window (the daemon's "ticks" counter, read
 * from "1 node list" at both ends). The daemon runs a node on its own absolute grid and never
 * runs catch-up ticks, so a grid point missed because the previous tick overran is a tick
 * missing from the count: efficiency = ticks / (rate x window) is the share of grid points
 * that got their tick. It counts ticks, not frames: the reads completed are reported beside it
 * (reads_per_s; with one 50 ms read in flight at most 20 per second).
 */

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench-daemon.h"
#include "bench.h"

#define CMD "asyncio"

#define DEFAULT_RATE 100u
#define DEFAULT_READ_MS 50u
#define DEFAULT_OTHERS 3u
#define DEFAULT_WARMUP 1.0
#define DEFAULT_DURATION 10.0
#define START_NODES_TIMEOUT_NS (20ull * 1000 * 1000 * 1000)

enum mode {
	M_BLOCKING,
	M_THREADED,
	M_COUNT,
};

static const char *const mode_names[M_COUNT] = {
    [M_BLOCKING] = "blocking",
    [M_THREADED] = "threaded",
};

struct options {
	char horusd[PATH_MAX];
	char plugin[PATH_MAX];
	const char *horusd_opt;
	const char *plugin_opt;
	uint32_t modes;
	uint32_t rate, read_ms, others;
	double warmup, duration;
	bool json;
};

struct result {
	enum mode mode;
	double seconds;
	uint64_t expected_ticks;      /* per node */
	uint64_t actual_ticks;	      /* the reader's */
	uint64_t others_ticks;	      /* all the others' together */
	double efficiency;	      /* reader */
	double others_efficiency;     /* all others together */
	double others_min_efficiency; /* the worst of them */
	double reads_per_s;
	double reader_late_max_us, reader_tick_p50_us;
	double others_late_p99_us, others_late_max_us; /* max over the others, whole life */
	unsigned tick_threads;
};

static double clamp01(double x)
{
	return x < 0 ? 0 : x > 1 ? 1 : x;
}

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
			fprintf(stderr, "horus-bench " CMD ": %d of %u nodes ticking after 20 s\n",
				ticking, nodes);
			return -ETIMEDOUT;
		}
		bench_sleep_ns(20000000ull);
	}
}

static int run_mode(const struct options *o, struct result *res)
{
	struct bench_node_snap *a = NULL, *b = NULL;
	const struct bench_node_snap *ra, *rb;
	struct bench_daemon d;
	struct bench_status st;
	uint64_t at_a, at_b;
	char *body = NULL;
	size_t cap = 1024 + (size_t)o->others * 160, len;
	int na = 0, nb = 0, r;

	r = bench_daemon_init(&d, "aio", o->plugin);
	if (r < 0) {
		goto out;
	}
	body = malloc(cap);
	if (!body) {
		r = -ENOMEM;
		goto out;
	}
	/*
	 * The reader: one read in flight (max_inflight = 1), a timeout well above the read. Its
	 * deadline is left at the period: in blocking mode every tick misses it (logged at warn,
	 * rate-limited), as it would in a real daemon.
	 */
	len = (size_t)snprintf(body, cap,
			       "workers = 4\n\n[node.reader]\nplugin = bench_node\nrate_hz = %u\n"
			       "mode = read\nread_ms = %u\nblocking = %s\nmax_inflight = 1\n"
			       "io_timeout_ms = %u\n\n",
			       o->rate, o->read_ms, res->mode == M_BLOCKING ? "true" : "false",
			       o->read_ms * 4 + 1000);
	for (uint32_t i = 0; i < o->others; i++) {
		len += (size_t)snprintf(body + len, cap - len,
					"[node.other%u]\nplugin = bench_node\nrate_hz = %u\n"
					"mode = empty\n\n",
					i + 1, o->rate);
	}
	r = bench_daemon_start(&d, o->horusd, body);
	if (r < 0) {
		goto out;
	}
	r = wait_ticking(&d, o->others + 1);
	if (r < 0) {
		d.failed = true;
		goto out;
	}
	if (!bench_sleep_ns((uint64_t)(o->warmup * 1e9))) {
		r = -EINTR;
		goto out;
	}
	na = bench_daemon_nodes(&d, &a, &at_a);
	if (na < 0) {
		r = na;
		goto out;
	}
	if (!bench_sleep_ns((uint64_t)(o->duration * 1e9))) {
		r = -EINTR;
		goto out;
	}
	nb = bench_daemon_nodes(&d, &b, &at_b);
	if (nb < 0) {
		r = nb;
		goto out;
	}
	r = bench_daemon_status(&d, &st);
	if (r < 0) {
		goto out;
	}
	res->tick_threads = st.tick_threads;
	ra = bench_node_find(a, na, "reader");
	rb = bench_node_find(b, nb, "reader");
	if (!ra || !rb || nb != (int)o->others + 1) {
		fprintf(stderr, "horus-bench " CMD ": the nodes are not all listed\n");
		r = -EPROTO;
		goto out;
	}
	res->seconds = (double)(at_b - at_a) / 1e9;
	res->expected_ticks = (uint64_t)llround(res->seconds * o->rate);
	res->actual_ticks = rb->ticks - ra->ticks;
	res->efficiency = clamp01((double)res->actual_ticks / (double)res->expected_ticks);
	res->reads_per_s = (double)(res->mode == M_BLOCKING ? res->actual_ticks
							    : rb->io_completed - ra->io_completed) /
			   res->seconds;
	res->reader_late_max_us = rb->late_max_us;
	res->reader_tick_p50_us = rb->tick_p50_us;
	res->others_min_efficiency = 1;
	for (int i = 0; i < nb; i++) {
		const struct bench_node_snap *x;
		uint64_t t;

		if (strcmp(b[i].name, "reader") == 0) {
			continue;
		}
		x = bench_node_find(a, na, b[i].name);
		if (!x) {
			r = -EPROTO;
			goto out;
		}
		t = b[i].ticks - x->ticks;
		res->others_ticks += t;
		res->others_min_efficiency = fmin(res->others_min_efficiency,
						  clamp01((double)t / (double)res->expected_ticks));
		res->others_late_p99_us = fmax(res->others_late_p99_us, b[i].late_p99_us);
		res->others_late_max_us = fmax(res->others_late_max_us, b[i].late_max_us);
	}
	res->others_efficiency =
	    clamp01((double)res->others_ticks / ((double)res->expected_ticks * o->others));
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
	free(body);
	return r;
}

/* ---- output ------------------------------------------------------------------------------ */

static void print_header(const struct options *o)
{
	printf("horus-bench asyncio: %u Hz scheduler, a reader whose read blocks %u ms, %u other "
	       "%u Hz nodes;\nefficiency = ticks completed / (rate x window), window %.1f s after "
	       "%.1f s of warm-up\n\n",
	       o->rate, o->read_ms, o->others, o->rate, o->duration, o->warmup);
	printf("%-9s %8s %8s %10s %8s %10s %8s %8s %10s %7s\n", "mode", "expected", "actual",
	       "efficiency", "others", "others_eff", "(worst)", "reads/s", "others max", "threads");
	fflush(stdout);
}

static void print_result(const struct result *r, const struct options *o)
{
	if (o->json) {
		bench_json_begin(stdout, CMD, mode_names[r->mode]);
		bench_json_str(stdout, "mode", mode_names[r->mode]);
		bench_json_u64(stdout, "expected_ticks", r->expected_ticks);
		bench_json_u64(stdout, "actual_ticks", r->actual_ticks);
		bench_json_double(stdout, "efficiency", r->efficiency);
		bench_json_double(stdout, "others_efficiency", r->others_efficiency);
		bench_json_double(stdout, "others_min_efficiency", r->others_min_efficiency);
		bench_json_u64(stdout, "others_ticks", r->others_ticks);
		bench_json_u64(stdout, "others", o->others);
		bench_json_u64(stdout, "rate_hz", o->rate);
		bench_json_u64(stdout, "read_ms", o->read_ms);
		bench_json_double(stdout, "reads_per_s", r->reads_per_s);
		bench_json_double(stdout, "reader_tick_p50_us", r->reader_tick_p50_us);
		bench_json_double(stdout, "reader_late_max_us", r->reader_late_max_us);
		bench_json_double(stdout, "others_late_p99_us", r->others_late_p99_us);
		bench_json_double(stdout, "others_late_max_us", r->others_late_max_us);
		bench_json_u64(stdout, "tick_threads", r->tick_threads);
		bench_json_double(stdout, "seconds", r->seconds);
		bench_json_end(stdout);
		return;
	}
	printf("%-9s %8llu %8llu %9.1f%% %8llu %9.1f%% %7.1f%% %8.1f %8.1fms %7u\n",
	       mode_names[r->mode], (unsigned long long)r->expected_ticks,
	       (unsigned long long)r->actual_ticks, 100 * r->efficiency,
	       (unsigned long long)r->others_ticks, 100 * r->others_efficiency,
	       100 * r->others_min_efficiency, r->reads_per_s, r->others_late_max_us / 1e3,
	       r->tick_threads);
	fflush(stdout);
}

static void print_targets(const struct result *res, const bool *ran)
{
	printf("\ntargets:\n");
	if (ran[M_THREADED]) {
		const struct result *t = &res[M_THREADED];

		printf("  %-4s threaded: reader %.2f%% >= 99.5%%, others %.2f%% >= 99.5%%\n",
		       t->efficiency >= 0.995 && t->others_efficiency >= 0.995 ? "ok" : "MISS",
		       100 * t->efficiency, 100 * t->others_efficiency);
	}
	if (ran[M_BLOCKING]) {
		const struct result *b = &res[M_BLOCKING];

		printf("  %-4s blocking shows the stall: reader %.1f%% of its ticks "
		       "(others %.2f%%, their worst lateness %.1f ms)\n",
		       b->efficiency < 0.5 ? "ok" : "MISS", 100 * b->efficiency,
		       100 * b->others_efficiency, b->others_late_max_us / 1e3);
	}
	fflush(stdout);
}

/* ---- options ----------------------------------------------------------------------------- */

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: horus-bench asyncio [options]\n"
		"\n"
		"The seed's scenario in a real horusd: a reader node whose read blocks, done\n"
		"inside its tick (blocking) or on the daemon's worker pool (threaded), beside\n"
		"other nodes at the same rate; each mode in a daemon of its own.\n"
		"\n"
		"Options:\n"
		"  --modes LIST       of blocking,threaded (default both)\n"
		"  --rate HZ          every node's rate (default %u)\n"
		"  --read-ms MS       how long a read blocks (default %u)\n"
		"  --others N         other nodes (default %u)\n"
		"  --warmup S         seconds before the window (default %.1f)\n"
		"  --duration S       the window, per mode (default %.1f)\n"
		"  --horusd PATH      the daemon (default: the build tree's, else horusd on PATH)\n"
		"  --plugin PATH      the bench node (default: bench_node.so beside horus-bench)\n"
		"  --json             one JSON object per mode and line\n"
		"  -h, --help         this text\n",
		DEFAULT_RATE, DEFAULT_READ_MS, DEFAULT_OTHERS, DEFAULT_WARMUP, DEFAULT_DURATION);
}

static int parse_options(int argc, char **argv, struct options *o)
{
	enum {
		O_MODES = 256,
		O_RATE,
		O_READ,
		O_OTHERS,
		O_WARMUP,
		O_DUR,
		O_HORUSD,
		O_PLUGIN,
		O_JSON,
	};
	static const struct option longopts[] = {
	    {"modes", required_argument, NULL, O_MODES},
	    {"rate", required_argument, NULL, O_RATE},
	    {"read-ms", required_argument, NULL, O_READ},
	    {"others", required_argument, NULL, O_OTHERS},
	    {"warmup", required_argument, NULL, O_WARMUP},
	    {"duration", required_argument, NULL, O_DUR},
	    {"horusd", required_argument, NULL, O_HORUSD},
	    {"plugin", required_argument, NULL, O_PLUGIN},
	    {"json", no_argument, NULL, O_JSON},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	static const char *const expected[O_JSON - O_MODES] = {
	    "a list of blocking, threaded",
	    "a rate in 1..1000 Hz",
	    "a number of ms in 0..10000",
	    "a count in 1..100",
	    "a number of seconds in (0, 60]",
	    "a number of seconds in (0, 3600]",
	    "an executable file",
	    "a file",
	};
	uint64_t v = 0;
	int opt, r;

	memset(o, 0, sizeof(*o));
	o->modes = (1u << M_COUNT) - 1;
	o->rate = DEFAULT_RATE;
	o->read_ms = DEFAULT_READ_MS;
	o->others = DEFAULT_OTHERS;
	o->warmup = DEFAULT_WARMUP;
	o->duration = DEFAULT_DURATION;

	opterr = 0;
	optind = 1;
	while ((opt = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		r = 0;
		switch (opt) {
		case 'h':
			usage(stdout);
			exit(BENCH_EXIT_OK);
		case O_MODES:
			r = bench_parse_words(optarg, mode_names, M_COUNT, &o->modes);
			break;
		case O_RATE:
			r = bench_parse_u64(optarg, 1, 1000, &v);
			o->rate = (uint32_t)v;
			break;
		case O_READ:
			r = bench_parse_u64(optarg, 0, 10000, &v);
			o->read_ms = (uint32_t)v;
			break;
		case O_OTHERS:
			r = bench_parse_u64(optarg, 1, 100, &v);
			o->others = (uint32_t)v;
			break;
		case O_WARMUP:
			r = bench_parse_seconds(optarg, 60, &o->warmup);
			break;
		case O_DUR:
			r = bench_parse_seconds(optarg, 3600, &o->duration);
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
					       expected[opt - O_MODES]);
		}
	}
	if (optind < argc) {
		return bench_usage_error(CMD, "unexpected argument '%s'", argv[optind]);
	}
	return bench_locate(CMD, o->horusd_opt, o->horusd, sizeof(o->horusd), o->plugin_opt,
			    o->plugin, sizeof(o->plugin));
}

int bench_asyncio_main(int argc, char **argv)
{
	struct result res[M_COUNT];
	bool ran[M_COUNT] = {false}, header = false;
	struct options o;
	int r, status = BENCH_EXIT_OK;

	r = parse_options(argc, argv, &o);
	if (r != 0) {
		return r;
	}
	bench_signals_init();
	memset(res, 0, sizeof(res));
	for (int m = 0; m < M_COUNT; m++) {
		if (!(o.modes & (1u << m))) {
			continue;
		}
		res[m].mode = (enum mode)m;
		if (isatty(STDERR_FILENO)) {
			fprintf(stderr, "\r  %-9s ...", mode_names[m]);
		}
		r = run_mode(&o, &res[m]);
		if (isatty(STDERR_FILENO)) {
			fprintf(stderr, "\r%20s\r", "");
		}
		if (bench_interrupted) {
			fprintf(stderr, "horus-bench " CMD ": interrupted\n");
			return BENCH_EXIT_FAIL;
		}
		if (r < 0) {
			fprintf(stderr, "horus-bench " CMD ": mode %s failed: %s\n", mode_names[m],
				strerror(-r));
			status = BENCH_EXIT_FAIL;
			continue;
		}
		ran[m] = true;
		if (!o.json && !header) {
			print_header(&o);
			header = true;
		}
		print_result(&res[m], &o);
	}
	if (!o.json && header) {
		print_targets(res, ran);
	}
	return status;
}
