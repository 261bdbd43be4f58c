/* SPDX-License-Identifier: MIT */
/*
 * horus-bench throughput: one publisher process streams messages as fast as it can to one
 * spinning subscriber process on another core, for a fixed time or count.
 *
 * The figure is what the publisher achieved (published per second of its own sending time). A
 * hub publisher never waits, so a subscriber that cannot keep up loses messages; the point is
 * that it is told exactly how many: received + lost must equal published, or the run fails. A
 * link producer retries on -EAGAIN (back-pressure), so nothing may be lost at all.
 *
 * Every payload carries its message index, so the subscriber also checks that each message it
 * gets is the one the sequence number says (never torn, never reordered).
 */

#include <errno.h>
#include <getopt.h>
#include <stdalign.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <horus/pubsub.h>

#include "bench.h"

#define CMD "throughput"

#define DEFAULT_SECONDS 2.0
#define DEFAULT_CAPACITY 1024u
/* The publisher looks at the clock once per this many messages. */
#define CLOCK_EVERY 1024u
#define CHILD_READY_NS (10ull * 1000 * 1000 * 1000)
#define COUNT_MAX (UINT64_C(1) << 40)

enum transport {
	T_HUB,
	T_LINK,
	T_COUNT,
};

static const char *const transport_names[T_COUNT] = {
	[T_HUB] = "hub",
	[T_LINK] = "link",
};

struct options {
	uint64_t payloads[BENCH_LIST_MAX];
	size_t npayloads;
	uint32_t transports;
	int cores[2];
	uint64_t count;  /* messages to publish; 0: run for `seconds` */
	double seconds;
	uint32_t capacity;
	bool json;
};

struct tp_case {
	enum transport transport;
	uint64_t payload;
	uint32_t capacity;
	char name[64];
	char topic[96];
};

/* Shared between publisher and subscriber, created before fork. */
struct shared {
	alignas(BENCH_CACHELINE) _Atomic uint32_t ready; /* publisher attached */
	_Atomic uint32_t go;                            /* subscriber attached: start */
	/* Written once by the publisher, before `done`; its own line, so the subscriber's polls
	 * of `done` share nothing with the hot data. */
	alignas(BENCH_CACHELINE) _Atomic uint32_t done;
	uint64_t published;
	uint64_t elapsed_ns;
};

struct tp_result {
	uint64_t published, received, lost;
	uint64_t pub_ns, sub_ns;
};

static char ns[HORUS_NAMESPACE_MAX + 1];

static void stamp_put(uint8_t *p, uint64_t payload, uint64_t i)
{
	if (payload >= sizeof(i)) {
		memcpy(p, &i, sizeof(i));
	}
}

static bool stamp_is(const uint8_t *p, uint64_t payload, uint64_t i)
{
	uint64_t got;

	if (payload < sizeof(i)) {
		return true;
	}
	memcpy(&got, p, sizeof(got));
	return got == i;
}

/* ---- publisher (child) ------------------------------------------------------------------- */

static int send_one(const struct tp_case *c, struct horus_pub *pub, struct horus_link *link,
		    const uint8_t *buf)
{
	int r;

	if (c->transport == T_HUB) {
		return horus_pub_publish(pub, buf, c->payload);
	}
	/* Back-pressure: a full link means wait for the consumer, never drop. */
	while ((r = horus_link_send(link, buf, c->payload)) == -EAGAIN) {
		if (bench_abort()) {
			return -ECANCELED;
		}
	}
	return r;
}

static void child_main(const struct tp_case *c, const struct options *o, struct shared *sh)
{
	struct horus_topic_opts opts = { .capacity = c->capacity, .max_msg = (uint32_t)c->payload };
	uint64_t budget = (uint64_t)(o->seconds * 1e9), start, now, n = 0;
	struct horus_pub *pub = NULL;
	struct horus_link *link = NULL;
	uint8_t *buf = calloc(1, c->payload);
	int r;

	if (!buf) {
		_exit(BENCH_EXIT_FAIL);
	}
	r = c->transport == T_HUB
		    ? horus_pub_open(ns, c->topic, &opts, &pub)
		    : horus_link_open(ns, c->topic, HORUS_LINK_PRODUCER, &opts, &link);
	if (r < 0) {
		fprintf(stderr, "horus-bench " CMD ": %s: Failed to open the publisher: %s\n",
			c->name, strerror(-r));
		_exit(BENCH_EXIT_FAIL);
	}
	atomic_store_explicit(&sh->ready, 1, memory_order_release);
	if (!bench_wait_flag(&sh->go, CHILD_READY_NS)) {
		_exit(BENCH_EXIT_FAIL);
	}

	start = now = bench_now_ns();
	for (;;) {
		uint64_t batch = CLOCK_EVERY;

		if (o->count && o->count - n < batch) {
			batch = o->count - n;
		}
		for (uint64_t k = 0; k < batch; k++) {
			stamp_put(buf, c->payload, n);
			r = send_one(c, pub, link, buf);
			if (r < 0) {
				goto out;
			}
			n++;
		}
		now = bench_now_ns();
		if (o->count ? n >= o->count : now - start >= budget) {
			break;
		}
		if (bench_abort()) {
			r = -ECANCELED;
			goto out;
		}
	}
	r = 0;
out:
	/* Final even on failure: the subscriber drains what was published and then compares. */
	sh->published = n;
	sh->elapsed_ns = now - start;
	atomic_store_explicit(&sh->done, 1, memory_order_release);
	if (r < 0 && r != -ECANCELED) {
		fprintf(stderr, "horus-bench " CMD ": %s: publishing failed: %s\n", c->name,
			strerror(-r));
	}
	horus_pub_close(pub);
	horus_link_close(link);
	free(buf);
	_exit(r < 0 ? BENCH_EXIT_FAIL : BENCH_EXIT_OK);
}

/* ---- subscriber (parent) ----------------------------------------------------------------- */

/*
 * Reads until the publisher is done and nothing is left. Checks every message against its
 * sequence number. 0, -ECANCELED, -EBADMSG (wrong message), or a read error.
 */
static int subscribe(const struct tp_case *c, struct horus_sub *sub, struct horus_link *link,
		     uint8_t *buf, struct shared *sh, struct tp_result *res)
{
	uint64_t expect = 0, received = 0, lost = 0, first = 0, last = 0;
	bool draining = false;
	int r;

	for (;;) {
		if (c->transport == T_HUB) {
			struct horus_msg_info info;

			r = horus_sub_read(sub, buf, c->payload, &info);
			if (r >= 0) {
				/* The lost count is exact if it accounts for every gap. */
				if (info.seq != expect + info.lost ||
				    !stamp_is(buf, c->payload, info.seq)) {
					return -EBADMSG;
				}
				lost += info.lost;
				expect = info.seq + 1;
			}
		} else {
			r = horus_link_recv(link, buf, c->payload);
			if (r >= 0 && !stamp_is(buf, c->payload, expect++)) {
				return -EBADMSG;
			}
		}
		if (r >= 0) {
			if ((uint64_t)r != c->payload) {
				return -EBADMSG;
			}
			/* The clock only at the ends: a reading costs as much as a message. */
			if (received++ == 0) {
				first = bench_now_ns();
			}
			continue;
		}
		if (r != -EAGAIN) {
			return r;
		}
		/* Empty. Once the publisher is done, one more empty read means all is drained. */
		if (draining) {
			last = bench_now_ns();
			break;
		}
		if (atomic_load_explicit(&sh->done, memory_order_acquire)) {
			draining = true;
		} else if (bench_abort()) {
			return -ECANCELED;
		}
	}
	res->received = received;
	res->lost = lost;
	res->published = sh->published;
	res->pub_ns = sh->elapsed_ns;
	res->sub_ns = last - first;
	if (c->transport == T_HUB &&
	    (horus_sub_received(sub) != received || horus_sub_lost(sub) != lost)) {
		fprintf(stderr,
			"horus-bench " CMD ": %s: the subscriber's counters (received %llu, lost "
			"%llu) disagree with what it delivered (%llu, %llu)\n",
			c->name, (unsigned long long)horus_sub_received(sub),
			(unsigned long long)horus_sub_lost(sub), (unsigned long long)received,
			(unsigned long long)lost);
		return -EBADMSG;
	}
	return 0;
}

static int run_case(const struct tp_case *c, const struct options *o, struct tp_result *res)
{
	struct horus_topic_opts opts = { .capacity = c->capacity, .max_msg = (uint32_t)c->payload };
	struct shared *sh = bench_shared_alloc(sizeof(*sh));
	struct horus_sub *sub = NULL;
	struct horus_link *link = NULL;
	uint8_t *buf = malloc(c->payload);
	bool child_failed;
	pid_t pid;
	int r;

	memset(res, 0, sizeof(*res));
	if (!sh || !buf) {
		fprintf(stderr, "horus-bench " CMD ": out of memory\n");
		bench_shared_free(sh, sizeof(*sh));
		free(buf);
		return -ENOMEM;
	}
	memset(buf, 0, c->payload);
	pid = bench_fork(o->cores[1]);
	if (pid < 0) {
		fprintf(stderr, "horus-bench " CMD ": Failed to fork: %s\n", strerror((int)-pid));
		bench_shared_free(sh, sizeof(*sh));
		free(buf);
		return pid;
	}
	if (pid == 0) {
		child_main(c, o, sh);
	}

	r = c->transport == T_HUB
		    ? horus_sub_open(ns, c->topic, &opts, 0, &sub)
		    : horus_link_open(ns, c->topic, HORUS_LINK_CONSUMER, &opts, &link);
	if (r < 0) {
		fprintf(stderr, "horus-bench " CMD ": %s: Failed to open the subscriber: %s\n",
			c->name, strerror(-r));
		goto out;
	}
	/* Subscribed before the first message: everything published is accounted for. */
	if (!bench_wait_flag(&sh->ready, CHILD_READY_NS)) {
		r = bench_interrupted ? -ECANCELED : -ECHILD;
		goto out;
	}
	atomic_store_explicit(&sh->go, 1, memory_order_release);
	r = subscribe(c, sub, link, buf, sh, res);
	if (r == -EBADMSG) {
		fprintf(stderr, "horus-bench " CMD ": %s: received a message that is not the one "
				"its sequence number says\n",
			c->name);
	} else if (r < 0 && r != -ECANCELED) {
		fprintf(stderr, "horus-bench " CMD ": %s: Failed to read: %s\n", c->name,
			strerror(-r));
	}

out:
	child_failed = bench_reap(pid, r < 0) < 0;
	horus_sub_close(sub);
	horus_link_close(link);
	(void)horus_clean(ns);
	bench_shared_free(sh, sizeof(*sh));
	free(buf);
	if (r >= 0 && child_failed) {
		fprintf(stderr, "horus-bench " CMD ": %s: the publishing process failed\n",
			c->name);
		r = -ECHILD;
	}
	return r;
}

/* ---- the run ----------------------------------------------------------------------------- */

static void print_header(const struct options *o)
{
	printf("horus-bench throughput: one publisher (CPU %d) to one spinning subscriber "
	       "(CPU %d); msgs/s = published per second of publishing\n\n",
	       o->cores[1], o->cores[0]);
	printf("%-6s %8s %8s %7s %11s %11s %11s %12s %11s %6s\n", "trans", "payload", "capacity",
	       "seconds", "published", "received", "lost", "msgs/s", "MB/s", "exact");
	fflush(stdout);
}

static void print_result(const struct tp_case *c, const struct tp_result *res, bool exact,
			 const struct options *o)
{
	double secs = (double)res->pub_ns / 1e9;
	double rate = secs > 0 ? (double)res->published / secs : 0;
	double sub_rate = res->sub_ns ? (double)res->received * 1e9 / (double)res->sub_ns : 0;
	char size[32];

	if (o->json) {
		bench_json_begin(stdout, "throughput", c->name);
		bench_json_str(stdout, "transport", transport_names[c->transport]);
		bench_json_u64(stdout, "payload", c->payload);
		bench_json_u64(stdout, "msgs_per_s", (uint64_t)(rate + 0.5));
		bench_json_u64(stdout, "bytes_per_s", (uint64_t)(rate * (double)c->payload + 0.5));
		bench_json_u64(stdout, "lost", res->lost);
		bench_json_u64(stdout, "published", res->published);
		bench_json_u64(stdout, "received", res->received);
		bench_json_u64(stdout, "received_per_s", (uint64_t)(sub_rate + 0.5));
		bench_json_u64(stdout, "capacity", c->capacity);
		bench_json_double(stdout, "seconds", secs);
		bench_json_bool(stdout, "exact", exact);
		bench_json_end(stdout);
		return;
	}
	printf("%-6s %8s %8u %7.2f %11llu %11llu %11llu %12.0f %11.1f %6s\n",
	       transport_names[c->transport], bench_fmt_size(c->payload, size, sizeof(size)),
	       c->capacity, secs, (unsigned long long)res->published,
	       (unsigned long long)res->received, (unsigned long long)res->lost, rate,
	       rate * (double)c->payload / 1e6, exact ? "yes" : "NO");
	fflush(stdout);
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: horus-bench throughput [options]\n"
		"\n"
		"One publisher process streams messages as fast as it can to one spinning\n"
		"subscriber process on another CPU. Reports messages published per second and the\n"
		"subscriber's lost count, and fails unless received + lost == published (hub) or\n"
		"received == published (link, whose producer retries while the link is full).\n"
		"\n"
		"Options:\n"
		"  --duration S       seconds of publishing per case (default %.1f)\n"
		"  --iterations N     publish exactly N messages per case instead\n"
		"  --payloads LIST    payload sizes, K/M suffixes allowed (default 64)\n"
		"  --transports LIST  of hub,link (default both)\n"
		"  --capacity N       ring slots (default %u)\n"
		"  --cores A,B        CPUs of the subscriber and the publisher (default 0,1)\n"
		"  --json             one JSON object per case and line\n"
		"  -h, --help         this text\n",
		DEFAULT_SECONDS, DEFAULT_CAPACITY);
}

static int parse_options(int argc, char **argv, struct options *o)
{
	enum { O_ITER = 256, O_DUR, O_PAY, O_TRANS, O_CAP, O_CORES, O_JSON };
	static const struct option longopts[] = {
		{ "iterations", required_argument, NULL, O_ITER },
		{ "duration", required_argument, NULL, O_DUR },
		{ "payloads", required_argument, NULL, O_PAY },
		{ "transports", required_argument, NULL, O_TRANS },
		{ "capacity", required_argument, NULL, O_CAP },
		{ "cores", required_argument, NULL, O_CORES },
		{ "json", no_argument, NULL, O_JSON },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	/* What each option's value must be, for error messages; indexed by opt - O_ITER. */
	static const char *const expected[O_JSON - O_ITER] = {
		"a count in 1..2^40",
		"a number of seconds in (0, 3600]",
		"a list of up to 16 sizes in 1..256M (K and M suffixes allowed)",
		"a list of hub, link",
		"a power of two in 2..65536",
		"two different CPUs this process may run on (A,B)",
	};
	uint64_t v = 0;
	int opt;

	memset(o, 0, sizeof(*o));
	o->payloads[0] = 64;
	o->npayloads = 1;
	o->transports = (1u << T_COUNT) - 1;
	o->cores[0] = 0;
	o->cores[1] = 1;
	o->seconds = DEFAULT_SECONDS;
	o->capacity = DEFAULT_CAPACITY;

	opterr = 0;
	optind = 1;
	while ((opt = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		int r = 0;

		switch (opt) {
		case 'h':
			usage(stdout);
			exit(BENCH_EXIT_OK);
		case O_ITER:
			r = bench_parse_u64(optarg, 1, COUNT_MAX, &o->count);
			break;
		case O_DUR:
			r = bench_parse_seconds(optarg, 3600, &o->seconds);
			break;
		case O_PAY:
			r = bench_parse_size_list(optarg, 1, HORUS_MAX_MSG_MAX, o->payloads,
						  &o->npayloads);
			break;
		case O_TRANS:
			r = bench_parse_words(optarg, transport_names, T_COUNT, &o->transports);
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
	if (bench_cpu_allowed(o->cores[0]) < 0 || bench_cpu_allowed(o->cores[1]) < 0) {
		return bench_usage_error(CMD, "CPUs %d,%d are not both available; use --cores",
					 o->cores[0], o->cores[1]);
	}
	return 0;
}

int bench_throughput_main(int argc, char **argv)
{
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
	if (!o.json) {
		print_header(&o);
	}
	for (size_t p = 0; p < o.npayloads; p++) {
		for (int t = 0; t < T_COUNT; t++) {
			struct tp_result res;
			struct tp_case c = {
				.transport = (enum transport)t,
				.payload = o.payloads[p],
				.capacity = o.capacity,
			};
			bool exact;

			if (!(o.transports & (1u << t))) {
				continue;
			}
			snprintf(c.name, sizeof(c.name), "%s-%llu", transport_names[t],
				 (unsigned long long)c.payload);
			snprintf(c.topic, sizeof(c.topic), "throughput.%s", c.name);
			r = run_case(&c, &o, &res);
			if (bench_interrupted) {
				fprintf(stderr, "horus-bench " CMD ": interrupted\n");
				return BENCH_EXIT_FAIL;
			}
			if (r < 0) {
				status = BENCH_EXIT_FAIL;
				continue;
			}
			exact = res.received + res.lost == res.published &&
				(c.transport == T_HUB || res.lost == 0);
			print_result(&c, &res, exact, &o);
			if (!exact) {
				fprintf(stderr,
					"horus-bench " CMD ": %s: received %llu + lost %llu != "
					"published %llu\n",
					c.name, (unsigned long long)res.received,
					(unsigned long long)res.lost,
					(unsigned long long)res.published);
				status = BENCH_EXIT_FAIL;
			}
		}
	}
	(void)horus_clean(ns);
	return status;
}
