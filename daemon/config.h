/* SPDX-License-Identifier: MIT */
#ifndef HORUS_DAEMON_CONFIG_H
#define HORUS_DAEMON_CONFIG_H

/*
 * The daemon's configuration: INI files parsed into a plain struct, validated as a whole, then
 * applied. A config that fails to parse or validate is never applied (on reload the running
 * one stays).
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum miss_action {
	MISS_WARN = 0,
	MISS_SKIP,
	MISS_STOP,
};

enum watchdog_action {
	WATCHDOG_WARN = 0,
	WATCHDOG_RESTART,
	WATCHDOG_STOP,
};

struct node_param {
	char *key;
	char *value;
};

/* Keys of a [node.*] section that were set explicitly (others take the plugin's defaults). */
enum {
	NODE_SET_RATE = 1u << 0,
	NODE_SET_DEADLINE = 1u << 1,
	NODE_SET_WATCHDOG = 1u << 2,
	NODE_SET_PLUGIN = 1u << 3,
};

struct node_conf {
	char *name;   /* instance name: the section suffix */
	char *plugin; /* plugin name (plugin_dir/NAME.so) or a path; default: name */
	bool enabled;
	double rate_hz;
	int32_t order;
	uint64_t spin_ns;
	uint64_t deadline_ns;
	uint32_t on_deadline_miss; /* enum miss_action */
	uint64_t watchdog_ns;
	uint32_t on_watchdog; /* enum watchdog_action */
	uint32_t circuit_threshold;
	uint64_t circuit_cooldown_ns;
	char *pool;
	uint32_t max_inflight;
	uint64_t io_timeout_ns;
	uint32_t set; /* NODE_SET_* */
	struct node_param *params;
	size_t n_params;
	char *file; /* where the section was (first) seen, for messages */
	int line;
	char *pool_file; /* where `pool` was set */
	int pool_line;
};

struct pool_conf {
	char *name;
	uint32_t workers;
	uint32_t queue;
};

struct topic_conf {
	char *name;
	uint32_t capacity;
	uint32_t max_msg;
};

struct daemon_conf {
	char *plugin_dir;
	char *ns;
	char *control_socket;
	uint32_t workers;
	uint32_t queue;
	int log_level; /* enum horus_log_level */
};

struct horus_config {
	struct daemon_conf daemon;
	struct node_conf *nodes;
	size_t n_nodes;
	struct pool_conf *pools;
	size_t n_pools;
	struct topic_conf *topics;
	size_t n_topics;
};

/* Errors found while loading: "FILE:LINE: [section] key: problem", one per entry. */
struct config_errors {
	char **lines;
	size_t n;
};

/*
 * Loads `main_path` and then every *.ini in `dropin_dir` (may be NULL) in lexical order into
 * *ret. Returns 0, or -EINVAL with every problem listed in errs (which the caller frees with
 * config_errors_free), or another -errno. *ret is written only on success.
 */
int config_load(const char *main_path, const char *dropin_dir, struct horus_config *ret,
		struct config_errors *errs);
/*
 * The same for the text data[0..len) of one file (no drop-ins), called `name` in messages: the
 * way to check a config that is not on disk, and the fuzz target's entry (tests/fuzz/fuzz-ini.c).
 */
int config_load_buffer(const char *name, const char *data, size_t len, struct horus_config *ret,
		       struct config_errors *errs);
void config_free(struct horus_config *cfg);
void config_errors_free(struct config_errors *errs);
void config_error_add(struct config_errors *errs, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

const struct node_conf *config_find_node(const struct horus_config *cfg, const char *name);
const struct topic_conf *config_find_topic(const struct horus_config *cfg, const char *name);
const char *node_conf_param(const struct node_conf *nc, const char *key);

/* Value parsers, exposed for tests. Each returns 0 or -EINVAL/-ERANGE. */
int config_parse_duration(const char *s, uint64_t unit_ns, uint64_t *ret_ns);
int config_parse_size(const char *s, uint64_t *ret);
int config_parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *ret);
int config_parse_bool(const char *s, bool *ret);

const char *miss_action_name(uint32_t a);
const char *watchdog_action_name(uint32_t a);

#endif /* HORUS_DAEMON_CONFIG_H */
