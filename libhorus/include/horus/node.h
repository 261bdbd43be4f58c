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
 *   - host functions may be called from init, tick and fini. host->log and publishing through a
 *     horus_pub are also safe from any other thread the plugin owns.
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
