/* SPDX-License-Identifier: MIT */
/*
 * periodic_sensor: reads a number from a real file every period_ms, on the worker pool, and
 * publishes it as a struct horus_reading (include/horus/nodes.h).
 *
 * Parameters:
 *   path = /proc/loadavg         the file; its first number is the reading. A thermal zone
 *                                (/sys/class/thermal/thermal_zone0/temp, millidegrees) works
 *                                with scale = 0.001.
 *   period_ms = 1000             how often to read (typically longer than the tick period:
 *                                the tick only checks whether a read is due or done)
 *   scale = 1, offset = 0        value = first number * scale + offset
 *   topic = sensor/<node name>   hub topic
 *   timeout_ms = 0               per-read I/O timeout; 0 = the node's io_timeout_ms
 *   log_every = 10               log the first failed read of a streak, then every N-th
 *
 * A read that fails (missing file, no number in it, timeout) republishes the last good value
 * marked stale (HORUS_READING_STALE, error = -errno); before any good value, value is NaN.
 * Reads are scheduled on the tick's own clock (host->tick_time_ns), without drift; a read
 * that is late is not followed by a burst of catch-up reads. Opening and reading the file can
 * block (sysfs attributes behind slow buses do), so it is a pool job, never done in tick.
 */

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <horus/node.h>
#include <horus/nodes.h>
#include <horus/pubsub.h>

#include "common.h"

#define PS_READ_MAX 4096

struct ps_shared {
	struct nc_shared base;
	char *path; /* read-only after init */
};

struct ps_job {
	atomic_uint refs; /* the node's and the pool's (arg_free) */
	struct ps_shared *sh;
	double raw; /* written by the worker before it returns: read only once done */
};

struct psensor {
	const struct horus_host *host;
	struct ps_shared *sh;
	struct horus_pub *pub;
	char topic[HORUS_TOPIC_MAX + 1];
	uint64_t period_ns;
	double scale, offset;
	uint32_t timeout_ms;
	struct horus_future *pending;
	struct ps_job *job;
	uint64_t next_due_ns;
	struct horus_reading last; /* the last message published */
	uint64_t reads, failures;
	struct nc_complain complain;
};

/* The first number in s (skipping anything before it), e.g. 0.52 of "0.52 0.58 0.59 1/2". */
static int parse_first_number(const char *s, double *ret)
{
	for (const char *p = s; *p; p++) {
		bool start =
		    isdigit((unsigned char)*p) || ((*p == '-' || *p == '+' || *p == '.') &&
						   (isdigit((unsigned char)p[1]) ||
						    (p[1] == '.' && isdigit((unsigned char)p[2]))));
		char *end;
		double v;

		if (!start) {
			continue;
		}
		errno = 0;
		v = strtod(p, &end);
		if (end != p && !errno && isfinite(v)) {
			*ret = v;
			return 0;
		}
	}
	return -EBADMSG;
}

/* On a worker. */
static int ps_read(void *arg, char *msg, size_t msg_size)
{
	struct ps_job *job = arg;
	char buf[PS_READ_MAX];
	size_t len = 0;
	int fd, r;

	fd = open(job->sh->path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		r = -errno;
		snprintf(msg, msg_size, "cannot open '%s': %s", job->sh->path, strerror(-r));
		return r;
	}
	while (len < sizeof(buf) - 1) {
		ssize_t n = read(fd, buf + len, sizeof(buf) - 1 - len);

		if (n < 0 && errno == EINTR) {
			continue;
		}
		if (n < 0) {
			r = -errno;
			close(fd);
			snprintf(msg, msg_size, "cannot read '%s': %s", job->sh->path,
				 strerror(-r));
			return r;
		}
		if (n == 0) {
			break;
		}
		len += (size_t)n;
	}
	close(fd);
	buf[len] = '\0';
	r = parse_first_number(buf, &job->raw);
	if (r < 0) {
		snprintf(msg, msg_size, "no number in '%s' (%zu bytes)", job->sh->path, len);
	}
	return r;
}

/* Drops the node's reference (or one of the two, see ps_job_done). */
static void ps_job_unref(struct ps_job *job)
{
	if (atomic_fetch_sub(&job->refs, 1) != 1) {
		return;
	}
	free(job);
}

/* arg_free: the pool is done with the job (its fn returned, or it will never run). */
static void ps_job_done(void *arg)
{
	struct ps_job *job = arg;
	struct ps_shared *sh = job->sh;

	ps_job_unref(job);
	nc_shared_job_end(&sh->base);
}

static void ps_shared_free(struct nc_shared *base)
{
	struct ps_shared *sh = (struct ps_shared *)base;

	free(sh->path);
	free(sh);
}

static void ps_publish(struct psensor *s)
{
	int r = horus_pub_publish(s->pub, &s->last, sizeof(s->last));

	if (r < 0 && nc_complain_fail(&s->complain)) {
		s->host->log(s->host, HORUS_LOG_WARN, "Failed to publish on '%s': %s", s->topic,
			     strerror(-r));
	}
}

static void ps_collect(struct psensor *s)
{
	const struct horus_host *h = s->host;
	int r = h->future_take(h, s->pending);

	if (r == -EAGAIN) {
		return;
	}
	s->last.attempt++;
	if (r >= 0) {
		uint64_t streak = nc_complain_ok(&s->complain);

		s->reads++;
		s->last.value = s->job->raw * s->scale + s->offset;
		s->last.stamp_ns = nc_now_ns();
		s->last.flags = HORUS_READING_VALID;
		s->last.error = 0;
		if (streak) {
			h->log(h, HORUS_LOG_INFO, "'%s' reads again after %llu failures",
			       s->sh->path, (unsigned long long)streak);
		}
	} else {
		s->failures++;
		s->last.flags |= HORUS_READING_STALE;
		s->last.error = r;
		if (nc_complain_fail(&s->complain)) {
			const char *why = h->future_error(h, s->pending);

			h->log(h, HORUS_LOG_WARN,
			       "Failed to read '%s': %s; republishing the last value as stale "
			       "(%llu failures in a row)",
			       s->sh->path, *why ? why : strerror(-r),
			       (unsigned long long)s->complain.streak);
		}
	}
	h->future_release(h, s->pending);
	s->pending = NULL;
	ps_job_unref(s->job);
	s->job = NULL;
	ps_publish(s);
}

static void ps_submit(struct psensor *s)
{
	const struct horus_host *h = s->host;
	struct ps_job *job = calloc(1, sizeof(*job));
	struct horus_io_request req = {
	    .fn = ps_read,
	    .arg = job,
	    .arg_free = ps_job_done,
	    .timeout_ms = s->timeout_ms,
	};
	int r;

	if (!job) {
		return; /* try again next tick */
	}
	atomic_init(&job->refs, 2);
	job->sh = s->sh;
	nc_shared_job_begin(&s->sh->base);
	r = h->submit(h, &req, &s->pending);
	if (r < 0) {
		s->pending = NULL;
		ps_job_unref(job);
		ps_job_done(job);
		if (r != -EBUSY && nc_complain_fail(&s->complain)) {
			h->log(h, HORUS_LOG_WARN, "Failed to submit a read of '%s': %s",
			       s->sh->path, strerror(-r));
		}
		return;
	}
	s->job = job;
}

static int psensor_tick(void *ctx)
{
	struct psensor *s = ctx;
	const struct horus_host *h = s->host;
	uint64_t now = h->tick_time_ns(h);

	if (s->pending && h->future_state(h, s->pending) != HORUS_FUTURE_PENDING) {
		ps_collect(s);
	}
	if (!s->pending && now >= s->next_due_ns) {
		ps_submit(s);
		if (s->pending) {
			nc_schedule_next(&s->next_due_ns, s->period_ns, now);
		}
	}
	return 0;
}

static int psensor_init(const struct horus_host *host, void **ret_ctx)
{
	struct psensor *s = calloc(1, sizeof(*s));
	struct ps_shared *sh = calloc(1, sizeof(*sh));
	const char *path = host->param(host, "path");
	uint32_t period_ms;
	int r = -ENOMEM;

	if (!s || !sh) {
		goto fail;
	}
	s->host = host;
	if (path && !*path) {
		host->log(host, HORUS_LOG_ERR, "parameter 'path': must not be empty");
		r = -EINVAL;
		goto fail;
	}
	if ((r = nc_param_ms(host, "period_ms", 1000, 1, 86400000, &period_ms)) < 0 ||
	    (r = nc_param_ms(host, "timeout_ms", 0, 0, 3600000, &s->timeout_ms)) < 0 ||
	    (r = nc_param_double(host, "scale", 1.0, -1e300, 1e300, &s->scale)) < 0 ||
	    (r = nc_param_double(host, "offset", 0.0, -1e300, 1e300, &s->offset)) < 0 ||
	    (r = nc_param_u32(host, "log_every", 10, 1, 1000000, &s->complain.every)) < 0 ||
	    (r = nc_param_topic(host, "topic", "sensor", s->topic, sizeof(s->topic))) < 0) {
		goto fail;
	}
	sh->path = strdup(path ? path : "/proc/loadavg");
	if (!sh->path) {
		r = -ENOMEM;
		goto fail;
	}
	s->period_ns = (uint64_t)period_ms * 1000000ull;
	s->last.value = NAN;
	r = host->pub_open(host, s->topic, sizeof(struct horus_reading), &s->pub);
	if (r < 0) {
		host->log(host, HORUS_LOG_ERR, "Failed to open topic '%s': %s", s->topic,
			  strerror(-r));
		free(sh->path);
		goto fail;
	}
	nc_shared_init(&sh->base, ps_shared_free);
	s->sh = sh;
	host->log(host, HORUS_LOG_INFO, "reading '%s' every %u ms (x %g %+g) onto '%s'", sh->path,
		  period_ms, s->scale, s->offset, s->topic);
	*ret_ctx = s;
	return 0;

fail:
	free(sh);
	free(s);
	return r;
}

static void psensor_fini(void *ctx)
{
	struct psensor *s = ctx;
	const struct horus_host *h = s->host;

	if (s->pending) {
		h->future_release(h, s->pending);
		ps_job_unref(s->job);
	}
	if (nc_shared_wait_idle(&s->sh->base, s->timeout_ms ? s->timeout_ms + 1000 : 2000)) {
		h->log(h, HORUS_LOG_WARN, "a read of '%s' is still running at stop, left behind",
		       s->sh->path);
	}
	h->log(h, HORUS_LOG_INFO, "stopped: %llu reads, %llu failed", (unsigned long long)s->reads,
	       (unsigned long long)s->failures);
	nc_shared_unref(&s->sh->base);
	free(s);
}

HORUS_NODE_DEFINE(.name = "periodic_sensor", .default_rate_hz = 10.0, .init = psensor_init,
		  .tick = psensor_tick, .fini = psensor_fini);
