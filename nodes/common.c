/* SPDX-License-Identifier: MIT */
/* Helpers shared by the shipped nodes. See common.h. */

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <horus/pubsub.h>

#include "common.h"

uint64_t nc_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void nc_sleep_ms(uint32_t ms)
{
	uint64_t end = nc_now_ns() + (uint64_t)ms * 1000000ull;
	struct timespec ts = {.tv_sec = (time_t)(end / 1000000000ull),
			      .tv_nsec = (long)(end % 1000000000ull)};

	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {
	}
}

void nc_schedule_next(uint64_t *next_due_ns, uint64_t period_ns, uint64_t now)
{
	*next_due_ns += period_ns;
	if (*next_due_ns <= now) {
		*next_due_ns = now + period_ns;
	}
}

/* ---- parameters -------------------------------------------------------------------------- */

/* Parses an unsigned decimal prefix; *end points after it. false on no digits or overflow. */
static bool parse_u64(const char *s, uint64_t *ret, const char **end)
{
	uint64_t v = 0;
	const char *p = s;

	while (*p >= '0' && *p <= '9') {
		if (v > (UINT64_MAX - 9) / 10) {
			return false;
		}
		v = v * 10 + (uint64_t)(*p - '0');
		p++;
	}
	if (p == s) {
		return false;
	}
	*ret = v;
	*end = p;
	return true;
}

static int bad(const struct horus_host *host, const char *key, const char *val, const char *what)
{
	host->log(host, HORUS_LOG_ERR, "parameter '%s': invalid value '%s' (%s)", key, val, what);
	return -EINVAL;
}

static int ranged(const struct horus_host *host, const char *key, const char *val, uint64_t v,
		  uint32_t min, uint32_t max, const char *unit, uint32_t *ret)
{
	if (v < min || v > max) {
		host->log(host, HORUS_LOG_ERR, "parameter '%s': %s is out of range [%u, %u]%s%s",
			  key, val, min, max, *unit ? " " : "", unit);
		return -EINVAL;
	}
	*ret = (uint32_t)v;
	return 0;
}

int nc_param_u32(const struct horus_host *host, const char *key, uint32_t def, uint32_t min,
		 uint32_t max, uint32_t *ret)
{
	const char *val = host->param(host, key), *end;
	uint64_t v;

	if (!val) {
		*ret = def;
		return 0;
	}
	if (!parse_u64(val, &v, &end) || *end) {
		return bad(host, key, val, "expected a whole number");
	}
	return ranged(host, key, val, v, min, max, "", ret);
}

int nc_param_ms(const struct horus_host *host, const char *key, uint32_t def, uint32_t min,
		uint32_t max, uint32_t *ret)
{
	const char *val = host->param(host, key), *end;
	uint64_t v;

	if (!val) {
		*ret = def;
		return 0;
	}
	if (!parse_u64(val, &v, &end) || v > UINT32_MAX) {
		return bad(host, key, val, "expected a duration such as 250, 250ms, 2s or 1500us");
	}
	if (!*end || !strcmp(end, "ms")) {
		/* milliseconds */
	} else if (!strcmp(end, "s")) {
		v *= 1000;
	} else if (!strcmp(end, "us")) {
		v = (v + 999) / 1000;
	} else {
		return bad(host, key, val, "expected a duration such as 250, 250ms, 2s or 1500us");
	}
	return ranged(host, key, val, v, min, max, "ms", ret);
}

int nc_param_size(const struct horus_host *host, const char *key, uint32_t def, uint32_t min,
		  uint32_t max, uint32_t *ret)
{
	const char *val = host->param(host, key), *end;
	uint64_t v;

	if (!val) {
		*ret = def;
		return 0;
	}
	if (!parse_u64(val, &v, &end) || v > UINT32_MAX) {
		return bad(host, key, val, "expected a size such as 512, 64K or 4M");
	}
	if (!strcmp(end, "K")) {
		v *= 1024;
	} else if (!strcmp(end, "M")) {
		v *= 1024 * 1024;
	} else if (*end) {
		return bad(host, key, val, "expected a size such as 512, 64K or 4M");
	}
	return ranged(host, key, val, v, min, max, "bytes", ret);
}

int nc_param_bool(const struct horus_host *host, const char *key, bool def, bool *ret)
{
	static const char *const yes[] = {"true", "yes", "on", "1"};
	static const char *const no[] = {"false", "no", "off", "0"};
	const char *val = host->param(host, key);

	if (!val) {
		*ret = def;
		return 0;
	}
	for (size_t i = 0; i < 4; i++) {
		if (!strcasecmp(val, yes[i])) {
			*ret = true;
			return 0;
		}
		if (!strcasecmp(val, no[i])) {
			*ret = false;
			return 0;
		}
	}
	return bad(host, key, val, "expected true or false");
}

int nc_param_double(const struct horus_host *host, const char *key, double def, double min,
		    double max, double *ret)
{
	const char *val = host->param(host, key);
	char *end;
	double v;

	if (!val) {
		*ret = def;
		return 0;
	}
	errno = 0;
	v = strtod(val, &end);
	if (end == val || *end || errno || !isfinite(v)) {
		return bad(host, key, val, "expected a number");
	}
	if (v < min || v > max) {
		host->log(host, HORUS_LOG_ERR, "parameter '%s': %s is out of range [%g, %g]", key,
			  val, min, max);
		return -EINVAL;
	}
	*ret = v;
	return 0;
}

int nc_param_topic(const struct horus_host *host, const char *key, const char *prefix, char *buf,
		   size_t size)
{
	const char *val = host->param(host, key);
	int n;

	if (val) {
		n = snprintf(buf, size, "%s", val);
	} else {
		n = snprintf(buf, size, "%s/%s", prefix, host->node_name);
	}
	if (n < 0 || (size_t)n >= size || horus_topic_check(buf) < 0) {
		host->log(host, HORUS_LOG_ERR,
			  "parameter '%s': '%s' is not a valid topic name (1..%d of "
			  "[A-Za-z0-9_.-/], no leading, trailing or double '/')%s",
			  key, val ? val : buf, HORUS_TOPIC_MAX, val ? "" : "; set it explicitly");
		return -EINVAL;
	}
	return 0;
}

int nc_param_required(const struct horus_host *host, const char *key, const char **ret)
{
	const char *val = host->param(host, key);

	if (!val || !*val) {
		host->log(host, HORUS_LOG_ERR, "parameter '%s' is required", key);
		return -EINVAL;
	}
	*ret = val;
	return 0;
}

/* ---- shared state ------------------------------------------------------------------------ */

void nc_shared_init(struct nc_shared *sh, void (*free_fn)(struct nc_shared *sh))
{
	pthread_condattr_t attr;

	atomic_init(&sh->refs, 1);
	atomic_init(&sh->stopping, false);
	pthread_mutex_init(&sh->lock, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&sh->cond, &attr);
	pthread_condattr_destroy(&attr);
	sh->jobs = 0;
	sh->free_fn = free_fn;
}

void nc_shared_unref(struct nc_shared *sh)
{
	if (!sh || atomic_fetch_sub(&sh->refs, 1) != 1) {
		return;
	}
	pthread_mutex_destroy(&sh->lock);
	pthread_cond_destroy(&sh->cond);
	sh->free_fn(sh);
}

void nc_shared_job_begin(struct nc_shared *sh)
{
	atomic_fetch_add(&sh->refs, 1);
	pthread_mutex_lock(&sh->lock);
	sh->jobs++;
	pthread_mutex_unlock(&sh->lock);
}

void nc_shared_job_end(struct nc_shared *sh)
{
	pthread_mutex_lock(&sh->lock);
	sh->jobs--;
	pthread_cond_broadcast(&sh->cond);
	pthread_mutex_unlock(&sh->lock);
	nc_shared_unref(sh);
}

static struct timespec deadline_in(uint32_t ms)
{
	uint64_t end = nc_now_ns() + (uint64_t)ms * 1000000ull;

	return (struct timespec){.tv_sec = (time_t)(end / 1000000000ull),
				 .tv_nsec = (long)(end % 1000000000ull)};
}

void nc_shared_stop(struct nc_shared *sh)
{
	pthread_mutex_lock(&sh->lock);
	atomic_store(&sh->stopping, true);
	pthread_cond_broadcast(&sh->cond);
	pthread_mutex_unlock(&sh->lock);
}

bool nc_shared_sleep_ms(struct nc_shared *sh, uint32_t ms)
{
	struct timespec ts = deadline_in(ms);
	bool stopped;

	pthread_mutex_lock(&sh->lock);
	while (!atomic_load(&sh->stopping)) {
		if (pthread_cond_timedwait(&sh->cond, &sh->lock, &ts) == ETIMEDOUT) {
			break;
		}
	}
	stopped = atomic_load(&sh->stopping);
	pthread_mutex_unlock(&sh->lock);
	return !stopped;
}

unsigned nc_shared_wait_idle(struct nc_shared *sh, uint32_t timeout_ms)
{
	struct timespec ts = deadline_in(timeout_ms);
	unsigned left;

	pthread_mutex_lock(&sh->lock);
	while (sh->jobs > 0) {
		if (pthread_cond_timedwait(&sh->cond, &sh->lock, &ts) == ETIMEDOUT) {
			break;
		}
	}
	left = sh->jobs;
	pthread_mutex_unlock(&sh->lock);
	return left;
}

/* ---- complaints -------------------------------------------------------------------------- */

bool nc_complain_fail(struct nc_complain *c)
{
	uint32_t every = c->every ? c->every : 1;

	c->streak++;
	return c->streak == 1 || c->streak % every == 0;
}

uint64_t nc_complain_ok(struct nc_complain *c)
{
	uint64_t s = c->streak;

	c->streak = 0;
	return s;
}

/* ---- buffers ----------------------------------------------------------------------------- */

int nc_buf_reserve(struct nc_buf *b, size_t more)
{
	size_t cap;
	char *p;

	if (b->cap - b->len > more) {
		return 0;
	}
	cap = b->cap ? b->cap : 4096;
	while (cap - b->len <= more) {
		if (cap > SIZE_MAX / 2) {
			return -ENOMEM;
		}
		cap *= 2;
	}
	p = realloc(b->data, cap);
	if (!p) {
		return -ENOMEM;
	}
	b->data = p;
	b->cap = cap;
	return 0;
}

int nc_buf_append(struct nc_buf *b, const void *data, size_t len)
{
	int r = nc_buf_reserve(b, len);

	if (r < 0) {
		return r;
	}
	memcpy(b->data + b->len, data, len);
	b->len += len;
	b->data[b->len] = '\0';
	return 0;
}

int nc_buf_printf(struct nc_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (nc_buf_reserve(b, 128) < 0) {
		return -ENOMEM;
	}
	va_start(ap, fmt);
	n = vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
	va_end(ap);
	if (n < 0) {
		b->data[b->len] = '\0';
		return -EINVAL;
	}
	if ((size_t)n >= b->cap - b->len) {
		if (nc_buf_reserve(b, (size_t)n + 1) < 0) {
			b->data[b->len] = '\0';
			return -ENOMEM;
		}
		va_start(ap, fmt);
		vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
	}
	b->len += (size_t)n;
	return 0;
}

void nc_buf_free(struct nc_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
}
