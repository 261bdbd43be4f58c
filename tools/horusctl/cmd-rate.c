/* SPDX-License-Identifier: MIT */
/*
 * topic hz and topic bw: the publishers' own counters (messages, bytes) in the segment header,
 * sampled every SAMPLE_NS on an absolute schedule. Nothing subscribes and nothing is copied, so
 * the measurement disturbs no one.
 *
 * The rate is exact: the counter difference over the window's elapsed time. Periods and sizes
 * are known to one sample interval: k messages seen in one sample are attributed to that
 * sample's time, k periods of (t - previous arrival) / k each, and sizes of (bytes / k). At
 * rates below 1 / SAMPLE_NS each sample holds at most one message, so periods are exact to the
 * interval (plus the sampler's own wake-up jitter) and min/max sizes are exact; above it, they
 * are averages over each sample's batch (reported as "sizes_exact": false for bw).
 */

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "ctl.h"
#include "fmt.h"

#define SAMPLE_NS 1000000ull /* 1 ms: the resolution of periods */
#define DEFAULT_WINDOW_S 1.0

struct window {
	uint64_t t0_ns, t1_ns;
	uint64_t messages, bytes;
	/* periods (hz) */
	uint64_t periods;
	double p_sum, p_sumsq, p_min, p_max; /* ns */
	/* sizes (bw) */
	double s_min, s_max;
	bool batched; /* some sample held more than one message */
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void window_reset(struct window *w, uint64_t t)
{
	memset(w, 0, sizeof(*w));
	w->t0_ns = w->t1_ns = t;
	w->p_min = w->s_min = INFINITY;
	w->p_max = w->s_max = -INFINITY;
}

/* k messages and b bytes arrived by time t; the previous arrival was at *last (0: none). */
static void window_add(struct window *w, uint64_t t, uint64_t k, uint64_t b, uint64_t *last)
{
	double size = (double)b / (double)k;

	w->messages += k;
	w->batched |= k > 1;
	w->s_min = size < w->s_min ? size : w->s_min;
	w->s_max = size > w->s_max ? size : w->s_max;
	if (*last) {
		double p = (double)(t - *last) / (double)k;

		w->periods += k;
		w->p_sum += p * (double)k;
		w->p_sumsq += p * p * (double)k;
		w->p_min = p < w->p_min ? p : w->p_min;
		w->p_max = p > w->p_max ? p : w->p_max;
	}
	*last = t;
}

static void json_head(const struct ctl *c, const struct window *w, double secs)
{
	fputs("{\"schema\": 1, \"topic\": ", stdout);
	fmt_json_str(stdout, c->args.name, strlen(c->args.name));
	printf(", \"window_s\": %.3f, \"messages\": %" PRIu64, secs, w->messages);
}

static void report_hz(const struct ctl *c, const struct window *w)
{
	double secs = (double)(w->t1_ns - w->t0_ns) / 1e9;
	double rate = secs > 0 ? (double)w->messages / secs : 0;
	double mean = w->periods ? w->p_sum / (double)w->periods : 0;
	double var = w->periods ? w->p_sumsq / (double)w->periods - mean * mean : 0;
	double sd = var > 0 ? sqrt(var) : 0;
	char b[5][FMT_MAX];

	if (c->args.json) {
		json_head(c, w, secs);
		printf(", \"rate_hz\": %.6g, \"period_ms\": ", rate);
		if (w->periods) {
			printf("{\"mean\": %.6g, \"min\": %.6g, \"max\": %.6g, \"stddev\": %.6g}",
			       mean / 1e6, w->p_min / 1e6, w->p_max / 1e6, sd / 1e6);
		} else {
			fputs("null", stdout);
		}
		printf(", \"resolution_ms\": %.6g}\n", SAMPLE_NS / 1e6);
	} else if (!w->periods) {
		printf("rate %s  (%" PRIu64 " messages in %.2f s)\n", fmt_hz(rate, b[0]),
		       w->messages, secs);
	} else {
		printf("rate %s  period mean %s  min %s  max %s  stddev %s  (%" PRIu64
		       " messages in %.2f s)\n",
		       fmt_hz(rate, b[0]), fmt_us(mean / 1e3, b[1]), fmt_us(w->p_min / 1e3, b[2]),
		       fmt_us(w->p_max / 1e3, b[3]), fmt_us(sd / 1e3, b[4]), w->messages, secs);
	}
}

static void report_bw(const struct ctl *c, const struct window *w)
{
	double secs = (double)(w->t1_ns - w->t0_ns) / 1e9;
	double bps = secs > 0 ? (double)w->bytes / secs : 0;
	double mean = w->messages ? (double)w->bytes / (double)w->messages : 0;
	char b[5][FMT_MAX];

	if (c->args.json) {
		json_head(c, w, secs);
		printf(", \"bytes\": %" PRIu64 ", \"bytes_per_s\": %.6g, \"size\": ", w->bytes,
		       bps);
		if (w->messages) {
			printf("{\"mean\": %.6g, \"min\": %.6g, \"max\": %.6g}", mean, w->s_min,
			       w->s_max);
		} else {
			fputs("null", stdout);
		}
		printf(", \"sizes_exact\": %s}\n", w->batched ? "false" : "true");
	} else if (!w->messages) {
		printf("bandwidth 0 B/s  (no messages in %.2f s)\n", secs);
	} else {
		printf("bandwidth %s/s  size mean %s  min %s  max %s  (%" PRIu64
		       " messages, %s in %.2f s)%s\n",
		       fmt_bytes(bps, b[0]), fmt_bytes(mean, b[1]), fmt_bytes(w->s_min, b[2]),
		       fmt_bytes(w->s_max, b[3]), w->messages, fmt_bytes((double)w->bytes, b[4]),
		       secs, w->batched ? "  min/max: per-ms averages" : "");
	}
}

static int sample_loop(struct ctl *c, void (*report)(const struct ctl *, const struct window *))
{
	double window_s = c->args.window_s > 0 ? c->args.window_s : DEFAULT_WINDOW_S;
	uint64_t window_ns = (uint64_t)(window_s * 1e9), last_arrival = 0, next;
	struct horus_topic_info t;
	uint64_t messages, bytes;
	struct window w;
	long reports = 0;
	bool deferred = false;
	int r = ctl_topic_find(c, &t);

	if (r != CTL_EXIT_OK) {
		return r;
	}
	messages = t.messages;
	bytes = t.bytes;
	next = now_ns();
	window_reset(&w, next);
	while (!ctl_interrupted && (c->args.count == 0 || reports < c->args.count)) {
		struct timespec ts;
		uint64_t now;

		next += SAMPLE_NS;
		ts.tv_sec = (time_t)(next / 1000000000ull);
		ts.tv_nsec = (long)(next % 1000000000ull);
		if (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) != 0) {
			continue;
		}
		r = horus_topic_info(c->ns, c->args.name, t.kind, &t);
		now = now_ns();
		if (r < 0) {
			ctl_err("topic '%s': %s", c->args.name,
				r == -ENOENT ? "removed while measured" : strerror(-r));
			return CTL_EXIT_FAIL;
		}
		/*
		 * A publisher adds to messages, then to bytes: a sample read between the two sees
		 * a message without its bytes. Such a sample is looked at again at the next one
		 * (once: a message may also be empty), so that sizes stay exact.
		 */
		if (t.messages > messages && t.bytes == bytes && !deferred) {
			deferred = true;
			continue;
		}
		deferred = false;
		if (t.messages < messages || t.bytes < bytes) {
			last_arrival = 0; /* a new segment under the same name: start over */
		} else {
			w.bytes += t.bytes - bytes;
			if (t.messages > messages) {
				window_add(&w, now, t.messages - messages, t.bytes - bytes,
					   &last_arrival);
			}
		}
		messages = t.messages;
		bytes = t.bytes;
		w.t1_ns = now;
		if (now - w.t0_ns >= window_ns) {
			report(c, &w);
			fflush(stdout);
			reports++;
			window_reset(&w, now);
		}
		if (now > next + 100 * SAMPLE_NS) {
			next = now; /* descheduled for long: no burst of catch-up samples */
		}
	}
	return CTL_EXIT_OK;
}

int cmd_topic_hz(struct ctl *c)
{
	return sample_loop(c, report_hz);
}

int cmd_topic_bw(struct ctl *c)
{
	return sample_loop(c, report_bw);
}
