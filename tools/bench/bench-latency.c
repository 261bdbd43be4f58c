/* SPDX-License-Identifier: MIT */
/*
 * horus-bench latency: one-way latency between two processes pinned to two cores.
 *
 * The parent sends a ping, the child echoes it back as a pong, and the parent times the round
 * trip with CLOCK_MONOTONIC; one-way is half of it. Both directions carry the full payload, and
 * each side copies it in and out exactly as an application would, so a case at payload P is
 * compared with the floor at payload P: the same copies over a bare shared buffer, with the
 * arrival signalled by a flag on its own cache line (floor-spin) or by a futex on that flag
 * (floor-futex). Every case runs in the same invocation, so the ratios hold for one machine state.
 */

#include <errno.h>
#include <getopt.h>
#include <linux/futex.h>
#include <math.h>
#include <stdalign.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <horus/pubsub.h>

#include "bench.h"

#define CMD "latency"

/* Defaults: enough samples for a stable p999 on the fast cases, bounded time on the slow ones. */
#define DEFAULT_ITERATIONS 100000u
#define DEFAULT_CASE_SECONDS 1.5
#define DEFAULT_ROUNDS 20u
#define WARMUP_ITERATIONS 1000u
/* Payloads above this are published through a loan (written once, in place), as a camera
 * frame would be; smaller ones through the copying calls, as a small sample would be. */
#define LOAN_MIN_PAYLOAD (64u * 1024u)
#define PAYLOAD_MAX (256u * 1024u * 1024u)
#define ITERATIONS_MAX 100000000u
#define ROUNDS_MAX 1000u
#define CHILD_READY_NS (10ull * 1000 * 1000 * 1000)
/*
 * Blocking waits sleep at most this long before they look whether the other process is still
 * there. A signal cannot do it alone: one that lands just before the sleep goes unseen.
 */
#define WAIT_SLICE_NS (100l * 1000 * 1000)

enum transport {
	T_FLOOR_SPIN,
	T_FLOOR_FUTEX,
	T_HUB,
	T_LINK,
	T_COUNT,
};

static const char *const transport_names[T_COUNT] = {
	[T_FLOOR_SPIN] = "floor-spin",
	[T_FLOOR_FUTEX] = "floor-futex",
	[T_HUB] = "hub",
	[T_LINK] = "link",
};

enum wait_mode {
	W_SPIN,
	W_BLOCK,
	W_COUNT,
};

static const char *const wait_names[W_COUNT] = {
	[W_SPIN] = "spin",
	[W_BLOCK] = "block",
};

struct options {
	uint64_t payloads[BENCH_LIST_MAX];
	size_t npayloads;
	uint32_t transports; /* bit per enum transport */
	uint32_t waits;      /* bit per enum wait_mode */
	int cores[2];
	uint64_t iterations;
	double seconds; /* per case; 0: no time limit */
	uint32_t rounds;
	uint32_t capacity; /* 0: chosen per payload */
	bool json;
};

struct lat_case {
	enum transport transport;
	enum wait_mode wait;
	uint64_t payload;
	uint32_t capacity; /* hub and link only */
	bool loan;
	char name[64];
	char ping[96], pong[96]; /* topic names */
};

/*
 * Shared between the two processes, created before fork: control words on the first page, then
 * the floor's area. The floor's two flags (ping, pong) each sit on a cache line of their own,
 * apart from the payload buffers and the control words.
 *
 * Where they sit changes from round to round. How long a line takes to change hands depends on
 * its physical address (which slice of the last-level cache is its home): measured here, a bare
 * flag line goes from 117 to 177 ns one-way with nothing but its page changed. A ring spreads
 * its traffic over many lines and so averages this out; a floor pinned to one line would be a
 * single draw. So each round puts the flags on random lines of FLOOR_SPREAD pages and the
 * buffers at random page offsets, and the pooled rounds average over addresses as a ring does.
 */
#define FLOOR_SPREAD 64u /* pages */
#define PAGE 4096u

struct shared {
	alignas(BENCH_CACHELINE) _Atomic uint32_t ready; /* child attached and waiting */
	_Atomic uint32_t stop;                          /* the ping being received is the last */
	/* Offsets from the start of this struct, chosen by the parent before fork. */
	size_t ping_flag, pong_flag, ping_buf, pong_buf;
};

/* One process's side of a case: what it sends on and receives from. */
struct endpoint {
	const struct lat_case *c;
	struct shared *sh;
	/* floor */
	_Atomic uint32_t *out_flag, *in_flag;
	uint8_t *out_buf, *in_buf;
	uint32_t out_seq, in_seq;
	/* hub */
	struct horus_pub *pub;
	struct horus_sub *sub;
	/* link */
	struct horus_link *tx, *rx;
	/* private payload: the source of every send and the destination of every receive */
	uint8_t *local;
};

static char ns[HORUS_NAMESPACE_MAX + 1];

/* ---- futex on the floor flag ------------------------------------------------------------- */

/*
 * Shared futexes (no FUTEX_PRIVATE_FLAG): the word is in memory mapped by two processes. The wait
 * is timed, like the bus's own (which sleeps in slices): the same syscall, and a way out if the
 * other process dies.
 */
static int futex_wait(_Atomic uint32_t *word, uint32_t expected)
{
	static const struct timespec slice = { .tv_nsec = WAIT_SLICE_NS };

	if (syscall(SYS_futex, (uint32_t *)word, FUTEX_WAIT, expected, &slice, NULL, 0) < 0) {
		return -errno;
	}
	return 0;
}

static void futex_wake(_Atomic uint32_t *word)
{
	(void)syscall(SYS_futex, (uint32_t *)word, FUTEX_WAKE, 1, NULL, NULL, 0);
}

/* ---- endpoints --------------------------------------------------------------------------- */

static size_t floor_buf_stride(uint64_t payload)
{
	return ((payload + PAGE - 1) / PAGE + FLOOR_SPREAD) * PAGE;
}

/* [control page][FLOOR_SPREAD pages of flag lines][ping buffer area][pong buffer area] */
static size_t shared_size(uint64_t payload)
{
	return PAGE + FLOOR_SPREAD * PAGE + 2 * floor_buf_stride(payload);
}

static uint64_t next_random(uint64_t *state)
{
	/* xorshift64: plenty for picking places, and no global state to share with the child. */
	*state ^= *state << 13;
	*state ^= *state >> 7;
	*state ^= *state << 17;
	return *state;
}

static void floor_place(struct shared *sh, uint64_t payload, uint64_t seed)
{
	const size_t lines = FLOOR_SPREAD * PAGE / BENCH_CACHELINE;
	size_t flag_area = PAGE, buf_area = PAGE + FLOOR_SPREAD * PAGE;
	uint64_t rnd = seed | 1;
	size_t a = next_random(&rnd) % lines, b;

	do {
		b = next_random(&rnd) % lines;
	} while (b == a);
	sh->ping_flag = flag_area + a * BENCH_CACHELINE;
	sh->pong_flag = flag_area + b * BENCH_CACHELINE;
	sh->ping_buf = buf_area + (next_random(&rnd) % FLOOR_SPREAD) * PAGE;
	sh->pong_buf = buf_area + floor_buf_stride(payload) +
		       (next_random(&rnd) % FLOOR_SPREAD) * PAGE;
}

/* side 0: the parent (sends ping, receives pong); side 1: the child. */
static int ep_open(struct endpoint *ep, const struct lat_case *c, struct shared *sh, int side)
{
	struct horus_topic_opts opts = { .capacity = c->capacity, .max_msg = (uint32_t)c->payload };
	const char *out = side == 0 ? c->ping : c->pong;
	const char *in = side == 0 ? c->pong : c->ping;
	uint8_t *base = (uint8_t *)sh;
	_Atomic uint32_t *ping_flag = (_Atomic uint32_t *)(base + sh->ping_flag);
	_Atomic uint32_t *pong_flag = (_Atomic uint32_t *)(base + sh->pong_flag);
	uint8_t *ping_buf = base + sh->ping_buf, *pong_buf = base + sh->pong_buf;
	int r = 0;

	memset(ep, 0, sizeof(*ep));
	ep->c = c;
	ep->sh = sh;
	ep->local = malloc(c->payload);
	if (!ep->local) {
		return -ENOMEM;
	}
	memset(ep->local, 0xa5, c->payload);
	switch (c->transport) {
	case T_FLOOR_SPIN:
	case T_FLOOR_FUTEX:
		ep->out_flag = side == 0 ? ping_flag : pong_flag;
		ep->in_flag = side == 0 ? pong_flag : ping_flag;
		ep->out_buf = side == 0 ? ping_buf : pong_buf;
		ep->in_buf = side == 0 ? pong_buf : ping_buf;
		break;
	case T_HUB:
		/* Subscribe first: a new subscriber sees only what is published after it
		 * joins, and the other side publishes only once both sides are attached. */
		r = horus_sub_open(ns, in, &opts, 0, &ep->sub);
		if (r >= 0) {
			r = horus_pub_open(ns, out, &opts, &ep->pub);
		}
		break;
	case T_LINK:
		r = horus_link_open(ns, in, HORUS_LINK_CONSUMER, &opts, &ep->rx);
		if (r >= 0) {
			r = horus_link_open(ns, out, HORUS_LINK_PRODUCER, &opts, &ep->tx);
		}
		break;
	default:
		r = -EINVAL;
	}
	return r;
}

static void ep_close(struct endpoint *ep)
{
	horus_pub_close(ep->pub);
	horus_sub_close(ep->sub);
	horus_link_close(ep->tx);
	horus_link_close(ep->rx);
	free(ep->local);
	memset(ep, 0, sizeof(*ep));
}

static int ep_send(struct endpoint *ep)
{
	const struct lat_case *c = ep->c;
	size_t len = c->payload;
	void *buf;
	int r;

	switch (c->transport) {
	case T_FLOOR_SPIN:
	case T_FLOOR_FUTEX:
		memcpy(ep->out_buf, ep->local, len);
		atomic_store_explicit(ep->out_flag, ++ep->out_seq, memory_order_release);
		if (c->transport == T_FLOOR_FUTEX) {
			futex_wake(ep->out_flag); /* always: the floor has no waiter bookkeeping */
		}
		return 0;
	case T_HUB:
		if (!c->loan) {
			return horus_pub_publish(ep->pub, ep->local, len);
		}
		r = horus_pub_loan(ep->pub, len, &buf);
		if (r < 0) {
			return r;
		}
		memcpy(buf, ep->local, len);
		return horus_pub_commit(ep->pub, buf);
	case T_LINK:
		if (!c->loan) {
			return horus_link_send(ep->tx, ep->local, len);
		}
		r = horus_link_loan(ep->tx, &buf);
		if (r < 0) {
			return r;
		}
		memcpy(buf, ep->local, len);
		return horus_link_commit(ep->tx, len);
	default:
		return -EINVAL;
	}
}

static int floor_recv(struct endpoint *ep)
{
	uint32_t want = ep->in_seq + 1, v;

	if (ep->c->wait == W_SPIN) {
		while (atomic_load_explicit(ep->in_flag, memory_order_acquire) != want) {
			if (bench_abort()) {
				return -ECANCELED;
			}
		}
	} else {
		while ((v = atomic_load_explicit(ep->in_flag, memory_order_acquire)) != want) {
			int r = futex_wait(ep->in_flag, v);

			if (r < 0 && r != -EAGAIN && r != -EINTR && r != -ETIMEDOUT) {
				return r;
			}
			if (bench_abort()) {
				return -ECANCELED;
			}
		}
	}
	ep->in_seq = want;
	memcpy(ep->local, ep->in_buf, ep->c->payload);
	return (int)ep->c->payload;
}

static int hub_recv(struct endpoint *ep)
{
	const struct lat_case *c = ep->c;
	int r;

	for (;;) {
		if (c->wait == W_BLOCK) {
			r = horus_sub_wait(ep->sub, WAIT_SLICE_NS);
			if (r < 0 && r != -EINTR && r != -ETIMEDOUT) {
				return r;
			}
		}
		r = horus_sub_read(ep->sub, ep->local, c->payload, NULL);
		if (r != -EAGAIN) {
			return r;
		}
		if (bench_abort()) {
			return -ECANCELED;
		}
	}
}

static int link_recv(struct endpoint *ep)
{
	const struct lat_case *c = ep->c;
	int r;

	for (;;) {
		if (c->wait == W_BLOCK) {
			r = horus_link_wait(ep->rx, WAIT_SLICE_NS);
			if (r < 0 && r != -EINTR && r != -ETIMEDOUT) {
				return r;
			}
		}
		r = horus_link_recv(ep->rx, ep->local, c->payload);
		if (r != -EAGAIN) {
			return r;
		}
		if (bench_abort()) {
			return -ECANCELED;
		}
	}
}

/* Receives one message into ep->local. 0, -ECANCELED on abort, -EBADMSG on a wrong length. */
static int ep_recv(struct endpoint *ep)
{
	int r;

	switch (ep->c->transport) {
	case T_FLOOR_SPIN:
	case T_FLOOR_FUTEX:
		r = floor_recv(ep);
		break;
	case T_HUB:
		r = hub_recv(ep);
		break;
	case T_LINK:
		r = link_recv(ep);
		break;
	default:
		r = -EINVAL;
	}
	if (r >= 0 && (uint64_t)r != ep->c->payload) {
		return -EBADMSG;
	}
	return r < 0 ? r : 0;
}

/* The first 8 payload bytes carry the iteration number, so a stale or foreign pong is caught. */
static void stamp_put(uint8_t *p, uint64_t payload, uint64_t i)
{
	if (payload >= sizeof(i)) {
		memcpy(p, &i, sizeof(i));
	}
}

static bool stamp_ok(const uint8_t *p, uint64_t payload, uint64_t i)
{
	uint64_t got;

	if (payload < sizeof(i)) {
		return true;
	}
	memcpy(&got, p, sizeof(got));
	return got == i;
}

/* ---- one case ---------------------------------------------------------------------------- */

static void child_main(const struct lat_case *c, struct shared *sh)
{
	struct endpoint ep;
	int r;

	r = ep_open(&ep, c, sh, 1);
	if (r < 0) {
		fprintf(stderr, "horus-bench " CMD ": %s: Failed to open the echo side: %s\n",
			c->name, strerror(-r));
		_exit(BENCH_EXIT_FAIL);
	}
	atomic_store_explicit(&sh->ready, 1, memory_order_release);
	for (;;) {
		r = ep_recv(&ep);
		if (r < 0) {
			break;
		}
		/* Ordered by the receive: the parent raises stop before sending its last ping. */
		if (atomic_load_explicit(&sh->stop, memory_order_relaxed)) {
			break;
		}
		r = ep_send(&ep);
		if (r < 0) {
			break;
		}
	}
	if (r < 0 && r != -ECANCELED) {
		fprintf(stderr, "horus-bench " CMD ": %s: echo side failed: %s\n", c->name,
			strerror(-r));
	}
	ep_close(&ep);
	_exit(r < 0 ? BENCH_EXIT_FAIL : BENCH_EXIT_OK);
}

/*
 * Runs one round of one case: forks the echo side, warms up, then collects up to `quota`
 * round-trip samples into `samples`, for at most `budget` ns. Returns the number of samples, or
 * -errno (after printing why).
 */
static long run_case(const struct lat_case *c, const struct options *o, uint64_t *samples,
		     uint64_t quota, uint64_t budget)
{
	size_t shsize = shared_size(c->payload);
	struct shared *sh = bench_shared_alloc(shsize);
	uint64_t start, i = 0, n = 0;
	struct endpoint ep;
	bool child_failed;
	pid_t pid;
	int r;

	if (!sh) {
		fprintf(stderr, "horus-bench " CMD ": %s: Failed to map %zu shared bytes: %s\n",
			c->name, shsize, strerror(errno));
		return -ENOMEM;
	}
	floor_place(sh, c->payload, bench_now_ns() ^ ((uint64_t)getpid() << 32));
	pid = bench_fork(o->cores[1]);
	if (pid < 0) {
		fprintf(stderr, "horus-bench " CMD ": Failed to fork: %s\n", strerror((int)-pid));
		bench_shared_free(sh, shsize);
		return pid;
	}
	if (pid == 0) {
		child_main(c, sh);
	}

	r = ep_open(&ep, c, sh, 0);
	if (r < 0) {
		fprintf(stderr, "horus-bench " CMD ": %s: Failed to open the ping side: %s\n",
			c->name, strerror(-r));
		goto out;
	}
	if (!bench_wait_flag(&sh->ready, CHILD_READY_NS)) {
		r = bench_interrupted ? -ECANCELED : -ECHILD;
		goto out;
	}

	/* Warm-up: caches, page faults, branch predictors, and the CPUs' clock ramping up. */
	start = bench_now_ns();
	for (; i < WARMUP_ITERATIONS && bench_now_ns() - start < budget / 10; i++) {
		stamp_put(ep.local, c->payload, i);
		r = ep_send(&ep);
		if (r >= 0) {
			r = ep_recv(&ep);
		}
		if (r < 0) {
			goto out;
		}
	}

	start = bench_now_ns();
	while (n < quota) {
		uint64_t t0, t1;

		stamp_put(ep.local, c->payload, i);
		t0 = bench_now_ns();
		r = ep_send(&ep);
		if (r >= 0) {
			r = ep_recv(&ep);
		}
		t1 = bench_now_ns();
		if (r < 0) {
			goto out;
		}
		if (!stamp_ok(ep.local, c->payload, i)) {
			r = -EBADMSG;
			goto out;
		}
		samples[n++] = t1 - t0;
		i++;
		if (t1 - start >= budget) {
			break;
		}
	}
	r = 0;
	if (c->transport == T_HUB && horus_sub_lost(ep.sub) != 0) {
		/* One message in flight per direction: a hub that loses here is broken. */
		fprintf(stderr, "horus-bench " CMD ": %s: subscriber lost %llu messages\n", c->name,
			(unsigned long long)horus_sub_lost(ep.sub));
		r = -EBADMSG;
	}

out:
	/* Tell the echo side to leave, and send it the ping it is waiting for. */
	atomic_store_explicit(&sh->stop, 1, memory_order_relaxed);
	if (ep.c && r >= 0) {
		(void)ep_send(&ep);
	}
	child_failed = bench_reap(pid, r < 0) < 0;
	ep_close(&ep);
	(void)horus_clean(ns);
	bench_shared_free(sh, shsize);
	/* A wait cut short without Ctrl-C means the echo process went away. */
	if ((r >= 0 && child_failed) || (r == -ECANCELED && !bench_interrupted)) {
		r = -ECHILD;
	}
	if (r < 0 && r != -ECANCELED && r != -ECHILD) {
		fprintf(stderr, "horus-bench " CMD ": %s: %s\n", c->name,
			r == -EBADMSG ? "received a wrong or stale message" : strerror(-r));
	} else if (r == -ECHILD) {
		fprintf(stderr, "horus-bench " CMD ": %s: the echo process failed\n", c->name);
	}
	return r < 0 ? r : (long)n;
}

/* ---- the run ----------------------------------------------------------------------------- */

struct result {
	struct lat_case c;
	uint64_t *samples; /* round trips of every round, o->iterations at most */
	size_t n;
	bool failed;
	struct bench_stats oneway;
};

static uint32_t auto_capacity(uint64_t payload)
{
	/* One message is in flight per direction, so the ring only needs to exist; small rings
	 * keep large frames inside the caches, as a camera topic's few slots would. */
	return payload > LOAN_MIN_PAYLOAD ? 2 : HORUS_DEFAULT_CAPACITY;
}

static void make_case(struct lat_case *c, enum transport t, enum wait_mode w, uint64_t payload,
		      const struct options *o)
{
	memset(c, 0, sizeof(*c));
	c->transport = t;
	c->wait = w;
	c->payload = payload;
	c->capacity = o->capacity ? o->capacity : auto_capacity(payload);
	c->loan = payload > LOAN_MIN_PAYLOAD;
	snprintf(c->name, sizeof(c->name), "%s-%llu-%s", transport_names[t],
		 (unsigned long long)payload, wait_names[w]);
	snprintf(c->ping, sizeof(c->ping), "latency.%s.ping", c->name);
	snprintf(c->pong, sizeof(c->pong), "latency.%s.pong", c->name);
}

static const struct result *find_floor(const struct result *res, size_t n, uint64_t payload,
				       enum wait_mode w)
{
	enum transport ft = w == W_SPIN ? T_FLOOR_SPIN : T_FLOOR_FUTEX;

	for (size_t i = 0; i < n; i++) {
		if (res[i].c.transport == ft && res[i].c.payload == payload && !res[i].failed) {
			return &res[i];
		}
	}
	return NULL;
}

static double ratio(uint64_t x, uint64_t floor_value)
{
	return floor_value ? (double)x / (double)floor_value : NAN;
}

static void print_header(const struct options *o)
{
	printf("horus-bench latency: one-way = round trip / 2, in ns (CLOCK_MONOTONIC, a reading "
	       "costs %llu ns)\n"
	       "CPUs %d,%d; cases interleaved in %u rounds; x floor = p50 (and p99) over the "
	       "floor's at the same\npayload and wait (floor-spin for spin, floor-futex for "
	       "block)\n\n",
	       (unsigned long long)bench_clock_cost_ns(), o->cores[0], o->cores[1], o->rounds);
	printf("%-12s %8s %-5s %4s %8s %9s %9s %9s %10s %7s %7s\n", "transport", "payload", "wait",
	       "api", "samples", "p50", "p99", "p999", "max", "x floor", "(p99)");
	fflush(stdout);
}

static void print_result(const struct result *r, const struct result *floor_res,
			 const struct options *o)
{
	const struct lat_case *c = &r->c;
	double x50 = floor_res ? ratio(r->oneway.p50, floor_res->oneway.p50) : NAN;
	double x99 = floor_res ? ratio(r->oneway.p99, floor_res->oneway.p99) : NAN;
	const char *api = c->transport == T_FLOOR_SPIN || c->transport == T_FLOOR_FUTEX ? "-"
			  : c->loan ? "loan"
				    : "copy";
	char size[32];

	if (o->json) {
		bench_json_begin(stdout, "latency", c->name);
		bench_json_str(stdout, "transport", transport_names[c->transport]);
		bench_json_u64(stdout, "payload", c->payload);
		bench_json_str(stdout, "wait", wait_names[c->wait]);
		bench_json_u64(stdout, "p50_ns", r->oneway.p50);
		bench_json_u64(stdout, "p99_ns", r->oneway.p99);
		bench_json_u64(stdout, "p999_ns", r->oneway.p999);
		bench_json_u64(stdout, "max_ns", r->oneway.max);
		bench_json_u64(stdout, "min_ns", r->oneway.min);
		bench_json_u64(stdout, "samples", r->oneway.n);
		bench_json_str(stdout, "api", api);
		if (c->transport == T_HUB || c->transport == T_LINK) {
			bench_json_u64(stdout, "capacity", c->capacity);
		}
		bench_json_double(stdout, "p50_x_floor", x50);
		bench_json_double(stdout, "p99_x_floor", x99);
		bench_json_u64(stdout, "cpu_a", (uint64_t)o->cores[0]);
		bench_json_u64(stdout, "cpu_b", (uint64_t)o->cores[1]);
		bench_json_end(stdout);
		return;
	}
	printf("%-12s %8s %-5s %4s %8zu %9llu %9llu %9llu %10llu", transport_names[c->transport],
	       bench_fmt_size(c->payload, size, sizeof(size)), wait_names[c->wait], api,
	       r->oneway.n, (unsigned long long)r->oneway.p50, (unsigned long long)r->oneway.p99,
	       (unsigned long long)r->oneway.p999, (unsigned long long)r->oneway.max);
	if (!isnan(x50)) {
		printf(" %6.2fx %6.2fx\n", x50, x99);
	} else {
		printf(" %7s %7s\n", "-", "-");
	}
	fflush(stdout);
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: horus-bench latency [options]\n"
		"\n"
		"One-way latency of the bus between two processes pinned to two CPUs\n"
		"(ping-pong, one-way = round trip / 2), next to the floor of this machine\n"
		"measured in the same run: the same payload copies over a bare shared cache\n"
		"line (floor-spin) and a bare futex (floor-futex).\n"
		"\n"
		"Options:\n"
		"  --iterations N     samples per case (default %u)\n"
		"  --duration S       at most S seconds per case (default %.1f; 0 = no limit);\n"
		"                     giving --iterations alone lifts the limit\n"
		"  --rounds N         interleave the cases in N rounds (default %u)\n"
		"  --payloads LIST    payload sizes, K/M suffixes allowed (default 64,1M)\n"
		"  --transports LIST  of floor-spin,floor-futex,hub,link (default all)\n"
		"  --wait LIST        of spin,block (default both)\n"
		"  --capacity N       ring slots for hub and link (default 16, 2 above 64 KiB)\n"
		"  --cores A,B        CPUs of the two processes (default 0,1)\n"
		"  --json             one JSON object per case and line\n"
		"  -h, --help         this text\n"
		"\n"
		"Payloads above 64 KiB are published through a loan (horus_pub_loan, memcpy,\n"
		"horus_pub_commit) and read by copy-out; smaller ones by horus_pub_publish.\n",
		DEFAULT_ITERATIONS, DEFAULT_CASE_SECONDS, DEFAULT_ROUNDS);
}

static int parse_options(int argc, char **argv, struct options *o)
{
	enum { O_ITER = 256, O_DUR, O_ROUNDS, O_PAY, O_TRANS, O_WAIT, O_CAP, O_CORES, O_JSON };
	static const struct option longopts[] = {
		{ "iterations", required_argument, NULL, O_ITER },
		{ "duration", required_argument, NULL, O_DUR },
		{ "rounds", required_argument, NULL, O_ROUNDS },
		{ "payloads", required_argument, NULL, O_PAY },
		{ "transports", required_argument, NULL, O_TRANS },
		{ "wait", required_argument, NULL, O_WAIT },
		{ "capacity", required_argument, NULL, O_CAP },
		{ "cores", required_argument, NULL, O_CORES },
		{ "json", no_argument, NULL, O_JSON },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	/* What each option's value must be, for error messages; indexed by opt - O_ITER. */
	static const char *const expected[O_JSON - O_ITER] = {
		"a count in 1..100000000",
		"a number of seconds in (0, 3600], or 0 for no limit",
		"a count in 1..1000",
		"a list of up to 16 sizes in 1..256M (K and M suffixes allowed)",
		"a list of floor-spin, floor-futex, hub, link",
		"a list of spin, block",
		"a power of two in 2..65536",
		"two different CPUs this process may run on (A,B)",
	};
	bool have_iter = false, have_dur = false;
	uint64_t v = 0;
	int opt;

	memset(o, 0, sizeof(*o));
	o->payloads[0] = 64;
	o->payloads[1] = 1024 * 1024;
	o->npayloads = 2;
	o->transports = (1u << T_COUNT) - 1;
	o->waits = (1u << W_COUNT) - 1;
	o->cores[0] = 0;
	o->cores[1] = 1;
	o->iterations = DEFAULT_ITERATIONS;
	o->seconds = DEFAULT_CASE_SECONDS;
	o->rounds = DEFAULT_ROUNDS;

	opterr = 0;
	optind = 1;
	while ((opt = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		int r = 0;

		switch (opt) {
		case 'h':
			usage(stdout);
			exit(BENCH_EXIT_OK);
		case O_ITER:
			r = bench_parse_u64(optarg, 1, ITERATIONS_MAX, &o->iterations);
			have_iter = true;
			break;
		case O_DUR:
			o->seconds = 0;
			if (strcmp(optarg, "0") != 0) {
				r = bench_parse_seconds(optarg, 3600, &o->seconds);
			}
			have_dur = true;
			break;
		case O_ROUNDS:
			r = bench_parse_u64(optarg, 1, ROUNDS_MAX, &v);
			o->rounds = (uint32_t)v;
			break;
		case O_PAY:
			r = bench_parse_size_list(optarg, 1, PAYLOAD_MAX, o->payloads,
						  &o->npayloads);
			break;
		case O_TRANS:
			r = bench_parse_words(optarg, transport_names, T_COUNT, &o->transports);
			break;
		case O_WAIT:
			r = bench_parse_words(optarg, wait_names, W_COUNT, &o->waits);
			break;
		case O_CAP:
			r = bench_parse_u64(optarg, 2, HORUS_CAPACITY_MAX, &v);
			r = r < 0 || (v & (v - 1)) ? -EINVAL : 0;
			o->capacity = (uint32_t)v;
			break;
		case O_CORES:
			r = bench_parse_cores(optarg, o->cores);
			break;
		case O_JSON:
			o->json = true;
			break;
		default:
			return bench_option_error(CMD, argv, opt);
		}
		if (r < 0) {
			return bench_bad_value(CMD, bench_option_name(longopts, opt), optarg,
					       expected[opt - O_ITER]);
		}
	}
	if (optind < argc) {
		return bench_usage_error(CMD, "unexpected argument '%s'", argv[optind]);
	}
	/* An explicit count is a promise of that many samples, unless a limit is asked for too. */
	if (have_iter && !have_dur) {
		o->seconds = 0;
	}
	if (o->rounds > o->iterations) {
		o->rounds = (uint32_t)o->iterations;
	}
	if (bench_cpu_allowed(o->cores[0]) < 0 || bench_cpu_allowed(o->cores[1]) < 0) {
		return bench_usage_error(CMD, "CPUs %d,%d are not both available; use --cores",
					 o->cores[0], o->cores[1]);
	}
	return 0;
}

/* Round trips into one-way figures. */
static void finish(struct result *rs)
{
	bench_stats_compute(rs->samples, rs->n, &rs->oneway);
	rs->oneway.min /= 2;
	rs->oneway.p50 /= 2;
	rs->oneway.p99 /= 2;
	rs->oneway.p999 /= 2;
	rs->oneway.max /= 2;
}

int bench_latency_main(int argc, char **argv)
{
	/* Floors first in a round, so that a case and its floor run close together in time. */
	static const struct {
		enum transport t;
		enum wait_mode w;
	} order[] = {
		{ T_FLOOR_SPIN, W_SPIN }, { T_FLOOR_FUTEX, W_BLOCK }, { T_HUB, W_SPIN },
		{ T_HUB, W_BLOCK },       { T_LINK, W_SPIN },         { T_LINK, W_BLOCK },
	};
	const size_t norder = sizeof(order) / sizeof(order[0]);
	bool progress = isatty(STDERR_FILENO);
	struct result *res = NULL;
	size_t nres = 0;
	struct options o;
	int r, status = BENCH_EXIT_OK;

	r = parse_options(argc, argv, &o);
	if (r != 0) {
		return r;
	}
	snprintf(ns, sizeof(ns), "bench-%ld", (long)getpid());
	bench_signals_init();
	r = bench_pin(o.cores[0]);
	if (r < 0) {
		fprintf(stderr, "horus-bench " CMD ": Failed to pin to CPU %d: %s\n", o.cores[0],
			strerror(-r));
		return BENCH_EXIT_FAIL;
	}
	res = calloc(o.npayloads * norder, sizeof(*res));
	if (!res) {
		goto oom;
	}
	for (size_t p = 0; p < o.npayloads; p++) {
		for (size_t k = 0; k < norder; k++) {
			if (!(o.transports & (1u << order[k].t)) ||
			    !(o.waits & (1u << order[k].w))) {
				continue;
			}
			make_case(&res[nres].c, order[k].t, order[k].w, o.payloads[p], &o);
			res[nres].samples = malloc(o.iterations * sizeof(uint64_t));
			if (!res[nres].samples) {
				goto oom;
			}
			/* Fault the buffer in now, not while timing. */
			memset(res[nres].samples, 0, o.iterations * sizeof(uint64_t));
			nres++;
		}
	}
	/*
	 * The machine under the two processes changes while we measure (on a VM, the host moves
	 * the virtual CPUs; two cores can be siblings for a few seconds and far apart the next).
	 * So no case runs in one piece: every case gets a slice of its iterations and time in each
	 * round, and the rounds alternate their direction, so that every case and its floor see
	 * the same mix of conditions.
	 */
	for (uint32_t round = 0; round < o.rounds; round++) {
		for (size_t j = 0; j < nres; j++) {
			struct result *rs = &res[round % 2 ? nres - 1 - j : j];
			uint64_t left = o.iterations - rs->n, rounds_left = o.rounds - round;
			uint64_t quota = (left + rounds_left - 1) / rounds_left;
			uint64_t budget = o.seconds > 0 ? (uint64_t)(o.seconds * 1e9 / o.rounds)
							: UINT64_MAX;
			long n;

			if (rs->failed || quota == 0) {
				continue;
			}
			if (progress) {
				fprintf(stderr, "\r  round %u/%u: %-24s", round + 1, o.rounds,
					rs->c.name);
			}
			n = run_case(&rs->c, &o, rs->samples + rs->n, quota, budget);
			if (bench_interrupted) {
				status = BENCH_EXIT_FAIL;
				goto out;
			}
			if (n < 0) {
				rs->failed = true;
				status = BENCH_EXIT_FAIL;
				continue;
			}
			rs->n += (size_t)n;
		}
	}
	if (progress) {
		fprintf(stderr, "\r%50s\r", "");
	}

	for (size_t j = 0; j < nres; j++) {
		if (!res[j].failed) {
			finish(&res[j]);
		}
	}
	for (size_t j = 0; j < nres; j++) {
		if (!o.json && !res[j].failed) {
			print_header(&o);
			break;
		}
	}
	for (size_t j = 0; j < nres; j++) {
		if (!res[j].failed) {
			const struct result *fl =
				find_floor(res, nres, res[j].c.payload, res[j].c.wait);

			print_result(&res[j], fl, &o);
		}
	}
	goto out;

oom:
	fprintf(stderr, "horus-bench " CMD ": out of memory\n");
	status = BENCH_EXIT_FAIL;
out:
	(void)horus_clean(ns);
	for (size_t j = 0; res && j < o.npayloads * norder; j++) {
		free(res[j].samples);
	}
	free(res);
	if (bench_interrupted) {
		fprintf(stderr, "horus-bench " CMD ": interrupted\n");
	}
	return status;
}
