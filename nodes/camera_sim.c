/* SPDX-License-Identifier: MIT */
/*
 * camera_sim: a simulated camera whose frame read blocks, published zero-copy on a hub topic.
 *
 * Parameters ([node.NAME] keys that horusd does not use itself):
 *   width = 640, height = 480   frame size in pixels; a frame is width * height * 3 bytes (RGB)
 *   latency_ms = 50             how long one frame read blocks (0 .. 60 s)
 *   topic = camera/<node name>  hub topic the frames are published on
 *   callback = false            learn of finished reads through on_done instead of polling
 *   blocking = false            read inside tick (the deliberately bad pattern, for benchmarks)
 *   timeout_ms = 0              per-read I/O timeout; 0 = the node's io_timeout_ms
 *   log_every = 20              log the first failed read of a streak, then every N-th
 *
 * Frame layout: include/horus/nodes.h (a deterministic pattern with the frame counter in its
 * first 8 bytes).
 *
 * One read is in flight at a time. It runs on the node's worker pool: it blocks latency_ms
 * (the exposure), then loans a slot of the frame's size from the publisher, writes the frame
 * straight into shared memory and commits it. A frame is written once, by the worker;
 * publishing is thread-safe. The tick only polls the future (or on_done runs) and submits the
 * next read, so it takes microseconds.
 *
 * The publisher is the daemon's (host->pub_open, so [topic.*] geometry applies) and is closed
 * after fini. A read can outlive fini (it ran past its timeout, or was running when the node
 * stopped), so the publisher is reached through a reference-counted struct cam_shared and
 * under its pub_lock; fini clears it, wakes a read that is still sleeping and waits for it to
 * end: a late read publishes nothing, and no read runs plugin code once fini has returned.
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <horus/node.h>
#include <horus/nodes.h>
#include <horus/pubsub.h>

#include "common.h"

struct cam_shared {
	struct nc_shared base;
	/* Held while a frame is written into the bus; never taken by a non-blocking tick, so
	 * that a tick never waits for a worker. */
	pthread_mutex_t pub_lock;
	struct horus_pub *pub; /* under pub_lock; NULL once the node is gone */
	uint32_t width;
	uint32_t height;
	uint32_t latency_ms;
	size_t frame_size;
};

struct cam_job {
	struct cam_shared *sh;
	uint64_t frame;
};

struct camera {
	const struct horus_host *host;
	struct cam_shared *sh;
	char topic[HORUS_TOPIC_MAX + 1];
	bool callback;
	bool blocking;
	uint32_t timeout_ms;
	struct horus_future *pending;
	uint64_t next_frame;
	uint64_t frames;   /* published */
	uint64_t failures; /* reads that failed or timed out */
	uint64_t busy;	   /* submits refused with -EBUSY */
	struct nc_complain complain;
};

static void cam_fill(unsigned char *p, uint32_t w, uint32_t h, uint64_t n)
{
	for (uint32_t y = 0; y < h; y++) {
		unsigned char g = (unsigned char)((y + 2 * n) & 0xff);

		for (uint32_t x = 0; x < w; x++) {
			p[0] = (unsigned char)((x + n) & 0xff);
			p[1] = g;
			p[2] = (unsigned char)((x ^ y) & 0xff);
			p += 3;
		}
	}
}

/*
 * Loans a slot, writes frame n into it, commits. pub_lock held, sh->pub set.
 * 0 or -errno (with msg).
 */
static int cam_publish(struct cam_shared *sh, uint64_t n, char *msg, size_t msg_size)
{
	unsigned char *buf;
	void *slot;
	int r;

	r = horus_pub_loan(sh->pub, sh->frame_size, &slot);
	if (r < 0) {
		snprintf(msg, msg_size, "cannot loan a %zu-byte slot: %s", sh->frame_size,
			 strerror(-r));
		return r;
	}
	buf = slot;
	cam_fill(buf, sh->width, sh->height, n);
	for (unsigned i = 0; i < HORUS_CAMERA_SIM_STAMP_BYTES && i < sh->frame_size; i++) {
		buf[i] = (unsigned char)(n >> (8 * i));
	}
	r = horus_pub_commit(sh->pub, slot);
	if (r < 0) {
		snprintf(msg, msg_size, "cannot commit frame %llu: %s", (unsigned long long)n,
			 strerror(-r));
	}
	return r;
}

/* On a worker: the blocking read. */
static int cam_read(void *arg, char *msg, size_t msg_size)
{
	struct cam_job *job = arg;
	struct cam_shared *sh = job->sh;
	int r;

	/* The exposure and transfer of a real camera; cut short when the node stops. */
	(void)nc_shared_sleep_ms(&sh->base, sh->latency_ms);
	pthread_mutex_lock(&sh->pub_lock);
	if (!sh->pub || atomic_load(&sh->base.stopping)) {
		snprintf(msg, msg_size, "the node stopped during the read");
		r = -ECANCELED;
	} else {
		r = cam_publish(sh, job->frame, msg, msg_size);
	}
	pthread_mutex_unlock(&sh->pub_lock);
	return r;
}

/* On whatever thread ends the job. */
static void cam_job_free(void *arg)
{
	struct cam_job *job = arg;
	struct cam_shared *sh = job->sh;

	free(job);
	nc_shared_job_end(&sh->base);
}

static void cam_shared_free(struct nc_shared *base)
{
	struct cam_shared *sh = (struct cam_shared *)base;

	pthread_mutex_destroy(&sh->pub_lock);
	free(sh);
}

static void cam_failed(struct camera *c, uint64_t frame, int r, const char *why)
{
	c->failures++;
	if (nc_complain_fail(&c->complain)) {
		c->host->log(c->host, HORUS_LOG_WARN,
			     "Failed to read frame %llu: %s%s%s (%llu failures in a row)",
			     (unsigned long long)frame, strerror(-r), why && *why ? ": " : "",
			     why ? why : "", (unsigned long long)c->complain.streak);
	}
}

static void cam_collect(struct camera *c, struct horus_future *f)
{
	const struct horus_host *h = c->host;
	int r = h->future_take(h, f);

	if (r == -EAGAIN) {
		return; /* not over yet (cannot happen from on_done) */
	}
	if (r >= 0) {
		uint64_t streak = nc_complain_ok(&c->complain);

		c->frames++;
		if (streak) {
			h->log(h, HORUS_LOG_INFO, "frames flow again after %llu failed reads",
			       (unsigned long long)streak);
		}
	} else {
		cam_failed(c, c->next_frame - 1, r, h->future_error(h, f));
	}
	h->future_release(h, f);
	if (c->pending == f) {
		c->pending = NULL;
	}
}

static void cam_submit(struct camera *c);

/* On the node's tick thread, between ticks: a read is over; start the next one at once. */
static void cam_on_done(void *ctx, struct horus_future *f)
{
	struct camera *c = ctx;

	cam_collect(c, f);
	if (!c->pending) {
		cam_submit(c);
	}
}

static void cam_submit(struct camera *c)
{
	const struct horus_host *h = c->host;
	struct cam_job *job = calloc(1, sizeof(*job));
	struct horus_io_request req = {
	    .fn = cam_read,
	    .arg = job,
	    .arg_free = cam_job_free,
	    .on_done = c->callback ? cam_on_done : NULL,
	    .timeout_ms = c->timeout_ms,
	};
	int r;

	if (!job) {
		cam_failed(c, c->next_frame, -ENOMEM, "no memory for the job");
		return;
	}
	job->sh = c->sh;
	job->frame = c->next_frame;
	nc_shared_job_begin(&c->sh->base);
	r = h->submit(h, &req, &c->pending);
	if (r < 0) {
		c->pending = NULL;
		cam_job_free(job); /* nothing was queued: it is ours to free */
		if (r == -EBUSY) {
			c->busy++; /* pool queue full or max_inflight reached: next tick */
		} else {
			cam_failed(c, c->next_frame, r, "cannot submit the read");
		}
		return;
	}
	c->next_frame++;
}

/* blocking = true: the read inside tick, stalling it for latency_ms. */
static int cam_tick_blocking(struct camera *c)
{
	char msg[160];
	int r;

	nc_sleep_ms(c->sh->latency_ms);
	pthread_mutex_lock(&c->sh->pub_lock);
	r = cam_publish(c->sh, c->next_frame, msg, sizeof(msg));
	pthread_mutex_unlock(&c->sh->pub_lock);
	if (r < 0) {
		cam_failed(c, c->next_frame, r, msg);
		return r;
	}
	c->next_frame++;
	c->frames++;
	nc_complain_ok(&c->complain);
	return 0;
}

static int camera_tick(void *ctx)
{
	struct camera *c = ctx;
	const struct horus_host *h = c->host;

	if (c->blocking) {
		return cam_tick_blocking(c);
	}
	if (c->pending && !c->callback && h->future_state(h, c->pending) != HORUS_FUTURE_PENDING) {
		cam_collect(c, c->pending);
	}
	if (!c->pending) {
		cam_submit(c);
	}
	return 0;
}

static int camera_init(const struct horus_host *host, void **ret_ctx)
{
	struct camera *c;
	struct cam_shared *sh;
	uint32_t width, height, latency;
	uint64_t size;
	int r;

	c = calloc(1, sizeof(*c));
	sh = calloc(1, sizeof(*sh));
	if (!c || !sh) {
		free(c);
		free(sh);
		return -ENOMEM;
	}
	c->host = host;
	if ((r = nc_param_u32(host, "width", 640, 1, 16384, &width)) < 0 ||
	    (r = nc_param_u32(host, "height", 480, 1, 16384, &height)) < 0 ||
	    (r = nc_param_ms(host, "latency_ms", 50, 0, 60000, &latency)) < 0 ||
	    (r = nc_param_ms(host, "timeout_ms", 0, 0, 3600000, &c->timeout_ms)) < 0 ||
	    (r = nc_param_u32(host, "log_every", 20, 1, 1000000, &c->complain.every)) < 0 ||
	    (r = nc_param_bool(host, "callback", false, &c->callback)) < 0 ||
	    (r = nc_param_bool(host, "blocking", false, &c->blocking)) < 0 ||
	    (r = nc_param_topic(host, "topic", "camera", c->topic, sizeof(c->topic))) < 0) {
		goto fail;
	}
	size = (uint64_t)width * height * 3;
	if (size > HORUS_MAX_MSG_MAX) {
		host->log(host, HORUS_LOG_ERR,
			  "parameter 'width', 'height': a %ux%u frame (%llu bytes) exceeds the bus "
			  "limit of %u bytes per message",
			  width, height, (unsigned long long)size, HORUS_MAX_MSG_MAX);
		r = -EINVAL;
		goto fail;
	}
	nc_shared_init(&sh->base, cam_shared_free);
	pthread_mutex_init(&sh->pub_lock, NULL);
	sh->width = width;
	sh->height = height;
	sh->latency_ms = latency;
	sh->frame_size = (size_t)size;
	c->sh = sh;
	sh = NULL;
	r = host->pub_open(host, c->topic, (uint32_t)size, &c->sh->pub);
	if (r < 0) {
		host->log(host, HORUS_LOG_ERR,
			  "Failed to open topic '%s' for %llu-byte frames: %s%s", c->topic,
			  (unsigned long long)size, strerror(-r),
			  r == -EMSGSIZE ? " (the topic exists with a smaller max_msg)" : "");
		nc_shared_unref(&c->sh->base);
		free(c);
		return r;
	}
	host->log(host, HORUS_LOG_INFO, "%ux%u frames (%llu bytes) every %u ms on '%s'%s", width,
		  height, (unsigned long long)size, latency, c->topic,
		  c->blocking	? ", read inside tick (blocking = true)"
		  : c->callback ? ", completions by callback"
				: "");
	*ret_ctx = c;
	return 0;

fail:
	free(sh);
	free(c);
	return r;
}

static void camera_fini(void *ctx)
{
	struct camera *c = ctx;
	const struct horus_host *h = c->host;
	unsigned left;

	if (c->pending) {
		h->future_release(h, c->pending); /* a queued read is cancelled, a running one
						   * finishes unobserved */
		c->pending = NULL;
	}
	/* The daemon closes the publisher after fini: no read may touch it from now on, and a
	 * read that sleeps is woken. */
	pthread_mutex_lock(&c->sh->pub_lock);
	c->sh->pub = NULL;
	pthread_mutex_unlock(&c->sh->pub_lock);
	nc_shared_stop(&c->sh->base);
	/* No read of ours should still run plugin code once fini returns: the daemon may unload
	 * the plugin right after (and does not wait for jobs still running). */
	left = nc_shared_wait_idle(&c->sh->base, c->sh->latency_ms + 1000);
	if (left) {
		h->log(h, HORUS_LOG_WARN, "%u frame read(s) still running at stop, left behind",
		       left);
	}
	h->log(h, HORUS_LOG_INFO, "stopped: %llu frames published, %llu reads failed",
	       (unsigned long long)c->frames, (unsigned long long)c->failures);
	nc_shared_unref(&c->sh->base);
	free(c);
}

HORUS_NODE_DEFINE(.name = "camera_sim", .default_rate_hz = 100.0, .init = camera_init,
		  .tick = camera_tick, .fini = camera_fini);
