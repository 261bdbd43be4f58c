/* SPDX-License-Identifier: MIT */
/*
 * http_sensor: an HTTP GET (libcurl) every period_ms on the worker pool; the body is parsed as a
 * number (or kept as text) and published as a struct horus_reading (include/horus/nodes.h).
 * On a timeout or any error the node republishes the last good value marked stale: the seed's
 * cached fallback.
 *
 * Parameters:
 *   url                          required; http:// or https:// (other protocols are refused)
 *   timeout_ms = 500             whole-request timeout (connect included)
 *   period_ms = 1000             one request per period, on the tick's clock, no catch-up burst
 *   format = number              number: the body (surrounding white space ignored) must be one
 *                                number; text: the body is kept as is, up to max_body bytes
 *   max_body = 1024              larger bodies are a failure (-EMSGSIZE), never truncated
 *   topic = http/<node name>     hub topic
 *   log_every = 10               log the first failure of a streak, then every N-th, and the
 *                                recovery
 *
 * Failures, as the message's error: -ETIMEDOUT (timeout), -ECONNREFUSED (no server),
 * -EHOSTUNREACH (name not resolved), -EIO (HTTP status not 2xx: see status; other transfer
 * errors), -EMSGSIZE (body too large), -EBADMSG (not a number). The pool's own timeout for
 * the job is timeout_ms + 1 s, so curl's timeout decides and the pool only catches a job that
 * is stuck for some other reason.
 *
 * Every request uses its own easy and multi handle, created and freed on the worker: nothing of
 * curl is shared between jobs. The transfer runs on a multi handle so that fini can cut it
 * short (curl_multi_wakeup) instead of waiting up to timeout_ms: fini waits for its jobs to end,
 * because horusd may unload the plugin right after fini while a job still runs its code.
 *
 * curl_global_init() is process-wide state: it must run once before any thread uses libcurl,
 * and it is not thread-safe in every libcurl build, while several instances of this plugin
 * (and other plugins) can run init on different scheduler threads at once. It therefore runs
 * under pthread_once(), from init, before the first job can start (curl_easy_init would
 * otherwise run it implicitly, on a worker, racing with other workers). curl_global_cleanup()
 * is never called: another instance, or another plugin in the process, may still use libcurl.
 * For the same reason libcurl is pinned in memory (RTLD_NODELETE): when horusd unloads this
 * plugin on a reload, libcurl and the TLS library it initialised must not be unloaded beneath
 * their own global state. The pthread_once flag is the one static of this plugin: it is about
 * the process, not about a node instance.
 */

#include <dlfcn.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include <horus/node.h>
#include <horus/nodes.h>
#include <horus/pubsub.h>

#include "common.h"

struct http_job;

struct http_shared {
	struct nc_shared base;
	struct http_job *active; /* jobs inside a transfer (base.lock), to wake at stop */
	char *url;		 /* read-only after init */
	uint32_t timeout_ms;
	uint32_t max_body;
	bool text;
};

struct http_job {
	atomic_uint refs; /* the node's and the pool's (arg_free) */
	struct http_shared *sh;
	/* Written by the worker before it returns; read by the tick only once the job is over. */
	long status;
	double value;
	struct nc_buf body;
	bool too_big;
	CURLM *multi;	       /* during the transfer */
	struct http_job *next; /* in sh->active */
};

struct http_sensor {
	const struct horus_host *host;
	struct http_shared *sh;
	struct horus_pub *pub;
	char topic[HORUS_TOPIC_MAX + 1];
	uint64_t period_ns;
	struct horus_future *pending;
	struct http_job *job;
	uint64_t next_due_ns;
	/* The message: header, then text (last good body). */
	struct horus_reading last;
	struct nc_buf text;
	uint64_t fetches, failures;
	struct nc_complain complain;
};

/* ---- libcurl, once per process ----------------------------------------------------------- */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_result = CURLE_FAILED_INIT;

static void curl_init_once(void)
{
	Dl_info info;

	curl_init_result = curl_global_init(CURL_GLOBAL_DEFAULT);
	if (dladdr((void *)curl_easy_init, &info) && info.dli_fname) {
		/* Takes a reference that is never dropped: libcurl stays loaded. */
		// cppcheck-suppress leakReturnValNotUsed ; the handle is leaked on purpose
		(void)dlopen(info.dli_fname, RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE);
	}
}

/* ---- the job ----------------------------------------------------------------------------- */

static size_t on_body(char *data, size_t size, size_t nmemb, void *userdata)
{
	struct http_job *job = userdata;
	size_t n = size * nmemb;

	if (job->body.len + n > job->sh->max_body) {
		job->too_big = true;
		return 0; /* aborts the transfer with CURLE_WRITE_ERROR */
	}
	if (nc_buf_append(&job->body, data, n) < 0) {
		return 0;
	}
	return n;
}

static int parse_number(const char *s, size_t len, double *ret)
{
	char buf[128];
	char *end;
	double v;

	while (len && strchr(" \t\r\n", *s)) {
		s++;
		len--;
	}
	while (len && strchr(" \t\r\n", s[len - 1])) {
		len--;
	}
	if (!len || len >= sizeof(buf)) {
		return -EBADMSG;
	}
	memcpy(buf, s, len);
	buf[len] = '\0';
	errno = 0;
	v = strtod(buf, &end);
	if (end == buf || *end || errno || !isfinite(v)) {
		return -EBADMSG;
	}
	*ret = v;
	return 0;
}

static int curl_errno(CURLcode c)
{
	switch (c) {
	case CURLE_OPERATION_TIMEDOUT:
		return -ETIMEDOUT;
	case CURLE_COULDNT_CONNECT:
		return -ECONNREFUSED;
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
		return -EHOSTUNREACH;
	case CURLE_OUT_OF_MEMORY:
		return -ENOMEM;
	default:
		return -EIO;
	}
}

/* Unlinks job from the active list. base.lock held. */
static void http_unlink(struct http_shared *sh, struct http_job *job)
{
	for (struct http_job **pp = &sh->active; *pp; pp = &(*pp)->next) {
		if (*pp == job) {
			*pp = job->next;
			break;
		}
	}
}

/*
 * curl_easy_perform, but through a multi handle that fini can wake (curl_multi_wakeup is
 * thread-safe): a node that stops does not wait for a transfer up to timeout_ms.
 */
static CURLcode http_perform(struct http_job *job, CURL *curl)
{
	struct http_shared *sh = job->sh;
	CURLcode result = CURLE_ABORTED_BY_CALLBACK;
	CURLM *multi = curl_multi_init();
	int running = 1, queued;
	CURLMsg *m;

	if (!multi) {
		return CURLE_OUT_OF_MEMORY;
	}
	if (curl_multi_add_handle(multi, curl) != CURLM_OK) {
		curl_multi_cleanup(multi);
		return CURLE_FAILED_INIT;
	}
	pthread_mutex_lock(&sh->base.lock);
	job->multi = multi;
	job->next = sh->active;
	sh->active = job;
	pthread_mutex_unlock(&sh->base.lock);
	while (running && !atomic_load(&sh->base.stopping)) {
		if (curl_multi_perform(multi, &running) != CURLM_OK) {
			result = CURLE_FAILED_INIT;
			break;
		}
		if (running && curl_multi_poll(multi, NULL, 0, 1000, NULL) != CURLM_OK) {
			result = CURLE_FAILED_INIT;
			break;
		}
	}
	while ((m = curl_multi_info_read(multi, &queued))) {
		if (m->msg == CURLMSG_DONE) {
			result = m->data.result;
		}
	}
	pthread_mutex_lock(&sh->base.lock);
	http_unlink(sh, job);
	job->multi = NULL;
	pthread_mutex_unlock(&sh->base.lock);
	curl_multi_remove_handle(multi, curl);
	curl_multi_cleanup(multi);
	return result;
}

/* On a worker: the blocking request. */
static int http_fetch(void *arg, char *msg, size_t msg_size)
{
	struct http_job *job = arg;
	struct http_shared *sh = job->sh;
	char err[CURL_ERROR_SIZE] = "";
	CURLcode c;
	CURL *curl;

	if (curl_init_result != CURLE_OK) {
		snprintf(msg, msg_size, "libcurl failed to initialise: %s",
			 curl_easy_strerror(curl_init_result));
		return -EIO;
	}
	curl = curl_easy_init();
	if (!curl) {
		snprintf(msg, msg_size, "cannot create a curl handle");
		return -ENOMEM;
	}
	curl_easy_setopt(curl, CURLOPT_URL, sh->url);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L); /* threads: no SIGALRM for timeouts */
	curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, (long)sh->timeout_ms);
	curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, (long)sh->timeout_ms);
	curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, err);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, job);
	curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(curl, CURLOPT_MAXREDIRS, 3L);
#if LIBCURL_VERSION_NUM >= 0x075500
	curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(curl, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
#else
	curl_easy_setopt(curl, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
	curl_easy_setopt(curl, CURLOPT_REDIR_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
	curl_easy_setopt(curl, CURLOPT_USERAGENT, "horusd-http_sensor/1");
	c = http_perform(job, curl);
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &job->status);
	curl_easy_cleanup(curl);

	if (job->too_big) {
		snprintf(msg, msg_size, "the body is larger than max_body (%u bytes)",
			 sh->max_body);
		return -EMSGSIZE;
	}
	if (c != CURLE_OK) {
		snprintf(msg, msg_size, "%s", *err ? err : curl_easy_strerror(c));
		return curl_errno(c);
	}
	if (job->status < 200 || job->status > 299) {
		snprintf(msg, msg_size, "HTTP status %ld", job->status);
		return -EIO;
	}
	if (!sh->text &&
	    parse_number(job->body.data ? job->body.data : "", job->body.len, &job->value) < 0) {
		snprintf(msg, msg_size, "the body is not a number: '%.40s%s'",
			 job->body.data ? job->body.data : "", job->body.len > 40 ? "..." : "");
		return -EBADMSG;
	}
	return 0;
}

/* Drops the node's reference (or one of the two, see http_job_done). */
static void http_job_unref(struct http_job *job)
{
	if (atomic_fetch_sub(&job->refs, 1) != 1) {
		return;
	}
	nc_buf_free(&job->body);
	free(job);
}

/* arg_free: the pool is done with the job (its fn returned, or it will never run). */
static void http_job_done(void *arg)
{
	struct http_job *job = arg;
	struct http_shared *sh = job->sh;

	http_job_unref(job);
	nc_shared_job_end(&sh->base);
}

static void http_shared_free(struct nc_shared *base)
{
	struct http_shared *sh = (struct http_shared *)base;

	free(sh->url);
	free(sh);
}

/* ---- the node ---------------------------------------------------------------------------- */

static void http_publish(struct http_sensor *s)
{
	size_t len = sizeof(s->last) + s->last.text_len;
	void *slot;
	int r = horus_pub_loan(s->pub, len, &slot);

	if (r == 0) {
		memcpy(slot, &s->last, sizeof(s->last));
		if (s->last.text_len) {
			memcpy((char *)slot + sizeof(s->last), s->text.data, s->last.text_len);
		}
		r = horus_pub_commit(s->pub, slot);
	}
	if (r < 0) {
		s->host->log(s->host, HORUS_LOG_WARN, "Failed to publish on '%s': %s", s->topic,
			     strerror(-r));
	}
}

static void http_collect(struct http_sensor *s)
{
	const struct horus_host *h = s->host;
	struct http_job *job = s->job;
	int r = h->future_take(h, s->pending);

	if (r == -EAGAIN) {
		return;
	}
	s->last.attempt++;
	if (r >= 0) {
		uint64_t streak = nc_complain_ok(&s->complain);

		s->fetches++;
		s->last.flags = HORUS_READING_VALID | (s->sh->text ? HORUS_READING_TEXT : 0);
		s->last.error = 0;
		s->last.status = (uint32_t)job->status;
		s->last.stamp_ns = nc_now_ns();
		s->text.len = 0;
		if (s->sh->text) {
			s->last.value = NAN;
			if (job->body.len &&
			    nc_buf_append(&s->text, job->body.data, job->body.len) < 0) {
				s->text.len = 0;
			}
			s->last.text_len = (uint32_t)s->text.len;
		} else {
			s->last.value = job->value;
			s->last.text_len = 0;
		}
		if (streak) {
			h->log(h, HORUS_LOG_INFO, "'%s' answers again after %llu failures",
			       s->sh->url, (unsigned long long)streak);
		}
	} else {
		s->failures++;
		s->last.flags |= HORUS_READING_STALE;
		s->last.error = r;
		/* Only a job that failed by itself is over: one that timed out in the pool (or
		 * was cancelled) may still be writing its fields. */
		if (h->future_state(h, s->pending) == HORUS_FUTURE_FAILED) {
			s->last.status = (uint32_t)job->status;
		} else {
			s->last.status = 0;
		}
		if (nc_complain_fail(&s->complain)) {
			const char *why = h->future_error(h, s->pending);

			h->log(h, HORUS_LOG_WARN,
			       "Failed to fetch '%s': %s; publishing the last good value as stale "
			       "(%llu failures in a row)",
			       s->sh->url, *why ? why : strerror(-r),
			       (unsigned long long)s->complain.streak);
		}
	}
	h->future_release(h, s->pending);
	s->pending = NULL;
	http_job_unref(job);
	s->job = NULL;
	http_publish(s);
}

static void http_submit(struct http_sensor *s)
{
	const struct horus_host *h = s->host;
	struct http_job *job = calloc(1, sizeof(*job));
	struct horus_io_request req = {
	    .fn = http_fetch,
	    .arg = job,
	    .arg_free = http_job_done,
	    .timeout_ms = s->sh->timeout_ms + 1000,
	};
	int r;

	if (!job) {
		return;
	}
	atomic_init(&job->refs, 2);
	job->sh = s->sh;
	nc_shared_job_begin(&s->sh->base);
	r = h->submit(h, &req, &s->pending);
	if (r < 0) {
		s->pending = NULL;
		http_job_unref(job);
		http_job_done(job);
		if (r != -EBUSY && nc_complain_fail(&s->complain)) {
			h->log(h, HORUS_LOG_WARN, "Failed to submit a request for '%s': %s",
			       s->sh->url, strerror(-r));
		}
		return;
	}
	s->job = job;
}

static int http_tick(void *ctx)
{
	struct http_sensor *s = ctx;
	const struct horus_host *h = s->host;
	uint64_t now = h->tick_time_ns(h);

	if (s->pending && h->future_state(h, s->pending) != HORUS_FUTURE_PENDING) {
		http_collect(s);
	}
	if (!s->pending && now >= s->next_due_ns) {
		http_submit(s);
		if (s->pending) {
			nc_schedule_next(&s->next_due_ns, s->period_ns, now);
		}
	}
	return 0;
}

static int http_init(const struct horus_host *host, void **ret_ctx)
{
	struct http_sensor *s = calloc(1, sizeof(*s));
	struct http_shared *sh = calloc(1, sizeof(*sh));
	const char *url = NULL, *format = host->param(host, "format");
	uint32_t period_ms;
	int r = -ENOMEM;

	if (!s || !sh) {
		goto fail;
	}
	s->host = host;
	if ((r = nc_param_required(host, "url", &url)) < 0 ||
	    (r = nc_param_ms(host, "timeout_ms", 500, 1, 600000, &sh->timeout_ms)) < 0 ||
	    (r = nc_param_ms(host, "period_ms", 1000, 1, 86400000, &period_ms)) < 0 ||
	    (r = nc_param_size(host, "max_body", 1024, 1, 60000, &sh->max_body)) < 0 ||
	    (r = nc_param_u32(host, "log_every", 10, 1, 1000000, &s->complain.every)) < 0 ||
	    (r = nc_param_topic(host, "topic", "http", s->topic, sizeof(s->topic))) < 0) {
		goto fail;
	}
	if (strncasecmp(url, "http://", 7) != 0 && strncasecmp(url, "https://", 8) != 0) {
		host->log(host, HORUS_LOG_ERR,
			  "parameter 'url': '%s' is not an http:// or https:// URL", url);
		r = -EINVAL;
		goto fail;
	}
	if (!format || !strcmp(format, "number")) {
		sh->text = false;
	} else if (!strcmp(format, "text")) {
		sh->text = true;
	} else {
		host->log(host, HORUS_LOG_ERR,
			  "parameter 'format': invalid value '%s' (expected number or text)",
			  format);
		r = -EINVAL;
		goto fail;
	}
	pthread_once(&curl_once, curl_init_once);
	if (curl_init_result != CURLE_OK) {
		host->log(host, HORUS_LOG_ERR, "Failed to initialise libcurl: %s",
			  curl_easy_strerror(curl_init_result));
		r = -EIO;
		goto fail;
	}
	sh->url = strdup(url);
	if (!sh->url) {
		r = -ENOMEM;
		goto fail;
	}
	r = host->pub_open(host, s->topic, (uint32_t)sizeof(struct horus_reading) + sh->max_body,
			   &s->pub);
	if (r < 0) {
		host->log(host, HORUS_LOG_ERR, "Failed to open topic '%s': %s", s->topic,
			  strerror(-r));
		free(sh->url);
		goto fail;
	}
	nc_shared_init(&sh->base, http_shared_free);
	s->sh = sh;
	s->period_ns = (uint64_t)period_ms * 1000000ull;
	s->last.value = NAN;
	s->last.flags = sh->text ? HORUS_READING_TEXT : 0;
	host->log(host, HORUS_LOG_INFO, "GET '%s' every %u ms (timeout %u ms, %s) onto '%s'", url,
		  period_ms, sh->timeout_ms, sh->text ? "text" : "number", s->topic);
	*ret_ctx = s;
	return 0;

fail:
	free(sh);
	free(s);
	return r;
}

static void http_fini(void *ctx)
{
	struct http_sensor *s = ctx;
	const struct horus_host *h = s->host;

	if (s->pending) {
		h->future_release(h, s->pending);
		http_job_unref(s->job);
	}
	/* Wake a transfer in flight: fini need not wait for its timeout. */
	nc_shared_stop(&s->sh->base);
	pthread_mutex_lock(&s->sh->base.lock);
	for (struct http_job *j = s->sh->active; j; j = j->next) {
		curl_multi_wakeup(j->multi);
	}
	pthread_mutex_unlock(&s->sh->base.lock);
	if (nc_shared_wait_idle(&s->sh->base, s->sh->timeout_ms + 1000)) {
		h->log(h, HORUS_LOG_WARN, "a request to '%s' is still running at stop, left behind",
		       s->sh->url);
	}
	h->log(h, HORUS_LOG_INFO, "stopped: %llu fetches, %llu failed",
	       (unsigned long long)s->fetches, (unsigned long long)s->failures);
	nc_buf_free(&s->text);
	nc_shared_unref(&s->sh->base);
	free(s);
}

HORUS_NODE_DEFINE(.name = "http_sensor", .default_rate_hz = 20.0, .init = http_init,
		  .tick = http_tick, .fini = http_fini);
