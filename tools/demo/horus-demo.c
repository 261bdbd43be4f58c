/* SPDX-License-Identifier: MIT */
/*
 * horus-demo: a publisher process and a subscriber process on one topic of the bus, showing the
 * live rate, one-way latency and loss once a second. What ./run.sh runs.
 *
 *   horus-demo [--rate HZ] [--payload BYTES] [--duration S] [--link] [--topic NAME] [-h]
 *
 * The parent forks the subscriber, waits until it has joined (a new subscriber only sees what is
 * published after it joined), then forks the publisher. Ctrl-C (SIGINT) or SIGTERM stops both;
 * the parent then removes the segments nobody holds any more with horus_clean().
 *
 * The publisher ticks on an absolute CLOCK_MONOTONIC schedule (clock_nanosleep TIMER_ABSTIME),
 * so its work never shifts the next tick, and a late tick is not followed by a burst of
 * catch-up ticks. Each message carries its sequence number and the CLOCK_MONOTONIC time it was
 * committed; CLOCK_MONOTONIC is system-wide, so the subscriber's receive time minus that stamp
 * is the one-way latency, publish to copy-out, wake-up included.
 */

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <horus/horus.h>

#define NS_PER_S 1000000000ull
/* Ring memory the demo allows itself in /dev/shm: capacity shrinks for big payloads. */
#define RING_BYTES_MAX (64u * 1024u * 1024u)
#define RING_CAPACITY 256u

/* The first bytes of every message; the rest of the payload is filler. */
struct demo_msg {
	uint64_t seq;     /* publisher's own count, from 0 */
	uint64_t sent_ns; /* CLOCK_MONOTONIC at commit */
};

struct options {
	double rate_hz;
	size_t payload;
	double duration_s; /* 0: until a signal */
	bool link;
	const char *topic;
};

static volatile sig_atomic_t stop_requested;

static void on_stop(int sig)
{
	(void)sig;
	stop_requested = 1;
}

/* No SA_RESTART: a signal must interrupt clock_nanosleep() and the bus's futex waits. */
static void install_handlers(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NS_PER_S + (uint64_t)ts.tv_nsec;
}

static struct horus_topic_opts topic_opts(const struct options *o)
{
	uint32_t cap = RING_CAPACITY;

	while (cap > 2 && (uint64_t)cap * o->payload > RING_BYTES_MAX) {
		cap /= 2;
	}
	return (struct horus_topic_opts){ .capacity = cap, .max_msg = (uint32_t)o->payload };
}

/* ---- publisher ---------------------------------------------------------------------------- */

struct sender {
	struct horus_pub *pub;
	struct horus_link *link;
	size_t payload;
};

static int send_one(struct sender *s, uint64_t seq)
{
	struct demo_msg head;
	void *buf;
	int r;

	if (s->link) {
		r = horus_link_loan(s->link, &buf);
	} else {
		/* Zero-copy: the message is written once, straight into the ring. */
		r = horus_pub_loan(s->pub, s->payload, &buf);
	}
	if (r < 0) {
		return r; /* link full: -EAGAIN; the demo never blocks its schedule on it */
	}
	memset((uint8_t *)buf + sizeof(head), (int)(seq & 0xff), s->payload - sizeof(head));
	head.seq = seq;
	head.sent_ns = now_ns(); /* as late as possible: latency starts at the commit */
	memcpy(buf, &head, sizeof(head));
	return s->link ? horus_link_commit(s->link, s->payload) : horus_pub_commit(s->pub, buf);
}

static int run_publisher(const struct options *o)
{
	struct horus_topic_opts opts = topic_opts(o);
	struct sender s = { .payload = o->payload };
	uint64_t period = (uint64_t)llround(1e9 / o->rate_hz);
	uint64_t next, seq = 0, late = 0, refused = 0;
	int r;

	r = o->link ? horus_link_open(NULL, o->topic, HORUS_LINK_PRODUCER, &opts, &s.link)
		    : horus_pub_open(NULL, o->topic, &opts, &s.pub);
	if (r < 0) {
		fprintf(stderr, "publisher: Failed to open '%s': %s\n", o->topic, strerror(-r));
		return 1;
	}
	next = now_ns();
	while (!stop_requested) {
		struct timespec ts;
		uint64_t now;

		next += period;
		ts.tv_sec = (time_t)(next / NS_PER_S);
		ts.tv_nsec = (long)(next % NS_PER_S);
		r = clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
		if (r == EINTR) {
			continue; /* the loop condition sees the stop request */
		}
		r = send_one(&s, seq);
		if (r == 0) {
			seq++;
		} else if (r == -EAGAIN) {
			refused++;
			seq++; /* the subscriber sees the gap and counts it lost */
		} else {
			fprintf(stderr, "publisher: Failed to publish: %s\n", strerror(-r));
			break;
		}
		/* More than a period late (preempted, machine busy): resume from now, do not burst
		 * through the missed ticks. */
		now = now_ns();
		if (now > next + period) {
			late++;
			next = now;
		}
	}
	printf("publisher: %llu messages, %llu late ticks skipped\n", (unsigned long long)seq,
	       (unsigned long long)late);
	if (refused) {
		printf("publisher: %llu not sent (%s)\n", (unsigned long long)refused,
		       s.link ? "link full" : "slot held by a stalled writer");
	}
	horus_pub_close(s.pub);
	horus_link_close(s.link);
	return 0;
}

/* ---- subscriber --------------------------------------------------------------------------- */

struct window {
	uint64_t *lat; /* one-way latencies of this second, ns */
	size_t n, cap;
	uint64_t lost;
};

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static void window_add(struct window *w, uint64_t lat)
{
	if (w->n == w->cap) {
		size_t cap = w->cap ? 2 * w->cap : 4096;
		uint64_t *p = realloc(w->lat, cap * sizeof(*p));

		if (!p) {
			return; /* keep going with what we have: a statistic, not the data */
		}
		w->lat = p;
		w->cap = cap;
	}
	w->lat[w->n++] = lat;
}

/* Nearest-rank percentile of sorted samples. */
static double pct_us(const uint64_t *v, size_t n, double p)
{
	size_t i = (size_t)ceil(p * (double)n);

	return (double)v[i ? i - 1 : 0] / 1e3;
}

static void window_print(struct window *w, double elapsed_s, uint64_t lost_total)
{
	double rate = (double)w->n / elapsed_s;

	if (w->n == 0) {
		printf("rate %9.1f msg/s  latency p50 %8s  p99 %8s  max %8s  lost %llu (total %llu)\n",
		       0.0, "-", "-", "-", (unsigned long long)w->lost,
		       (unsigned long long)lost_total);
	} else {
		qsort(w->lat, w->n, sizeof(*w->lat), cmp_u64);
		printf("rate %9.1f msg/s  latency p50 %6.1f us  p99 %6.1f us  max %6.1f us  "
		       "lost %llu (total %llu)\n",
		       rate, pct_us(w->lat, w->n, 0.50), pct_us(w->lat, w->n, 0.99),
		       (double)w->lat[w->n - 1] / 1e3, (unsigned long long)w->lost,
		       (unsigned long long)lost_total);
	}
	fflush(stdout);
	w->n = 0;
	w->lost = 0;
}

struct receiver {
	struct horus_sub *sub;
	struct horus_link *link;
	uint8_t *buf;
	size_t cap;
	uint64_t expect_seq; /* link: next publisher sequence, to see gaps */
	bool started;
};

/* One message, or -EAGAIN. ret_lost: messages lost just before this one. */
static int receive_one(struct receiver *rc, struct demo_msg *ret, uint64_t *ret_lost)
{
	struct horus_msg_info info;
	int r;

	if (rc->link) {
		r = horus_link_recv(rc->link, rc->buf, rc->cap);
	} else {
		r = horus_sub_read(rc->sub, rc->buf, rc->cap, &info);
	}
	if (r < 0) {
		return r;
	}
	if ((size_t)r < sizeof(*ret)) {
		return -EBADMSG; /* someone else publishes on this topic */
	}
	memcpy(ret, rc->buf, sizeof(*ret));
	if (rc->link) {
		/* A link loses nothing; gaps are messages the publisher could not send. */
		*ret_lost = rc->started && ret->seq > rc->expect_seq ? ret->seq - rc->expect_seq : 0;
		rc->expect_seq = ret->seq + 1;
		rc->started = true;
	} else {
		*ret_lost = info.lost; /* exact, counted by the ring */
	}
	return r;
}

static int run_subscriber(const struct options *o, int ready_fd)
{
	struct horus_topic_opts opts = topic_opts(o);
	struct receiver rc = { .cap = o->payload };
	struct window w = { 0 };
	uint64_t start, report, received = 0, lost_total = 0, bad = 0;
	int r;

	r = o->link ? horus_link_open(NULL, o->topic, HORUS_LINK_CONSUMER, &opts, &rc.link)
		    : horus_sub_open(NULL, o->topic, &opts, 0, &rc.sub);
	/* Tell the parent either way: it starts the publisher only after we joined. */
	if (write(ready_fd, r < 0 ? "x" : "k", 1) != 1) {
		r = r < 0 ? r : -EPIPE;
	}
	close(ready_fd);
	if (r < 0) {
		fprintf(stderr, "subscriber: Failed to open '%s': %s\n", o->topic, strerror(-r));
		return 1;
	}
	rc.buf = malloc(rc.cap);
	if (!rc.buf) {
		fprintf(stderr, "subscriber: out of memory\n");
		return 1;
	}
	start = report = now_ns();
	report += NS_PER_S;
	while (!stop_requested) {
		struct demo_msg msg;
		uint64_t lost, now = now_ns();

		if (now >= report) {
			printf("%7.1f s  ", (double)(now - start) / 1e9);
			window_print(&w, (double)(now - report + NS_PER_S) / 1e9, lost_total);
			report += NS_PER_S;
			if (report <= now) {
				report = now + NS_PER_S; /* we were stopped: no burst of empty lines */
			}
			continue;
		}
		/* Block until a message arrives, the next report is due, or a signal comes. */
		r = rc.link ? horus_link_wait(rc.link, (int64_t)(report - now))
			    : horus_sub_wait(rc.sub, (int64_t)(report - now));
		if (r == -ETIMEDOUT || r == -EINTR) {
			continue;
		}
		if (r < 0) {
			fprintf(stderr, "subscriber: Failed to wait: %s\n", strerror(-r));
			break;
		}
		/* Drain everything that is there: one wake-up may cover several messages. */
		while ((r = receive_one(&rc, &msg, &lost)) >= 0 || r == -EBADMSG) {
			uint64_t t = now_ns();

			if (r == -EBADMSG) {
				bad++;
				continue;
			}
			window_add(&w, t > msg.sent_ns ? t - msg.sent_ns : 0);
			w.lost += lost;
			lost_total += lost;
			received++;
		}
		if (r != -EAGAIN) {
			fprintf(stderr, "subscriber: Failed to read: %s\n", strerror(-r));
			break;
		}
	}
	printf("subscriber: %llu messages received, %llu lost", (unsigned long long)received,
	       (unsigned long long)lost_total);
	if (bad) {
		printf(", %llu foreign (shorter than a demo message)", (unsigned long long)bad);
	}
	printf("\n");
	free(w.lat);
	free(rc.buf);
	horus_sub_close(rc.sub);
	horus_link_close(rc.link);
	return 0;
}

/* ---- parent ------------------------------------------------------------------------------- */

static pid_t spawn(int (*fn)(const struct options *o, int fd), const struct options *o, int fd,
		   int other_fd)
{
	pid_t pid;

	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		if (other_fd >= 0) {
			close(other_fd);
		}
		int rc = fn(o, fd);

		/* _exit: nothing of the parent's (atexit, stdio buffers) runs twice; ours we flush. */
		fflush(stdout);
		fflush(stderr);
		_exit(rc);
	}
	return pid;
}

static int publisher_main(const struct options *o, int fd)
{
	(void)fd;
	return run_publisher(o);
}

/* Waits for both children; stops them on a signal or when the duration is over. */
static int supervise(pid_t sub, pid_t pub, double duration_s)
{
	uint64_t end = duration_s > 0 ? now_ns() + (uint64_t)(duration_s * 1e9) : 0;
	bool stopping = false;
	int status, failed = 0, alive = 2;

	while (alive > 0) {
		pid_t pid;

		if (!stopping && (stop_requested || (end && now_ns() >= end))) {
			/* Ctrl-C reaches the whole process group already; a SIGTERM to the
			 * parent alone, or the end of --duration, does not. */
			stopping = true;
			kill(pub, SIGTERM);
			kill(sub, SIGTERM);
		}
		pid = waitpid(-1, &status, stopping ? 0 : WNOHANG);
		if (pid > 0) {
			alive--;
			if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
				failed = 1;
			}
			if (!stopping) {
				/* One side gave up: nothing left to show. */
				stopping = true;
				kill(pid == pub ? sub : pub, SIGTERM);
			}
			continue;
		}
		if (pid < 0 && errno != EINTR) {
			break;
		}
		if (!stopping) {
			struct timespec ts = { .tv_sec = 0, .tv_nsec = 50 * 1000 * 1000 };

			nanosleep(&ts, NULL);
		}
	}
	return failed;
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: horus-demo [OPTIONS]\n"
		"A publisher and a subscriber process on one bus topic; the subscriber prints the\n"
		"received rate, one-way latency (p50/p99/max) and lost messages once a second.\n"
		"\n"
		"  -r, --rate HZ        publishing rate (default 1000)\n"
		"  -p, --payload BYTES  message size, at least %zu; K and M suffixes (default 64)\n"
		"  -d, --duration S     stop after S seconds (default: run until Ctrl-C)\n"
		"  -l, --link           use a Link (FIFO, one producer, one consumer) instead of a Hub\n"
		"  -t, --topic NAME     topic name (default demo/chatter)\n"
		"  -h, --help           show this help\n"
		"\n"
		"The namespace is $HORUS_NAMESPACE, else \"default\".\n",
		sizeof(struct demo_msg));
}

static int parse_size(const char *s, size_t *ret)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s) {
		return -EINVAL;
	}
	if (*end == 'K' || *end == 'k') {
		v *= 1024;
		end++;
	} else if (*end == 'M' || *end == 'm') {
		v *= 1024 * 1024;
		end++;
	}
	if (*end || v < sizeof(struct demo_msg) || v > HORUS_MAX_MSG_MAX) {
		return -EINVAL;
	}
	*ret = (size_t)v;
	return 0;
}

static int parse_double(const char *s, double min, double max, double *ret)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || !(v >= min && v <= max)) {
		return -EINVAL;
	}
	*ret = v;
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "rate", required_argument, NULL, 'r' },
		{ "payload", required_argument, NULL, 'p' },
		{ "duration", required_argument, NULL, 'd' },
		{ "link", no_argument, NULL, 'l' },
		{ "topic", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct options o = { .rate_hz = 1000, .payload = 64, .topic = "demo/chatter" };
	char ns[HORUS_NAMESPACE_MAX + 1], ok = 'x';
	pid_t sub, pub;
	int c, fds[2], failed, removed;

	while ((c = getopt_long(argc, argv, "r:p:d:lt:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'r':
			if (parse_double(optarg, 0.001, 1e6, &o.rate_hz) < 0) {
				fprintf(stderr, "horus-demo: --rate: expected 0.001..1000000 Hz\n");
				return 2;
			}
			break;
		case 'p':
			if (parse_size(optarg, &o.payload) < 0) {
				fprintf(stderr, "horus-demo: --payload: expected %zu..%u bytes\n",
					sizeof(struct demo_msg), HORUS_MAX_MSG_MAX);
				return 2;
			}
			break;
		case 'd':
			if (parse_double(optarg, 0, 1e9, &o.duration_s) < 0) {
				fprintf(stderr, "horus-demo: --duration: expected seconds >= 0\n");
				return 2;
			}
			break;
		case 'l':
			o.link = true;
			break;
		case 't':
			o.topic = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		usage(stderr);
		return 2;
	}
	if (horus_namespace(NULL, ns) < 0) {
		fprintf(stderr, "horus-demo: invalid HORUS_NAMESPACE\n");
		return 2;
	}
	/* Catch the signals before forking: children inherit the handlers, and a Ctrl-C that
	 * comes early still stops everything cleanly. */
	install_handlers();
	printf("horus-demo: %s '%s' in namespace '%s': %.0f Hz, %zu-byte messages%s\n",
	       o.link ? "link" : "hub", o.topic, ns, o.rate_hz, o.payload,
	       o.duration_s > 0 ? "" : "; Ctrl-C stops");
	if (pipe(fds) < 0) {
		perror("horus-demo: pipe");
		return 1;
	}
	sub = spawn(run_subscriber, &o, fds[1], fds[0]);
	close(fds[1]);
	if (sub < 0) {
		perror("horus-demo: fork");
		return 1;
	}
	/* The subscriber says 'k' once it has joined, 'x' if it could not. */
	while (read(fds[0], &ok, 1) < 0 && errno == EINTR && !stop_requested) {
	}
	close(fds[0]);
	if (ok != 'k' || stop_requested) {
		kill(sub, SIGTERM);
		waitpid(sub, NULL, 0);
		horus_clean(NULL);
		return stop_requested ? 0 : 1;
	}
	pub = spawn(publisher_main, &o, -1, -1);
	if (pub < 0) {
		perror("horus-demo: fork");
		kill(sub, SIGTERM);
		waitpid(sub, NULL, 0);
		horus_clean(NULL);
		return 1;
	}
	failed = supervise(sub, pub, o.duration_s);
	/* Both ends are gone: their segments are held by nobody and can go. */
	removed = horus_clean(NULL);
	if (removed < 0) {
		fprintf(stderr, "horus-demo: Failed to clean namespace '%s': %s\n", ns,
			strerror(-removed));
		failed = 1;
	} else {
		printf("horus-demo: removed %d segment%s\n", removed, removed == 1 ? "" : "s");
	}
	return failed;
}
