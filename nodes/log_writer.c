/* SPDX-License-Identifier: MIT */
/*
 * log_writer: subscribes to hub topics and appends every message received to a file, in
 * batches written by a worker job, so that tick never touches the disk.
 *
 * Parameters:
 *   topics                 required: comma-separated hub topics (white space around names ok)
 *   path                   required: the file, opened O_APPEND (created 0644)
 *   batch = 64             submit a write once this many messages are buffered ...
 *   flush_ms = 200         ... or once the oldest buffered message is this old
 *   max_buffered = 16 * batch   bound on buffered messages while a write is in flight
 *   max_buffer = 4M        bound on buffered bytes, likewise
 *   max_payload = 256      payload bytes printed per line (the length field stays exact)
 *   max_per_tick = 4 * batch   messages one tick takes at most (keeps every tick short; the
 *                          node keeps up with rate_hz * max_per_tick messages per second)
 *   sync = false           fdatasync() after every batch
 *   timeout_ms = 0         per-write I/O timeout; 0 = the node's io_timeout_ms
 *   fini_timeout_ms = 5000 at stop, how long to wait for a write still in flight
 *
 * File format: one line per message, fields separated by one space:
 *	TIME TOPIC SEQ LEN PAYLOAD
 *   TIME     CLOCK_REALTIME when the node took the message, seconds.microseconds
 *   TOPIC    the hub topic; SEQ its topic-wide sequence number; LEN the payload length
 *   PAYLOAD  "text" when every byte is printable ASCII or \t \n \r (C escapes for \ " and
 *            control characters), else 0x followed by lower-case hex; at most max_payload
 *            bytes, then "..." if cut. An empty payload is "".
 * and marker lines starting with '#':
 *	# lost TOPIC N      the bus reported N messages of TOPIC lost before the next line (a
 *	                    slow subscriber, a publisher that died mid-write, a message
 *	                    overwritten while being read); received + lost = published.
 * So `grep -vc '^#'` counts messages and the lost markers add up to the bus's lost count.
 *
 * Buffering: tick drains the subscriptions (zero-copy take + check) into an in-memory batch and
 * submits one write job when the batch is due; one job at a time. While it runs, tick keeps
 * buffering, up to max_buffered messages / max_buffer bytes; past that it leaves messages in
 * the bus (which keeps the newest `capacity` of them and reports the rest as lost: they become
 * "# lost" lines) and logs that the disk is too slow. A write that fails or times out before it
 * started is retried with what it had not written, ahead of newer lines: order is kept.
 *
 * fini (stop, reload, SIGTERM) loses nothing received: it waits for the write in flight (up to
 * fini_timeout_ms), drains every subscription one last time and writes everything left,
 * synchronously. Opening the file in init is a deliberate blocking call: a wrong path is
 * reported at start, as a failed init, instead of at the first batch.
 */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <horus/node.h>
#include <horus/pubsub.h>

#include "common.h"

#define LW_TOPICS_MAX 64

enum {
	JOB_QUEUED = 0,
	JOB_RUNNING,
	JOB_DONE,
	JOB_ABANDONED, /* the node took the batch back before the job started */
};

struct lw_shared {
	struct nc_shared base;
	pthread_mutex_t write_lock; /* one write at a time, in submission order */
	int fd;
	bool sync;
	char *path;
};

struct lw_batch {
	struct nc_buf buf;
	uint32_t count;	   /* messages in buf */
	uint64_t first_ns; /* when the oldest of them was taken */
};

struct lw_job {
	atomic_uint refs; /* the node's and the pool's (arg_free) */
	atomic_int state; /* JOB_* */
	struct lw_shared *sh;
	struct lw_batch batch;
	size_t written; /* bytes of batch written (valid once state is JOB_DONE) */
	int error;	/* likewise: 0 or -errno */
};

struct lw_topic {
	char *name;
	struct horus_sub *sub;
	uint64_t received, lost;
};

struct log_writer {
	const struct horus_host *host;
	struct lw_shared *sh;
	struct lw_topic topics[LW_TOPICS_MAX];
	size_t n_topics;
	uint32_t batch, flush_ms, max_buffered, max_buffer, max_payload, timeout_ms;
	uint32_t max_per_tick;
	size_t first_topic; /* where the next drain starts */
	uint32_t fini_timeout_ms;
	struct lw_batch cur;
	struct horus_future *pending;
	struct lw_job *job;
	uint64_t written_msgs; /* messages in batches written completely */
	uint64_t full_events;
	bool full; /* the bound was hit and not yet relieved */
	struct nc_complain write_complain;
	struct nc_complain full_complain;
};

/* ---- file writes (worker, or fini) ------------------------------------------------------- */

static int write_all(int fd, const char *p, size_t len, size_t *ret_written)
{
	size_t done = 0;
	int r = 0;

	while (done < len) {
		ssize_t n = write(fd, p + done, len - done);

		if (n < 0 && errno == EINTR) {
			continue;
		}
		if (n < 0) {
			r = -errno;
			break;
		}
		done += (size_t)n;
	}
	*ret_written = done;
	return r;
}

/* On a worker. */
static int lw_write(void *arg, char *msg, size_t msg_size)
{
	struct lw_job *job = arg;
	struct lw_shared *sh = job->sh;
	int expected = JOB_QUEUED;
	int r;

	pthread_mutex_lock(&sh->write_lock);
	if (!atomic_compare_exchange_strong(&job->state, &expected, JOB_RUNNING)) {
		pthread_mutex_unlock(&sh->write_lock);
		snprintf(msg, msg_size, "the batch was taken back before the write started");
		return -ECANCELED;
	}
	r = write_all(sh->fd, job->batch.buf.data, job->batch.buf.len, &job->written);
	if (r == 0 && sh->sync && fdatasync(sh->fd) < 0) {
		r = -errno;
	}
	pthread_mutex_unlock(&sh->write_lock);
	job->error = r;
	atomic_store(&job->state, JOB_DONE);
	if (r < 0) {
		snprintf(msg, msg_size, "cannot write %zu bytes to '%s' (%zu written): %s",
			 job->batch.buf.len, sh->path, job->written, strerror(-r));
		return r;
	}
	return (int)(job->batch.count & 0x7fffffff);
}

/* Drops the node's reference (or one of the two, see lw_job_done). */
static void lw_job_unref(struct lw_job *job)
{
	if (atomic_fetch_sub(&job->refs, 1) != 1) {
		return;
	}
	nc_buf_free(&job->batch.buf);
	free(job);
}

/* arg_free: the pool is done with the job (its fn returned, or it will never run). */
static void lw_job_done(void *arg)
{
	struct lw_job *job = arg;
	struct lw_shared *sh = job->sh;

	lw_job_unref(job);
	nc_shared_job_end(&sh->base);
}

static void lw_shared_free(struct nc_shared *base)
{
	struct lw_shared *sh = (struct lw_shared *)base;

	if (sh->fd >= 0) {
		close(sh->fd);
	}
	pthread_mutex_destroy(&sh->write_lock);
	free(sh->path);
	free(sh);
}

/* ---- formatting (tick) ------------------------------------------------------------------- */

static bool printable(const unsigned char *p, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if ((p[i] < 0x20 || p[i] > 0x7e) && p[i] != '\t' && p[i] != '\n' && p[i] != '\r') {
			return false;
		}
	}
	return true;
}

static int fmt_line(struct log_writer *w, const struct lw_topic *t, const struct horus_sample *s)
{
	static const char hex[] = "0123456789abcdef";
	struct nc_buf *b = &w->cur.buf;
	const unsigned char *p = s->data;
	size_t n = s->len < w->max_payload ? s->len : w->max_payload;
	struct timespec ts;
	char *o;
	int r;

	clock_gettime(CLOCK_REALTIME, &ts);
	r = nc_buf_printf(b, "%lld.%06ld %s %llu %zu ", (long long)ts.tv_sec, ts.tv_nsec / 1000,
			  t->name, (unsigned long long)s->seq, s->len);
	if (r < 0 || nc_buf_reserve(b, 4 * n + 8) < 0) {
		return -ENOMEM;
	}
	o = b->data + b->len;
	if (printable(p, n)) {
		*o++ = '"';
		for (size_t i = 0; i < n; i++) {
			switch (p[i]) {
			case '\\':
			case '"':
				*o++ = '\\';
				*o++ = (char)p[i];
				break;
			case '\n':
				*o++ = '\\';
				*o++ = 'n';
				break;
			case '\t':
				*o++ = '\\';
				*o++ = 't';
				break;
			case '\r':
				*o++ = '\\';
				*o++ = 'r';
				break;
			default:
				*o++ = (char)p[i];
				break;
			}
		}
		*o++ = '"';
	} else {
		*o++ = '0';
		*o++ = 'x';
		for (size_t i = 0; i < n; i++) {
			*o++ = hex[p[i] >> 4];
			*o++ = hex[p[i] & 0xf];
		}
	}
	if (n < s->len) {
		memcpy(o, "...", 3);
		o += 3;
	}
	*o++ = '\n';
	b->len = (size_t)(o - b->data);
	b->data[b->len] = '\0';
	return 0;
}

/*
 * Moves messages of every subscription into the current batch: when bounded (tick), until the
 * buffer bounds or max_per_tick messages, whichever comes first; else (fini) everything there
 * is, but at most a ring's worth per topic, so that a publisher faster than us cannot keep fini
 * going. Returns true if it stopped at a buffer bound.
 */
static bool lw_drain(struct log_writer *w, bool bounded)
{
	uint32_t taken = 0;

	/* Each tick starts at the next topic: a busy one cannot starve the others. */
	w->first_topic = (w->first_topic + 1) % w->n_topics;
	for (size_t i = 0; i < w->n_topics; i++) {
		struct lw_topic *t = &w->topics[(w->first_topic + i) % w->n_topics];

		for (uint32_t n = 0; bounded || n < HORUS_CAPACITY_MAX; n++) {
			struct horus_sample s;
			size_t mark;
			int r;

			if (bounded &&
			    (w->cur.count >= w->max_buffered || w->cur.buf.len >= w->max_buffer)) {
				return true;
			}
			if (bounded && taken++ >= w->max_per_tick) {
				return false; /* the rest on the next tick: keep the tick short */
			}
			r = horus_sub_take(t->sub, &s);
			if (r == -EAGAIN) {
				break;
			}
			if (r < 0) {
				if (nc_complain_fail(&w->write_complain)) {
					w->host->log(w->host, HORUS_LOG_WARN,
						     "Failed to read topic '%s': %s", t->name,
						     strerror(-r));
				}
				break;
			}
			if (s.lost) {
				t->lost += s.lost;
				nc_buf_printf(&w->cur.buf, "# lost %s %llu\n", t->name,
					      (unsigned long long)s.lost);
			}
			mark = w->cur.buf.len;
			r = fmt_line(w, t, &s);
			if (horus_sub_check(t->sub, &s) < 0) {
				/* Overwritten while we formatted it: the bus counts it as lost. */
				w->cur.buf.len = mark;
				t->lost++;
				nc_buf_printf(&w->cur.buf, "# lost %s 1\n", t->name);
				continue;
			}
			if (r < 0) {
				w->cur.buf.len = mark; /* out of memory: count it lost, say so */
				t->lost++;
				nc_buf_printf(&w->cur.buf, "# lost %s 1\n", t->name);
				continue;
			}
			if (!w->cur.count) {
				w->cur.first_ns = nc_now_ns();
			}
			w->cur.count++;
			t->received++;
		}
	}
	return false;
}

/* Puts text back in front of the current batch (a write that did not happen). */
static void lw_requeue(struct log_writer *w, const char *data, size_t len, uint32_t count)
{
	struct nc_buf b = {0};

	if (!len) {
		return;
	}
	if (nc_buf_reserve(&b, len + w->cur.buf.len) < 0) {
		w->host->log(w->host, HORUS_LOG_ERR,
			     "Failed to keep %zu bytes for a retry: out of memory; %u lines lost",
			     len, count);
		return;
	}
	nc_buf_append(&b, data, len);
	if (w->cur.buf.len) {
		nc_buf_append(&b, w->cur.buf.data, w->cur.buf.len);
	}
	nc_buf_free(&w->cur.buf);
	w->cur.buf = b;
	w->cur.count += count;
	w->cur.first_ns = 1; /* long due */
}

/* The write job in flight is over (or given up): account for it. */
static void lw_finish_job(struct log_writer *w, int r)
{
	const struct horus_host *h = w->host;
	struct lw_job *job = w->job;
	int expected = JOB_QUEUED;

	if (atomic_compare_exchange_strong(&job->state, &expected, JOB_ABANDONED)) {
		/* It never started (timed out or cancelled in the queue): write it later. */
		lw_requeue(w, job->batch.buf.data, job->batch.buf.len, job->batch.count);
	} else if (atomic_load(&job->state) == JOB_DONE) {
		if (job->error < 0) {
			if (nc_complain_fail(&w->write_complain)) {
				h->log(h, HORUS_LOG_ERR,
				       "Failed to write to '%s': %s; retrying the %zu bytes left",
				       w->sh->path, strerror(-job->error),
				       job->batch.buf.len - job->written);
			}
			lw_requeue(w, job->batch.buf.data + job->written,
				   job->batch.buf.len - job->written, job->batch.count);
		} else {
			uint64_t streak = nc_complain_ok(&w->write_complain);

			w->written_msgs += job->batch.count;
			if (streak) {
				h->log(h, HORUS_LOG_INFO, "writes to '%s' work again", w->sh->path);
			}
		}
	} else if (r == -ETIMEDOUT && nc_complain_fail(&w->write_complain)) {
		/* Still running past its timeout: it will finish (in order, under write_lock). */
		h->log(h, HORUS_LOG_WARN, "a write to '%s' is taking longer than its timeout",
		       w->sh->path);
	}
	lw_job_unref(job);
	w->job = NULL;
}

static void lw_collect(struct log_writer *w)
{
	const struct horus_host *h = w->host;
	int r = h->future_take(h, w->pending);

	if (r == -EAGAIN) {
		return;
	}
	h->future_release(h, w->pending);
	w->pending = NULL;
	lw_finish_job(w, r);
}

static void lw_submit(struct log_writer *w)
{
	const struct horus_host *h = w->host;
	struct lw_job *job = calloc(1, sizeof(*job));
	struct horus_io_request req = {
	    .fn = lw_write,
	    .arg = job,
	    .arg_free = lw_job_done,
	    .timeout_ms = w->timeout_ms,
	};
	int r;

	if (!job) {
		return;
	}
	atomic_init(&job->refs, 2);
	atomic_init(&job->state, JOB_QUEUED);
	job->sh = w->sh;
	job->batch = w->cur;
	nc_shared_job_begin(&w->sh->base);
	r = h->submit(h, &req, &w->pending);
	if (r < 0) {
		w->pending = NULL;
		job->batch = (struct lw_batch){0}; /* the batch stays ours */
		lw_job_unref(job);
		lw_job_done(job);
		if (r != -EBUSY && nc_complain_fail(&w->write_complain)) {
			h->log(h, HORUS_LOG_WARN, "Failed to submit a write: %s", strerror(-r));
		}
		return;
	}
	w->job = job;
	w->cur = (struct lw_batch){0};
}

static int lw_tick(void *ctx)
{
	struct log_writer *w = ctx;
	const struct horus_host *h = w->host;
	bool full;

	if (w->pending && h->future_state(h, w->pending) != HORUS_FUTURE_PENDING) {
		lw_collect(w);
	}
	full = lw_drain(w, true);
	if (full && !w->full) {
		w->full_events++;
		if (nc_complain_fail(&w->full_complain)) {
			h->log(h, HORUS_LOG_WARN,
			       "buffer full (%u messages, %zu bytes) while '%s' is being written: "
			       "leaving messages in the bus, which reports what it drops as lost "
			       "(%llu times so far)",
			       w->cur.count, w->cur.buf.len, w->sh->path,
			       (unsigned long long)w->full_events);
		}
	}
	w->full = full;
	if (!w->pending && w->cur.buf.len &&
	    (w->cur.count >= w->batch || full ||
	     nc_now_ns() - w->cur.first_ns >= (uint64_t)w->flush_ms * 1000000ull)) {
		lw_submit(w);
	}
	return 0;
}

/* ---- init / fini ------------------------------------------------------------------------- */

static int lw_parse_topics(struct log_writer *w, const char *list)
{
	const struct horus_host *h = w->host;
	const char *p = list;

	while (*p) {
		const char *s, *e;
		char *name;

		while (*p == ' ' || *p == '\t' || *p == ',') {
			p++;
		}
		if (!*p) {
			break;
		}
		s = p;
		while (*p && *p != ',') {
			p++;
		}
		e = p;
		while (e > s && (e[-1] == ' ' || e[-1] == '\t')) {
			e--;
		}
		name = strndup(s, (size_t)(e - s));
		if (!name) {
			return -ENOMEM;
		}
		if (horus_topic_check(name) < 0) {
			h->log(h, HORUS_LOG_ERR,
			       "parameter 'topics': '%s' is not a valid topic name", name);
			free(name);
			return -EINVAL;
		}
		for (size_t i = 0; i < w->n_topics; i++) {
			if (!strcmp(w->topics[i].name, name)) {
				h->log(h, HORUS_LOG_ERR, "parameter 'topics': '%s' is listed twice",
				       name);
				free(name);
				return -EINVAL;
			}
		}
		if (w->n_topics == LW_TOPICS_MAX) {
			h->log(h, HORUS_LOG_ERR, "parameter 'topics': more than %d topics",
			       LW_TOPICS_MAX);
			free(name);
			return -EINVAL;
		}
		w->topics[w->n_topics++].name = name;
	}
	if (!w->n_topics) {
		h->log(h, HORUS_LOG_ERR, "parameter 'topics': no topic in '%s'", list);
		return -EINVAL;
	}
	return 0;
}

static void lw_free(struct log_writer *w)
{
	for (size_t i = 0; i < w->n_topics; i++) {
		free(w->topics[i].name);
	}
	nc_buf_free(&w->cur.buf);
	free(w);
}

static int lw_init(const struct horus_host *host, void **ret_ctx)
{
	struct log_writer *w = calloc(1, sizeof(*w));
	struct lw_shared *sh;
	const char *topics, *path;
	bool sync;
	int r;

	if (!w) {
		return -ENOMEM;
	}
	w->host = host;
	if ((r = nc_param_required(host, "topics", &topics)) < 0 ||
	    (r = nc_param_required(host, "path", &path)) < 0 ||
	    (r = nc_param_u32(host, "batch", 64, 1, 1000000, &w->batch)) < 0 ||
	    (r = nc_param_ms(host, "flush_ms", 200, 0, 3600000, &w->flush_ms)) < 0 ||
	    (r = nc_param_u32(host, "max_buffered",
			      w->batch * 16 > w->batch ? w->batch * 16 : w->batch, w->batch,
			      100000000, &w->max_buffered)) < 0 ||
	    (r = nc_param_size(host, "max_buffer", 4u << 20, 4096, 1u << 30, &w->max_buffer)) < 0 ||
	    (r = nc_param_size(host, "max_payload", 256, 0, 1u << 20, &w->max_payload)) < 0 ||
	    (r = nc_param_u32(host, "max_per_tick",
			      w->batch * 4 > w->batch ? w->batch * 4 : w->batch, 1, 100000000,
			      &w->max_per_tick)) < 0 ||
	    (r = nc_param_ms(host, "timeout_ms", 0, 0, 3600000, &w->timeout_ms)) < 0 ||
	    (r = nc_param_ms(host, "fini_timeout_ms", 5000, 0, 600000, &w->fini_timeout_ms)) < 0 ||
	    (r = nc_param_bool(host, "sync", false, &sync)) < 0 ||
	    (r = lw_parse_topics(w, topics)) < 0) {
		lw_free(w);
		return r;
	}
	sh = calloc(1, sizeof(*sh));
	if (!sh || !(sh->path = strdup(path))) {
		free(sh);
		lw_free(w);
		return -ENOMEM;
	}
	sh->sync = sync;
	sh->fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0644);
	if (sh->fd < 0) {
		r = -errno;
		host->log(host, HORUS_LOG_ERR, "Failed to open '%s' (parameter 'path'): %s", path,
			  strerror(-r));
		free(sh->path);
		free(sh);
		lw_free(w);
		return r;
	}
	pthread_mutex_init(&sh->write_lock, NULL);
	nc_shared_init(&sh->base, lw_shared_free);
	w->sh = sh;
	for (size_t i = 0; i < w->n_topics; i++) {
		r = host->sub_open(host, w->topics[i].name, 0, &w->topics[i].sub);
		if (r < 0) {
			host->log(host, HORUS_LOG_ERR, "Failed to subscribe to '%s': %s",
				  w->topics[i].name, strerror(-r));
			nc_shared_unref(&sh->base);
			lw_free(w);
			return r;
		}
	}
	host->log(host, HORUS_LOG_INFO,
		  "logging %zu topic(s) to '%s' (batch %u, flush %u ms, bound %u messages)",
		  w->n_topics, path, w->batch, w->flush_ms, w->max_buffered);
	*ret_ctx = w;
	return 0;
}

static void lw_fini(void *ctx)
{
	struct log_writer *w = ctx;
	const struct horus_host *h = w->host;
	uint64_t received = 0, lost = 0;
	struct timespec ts;
	size_t written = 0;
	bool locked;
	int r;

	/* 1. The write in flight: take its batch back if it has not started, else let it end. */
	if (w->pending) {
		struct lw_job *job = w->job;
		int expected = JOB_QUEUED;

		if (atomic_compare_exchange_strong(&job->state, &expected, JOB_ABANDONED)) {
			lw_requeue(w, job->batch.buf.data, job->batch.buf.len, job->batch.count);
			h->future_release(h, w->pending);
			w->pending = NULL;
			lw_job_unref(job);
			w->job = NULL;
		} else {
			h->future_release(h, w->pending);
			w->pending = NULL;
			if (nc_shared_wait_idle(&w->sh->base, w->fini_timeout_ms) == 0 ||
			    atomic_load(&job->state) == JOB_DONE) {
				lw_finish_job(w, 0);
			} else {
				h->log(h, HORUS_LOG_WARN,
				       "a write to '%s' is still running after %u ms; writing the "
				       "rest anyway",
				       w->sh->path, w->fini_timeout_ms);
				lw_job_unref(job);
				w->job = NULL;
			}
		}
	}
	/* 2. Everything the bus still holds for us, then 3. one synchronous write. */
	lw_drain(w, false);
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += (time_t)(w->fini_timeout_ms / 1000) + 1;
	locked = pthread_mutex_timedlock(&w->sh->write_lock, &ts) == 0;
	r = write_all(w->sh->fd, w->cur.buf.data ? w->cur.buf.data : "", w->cur.buf.len, &written);
	if (r == 0 && w->sh->sync) {
		(void)fdatasync(w->sh->fd);
	}
	if (locked) {
		pthread_mutex_unlock(&w->sh->write_lock);
	}
	if (r < 0) {
		h->log(h, HORUS_LOG_ERR,
		       "Failed to write the last %zu bytes to '%s' (%zu written): %s",
		       w->cur.buf.len, w->sh->path, written, strerror(-r));
	} else {
		w->written_msgs += w->cur.count;
	}
	for (size_t i = 0; i < w->n_topics; i++) {
		received += w->topics[i].received;
		lost += w->topics[i].lost;
	}
	h->log(h, HORUS_LOG_INFO,
	       "stopped: %llu messages received, %llu written to '%s', %llu lost on the bus",
	       (unsigned long long)received, (unsigned long long)w->written_msgs, w->sh->path,
	       (unsigned long long)lost);
	if (nc_shared_wait_idle(&w->sh->base, 1000)) {
		h->log(h, HORUS_LOG_WARN, "a write job is still running at stop, left behind");
	}
	nc_shared_unref(&w->sh->base);
	lw_free(w);
}

HORUS_NODE_DEFINE(.name = "log_writer", .default_rate_hz = 100.0, .init = lw_init, .tick = lw_tick,
		  .fini = lw_fini);
