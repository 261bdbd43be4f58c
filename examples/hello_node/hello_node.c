/* SPDX-License-Identifier: MIT */
/*
 * hello_node: a complete horusd node plugin, built outside the horusd tree against the
 * installed SDK only (see Makefile: `pkg-config --cflags --libs libhorus`).
 *
 * Every tick it publishes the text "<greeting>, <name>! #<count>" on a hub topic. The name is
 * the first line of a file, read once at start. Opening and reading a file can block (NFS, a
 * slow disk), and tick() must never block, so the read is a job on the daemon's worker pool:
 * init submits it, every tick looks at the future without waiting, and once it has resolved
 * the tick takes the result. Until then, and if the read fails, it greets "world".
 *
 * Parameters (keys of the node's [node.NAME] section):
 *   greeting = hello              the word before the comma
 *   name_file = /etc/hostname     the file whose first line is the name
 *   topic = hello/<node name>     the hub topic
 *
 *   [node.greeter]
 *   plugin = hello_node
 *   rate_hz = 2
 *   greeting = hi
 *
 * Threads: init, tick and fini run on the daemon's tick thread, one at a time; read_name runs
 * on a worker. They share only the job, which is reference-counted: the worker's reference is
 * dropped by arg_free when the pool is done with the job, the node's after it has taken the
 * result (or in fini). horusd keeps the plugin loaded until every job's arg_free has returned,
 * so fini does not wait for a read that is still running.
 */

#define _POSIX_C_SOURCE 200809L /* O_CLOEXEC with -std=c11 */

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <horus/node.h>
#include <horus/pubsub.h>

#define HELLO_NAME_MAX 64
#define HELLO_MSG_MAX 256

/* The blocking read: what the worker needs, and where it leaves the name. */
struct name_job {
	atomic_int refs;
	char name[HELLO_NAME_MAX]; /* written by the worker; read once the future is done */
	char path[];
};

struct hello {
	const struct horus_host *host;
	struct horus_pub *pub;
	const char *greeting; /* owned by the daemon, valid until fini returns */
	char name[HELLO_NAME_MAX];
	struct name_job *job;
	struct horus_future *pending;
	unsigned long long count;
};

static void job_unref(struct name_job *job)
{
	if (atomic_fetch_sub(&job->refs, 1) == 1) {
		free(job);
	}
}

/* arg_free: the pool is done with the job, whether it ran, timed out or was cancelled. */
static void job_done(void *arg)
{
	job_unref(arg);
}

/* On a worker thread: may block. Returns the name's length or -errno, with a message. */
static int read_name(void *arg, char *msg, size_t msg_size)
{
	struct name_job *job = arg;
	ssize_t n;
	int fd, r;

	fd = open(job->path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		snprintf(msg, msg_size, "cannot open '%s': %s", job->path, strerror(-r));
		return r;
	}
	do {
		n = read(fd, job->name, sizeof(job->name) - 1);
	} while (n < 0 && errno == EINTR);
	r = n < 0 ? -errno : 0;
	close(fd);
	if (r < 0) {
		snprintf(msg, msg_size, "cannot read '%s': %s", job->path, strerror(-r));
		return r;
	}
	job->name[n] = '\0';
	job->name[strcspn(job->name, "\r\n")] = '\0';
	if (!job->name[0]) {
		snprintf(msg, msg_size, "'%s' starts with an empty line", job->path);
		return -ENODATA;
	}
	return (int)strlen(job->name);
}

/* The read has resolved: take its outcome (never blocks), then give the future back. */
static void take_name(struct hello *h)
{
	const struct horus_host *host = h->host;
	int r = host->future_take(host, h->pending);

	if (r >= 0) {
		snprintf(h->name, sizeof(h->name), "%s", h->job->name);
		host->log(host, HORUS_LOG_INFO, "greeting '%s' from %s", h->name, h->job->path);
	} else {
		const char *why = host->future_error(host, h->pending);

		host->log(host, HORUS_LOG_WARN, "Failed to read the name: %s; greeting '%s'",
			  *why ? why : strerror(-r), h->name);
	}
	host->future_release(host, h->pending);
	h->pending = NULL;
	job_unref(h->job);
	h->job = NULL;
}

static int hello_tick(void *ctx)
{
	struct hello *h = ctx;
	const struct horus_host *host = h->host;
	char msg[HELLO_MSG_MAX];
	int len, r;

	if (h->pending && host->future_state(host, h->pending) != HORUS_FUTURE_PENDING) {
		take_name(h);
	}
	len = snprintf(msg, sizeof(msg), "%s, %s! #%llu", h->greeting, h->name, ++h->count);
	r = horus_pub_publish(h->pub, msg,
			      (size_t)len < sizeof(msg) ? (size_t)len : sizeof(msg) - 1);
	if (r < 0) {
		host->log(host, HORUS_LOG_WARN, "Failed to publish: %s", strerror(-r));
	}
	return r; /* a failure counts toward the node's circuit breaker */
}

static int submit_read(struct hello *h, const char *path)
{
	const struct horus_host *host = h->host;
	struct name_job *job = calloc(1, sizeof(*job) + strlen(path) + 1);
	struct horus_io_request req = {.fn = read_name, .arg_free = job_done};
	int r;

	if (!job) {
		return -ENOMEM;
	}
	atomic_init(&job->refs, 2); /* the node's and the pool's */
	strcpy(job->path, path);
	req.arg = job;
	r = host->submit(host, &req, &h->pending);
	if (r < 0) {
		free(job); /* nothing was queued: arg_free will not run */
		h->pending = NULL;
		return r;
	}
	h->job = job;
	return 0;
}

static int hello_init(const struct horus_host *host, void **ret_ctx)
{
	const char *greeting = host->param(host, "greeting");
	const char *path = host->param(host, "name_file");
	const char *topic = host->param(host, "topic");
	char default_topic[HORUS_TOPIC_MAX + 1];
	struct hello *h = calloc(1, sizeof(*h));
	int r;

	if (!h) {
		return -ENOMEM;
	}
	h->host = host;
	h->greeting = greeting ? greeting : "hello";
	snprintf(h->name, sizeof(h->name), "world");
	if (!topic) {
		snprintf(default_topic, sizeof(default_topic), "hello/%s", host->node_name);
		topic = default_topic;
	}
	/* The daemon owns the publisher and closes it after fini. */
	r = host->pub_open(host, topic, HELLO_MSG_MAX, &h->pub);
	if (r < 0) {
		host->log(host, HORUS_LOG_ERR, "parameter 'topic': cannot publish on '%s': %s",
			  topic, strerror(-r));
		free(h);
		return r;
	}
	r = submit_read(h, path ? path : "/etc/hostname");
	if (r < 0) {
		host->log(host, HORUS_LOG_ERR, "Failed to submit the name read: %s", strerror(-r));
		free(h);
		return r;
	}
	host->log(host, HORUS_LOG_INFO, "publishing '%s, ...' on '%s'", h->greeting, topic);
	*ret_ctx = h;
	return 0;
}

static void hello_fini(void *ctx)
{
	struct hello *h = ctx;

	if (h->pending) {
		/* A read still queued is dropped; one running finishes unobserved. */
		(void)h->host->future_cancel(h->host, h->pending);
		h->host->future_release(h->host, h->pending);
		job_unref(h->job);
	}
	h->host->log(h->host, HORUS_LOG_INFO, "stopped after %llu greetings", h->count);
	free(h);
}

HORUS_NODE_DEFINE(.name = "hello_node", .default_rate_hz = 10.0, .init = hello_init,
		  .tick = hello_tick, .fini = hello_fini);
