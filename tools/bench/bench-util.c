/* SPDX-License-Identifier: MIT */
/* horus-bench helpers: statistics, pinning, the fork harness, option values, output. */

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <sched.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"

volatile sig_atomic_t bench_interrupted;
volatile sig_atomic_t bench_child_exited;

/* ---- timing ------------------------------------------------------------------------------ */

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

uint64_t bench_clock_cost_ns(void)
{
	enum { BATCHES = 31, CALLS = 1000 };
	uint64_t per_call[BATCHES];

	for (int b = 0; b < BATCHES; b++) {
		uint64_t t0 = bench_now_ns(), t1 = t0;

		for (int i = 0; i < CALLS; i++) {
			t1 = bench_now_ns();
		}
		per_call[b] = (t1 - t0) / CALLS;
	}
	qsort(per_call, BATCHES, sizeof(per_call[0]), cmp_u64);
	return per_call[BATCHES / 2];
}

/* ---- statistics -------------------------------------------------------------------------- */

/* Nearest rank: the smallest sample with at least q of all samples at or below it. */
static uint64_t rank(const uint64_t *sorted, size_t n, double q)
{
	size_t k = (size_t)(q * (double)n + 0.999999);

	if (k < 1) {
		k = 1;
	}
	if (k > n) {
		k = n;
	}
	return sorted[k - 1];
}

void bench_stats_compute(uint64_t *samples, size_t n, struct bench_stats *ret)
{
	memset(ret, 0, sizeof(*ret));
	ret->n = n;
	if (n == 0) {
		return;
	}
	qsort(samples, n, sizeof(samples[0]), cmp_u64);
	ret->min = samples[0];
	ret->p50 = rank(samples, n, 0.50);
	ret->p99 = rank(samples, n, 0.99);
	ret->p999 = rank(samples, n, 0.999);
	ret->max = samples[n - 1];
}

/* ---- CPUs and processes ------------------------------------------------------------------ */

int bench_pin(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set) < 0) {
		return -errno;
	}
	return 0;
}

int bench_cpu_allowed(int cpu)
{
	cpu_set_t set;

	if (cpu < 0 || cpu >= CPU_SETSIZE) {
		return -EINVAL;
	}
	if (sched_getaffinity(0, sizeof(set), &set) < 0) {
		return -errno;
	}
	return CPU_ISSET(cpu, &set) ? 0 : -EINVAL;
}

static void on_interrupt(int sig)
{
	(void)sig;
	bench_interrupted = 1;
}

static void on_child(int sig)
{
	(void)sig;
	bench_child_exited = 1;
}

void bench_signals_init(void)
{
	struct sigaction sa = { 0 };

	sigemptyset(&sa.sa_mask);
	sa.sa_handler = on_interrupt;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sa.sa_handler = on_child;
	sigaction(SIGCHLD, &sa, NULL);
}

pid_t bench_fork(int cpu)
{
	pid_t parent = getpid();
	pid_t pid;
	int r;

	/* Whatever sits in stdio buffers would otherwise be written twice. */
	fflush(stdout);
	fflush(stderr);
	bench_child_exited = 0;
	pid = fork();
	if (pid < 0) {
		return -errno;
	}
	if (pid > 0) {
		return pid;
	}
	/* A child spinning on a core must not outlive an interrupted or crashed parent. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent) {
		_exit(BENCH_EXIT_FAIL);
	}
	r = bench_pin(cpu);
	if (r < 0) {
		fprintf(stderr, "horus-bench: Failed to pin to CPU %d: %s\n", cpu, strerror(-r));
		_exit(BENCH_EXIT_FAIL);
	}
	return 0;
}

int bench_reap(pid_t pid, bool kill_it)
{
	int status;

	if (kill_it) {
		kill(pid, SIGKILL);
	}
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR) {
			return -errno;
		}
	}
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -ECHILD;
}

void *bench_shared_alloc(size_t size)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	void *p;

	size = (size + page - 1) & ~(page - 1);
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		return NULL;
	}
	/* Fault every page in now, not inside a measured round trip. */
	memset(p, 0, size);
	return p;
}

void bench_shared_free(void *p, size_t size)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);

	if (p) {
		munmap(p, (size + page - 1) & ~(page - 1));
	}
}

bool bench_wait_flag(const _Atomic uint32_t *word, uint64_t timeout_ns)
{
	uint64_t start = bench_now_ns();

	while (!atomic_load_explicit(word, memory_order_acquire)) {
		if (bench_abort() || bench_now_ns() - start > timeout_ns) {
			return false;
		}
		sched_yield();
	}
	return true;
}

/* ---- option values ----------------------------------------------------------------------- */

int bench_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *ret)
{
	unsigned long long v;
	char *end;

	if (!s || !isdigit((unsigned char)*s)) {
		return -EINVAL;
	}
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v < min || v > max) {
		return -EINVAL;
	}
	*ret = v;
	return 0;
}

int bench_parse_size(const char *s, uint64_t min, uint64_t max, uint64_t *ret)
{
	unsigned long long v;
	unsigned shift = 0;
	char *end;

	if (!s || !isdigit((unsigned char)*s)) {
		return -EINVAL;
	}
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno) {
		return -EINVAL;
	}
	switch (*end) {
	case '\0':
		break;
	case 'K':
	case 'k':
		shift = 10;
		break;
	case 'M':
	case 'm':
		shift = 20;
		break;
	case 'G':
	case 'g':
		shift = 30;
		break;
	default:
		return -EINVAL;
	}
	if (shift) {
		end++;
		/* Accept the spellings people type: 4K, 4KB, 4KiB. */
		if (*end == 'i') {
			end++;
		}
		if (*end == 'B') {
			end++;
		}
	}
	if (*end || v > (max >> shift) || (v << shift) < min) {
		return -EINVAL;
	}
	*ret = v << shift;
	return 0;
}

int bench_parse_size_list(const char *s, uint64_t min, uint64_t max, uint64_t ret[BENCH_LIST_MAX],
			  size_t *ret_n)
{
	uint64_t vals[BENCH_LIST_MAX];
	char item[64];
	size_t n = 0;

	if (!s || !*s) {
		return -EINVAL;
	}
	for (const char *p = s;;) {
		size_t len = strcspn(p, ",");

		if (len == 0 || len >= sizeof(item) || n == BENCH_LIST_MAX) {
			return -EINVAL;
		}
		memcpy(item, p, len);
		item[len] = '\0';
		if (bench_parse_size(item, min, max, &vals[n]) < 0) {
			return -EINVAL;
		}
		n++;
		if (!p[len]) {
			break;
		}
		p += len + 1;
	}
	memcpy(ret, vals, n * sizeof(vals[0]));
	*ret_n = n;
	return 0;
}

int bench_parse_cores(const char *s, int ret[2])
{
	uint64_t a, b;
	char first[32];
	const char *comma;

	if (!s || !(comma = strchr(s, ',')) || (size_t)(comma - s) >= sizeof(first)) {
		return -EINVAL;
	}
	memcpy(first, s, (size_t)(comma - s));
	first[comma - s] = '\0';
	if (bench_parse_u64(first, 0, CPU_SETSIZE - 1, &a) < 0 ||
	    bench_parse_u64(comma + 1, 0, CPU_SETSIZE - 1, &b) < 0 || a == b) {
		return -EINVAL;
	}
	if (bench_cpu_allowed((int)a) < 0 || bench_cpu_allowed((int)b) < 0) {
		return -EINVAL;
	}
	ret[0] = (int)a;
	ret[1] = (int)b;
	return 0;
}

int bench_parse_seconds(const char *s, double max, double *ret)
{
	double v;
	char *end;

	if (!s || !(isdigit((unsigned char)*s) || *s == '.')) {
		return -EINVAL;
	}
	errno = 0;
	v = strtod(s, &end);
	if (errno || *end || !(v > 0.0) || v > max) {
		return -EINVAL;
	}
	*ret = v;
	return 0;
}

int bench_parse_words(const char *s, const char *const *names, size_t count, uint32_t *ret_mask)
{
	uint32_t mask = 0;

	if (!s || !*s) {
		return -EINVAL;
	}
	for (const char *p = s;;) {
		size_t len = strcspn(p, ",");
		size_t i;

		for (i = 0; i < count; i++) {
			if (strlen(names[i]) == len && strncmp(names[i], p, len) == 0) {
				break;
			}
		}
		if (i == count) {
			return -EINVAL;
		}
		mask |= UINT32_C(1) << i;
		if (!p[len]) {
			break;
		}
		p += len + 1;
	}
	*ret_mask = mask;
	return 0;
}

int bench_usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "horus-bench %s: ", cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry 'horus-bench %s -h'.\n", cmd);
	return BENCH_EXIT_USAGE;
}

int bench_bad_value(const char *cmd, const char *option, const char *value, const char *expected)
{
	return bench_usage_error(cmd, "%s: '%s' is not %s", option, value, expected);
}

const char *bench_option_name(const struct option *longopts, int val)
{
	static char buf[64];

	for (; longopts->name; longopts++) {
		if (longopts->val == val && !longopts->flag) {
			snprintf(buf, sizeof(buf), "--%s", longopts->name);
			return buf;
		}
	}
	return "option";
}

int bench_option_error(const char *cmd, char **argv, int opt)
{
	/* getopt leaves optind past the offending word; optopt names a short option only. */
	const char *word = optind > 0 ? argv[optind - 1] : "?";

	if (opt == ':') {
		return bench_usage_error(cmd, "option '%s' needs a value", word);
	}
	if (optopt > 0 && optopt < 128 && isprint(optopt)) {
		return bench_usage_error(cmd, "unknown option '-%c'", optopt);
	}
	return bench_usage_error(cmd, "unknown option '%s'", word);
}

/* ---- output ------------------------------------------------------------------------------ */

const char *bench_fmt_size(uint64_t bytes, char *buf, size_t size)
{
	if (bytes >= (1u << 30) && bytes % (1u << 30) == 0) {
		snprintf(buf, size, "%llu GiB", (unsigned long long)(bytes >> 30));
	} else if (bytes >= (1u << 20) && bytes % (1u << 20) == 0) {
		snprintf(buf, size, "%llu MiB", (unsigned long long)(bytes >> 20));
	} else if (bytes >= (1u << 10) && bytes % (1u << 10) == 0) {
		snprintf(buf, size, "%llu KiB", (unsigned long long)(bytes >> 10));
	} else {
		snprintf(buf, size, "%llu B", (unsigned long long)bytes);
	}
	return buf;
}

static void json_string(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\') {
			fprintf(f, "\\%c", c);
		} else if (c < 0x20) {
			fprintf(f, "\\u%04x", c);
		} else {
			fputc(c, f);
		}
	}
	fputc('"', f);
}

void bench_json_begin(FILE *f, const char *bench, const char *name)
{
	fputs("{\"bench\":", f);
	json_string(f, bench);
	fputs(",\"case\":", f);
	json_string(f, name);
}

void bench_json_str(FILE *f, const char *key, const char *value)
{
	fputc(',', f);
	json_string(f, key);
	fputc(':', f);
	json_string(f, value);
}

void bench_json_u64(FILE *f, const char *key, uint64_t value)
{
	fputc(',', f);
	json_string(f, key);
	fprintf(f, ":%llu", (unsigned long long)value);
}

void bench_json_bool(FILE *f, const char *key, bool value)
{
	fputc(',', f);
	json_string(f, key);
	fputs(value ? ":true" : ":false", f);
}

void bench_json_double(FILE *f, const char *key, double value)
{
	fputc(',', f);
	json_string(f, key);
	/* JSON has no NaN or infinity: a ratio without a floor is null. */
	if (!isfinite(value)) {
		fputs(":null", f);
	} else {
		fprintf(f, ":%.4g", value);
	}
}

void bench_json_end(FILE *f)
{
	fputs("}\n", f);
	fflush(f);
}
