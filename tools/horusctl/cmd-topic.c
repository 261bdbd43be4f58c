/* SPDX-License-Identifier: MIT */
/*
 * The verbs that work on the namespace's segments directly, with or without a daemon: topic
 * list|info|echo|pub and clean.
 */

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ctl.h"
#include "fmt.h"

/* Messages larger than this are shown cut short on a terminal (all of it with --json/--raw). */
#define ECHO_HEX_SHOWN 64
/* topic info measures rate and bandwidth over this long unless -w says otherwise. */
#define INFO_WINDOW_S 0.5
/* topic pub -n N without -r. */
#define PUB_DEFAULT_HZ 10.0

const char *ctl_kind_name(uint32_t kind)
{
	return kind == HORUS_KIND_HUB ? "hub" : kind == HORUS_KIND_LINK ? "link" : "unknown";
}

int ctl_topic_find(const struct ctl *c, struct horus_topic_info *ret)
{
	int r;

	if (horus_topic_check(c->args.name) < 0) {
		ctl_err(
		    "topic '%s': invalid name (1 to %d of [A-Za-z0-9_.-/], no leading, trailing "
		    "or double '/', no '..')",
		    c->args.name, HORUS_TOPIC_MAX);
		return CTL_EXIT_USAGE;
	}
	r = horus_topic_info(c->ns, c->args.name, HORUS_KIND_HUB, ret);
	if (r == -ENOENT) {
		r = horus_topic_info(c->ns, c->args.name, HORUS_KIND_LINK, ret);
	}
	if (r == -ENOENT) {
		ctl_err("topic '%s': no such topic in namespace '%s'", c->args.name, c->ns);
		return CTL_EXIT_FAIL;
	}
	if (r < 0) {
		ctl_err("topic '%s': %s", c->args.name,
			r == -EPROTO ? "segment is corrupt or foreign" : strerror(-r));
		return CTL_EXIT_FAIL;
	}
	return CTL_EXIT_OK;
}

/* The contract's fields (DESIGN.md: topic list), then what a caller adds, then '}'. */
static void topic_json_open(const struct horus_topic_info *t)
{
	fputs("{\"name\": ", stdout);
	fmt_json_str(stdout, t->name, strlen(t->name));
	printf(", \"kind\": \"%s\", \"publishers\": %" PRIu32 ", \"subscribers\": %" PRIu32
	       ", \"messages\": %" PRIu64 ", \"bytes\": %" PRIu64 ", \"lost\": %" PRIu64
	       ", \"capacity\": %" PRIu32 ", \"max_msg\": %" PRIu32,
	       ctl_kind_name(t->kind), t->publishers, t->subscribers, t->messages, t->bytes,
	       t->lost, t->capacity, t->max_msg);
}

/* ---- topic list -------------------------------------------------------------------------- */

struct topic_set {
	struct horus_topic_info *v;
	size_t n, cap;
	int err;
};

static int collect(const struct horus_topic_info *info, void *userdata)
{
	struct topic_set *s = userdata;

	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 16;
		struct horus_topic_info *v = realloc(s->v, cap * sizeof(*v));

		if (!v) {
			s->err = -ENOMEM;
			return 1;
		}
		s->v = v;
		s->cap = cap;
	}
	s->v[s->n++] = *info;
	return 0;
}

static int cmp_topic(const void *a, const void *b)
{
	const struct horus_topic_info *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	return c ? c : (int)x->kind - (int)y->kind;
}

static void list_json(const struct ctl *c, const struct topic_set *s)
{
	bool first = true;

	fputs("{\"schema\": 1, \"namespace\": ", stdout);
	fmt_json_str(stdout, c->ns, strlen(c->ns));
	fputs(", \"topics\": [", stdout);
	for (size_t i = 0; i < s->n; i++) {
		if (s->v[i].kind) {
			fputs(first ? "" : ", ", stdout);
			topic_json_open(&s->v[i]);
			putchar('}');
			first = false;
		}
	}
	fputs("], \"unreadable\": [", stdout);
	first = true;
	for (size_t i = 0; i < s->n; i++) {
		if (!s->v[i].kind) {
			fputs(first ? "" : ", ", stdout);
			fmt_json_str(stdout, s->v[i].name, strlen(s->v[i].name));
			first = false;
		}
	}
	fputs("]}\n", stdout);
}

static int list_table(const struct ctl *c, const struct topic_set *s)
{
	static const char *const headers[] = {"NAME",  "KIND", "PUBS", "SUBS",	 "MESSAGES",
					      "BYTES", "LOST", "CAP",  "MAX MSG"};
	struct table *t = table_new(9, headers);
	char b[7][FMT_MAX];

	if (!t) {
		ctl_err("out of memory");
		return CTL_EXIT_FAIL;
	}
	for (size_t i = 0; i < s->n; i++) {
		const struct horus_topic_info *x = &s->v[i];
		const char *cells[9] = {x->name,
					ctl_kind_name(x->kind),
					fmt_u64(x->publishers, b[0]),
					fmt_u64(x->subscribers, b[1]),
					fmt_u64(x->messages, b[2]),
					fmt_bytes((double)x->bytes, b[3]),
					fmt_u64(x->lost, b[4]),
					fmt_u64(x->capacity, b[5]),
					fmt_bytes(x->max_msg, b[6])};

		if (x->kind && table_add(t, cells) < 0) {
			table_free(t);
			ctl_err("out of memory");
			return CTL_EXIT_FAIL;
		}
	}
	table_print(t, stdout, 0x1fc);
	table_free(t);
	for (size_t i = 0; i < s->n; i++) {
		if (!s->v[i].kind) {
			printf(
			    "unreadable segment /dev/shm/%s (foreign or corrupt; 'horusctl clean' "
			    "removes it if no process holds it)\n",
			    s->v[i].name);
		}
	}
	if (s->n == 0) {
		printf("(no topics in namespace '%s')\n", c->ns);
	}
	return CTL_EXIT_OK;
}

int cmd_topic_list(struct ctl *c)
{
	struct topic_set s = {0};
	int r = horus_topic_list(c->ns, collect, &s);

	if (r < 0 || s.err < 0) {
		ctl_err("cannot list the topics of namespace '%s': %s", c->ns,
			strerror(r < 0 ? -r : -s.err));
		free(s.v);
		return CTL_EXIT_FAIL;
	}
	if (s.n > 1) { /* qsort(NULL, 0, ...) is undefined */
		qsort(s.v, s.n, sizeof(s.v[0]), cmp_topic);
	}
	if (c->args.json) {
		list_json(c, &s);
		r = CTL_EXIT_OK;
	} else {
		r = list_table(c, &s);
	}
	free(s.v);
	return r;
}

/* ---- topic info -------------------------------------------------------------------------- */

static double mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

int cmd_topic_info(struct ctl *c)
{
	double window = c->args.window_s > 0 ? c->args.window_s : INFO_WINDOW_S;
	struct horus_topic_info a, t;
	double t0, t1, rate, bw;
	char b1[FMT_MAX], b2[FMT_MAX];
	int r = ctl_topic_find(c, &a);

	if (r != CTL_EXIT_OK) {
		return r;
	}
	/* Rate and bandwidth: the publishers' counters at both ends of the window. */
	t0 = mono_s();
	nanosleep(&(struct timespec){.tv_sec = (time_t)window,
				     .tv_nsec = (long)((window - (double)(time_t)window) * 1e9)},
		  NULL);
	r = horus_topic_info(c->ns, c->args.name, a.kind, &t);
	t1 = mono_s();
	if (r < 0) {
		ctl_err("topic '%s': %s", c->args.name,
			r == -ENOENT ? "removed while measured" : strerror(-r));
		return CTL_EXIT_FAIL;
	}
	rate = t.messages >= a.messages ? (double)(t.messages - a.messages) / (t1 - t0) : 0;
	bw = t.bytes >= a.bytes ? (double)(t.bytes - a.bytes) / (t1 - t0) : 0;
	if (c->args.json) {
		fputs("{\"schema\": 1, \"namespace\": ", stdout);
		fmt_json_str(stdout, c->ns, strlen(c->ns));
		fputs(", \"topic\": ", stdout);
		topic_json_open(&t);
		printf(", \"creator_pid\": %" PRId32 ", \"sequences\": %" PRIu64
		       ", \"holes\": %" PRIu64 ", \"pending\": %" PRIu64
		       ", \"rate_hz\": %.6g, \"bytes_per_s\": %.6g, \"window_s\": %.3f}}\n",
		       t.creator_pid, t.sequences, t.holes, t.pending, rate, bw, t1 - t0);
		return CTL_EXIT_OK;
	}
	printf("%-13s%s\n", "name", t.name);
	printf("%-13s%s\n", "namespace", c->ns);
	printf("%-13s%s\n", "kind", ctl_kind_name(t.kind));
	printf("%-13s%" PRIu32 "\n", "publishers", t.publishers);
	printf("%-13s%" PRIu32 "\n", "subscribers", t.subscribers);
	printf("%-13s%s (over %.2f s)\n", "rate", fmt_hz(rate, b1), t1 - t0);
	printf("%-13s%s/s\n", "bandwidth", fmt_bytes(bw, b1));
	printf("%-13s%" PRIu64 " (%s)\n", "messages", t.messages, fmt_bytes((double)t.bytes, b1));
	if (t.kind == HORUS_KIND_HUB) {
		printf("%-13s%" PRIu64 "\n", "lost", t.lost);
		printf("%-13s%" PRIu64 " (%" PRIu64 " without a message)\n", "sequences",
		       t.sequences, t.holes);
	} else {
		printf("%-13s%" PRIu64 "\n", "pending", t.pending);
	}
	printf("%-13s%" PRIu32 " slots of %s\n", "capacity", t.capacity, fmt_bytes(t.max_msg, b2));
	printf("%-13s%" PRId32 "\n", "creator pid", t.creator_pid);
	return CTL_EXIT_OK;
}

/* ---- topic echo -------------------------------------------------------------------------- */

/* Continuation bytes after lead byte c, 0 if c cannot lead; second byte bounds in *lo, *hi. */
static size_t utf8_lead(unsigned char c, unsigned char *lo, unsigned char *hi)
{
	*lo = 0x80;
	*hi = 0xbf;
	if (c >= 0xc2 && c <= 0xdf) {
		return 1;
	}
	if (c >= 0xe0 && c <= 0xef) {
		*lo = c == 0xe0 ? 0xa0 : 0x80; /* no overlong forms */
		*hi = c == 0xed ? 0x9f : 0xbf; /* no surrogates */
		return 2;
	}
	if (c >= 0xf0 && c <= 0xf4) {
		*lo = c == 0xf0 ? 0x90 : 0x80;
		*hi = c == 0xf4 ? 0x8f : 0xbf; /* nothing above U+10FFFF */
		return 3;
	}
	return 0;
}

/* Valid UTF-8 without control characters other than tab, newline and carriage return. */
static bool is_text(const unsigned char *s, size_t n)
{
	for (size_t i = 0; i < n;) {
		unsigned char c = s[i], lo, hi;
		size_t k;

		if (c < 0x80) {
			if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7f) {
				return false;
			}
			i++;
			continue;
		}
		k = utf8_lead(c, &lo, &hi);
		if (k == 0 || n - i <= k || s[i + 1] < lo || s[i + 1] > hi) {
			return false;
		}
		for (size_t j = 2; j <= k; j++) {
			if ((s[i + j] & 0xc0) != 0x80) {
				return false;
			}
		}
		i += k + 1;
	}
	return true;
}

static void print_hex(const unsigned char *s, size_t n, const char *sep)
{
	for (size_t i = 0; i < n; i++) {
		printf("%s%02x", i ? sep : "", s[i]);
	}
}

static void echo_one(const struct ctl *c, const unsigned char *buf, size_t len,
		     const struct horus_msg_info *mi)
{
	bool text = is_text(buf, len);

	if (c->args.raw) {
		fwrite(buf, 1, len, stdout);
	} else if (c->args.json) {
		fputs("{\"schema\": 1, \"topic\": ", stdout);
		fmt_json_str(stdout, c->args.name, strlen(c->args.name));
		printf(", \"seq\": %" PRIu64 ", \"lost\": %" PRIu64 ", \"len\": %zu, ", mi->seq,
		       mi->lost, len);
		if (text) {
			fputs("\"text\": ", stdout);
			fmt_json_str(stdout, (const char *)buf, len);
		} else {
			fputs("\"hex\": \"", stdout);
			print_hex(buf, len, "");
			putchar('"');
		}
		fputs("}\n", stdout);
	} else {
		if (mi->lost) {
			printf("# lost %" PRIu64 " message%s\n", mi->lost,
			       mi->lost == 1 ? "" : "s");
		}
		if (text) {
			/* One message per line: its own final newline is not doubled. */
			size_t n = len && buf[len - 1] == '\n' ? len - 1 : len;

			fwrite(buf, 1, n, stdout);
		} else {
			printf("[%zu bytes] ", len);
			print_hex(buf, len < ECHO_HEX_SHOWN ? len : ECHO_HEX_SHOWN, " ");
			fputs(len > ECHO_HEX_SHOWN ? " ..." : "", stdout);
		}
		putchar('\n');
	}
	fflush(stdout);
}

/* Refuses a topic that exists only as a link: echo and pub speak to hubs. */
static int hub_only(const struct ctl *c, const char *verb)
{
	struct horus_topic_info t;

	if (horus_topic_check(c->args.name) < 0) {
		return ctl_topic_find(c, &t); /* says what is wrong with the name */
	}
	if (horus_topic_info(c->ns, c->args.name, HORUS_KIND_HUB, &t) == -ENOENT &&
	    horus_topic_info(c->ns, c->args.name, HORUS_KIND_LINK, &t) == 0) {
		ctl_err("topic '%s' is a link (one producer, one consumer): 'topic %s' works on "
			"hub topics",
			c->args.name, verb);
		return CTL_EXIT_FAIL;
	}
	return CTL_EXIT_OK;
}

int cmd_topic_echo(struct ctl *c)
{
	struct horus_sub *sub = NULL;
	size_t cap = 65536;
	unsigned char *buf = NULL;
	long shown = 0;
	int r = hub_only(c, "echo");

	if (r != CTL_EXIT_OK) {
		return r;
	}
	/* Subscribing creates the topic if needed, so that echo can wait for its publisher. */
	r = horus_sub_open(c->ns, c->args.name, NULL, 0, &sub);
	if (r < 0 || !(buf = malloc(cap))) {
		ctl_err("topic '%s': cannot subscribe: %s", c->args.name,
			strerror(r < 0 ? -r : ENOMEM));
		horus_sub_close(sub);
		return CTL_EXIT_FAIL;
	}
	r = CTL_EXIT_OK;
	while (!ctl_interrupted && (c->args.count == 0 || shown < c->args.count)) {
		struct horus_msg_info mi;
		int n = horus_sub_read(sub, buf, cap, &mi);

		if (n == -EAGAIN) {
			/* A bounded wait, so that a signal between two sleeps is seen. */
			horus_sub_wait(sub, 200 * 1000 * 1000LL);
			continue;
		}
		if (n == -EMSGSIZE) {
			int need = horus_sub_next_len(sub);
			unsigned char *b = need > 0 ? realloc(buf, (size_t)need) : NULL;

			if (!b) {
				ctl_err("topic '%s': cannot read a message of %d bytes",
					c->args.name, need);
				r = CTL_EXIT_FAIL;
				break;
			}
			buf = b;
			cap = (size_t)need;
			continue;
		}
		if (n < 0) {
			ctl_err("topic '%s': read failed: %s", c->args.name, strerror(-n));
			r = CTL_EXIT_FAIL;
			break;
		}
		echo_one(c, buf, (size_t)n, &mi);
		shown++;
		if (ferror(stdout)) {
			break; /* the reader went away (a closed pipe): nothing more to say */
		}
	}
	free(buf);
	horus_sub_close(sub);
	return r;
}

/* ---- topic pub --------------------------------------------------------------------------- */

static void add_ns(struct timespec *t, uint64_t ns)
{
	uint64_t x = (uint64_t)t->tv_nsec + ns;

	t->tv_sec += (time_t)(x / 1000000000u);
	t->tv_nsec = (long)(x % 1000000000u);
}

int cmd_topic_pub(struct ctl *c)
{
	/* Once by default; -n N times; -r without -n until interrupted. */
	long count = c->args.count ? c->args.count : c->args.rate_hz > 0 ? 0 : 1;
	double hz = c->args.rate_hz > 0 ? c->args.rate_hz : PUB_DEFAULT_HZ;
	uint64_t period_ns = (uint64_t)(1e9 / hz);
	size_t len = strlen(c->args.data);
	struct horus_pub *pub = NULL;
	struct timespec next;
	long sent = 0;
	int r = hub_only(c, "pub");

	if (r != CTL_EXIT_OK) {
		return r;
	}
	r = horus_pub_open(c->ns, c->args.name, NULL, &pub);
	if (r < 0) {
		ctl_err("topic '%s': cannot publish: %s", c->args.name, strerror(-r));
		return CTL_EXIT_FAIL;
	}
	clock_gettime(CLOCK_MONOTONIC, &next);
	while (!ctl_interrupted && (count == 0 || sent < count)) {
		if (sent > 0) {
			/* An absolute schedule: the rate does not drift with the work done. */
			add_ns(&next, period_ns);
			if (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL) != 0) {
				continue; /* interrupted: the loop condition decides */
			}
		}
		r = horus_pub_publish(pub, c->args.data, len);
		if (r == -EMSGSIZE) {
			ctl_err(
			    "topic '%s': DATA is %zu bytes, more than the topic's max_msg of %zu",
			    c->args.name, len, horus_pub_max_msg(pub));
		} else if (r < 0) {
			ctl_err("topic '%s': publish failed: %s", c->args.name, strerror(-r));
		}
		if (r < 0) {
			horus_pub_close(pub);
			return CTL_EXIT_FAIL;
		}
		sent++;
	}
	horus_pub_close(pub);
	if (c->args.json) {
		fputs("{\"schema\": 1, \"topic\": ", stdout);
		fmt_json_str(stdout, c->args.name, strlen(c->args.name));
		printf(", \"published\": %ld, \"bytes\": %zu}\n", sent, len);
	} else {
		printf("published %ld message%s of %zu bytes to '%s'\n", sent, sent == 1 ? "" : "s",
		       len, c->args.name);
	}
	return CTL_EXIT_OK;
}

/* ---- clean ------------------------------------------------------------------------------- */

int cmd_clean(struct ctl *c)
{
	int r = horus_clean(c->ns);

	if (r < 0) {
		ctl_err("clean namespace '%s': %s", c->ns, strerror(-r));
		return CTL_EXIT_FAIL;
	}
	if (c->args.json) {
		fputs("{\"schema\": 1, \"namespace\": ", stdout);
		fmt_json_str(stdout, c->ns, strlen(c->ns));
		printf(", \"removed\": %d}\n", r);
	} else {
		printf("removed %d stale segment%s in namespace '%s'\n", r, r == 1 ? "" : "s",
		       c->ns);
	}
	return CTL_EXIT_OK;
}
