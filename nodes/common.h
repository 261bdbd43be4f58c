/* SPDX-License-Identifier: MIT */
#ifndef HORUS_NODES_COMMON_H
#define HORUS_NODES_COMMON_H

/*
 * Helpers shared by the shipped nodes (linked statically into each plugin; nothing here is
 * exported): strict parameter parsing with one clear log line per bad value, the shared state
 * that a node and its in-flight jobs both reference, and rate-limited complaints.
 */

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <horus/node.h>

uint64_t nc_now_ns(void);
/* Sleeps ms milliseconds on CLOCK_MONOTONIC, resuming after signals. For worker jobs only. */
void nc_sleep_ms(uint32_t ms);
/*
 * A job every period on an absolute schedule: after submitting at `now`, the next one is due a
 * period after the last due time, or a period from now if that is already past (a late job is
 * not followed by a catch-up burst).
 */
void nc_schedule_next(uint64_t *next_due_ns, uint64_t period_ns, uint64_t now);

/*
 * Node parameters. Each returns 0 and sets *ret (def when the key is absent), or logs
 * "parameter 'KEY': ..." through host->log and returns -EINVAL.
 */
int nc_param_u32(const struct horus_host *host, const char *key, uint32_t def, uint32_t min,
		 uint32_t max, uint32_t *ret);
/* A duration: "250", "250ms", "2s" or "1500us" (rounded up to whole ms), in [min, max] ms. */
int nc_param_ms(const struct horus_host *host, const char *key, uint32_t def, uint32_t min,
		uint32_t max, uint32_t *ret);
/* A size: "512", "4K", "1M", in [min, max] bytes. */
int nc_param_size(const struct horus_host *host, const char *key, uint32_t def, uint32_t min,
		  uint32_t max, uint32_t *ret);
/* true/false, yes/no, on/off, 1/0. */
int nc_param_bool(const struct horus_host *host, const char *key, bool def, bool *ret);
/* A finite number in [min, max]. */
int nc_param_double(const struct horus_host *host, const char *key, double def, double min,
		    double max, double *ret);
/* A hub topic name; default "PREFIX/<node name>". */
int nc_param_topic(const struct horus_host *host, const char *key, const char *prefix, char *buf,
		   size_t size);
/* A required string (non-empty). */
int nc_param_required(const struct horus_host *host, const char *key, const char **ret);

/*
 * State shared by a node instance and the jobs it submitted. A job can outlive the node's
 * fini (a job that ran past its timeout, or one still running when the node stopped), so this
 * is reference-counted: the node holds one reference, every job one more, and whoever drops
 * the last one frees it through free_fn. Embed it as the first member of the node's own
 * shared struct.
 */
struct nc_shared {
	atomic_uint refs;
	pthread_mutex_t lock; /* guards jobs and whatever the embedding struct says */
	pthread_cond_t cond;  /* CLOCK_MONOTONIC; broadcast when jobs drops or stopping is set */
	unsigned jobs;	      /* jobs whose arg_free has not run yet */
	atomic_bool stopping; /* the node is going away: running jobs should end early */
	void (*free_fn)(struct nc_shared *sh);
};

void nc_shared_init(struct nc_shared *sh, void (*free_fn)(struct nc_shared *sh));
void nc_shared_unref(struct nc_shared *sh);
/* A job is about to be submitted (takes a reference), / its arg_free ran (drops it). */
void nc_shared_job_begin(struct nc_shared *sh);
void nc_shared_job_end(struct nc_shared *sh);
/*
 * From fini: asks running jobs to end early (nc_shared_sleep_ms returns at once, and whatever
 * else a job waits on should be woken by the caller).
 */
void nc_shared_stop(struct nc_shared *sh);
/* For jobs: sleeps up to ms, or less if the node stops. true if it slept the whole time. */
bool nc_shared_sleep_ms(struct nc_shared *sh, uint32_t ms);
/*
 * From fini: waits up to timeout_ms for every job to end, so that no job of this instance
 * still runs plugin code once fini returns (the daemon may unload the plugin right after).
 * Returns the number of jobs still running.
 */
unsigned nc_shared_wait_idle(struct nc_shared *sh, uint32_t timeout_ms);

/*
 * Rate-limited complaints about a repeated failure: log the first of a streak, then every
 * `every`-th, and once when it ends.
 */
struct nc_complain {
	uint64_t streak;
	uint32_t every;
};
/* Counts a failure; true when this one should be logged. */
bool nc_complain_fail(struct nc_complain *c);
/* Counts a success; returns the length of the streak it ended (0: there was none). */
uint64_t nc_complain_ok(struct nc_complain *c);

/* Bytes with a printf-style append; grows as needed. -ENOMEM keeps the old content. */
struct nc_buf {
	char *data;
	size_t len;
	size_t cap;
};
int nc_buf_reserve(struct nc_buf *b, size_t more);
int nc_buf_printf(struct nc_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int nc_buf_append(struct nc_buf *b, const void *data, size_t len);
void nc_buf_free(struct nc_buf *b);

#endif /* HORUS_NODES_COMMON_H */
