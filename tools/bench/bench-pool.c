/* SPDX-License-Identifier: MIT */
/*
 * horus-bench pool: submit-to-completion-seen of empty jobs through the worker pool of a real
 * horusd, next to CPython's concurrent.futures.ThreadPoolExecutor in the same run.
 *
 * horusd: one bench node (mode = pool) in a daemon of its own. Latency: one job in flight, the
 * time from just before host->submit to the start of the job's on_done callback on the node's
 * tick thread; that is the daemon's whole path: queue and wake a worker, run the job, resolve
 * the future, wake the node's tick thread through its event loop, run on_done. Rate: `inflight`
 * jobs kept in flight (each on_done submits the next) until `rate_jobs` are done; jobs over the
 * time from the first submit to the last on_done. rate_jobs is ten times CPython's count by
 * default, so that both rate phases last about a second (100,000 empty jobs take horusd under
 * 0.1 s: too short a window on a shared machine). The node writes its samples to a file.
 *
 * CPython: the same counts through ThreadPoolExecutor(max_workers = the same workers).
 * Latency: submit(noop).result(), one at a time. Rate: all jobs submitted at once, then
 * result() on each: the executor's best case (its queue is unbounded).
 */

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench-daemon.h"
#include "bench.h"

#define CMD "pool"

#define DEFAULT_JOBS 100000u
#define DEFAULT_RATE_JOBS 1000000u
#define DEFAULT_WARMUP 1000u
#define DEFAULT_INFLIGHT 16u
#define DEFAULT_WORKERS 4u
#define JOBS_MAX 10000000u
#define RESULT_TIMEOUT_NS (600ull * 1000 * 1000 * 1000)

struct options {
	char horusd[PATH_MAX];
	char plugin[PATH_MAX];
	const char *horusd_opt;
	const char *plugin_opt;
	const char *python;
	uint32_t jobs, rate_jobs, warmup, inflight, workers;
	bool json;
};

struct result {
	const char *name;
	bool ran;
	struct bench_stats lat;
	uint64_t rate_jobs;
	uint64_t rate_ns;
	double jobs_per_s;
	char version[32]; /* python's */
	uint64_t refused;
};

/* ---- reading samples --------------------------------------------------------------------- */

/* One number per line into samples (at most cap); returns how many. */
static long read_samples(FILE *f, uint64_t *samples, size_t cap)
{
	unsigned long long v;
	size_t n = 0;

	while (n < cap && fscanf(f, "%llu", &v) == 1) {
		samples[n++] = v;
	}
	return (long)n;
}

/* ---- horusd ------------------------------------------------------------------------------ */

static int run_horusd(const struct options *o, struct result *res)
{
	char out[BENCH_PATH_MAX + 16], key[64], *body = NULL;
	uint64_t *samples = NULL, start;
	struct bench_daemon d;
	long long err = 0, refused = 0, inflight = 0, rate_jobs = 0, rate_ns = 0, lat_jobs = 0;
	FILE *f = NULL;
	long n;
	int r;

	r = bench_daemon_init(&d, "pool", o->plugin);
	if (r < 0) {
		goto out;
	}
	snprintf(out, sizeof(out), "%s/pool.out", d.dir);
	if (asprintf(&body,
		     "workers = %u\nqueue = %u\n\n[node.pool]\nplugin = bench_node\nrate_hz = 100\n"
		     "mode = pool\njobs = %u\nrate_jobs = %u\nwarmup = %u\ninflight = %u\n"
		     "max_inflight = %u\nout = %s\n",
		     o->workers, o->inflight > 256 ? o->inflight : 256, o->jobs, o->rate_jobs,
		     o->warmup, o->inflight, o->inflight, out) < 0) {
		body = NULL;
		r = -ENOMEM;
		goto out;
	}
	r = bench_daemon_start(&d, o->horusd, body);
	if (r < 0) {
		goto out;
	}
	start = bench_now_ns();
	while (access(out, F_OK) != 0) {
		if (!bench_daemon_alive(&d)) {
			fprintf(stderr, "horus-bench " CMD ": horusd exited during the run\n");
			r = -ECHILD;
			goto out;
		}
		if (bench_now_ns() - start > RESULT_TIMEOUT_NS) {
			fprintf(stderr, "horus-bench " CMD ": no results after 600 s\n");
			r = -ETIMEDOUT;
			goto out;
		}
		if (!bench_sleep_ns(20000000ull)) {
			r = -EINTR;
			goto out;
		}
	}
	f = fopen(out, "re");
	if (!f) {
		r = -errno;
		goto out;
	}
	if (fscanf(f, "%63s %lld", key, &err) != 2 || strcmp(key, "horus-bench-pool") != 0 ||
	    err != 1) {
		r = -EPROTO;
		goto out;
	}
	err = 0;
	while (fscanf(f, "%63s", key) == 1) {
		long long v;

		if (fscanf(f, "%lld", &v) != 1) {
			r = -EPROTO;
			goto out;
		}
		if (strcmp(key, "error") == 0) {
			err = v;
		} else if (strcmp(key, "refused") == 0) {
			refused = v;
		} else if (strcmp(key, "inflight") == 0) {
			inflight = v;
		} else if (strcmp(key, "rate_jobs") == 0) {
			rate_jobs = v;
		} else if (strcmp(key, "rate_ns") == 0) {
			rate_ns = v;
		} else if (strcmp(key, "latency_jobs") == 0) {
			lat_jobs = v;
			break;
		}
	}
	(void)inflight;
	if (err < 0) {
		fprintf(stderr, "horus-bench " CMD ": the bench node stopped: %s\n",
			strerror((int)-err));
		r = (int)err;
		goto out;
	}
	if (lat_jobs <= 0 || rate_jobs <= 0 || rate_ns <= 0) {
		r = -EPROTO;
		goto out;
	}
	samples = malloc((size_t)lat_jobs * sizeof(uint64_t));
	if (!samples) {
		r = -ENOMEM;
		goto out;
	}
	n = read_samples(f, samples, (size_t)lat_jobs);
	if (n != lat_jobs) {
		r = -EPROTO;
		goto out;
	}
	bench_stats_compute(samples, (size_t)n, &res->lat);
	res->rate_jobs = (uint64_t)rate_jobs;
	res->rate_ns = (uint64_t)rate_ns;
	res->jobs_per_s = (double)rate_jobs * 1e9 / (double)rate_ns;
	res->refused = (uint64_t)refused;
	r = 0;
out:
	if (f) {
		fclose(f);
	}
	if (r < 0 && r != -EINTR) {
		d.failed = true;
		if (d.log[0]) {
			bench_daemon_log_tail(&d, 3000);
		}
	}
	bench_daemon_fini(&d);
	free(samples);
	free(body);
	return r;
}

/* ---- CPython ----------------------------------------------------------------------------- */

static const char python_script[] =
    "import sys, time, concurrent.futures as cf\n"
    "n, warm, workers = (int(a) for a in sys.argv[1:4])\n"
    "def noop():\n"
    "    return 0\n"
    "clock = time.monotonic_ns\n"
    "lat = []\n"
    "with cf.ThreadPoolExecutor(max_workers=workers) as ex:\n"
    "    for i in range(warm + n):\n"
    "        t0 = clock()\n"
    "        ex.submit(noop).result()\n"
    "        t1 = clock()\n"
    "        if i >= warm:\n"
    "            lat.append(t1 - t0)\n"
    "    t0 = clock()\n"
    "    fs = [ex.submit(noop) for _ in range(n)]\n"
    "    for f in fs:\n"
    "        f.result()\n"
    "    t1 = clock()\n"
    "sys.stdout.write('%d %d %s\\n' % (n, t1 - t0, sys.version.split()[0]))\n"
    "sys.stdout.write('\\n'.join(map(str, lat)) + '\\n')\n";

static int run_python(const struct options *o, struct result *res)
{
	char n_arg[16], warm_arg[16], workers_arg[16];
	unsigned long long rate_jobs, rate_ns;
	uint64_t *samples = NULL;
	int fds[2], status, r = 0;
	FILE *f;
	pid_t pid;
	long n;

	snprintf(n_arg, sizeof(n_arg), "%u", o->jobs);
	snprintf(warm_arg, sizeof(warm_arg), "%u", o->warmup);
	snprintf(workers_arg, sizeof(workers_arg), "%u", o->workers);
	samples = malloc((size_t)o->jobs * sizeof(uint64_t));
	if (!samples || pipe(fds) < 0) {
		free(samples);
		return -ENOMEM;
	}
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		r = -errno;
		close(fds[0]);
		close(fds[1]);
		free(samples);
		return r;
	}
	if (pid == 0) {
		dup2(fds[1], STDOUT_FILENO);
		close(fds[0]);
		close(fds[1]);
		execlp(o->python, o->python, "-c", python_script, n_arg, warm_arg, workers_arg,
		       (char *)NULL);
		_exit(127);
	}
	close(fds[1]);
	f = fdopen(fds[0], "r");
	if (!f) {
		close(fds[0]);
		r = -errno;
	} else if (fscanf(f, "%llu %llu %31s", &rate_jobs, &rate_ns, res->version) != 3) {
		r = -EPROTO;
	} else if ((n = read_samples(f, samples, o->jobs)) != (long)o->jobs) {
		r = -EPROTO;
	} else {
		bench_stats_compute(samples, (size_t)n, &res->lat);
		res->rate_jobs = rate_jobs;
		res->rate_ns = rate_ns;
		res->jobs_per_s = rate_ns ? (double)rate_jobs * 1e9 / (double)rate_ns : 0;
	}
	if (f) {
		fclose(f);
	}
	if (bench_interrupted) {
		kill(pid, SIGKILL);
	}
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
	}
	if (r == 0 && !(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
		r = -ECHILD;
	}
	free(samples);
	return r;
}

/* The interpreter: `python` if given, else python3 if it is on PATH. */
static bool have_python(const char *python)
{
	const char *path = getenv("PATH");
	char cand[PATH_MAX];

	if (strchr(python, '/')) {
		return access(python, X_OK) == 0;
	}
	for (const char *p = path; p && *p;) {
		size_t len = strcspn(p, ":");

		if (len > 0 && len + strlen(python) + 2 < sizeof(cand)) {
			snprintf(cand, sizeof(cand), "%.*s/%s", (int)len, p, python);
			if (access(cand, X_OK) == 0) {
				return true;
			}
		}
		p += len + (p[len] == ':');
	}
	return false;
}

/* ---- output ------------------------------------------------------------------------------ */

static void print_header(const struct options *o)
{
	printf("horus-bench pool: submit-to-completion-seen of empty jobs, in ns; %u workers; "
	       "latency with one job\nin flight (%u jobs after %u of warm-up), jobs/s over %u jobs "
	       "with %u in flight (horusd)\nor %u all submitted at once (CPython)\n\n",
	       o->workers, o->jobs, o->warmup, o->rate_jobs, o->inflight, o->jobs);
	printf("%-8s %-10s %8s %9s %9s %9s %10s %11s\n", "case", "version", "jobs", "p50", "p99",
	       "p999", "max", "jobs/s");
	fflush(stdout);
}

static void print_result(const struct result *r, const struct result *other,
			 const struct options *o)
{
	bool is_horusd = strcmp(r->name, "horusd") == 0;

	if (o->json) {
		bench_json_begin(stdout, CMD, r->name);
		bench_json_u64(stdout, "jobs", r->lat.n);
		bench_json_u64(stdout, "p50_ns", r->lat.p50);
		bench_json_u64(stdout, "p99_ns", r->lat.p99);
		bench_json_u64(stdout, "jobs_per_s", (uint64_t)(r->jobs_per_s + 0.5));
		bench_json_u64(stdout, "p999_ns", r->lat.p999);
		bench_json_u64(stdout, "max_ns", r->lat.max);
		bench_json_u64(stdout, "min_ns", r->lat.min);
		bench_json_u64(stdout, "rate_jobs", r->rate_jobs);
		bench_json_u64(stdout, "workers", o->workers);
		if (is_horusd) {
			bench_json_u64(stdout, "inflight", o->inflight);
			bench_json_u64(stdout, "refused", r->refused);
			bench_json_double(stdout, "rate_x_cpython",
					  other ? r->jobs_per_s / other->jobs_per_s : NAN);
			bench_json_double(stdout, "p50_x_cpython",
					  other ? (double)r->lat.p50 / (double)other->lat.p50
						: NAN);
		} else {
			bench_json_str(stdout, "python", r->version);
		}
		bench_json_end(stdout);
		return;
	}
	printf("%-8s %-10s %8zu %9llu %9llu %9llu %10llu %11.0f\n", r->name,
	       is_horusd ? "-" : r->version, r->lat.n, (unsigned long long)r->lat.p50,
	       (unsigned long long)r->lat.p99, (unsigned long long)r->lat.p999,
	       (unsigned long long)r->lat.max, r->jobs_per_s);
	fflush(stdout);
}

/* ---- options ----------------------------------------------------------------------------- */

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: horus-bench pool [options]\n"
		"\n"
		"Submit-to-completion-seen latency and rate of empty jobs through the worker pool\n"
		"of a real horusd (a bench node submits them and sees them done in on_done), next\n"
		"to CPython's concurrent.futures.ThreadPoolExecutor in the same run.\n"
		"\n"
		"Options:\n"
		"  --jobs N           jobs in the latency phases and CPython's rate phase (default "
		"%u)\n"
		"  --rate-jobs N      jobs in horusd's rate phase (default %u)\n"
		"  --warmup N         uncounted jobs before the latency phase (default %u)\n"
		"  --inflight N       jobs in flight in horusd's rate phase (default %u)\n"
		"  --workers N        worker threads, both pools (default %u)\n"
		"  --python PATH      the interpreter (default python3); --python none skips it\n"
		"  --horusd PATH      the daemon (default: the build tree's, else horusd on PATH)\n"
		"  --plugin PATH      the bench node (default: bench_node.so beside horus-bench)\n"
		"  --json             one JSON object per case and line\n"
		"  -h, --help         this text\n",
		DEFAULT_JOBS, DEFAULT_RATE_JOBS, DEFAULT_WARMUP, DEFAULT_INFLIGHT, DEFAULT_WORKERS);
}

static int parse_options(int argc, char **argv, struct options *o)
{
	enum {
		O_JOBS = 256,
		O_RATE_JOBS,
		O_WARMUP,
		O_INFLIGHT,
		O_WORKERS,
		O_PYTHON,
		O_HORUSD,
		O_PLUGIN,
		O_JSON,
	};
	static const struct option longopts[] = {
	    {"jobs", required_argument, NULL, O_JOBS},
	    {"rate-jobs", required_argument, NULL, O_RATE_JOBS},
	    {"warmup", required_argument, NULL, O_WARMUP},
	    {"inflight", required_argument, NULL, O_INFLIGHT},
	    {"workers", required_argument, NULL, O_WORKERS},
	    {"python", required_argument, NULL, O_PYTHON},
	    {"horusd", required_argument, NULL, O_HORUSD},
	    {"plugin", required_argument, NULL, O_PLUGIN},
	    {"json", no_argument, NULL, O_JSON},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	static const char *const expected[O_JSON - O_JOBS] = {
	    "a count in 1..10000000", "a count in 1..100000000",
	    "a count in 0..10000000", "a count in 1..4096",
	    "a count in 1..256",      "an interpreter",
	    "an executable file",     "a file",
	};
	uint64_t v = 0;
	int opt, r;

	memset(o, 0, sizeof(*o));
	o->jobs = DEFAULT_JOBS;
	o->rate_jobs = DEFAULT_RATE_JOBS;
	o->warmup = DEFAULT_WARMUP;
	o->inflight = DEFAULT_INFLIGHT;
	o->workers = DEFAULT_WORKERS;
	o->python = "python3";

	opterr = 0;
	optind = 1;
	while ((opt = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		r = 0;
		switch (opt) {
		case 'h':
			usage(stdout);
			exit(BENCH_EXIT_OK);
		case O_JOBS:
			r = bench_parse_u64(optarg, 1, JOBS_MAX, &v);
			o->jobs = (uint32_t)v;
			break;
		case O_RATE_JOBS:
			r = bench_parse_u64(optarg, 1, 100000000, &v);
			o->rate_jobs = (uint32_t)v;
			break;
		case O_WARMUP:
			r = bench_parse_u64(optarg, 0, JOBS_MAX, &v);
			o->warmup = (uint32_t)v;
			break;
		case O_INFLIGHT:
			r = bench_parse_u64(optarg, 1, 4096, &v);
			o->inflight = (uint32_t)v;
			break;
		case O_WORKERS:
			r = bench_parse_u64(optarg, 1, 256, &v);
			o->workers = (uint32_t)v;
			break;
		case O_PYTHON:
			o->python = strcmp(optarg, "none") == 0 ? NULL : optarg;
			r = o->python && !have_python(o->python) ? -EINVAL : 0;
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
					       expected[opt - O_JOBS]);
		}
	}
	if (optind < argc) {
		return bench_usage_error(CMD, "unexpected argument '%s'", argv[optind]);
	}
	return bench_locate(CMD, o->horusd_opt, o->horusd, sizeof(o->horusd), o->plugin_opt,
			    o->plugin, sizeof(o->plugin));
}

int bench_pool_main(int argc, char **argv)
{
	struct result hd = {.name = "horusd"}, py = {.name = "cpython"};
	struct options o;
	int r, status = BENCH_EXIT_OK;

	r = parse_options(argc, argv, &o);
	if (r != 0) {
		return r;
	}
	bench_signals_init();
	if (o.python && !have_python(o.python)) {
		fprintf(stderr, "horus-bench " CMD ": no %s on PATH: CPython's case skipped\n",
			o.python);
		o.python = NULL;
	}
	r = run_horusd(&o, &hd);
	if (bench_interrupted) {
		fprintf(stderr, "horus-bench " CMD ": interrupted\n");
		return BENCH_EXIT_FAIL;
	}
	if (r < 0) {
		fprintf(stderr, "horus-bench " CMD ": horusd case failed: %s\n", strerror(-r));
		status = BENCH_EXIT_FAIL;
	} else {
		hd.ran = true;
	}
	if (o.python) {
		r = run_python(&o, &py);
		if (bench_interrupted) {
			fprintf(stderr, "horus-bench " CMD ": interrupted\n");
			return BENCH_EXIT_FAIL;
		}
		if (r < 0) {
			fprintf(stderr, "horus-bench " CMD ": CPython case failed: %s\n",
				strerror(-r));
			status = BENCH_EXIT_FAIL;
		} else {
			py.ran = true;
		}
	}
	if (!o.json && (hd.ran || py.ran)) {
		print_header(&o);
	}
	if (hd.ran) {
		print_result(&hd, py.ran ? &py : NULL, &o);
	}
	if (py.ran) {
		print_result(&py, hd.ran ? &hd : NULL, &o);
	}
	if (!o.json && hd.ran) {
		printf("\ntargets:\n  %-4s horusd p50 %.1f us <= 10 us\n",
		       hd.lat.p50 <= 10000 ? "ok" : "MISS", hd.lat.p50 / 1e3);
		if (py.ran) {
			double x = hd.jobs_per_s / py.jobs_per_s;

			printf("  %-4s horusd %.0f jobs/s = %.1fx CPython's %.0f (>= 20x); "
			       "p50 %.2fx CPython's\n",
			       x >= 20 ? "ok" : "MISS", hd.jobs_per_s, x, py.jobs_per_s,
			       (double)hd.lat.p50 / (double)py.lat.p50);
		}
		fflush(stdout);
	}
	return status;
}
