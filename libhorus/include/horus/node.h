/* SPDX-License-Identifier: MIT */
#ifndef HORUS_NODE_H
#define HORUS_NODE_H

/*
 * The node plugin ABI.
 *
 * A plugin is a shared object that exports exactly one symbol, `horus_node_entry`, a
 * const struct horus_node_ops (use HORUS_NODE_DEFINE). It needs no symbol from horusd: the daemon
 * hands each node instance a struct horus_host of function pointers. A plugin may link libhorus
 * for the bus (horus_pub_publish, horus_sub_read, ...), and should link with -Wl,-z,defs.
 *
 * Threads and calls:
 *   - init, tick and fini of one node instance run on the daemon's tick thread, one at a time:
 *     a node's tick is never re-entered and never runs beside its own init or fini.
 *   - Different node instances may be ticked from different threads over the daemon's life
 *     (after a hung tick the others move to a fresh thread). Keep all state behind ctx; never
 *     in statics. Several instances of one plugin run side by side, each with its own ctx.
 *   - tick must not block: it should take microseconds. Blocking work goes to the worker pool
 *     (host I/O services, when the daemon provides them).
 *   - A tick that never returns is contained: the node is marked hung and the other nodes go
 *     on without it. fini of a hung instance runs only if its tick ever returns.
 *   - host functions may be called from init, tick, fini and on_done callbacks. host->log and
 *     publishing through a horus_pub are also safe from any other thread the plugin owns; submit
 *     and the future_* functions are not (they rely on the node's calls never overlapping).
 *
 * Versioning: the daemon refuses a plugin whose abi_major differs from its own (-EPROTO) and
 * reads only the fields that fit in struct_size. New fields are appended and bump abi_minor.
 */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define HORUS_NODE_ABI_MAJOR 1u
#define HORUS_NODE_ABI_MINOR 0u

/* Name of the one symbol a plugin exports. */
#define HORUS_NODE_ENTRY_SYMBOL "horus_node_entry"

enum horus_log_level {
	HORUS_LOG_ERR = 3,
	HORUS_LOG_WARN = 4,
	HORUS_LOG_INFO = 6,
	HORUS_LOG_DEBUG = 7,
};

struct horus_pub;
struct horus_sub;
struct horus_future;
struct horus_io_request;

/*
 * Services the daemon offers one node instance. Valid from init until fini returns.
 * Strings returned are owned by the daemon and valid until fini returns.
 */
struct horus_host {
	uint32_t abi_major;
	uint32_t abi_minor;
	uint32_t struct_size;
	uint32_t reserved;

	/* The instance's name: the suffix of its [node.NAME] section, or the plugin's name. */
	const char *node_name;
	/* The bus namespace the daemon runs in. */
	const char *ns;

	/* Log a line prefixed with the node's name. Levels as enum horus_log_level. */
	void (*log)(const struct horus_host *host, int level, const char *fmt, ...)
		__attribute__((format(printf, 3, 4)));
	void (*vlog)(const struct horus_host *host, int level, const char *fmt, va_list ap);

	/*
	 * A node parameter: any key of the node's INI section that the daemon does not use
	 * itself (e.g. `device = /dev/video0`). NULL when absent.
	 */
	const char *(*param)(const struct horus_host *host, const char *key);

	/*
	 * Opens a publisher / subscriber on hub topic `topic` in the daemon's namespace, with the
	 * geometry of its [topic.*] section if any (else defaults; max_msg 0 = default). The
	 * daemon owns these handles and closes them after fini: do not close them yourself.
	 * -errno as horus_pub_open / horus_sub_open.
	 */
	int (*pub_open)(const struct horus_host *host, const char *topic, uint32_t max_msg,
			struct horus_pub **ret);
	int (*sub_open)(const struct horus_host *host, const char *topic, uint32_t last_n,
			struct horus_sub **ret);

	/* Monotonic time, in ns, of the tick being run (its scheduled deadline). */
	uint64_t (*tick_time_ns)(const struct horus_host *host);

	/* ---- Blocking I/O on the daemon's worker pool (see "I/O" below) ---------------- */

	/*
	 * Runs req->fn(req->arg) on a worker of the node's pool and returns at once with a future.
	 * -EBUSY when the node already has max_inflight jobs pending or the pool's queue is full
	 * (nothing was queued: try again on a later tick); -EINVAL for a bad request.
	 */
	int (*submit)(const struct horus_host *host, const struct horus_io_request *req,
		      struct horus_future **ret);
	/* The future's state (enum horus_future_state), never blocking. -EINVAL if not ours. */
	int (*future_state)(const struct horus_host *host, const struct horus_future *f);
	/*
	 * Takes the outcome once it is there (the seed's result(timeout=0)):
	 *   >= 0        done: the job's result
	 *   -EAGAIN     still pending: nothing taken
	 *   -ETIMEDOUT  the job did not finish within its timeout (a late result is discarded)
	 *   -ECANCELED  cancelled before it ran
	 *   other <0    the job failed with that -errno (message: future_error)
	 *   -EALREADY   taken before; -EINVAL not a future of this node
	 */
	int (*future_take)(const struct horus_host *host, struct horus_future *f);
	/* The failed job's message (empty if none). Valid until the future is released. */
	const char *(*future_error)(const struct horus_host *host, const struct horus_future *f);
	/* Cancels a job that has not started (0), else -EBUSY (running) or -EALREADY (over). */
	int (*future_cancel)(const struct horus_host *host, struct horus_future *f);
	/* Gives the future back; a job still running finishes unobserved. -EINVAL on misuse. */
	int (*future_release)(const struct horus_host *host, struct horus_future *f);
};

/*
 * I/O
 *
 * tick() must never block. Blocking work (a camera read, an HTTP request, a file write) goes to
 * the node's worker pool: submit it, keep the future, and look at it on later ticks:
 *
 *	if (!ctx->pending) {
 *		struct horus_io_request req = { .fn = read_frame, .arg = ctx->job };
 *		host->submit(host, &req, &ctx->pending);      // -EBUSY: try next tick
 *	} else if (host->future_state(host, ctx->pending) != HORUS_FUTURE_PENDING) {
 *		int r = host->future_take(host, ctx->pending);  // never blocks
 *		host->future_release(host, ctx->pending);
 *		ctx->pending = NULL;
 *		if (r < 0) { ...use the cached value, log... } else { ...publish... }
 *	}
 *
 * or set req.on_done: it runs on the node's tick thread between its ticks (never beside one),
 * so node state needs no locks. A job that runs past its timeout resolves as timed out on time;
 * the pool replaces the stuck worker. Job failures and timeouts count toward the node's circuit
 * breaker. Submitting from init is allowed.
 */
enum horus_future_state {
	HORUS_FUTURE_PENDING = 0, /* queued or running */
	HORUS_FUTURE_DONE,
	HORUS_FUTURE_FAILED,
	HORUS_FUTURE_TIMED_OUT,
	HORUS_FUTURE_CANCELLED,
};

struct horus_io_request {
	/*
	 * The blocking work, run on a worker thread: returns a result >= 0 or a negative errno,
	 * and may explain a failure in msg (msg_size bytes). It must not touch node state that
	 * tick() uses without locking: give it what it needs in arg.
	 */
	int (*fn)(void *arg, char *msg, size_t msg_size);
	void *arg;
	/*
	 * Called when the job is really over (also after a timeout, once the stuck call
	 * returns), on whatever thread finished it: the place to free arg. May be NULL. It may
	 * run before on_done, and while the node sees the future resolved: the outcome travels
	 * in the future (future_take), so keep in arg nothing the node reads afterwards unless
	 * arg is reference-counted between the node and the job. horusd keeps the plugin
	 * loaded until every job's fn and arg_free have returned, even after the node was
	 * stopped or its plugin removed by a reload: both may be the plugin's own functions.
	 */
	void (*arg_free)(void *arg);
	/*
	 * Called on the node's tick thread, between ticks, when the future resolves. May be NULL.
	 * Every host function may be used from it (take, release, submit the next job, publish).
	 * The future stays the node's to take and release.
	 */
	void (*on_done)(void *node_ctx, struct horus_future *f);
	/* 0: the node's io_timeout_ms. */
	uint32_t timeout_ms;
	uint32_t reserved;
};

struct horus_node_ops {
	uint32_t abi_major;   /* HORUS_NODE_ABI_MAJOR */
	uint32_t abi_minor;   /* HORUS_NODE_ABI_MINOR */
	uint32_t struct_size; /* sizeof(struct horus_node_ops) when the plugin was built */
	uint32_t reserved;
	const char *name;      /* plugin name, e.g. "camera_sim" */
	double default_rate_hz;

	/*
	 * Creates one instance. host stays valid until fini returns. Returns 0 and sets *ret_ctx,
	 * or a negative errno: the node is then reported as failed and not ticked.
	 */
	int (*init)(const struct horus_host *host, void **ret_ctx);
	/* One step of work. 0, or a negative errno, which counts toward the circuit breaker. */
	int (*tick)(void *ctx);
	/* Destroys the instance. Called once for every successful init. */
	void (*fini)(void *ctx);
};

/* For plugins written in C: HORUS_NODE_DEFINE(.name = "x", .init = ..., .tick = ..., .fini = ...) */
#define HORUS_NODE_DEFINE(...)                                                                     \
	extern const struct horus_node_ops horus_node_entry;                                       \
	__attribute__((visibility("default"))) const struct horus_node_ops horus_node_entry = {      \
		.abi_major = HORUS_NODE_ABI_MAJOR,                                                 \
		.abi_minor = HORUS_NODE_ABI_MINOR,                                                 \
		.struct_size = sizeof(struct horus_node_ops),                                      \
		__VA_ARGS__}

#ifdef __cplusplus
}
#endif

#endif /* HORUS_NODE_H */
