/* SPDX-License-Identifier: MIT */
/*
 * INI configuration through libinih. inih does not report line numbers (Debian builds it without
 * INI_HANDLER_LINENO), so we feed it with ini_parse_stream() and a reader that counts the lines
 * it hands over: the handler for a line always runs before the next line is read. The reader
 * also notes section headers, because inih calls no handler for a section without keys.
 *
 * Every key is looked up in a table {section kind, key, parser, offset}; every problem is
 * recorded as "FILE:LINE: [section] key: problem" and parsing goes on, so that one run shows all.
 */

#include <dirent.h>
#include <errno.h>
#include <ini.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <horus/node.h>
#include <horus/pubsub.h>

#include "config.h"

/* inih keeps section names in a 50-byte buffer (its MAX_SECTION); longer ones are cut. */
#define INIH_SECTION_MAX 50
/* What inih skips as leading white space (isspace() in the C locale). */
#define INIH_SPACE " \t\n\v\f\r"

#define NS_PER_US 1000ull
#define NS_PER_MS 1000000ull
#define NS_PER_S 1000000000ull

/* ---- errors ------------------------------------------------------------------------------ */

void config_error_add(struct config_errors *errs, const char *fmt, ...)
{
	char **lines;
	char *line;
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(&line, fmt, ap) < 0) {
		line = NULL;
	}
	va_end(ap);
	if (!line) {
		return;
	}
	lines = realloc(errs->lines, (errs->n + 1) * sizeof(*lines));
	if (!lines) {
		free(line);
		return;
	}
	lines[errs->n++] = line;
	errs->lines = lines;
}

void config_errors_free(struct config_errors *errs)
{
	for (size_t i = 0; i < errs->n; i++) {
		free(errs->lines[i]);
	}
	free(errs->lines);
	errs->lines = NULL;
	errs->n = 0;
}

/* ---- value parsers ----------------------------------------------------------------------- */

int config_parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *ret)
{
	unsigned long long v;
	char *end;

	if (!s || *s < '0' || *s > '9') {
		return -EINVAL; /* no sign, no leading space, not empty */
	}
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end) {
		return errno == ERANGE ? -ERANGE : -EINVAL;
	}
	if (v < min || v > max) {
		return -ERANGE;
	}
	*ret = v;
	return 0;
}

/* A non-negative decimal number, with an optional fraction, followed by `*ret_end`. */
static int parse_decimal(const char *s, double *ret, const char **ret_end)
{
	char *end;
	double v;

	if (!s || ((*s < '0' || *s > '9') && *s != '.')) {
		return -EINVAL;
	}
	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || !isfinite(v) || v < 0) {
		return -EINVAL;
	}
	/* strtod also takes hex floats and exponents: refuse anything but plain decimals. */
	for (const char *p = s; p < end; p++) {
		if ((*p < '0' || *p > '9') && *p != '.') {
			return -EINVAL;
		}
	}
	*ret = v;
	*ret_end = end;
	return 0;
}

int config_parse_duration(const char *s, uint64_t unit_ns, uint64_t *ret_ns)
{
	const char *unit;
	uint64_t mult;
	double v, ns;
	int r = parse_decimal(s, &v, &unit);

	if (r < 0) {
		return r;
	}
	if (*unit == '\0') {
		mult = unit_ns; /* bare number: the unit the key's name says */
	} else if (strcmp(unit, "us") == 0) {
		mult = NS_PER_US;
	} else if (strcmp(unit, "ms") == 0) {
		mult = NS_PER_MS;
	} else if (strcmp(unit, "s") == 0) {
		mult = NS_PER_S;
	} else {
		return -EINVAL;
	}
	ns = v * (double)mult;
	if (ns > 86400.0 * NS_PER_S) {
		return -ERANGE; /* a day: nothing here is meant to be longer */
	}
	*ret_ns = (uint64_t)llround(ns);
	return 0;
}

int config_parse_size(const char *s, uint64_t *ret)
{
	const char *unit;
	uint64_t mult;
	double v;
	int r = parse_decimal(s, &v, &unit);

	if (r < 0) {
		return r;
	}
	if (*unit == '\0') {
		mult = 1;
	} else if (strcmp(unit, "K") == 0) {
		mult = 1024;
	} else if (strcmp(unit, "M") == 0) {
		mult = 1024 * 1024;
	} else {
		return -EINVAL;
	}
	if (v * (double)mult > (double)UINT32_MAX || v != floor(v)) {
		return v != floor(v) ? -EINVAL : -ERANGE;
	}
	*ret = (uint64_t)v * mult;
	return 0;
}

int config_parse_bool(const char *s, bool *ret)
{
	if (!strcmp(s, "true") || !strcmp(s, "yes") || !strcmp(s, "on") || !strcmp(s, "1")) {
		*ret = true;
	} else if (!strcmp(s, "false") || !strcmp(s, "no") || !strcmp(s, "off") ||
		   !strcmp(s, "0")) {
		*ret = false;
	} else {
		return -EINVAL;
	}
	return 0;
}

static const char *const miss_names[] = { "warn", "skip", "stop" };
static const char *const watchdog_names[] = { "warn", "restart", "stop" };
static const char *const level_names[] = { "error", "warn", "info", "debug" };
static const int level_values[] = { HORUS_LOG_ERR, HORUS_LOG_WARN, HORUS_LOG_INFO,
				    HORUS_LOG_DEBUG };

const char *miss_action_name(uint32_t a)
{
	return a < 3 ? miss_names[a] : "?";
}

const char *watchdog_action_name(uint32_t a)
{
	return a < 3 ? watchdog_names[a] : "?";
}

static int parse_word(const char *s, const char *const *words, size_t n, uint32_t *ret)
{
	for (size_t i = 0; i < n; i++) {
		if (strcmp(s, words[i]) == 0) {
			*ret = (uint32_t)i;
			return 0;
		}
	}
	return -EINVAL;
}

/* ---- the key table ----------------------------------------------------------------------- */

enum section_kind {
	SEC_DAEMON,
	SEC_POOL,
	SEC_TOPIC,
	SEC_NODE,
};

/* A parser writes through `dst` and may explain a failure in `why`. */
typedef int (*parse_fn)(const char *val, void *dst, const char **why);

static int p_string(const char *val, void *dst, const char **why)
{
	char **d = dst, *copy;

	if (!*val) {
		*why = "must not be empty";
		return -EINVAL;
	}
	copy = strdup(val);
	if (!copy) {
		return -ENOMEM;
	}
	free(*d);
	*d = copy;
	return 0;
}

static int p_namespace(const char *val, void *dst, const char **why)
{
	if (strlen(val) > HORUS_NAMESPACE_MAX || !*val ||
	    strspn(val, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") !=
		    strlen(val)) {
		*why = "must be 1 to 32 of A-Z a-z 0-9 _ -";
		return -EINVAL;
	}
	return p_string(val, dst, why);
}

static int p_bool(const char *val, void *dst, const char **why)
{
	*why = "must be true or false";
	return config_parse_bool(val, dst);
}

#define UINT_PARSER(fname, lo, hi, text)                                                   \
	static int fname(const char *val, void *dst, const char **why)                     \
	{                                                                                  \
		uint64_t v;                                                                \
		int r = config_parse_uint(val, lo, hi, &v);                                \
		if (r < 0) {                                                               \
			*why = text;                                                       \
			return r;                                                          \
		}                                                                          \
		*(uint32_t *)dst = (uint32_t)v;                                            \
		return 0;                                                                  \
	}

UINT_PARSER(p_workers, 1, 256, "must be a whole number from 1 to 256")
UINT_PARSER(p_queue, 1, 65536, "must be a whole number from 1 to 65536")
UINT_PARSER(p_threshold, 1, 1000000, "must be a whole number from 1 to 1000000")
UINT_PARSER(p_inflight, 1, 4096, "must be a whole number from 1 to 4096")

static int p_capacity(const char *val, void *dst, const char **why)
{
	uint64_t v;
	int r = config_parse_uint(val, 2, HORUS_CAPACITY_MAX, &v);

	if (r < 0 || (v & (v - 1)) != 0) {
		*why = "must be a power of two from 2 to 65536";
		return r < 0 ? r : -EINVAL;
	}
	*(uint32_t *)dst = (uint32_t)v;
	return 0;
}

static int p_max_msg(const char *val, void *dst, const char **why)
{
	uint64_t v;
	int r = config_parse_size(val, &v);

	if (r < 0 || v < 1 || v > HORUS_MAX_MSG_MAX) {
		*why = "must be a size from 1 to 256M (suffixes K, M)";
		return r < 0 ? r : -ERANGE;
	}
	*(uint32_t *)dst = (uint32_t)v;
	return 0;
}

static int p_order(const char *val, void *dst, const char **why)
{
	const char *digits = val[0] == '-' ? val + 1 : val;
	uint64_t v;
	int r = config_parse_uint(digits, 0, 1000000, &v);

	if (r < 0) {
		*why = "must be a whole number from -1000000 to 1000000";
		return r;
	}
	*(int32_t *)dst = val[0] == '-' ? -(int32_t)v : (int32_t)v;
	return 0;
}

static int p_rate(const char *val, void *dst, const char **why)
{
	const char *end;
	double v;

	if (parse_decimal(val, &v, &end) < 0 || *end || v < 0.001 || v > 10000.0) {
		*why = "must be a rate in Hz from 0.001 to 10000";
		return -EINVAL;
	}
	*(double *)dst = v;
	return 0;
}

#define DURATION_PARSER(fname, unit, lo, hi, text)                                         \
	static int fname(const char *val, void *dst, const char **why)                     \
	{                                                                                  \
		uint64_t ns;                                                               \
		int r = config_parse_duration(val, unit, &ns);                             \
		if (r < 0 || ns + 1 < (lo) + 1 || ns > (hi)) {                                     \
			*why = text;                                                       \
			return r < 0 ? r : -ERANGE;                                        \
		}                                                                          \
		*(uint64_t *)dst = ns;                                                     \
		return 0;                                                                  \
	}

DURATION_PARSER(p_spin, NS_PER_US, 0, 10 * NS_PER_MS,
		"must be a duration from 0 to 10ms (suffixes us, ms, s; bare = us)")
DURATION_PARSER(p_deadline, NS_PER_MS, 10 * NS_PER_US, 3600 * NS_PER_S,
		"must be a duration from 10us to 1h (suffixes us, ms, s; bare = ms)")
DURATION_PARSER(p_watchdog, NS_PER_MS, NS_PER_MS, 3600 * NS_PER_S,
		"must be a duration from 1ms to 1h (suffixes us, ms, s; bare = ms)")
DURATION_PARSER(p_cooldown, NS_PER_MS, NS_PER_MS, 3600 * NS_PER_S,
		"must be a duration from 1ms to 1h (suffixes us, ms, s; bare = ms)")
DURATION_PARSER(p_io_timeout, NS_PER_MS, 0, 3600 * NS_PER_S,
		"must be a duration from 0 (none) to 1h (suffixes us, ms, s; bare = ms)")

static int p_miss(const char *val, void *dst, const char **why)
{
	*why = "must be warn, skip or stop";
	return parse_word(val, miss_names, 3, dst);
}

static int p_on_watchdog(const char *val, void *dst, const char **why)
{
	*why = "must be warn, restart or stop";
	return parse_word(val, watchdog_names, 3, dst);
}

static int p_log_level(const char *val, void *dst, const char **why)
{
	uint32_t i;

	*why = "must be error, warn, info or debug";
	if (parse_word(val, level_names, 4, &i) < 0) {
		return -EINVAL;
	}
	*(int *)dst = level_values[i];
	return 0;
}

struct cfg_item {
	enum section_kind kind;
	const char *key;
	parse_fn parse;
	size_t offset;
	uint32_t set_flag;
};

#define D(k, p, f) { SEC_DAEMON, k, p, offsetof(struct daemon_conf, f), 0 }
#define P(k, p, f) { SEC_POOL, k, p, offsetof(struct pool_conf, f), 0 }
#define T(k, p, f) { SEC_TOPIC, k, p, offsetof(struct topic_conf, f), 0 }
#define N(k, p, f, s) { SEC_NODE, k, p, offsetof(struct node_conf, f), s }

static const struct cfg_item items[] = {
	D("plugin_dir", p_string, plugin_dir),
	D("namespace", p_namespace, ns),
	D("control_socket", p_string, control_socket),
	D("workers", p_workers, workers),
	D("queue", p_queue, queue),
	D("log_level", p_log_level, log_level),
	P("workers", p_workers, workers),
	P("queue", p_queue, queue),
	T("capacity", p_capacity, capacity),
	T("max_msg", p_max_msg, max_msg),
	N("plugin", p_string, plugin, NODE_SET_PLUGIN),
	N("enabled", p_bool, enabled, 0),
	N("rate_hz", p_rate, rate_hz, NODE_SET_RATE),
	N("order", p_order, order, 0),
	N("spin_us", p_spin, spin_ns, 0),
	N("deadline_ms", p_deadline, deadline_ns, NODE_SET_DEADLINE),
	N("on_deadline_miss", p_miss, on_deadline_miss, 0),
	N("watchdog_ms", p_watchdog, watchdog_ns, NODE_SET_WATCHDOG),
	N("on_watchdog", p_on_watchdog, on_watchdog, 0),
	N("circuit_threshold", p_threshold, circuit_threshold, 0),
	N("circuit_cooldown_ms", p_cooldown, circuit_cooldown_ns, 0),
	N("pool", p_string, pool, 0),
	N("max_inflight", p_inflight, max_inflight, 0),
	N("io_timeout_ms", p_io_timeout, io_timeout_ns, 0),
};

static const struct cfg_item *find_item(enum section_kind kind, const char *key)
{
	for (size_t i = 0; i < sizeof(items) / sizeof(items[0]); i++) {
		if (items[i].kind == kind && strcmp(items[i].key, key) == 0) {
			return &items[i];
		}
	}
	return NULL;
}

/* ---- sections ---------------------------------------------------------------------------- */

static void node_defaults(struct node_conf *n)
{
	n->enabled = true;
	n->rate_hz = 10.0;
	n->on_deadline_miss = MISS_WARN;
	n->on_watchdog = WATCHDOG_RESTART;
	n->watchdog_ns = 1000 * NS_PER_MS;
	n->circuit_threshold = 5;
	n->circuit_cooldown_ns = 2000 * NS_PER_MS;
	n->max_inflight = 1;
	n->io_timeout_ns = 1000 * NS_PER_MS;
}

struct parse_state {
	struct horus_config *cfg;
	struct config_errors *errs;
	const char *file;
	FILE *stream;
	int line;
	char section[256];
	bool section_ok; /* false: errors for its keys were already reported once */
	bool key_seen;   /* a key was read in this section (inih continuation lines) */
};

/* Grows *arr (of elements of `size`) by one zeroed element; NULL on ENOMEM. */
static void *grow(void **arr, size_t *n, size_t size)
{
	char *p = realloc(*arr, (*n + 1) * size);

	if (!p) {
		return NULL;
	}
	memset(p + *n * size, 0, size);
	*arr = p;
	return p + (*n)++ * size;
}

#define FIND_BY_NAME(fname, type, field, count)                                             \
	static type *fname(struct horus_config *cfg, const char *name)                     \
	{                                                                                  \
		for (size_t i = 0; i < cfg->count; i++) {                                 \
			if (strcmp(cfg->field[i].name, name) == 0) {                       \
				return &cfg->field[i];                                     \
			}                                                                  \
		}                                                                          \
		return NULL;                                                               \
	}

FIND_BY_NAME(node_by_name, struct node_conf, nodes, n_nodes)
FIND_BY_NAME(pool_by_name, struct pool_conf, pools, n_pools)
FIND_BY_NAME(topic_by_name, struct topic_conf, topics, n_topics)

const struct node_conf *config_find_node(const struct horus_config *cfg, const char *name)
{
	return node_by_name((struct horus_config *)cfg, name);
}

const struct topic_conf *config_find_topic(const struct horus_config *cfg, const char *name)
{
	return topic_by_name((struct horus_config *)cfg, name);
}

const char *node_conf_param(const struct node_conf *nc, const char *key)
{
	for (size_t i = 0; i < nc->n_params; i++) {
		if (strcmp(nc->params[i].key, key) == 0) {
			return nc->params[i].value;
		}
	}
	return NULL;
}

static bool valid_instance_name(const char *s)
{
	size_t n = strlen(s);

	return n > 0 && n <= 40 &&
	       strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.") == n;
}

/*
 * Finds or creates the object of section `sec` ("daemon", "pool.X", "topic.X", "node.X").
 * Returns its address and kind, or NULL after reporting why.
 */
static void *section_object(struct parse_state *ps, const char *sec, enum section_kind *ret_kind)
{
	struct horus_config *cfg = ps->cfg;
	const char *dot = strchr(sec, '.');
	const char *name = dot ? dot + 1 : NULL;

	if (strcmp(sec, "daemon") == 0) {
		*ret_kind = SEC_DAEMON;
		return &cfg->daemon;
	}
	if (!dot || !*name) {
		config_error_add(ps->errs,
				 "%s:%d: [%s]: unknown section (expected [daemon], [pool.NAME], "
				 "[topic.NAME] or [node.NAME])",
				 ps->file, ps->line, sec);
		return NULL;
	}
	if (strncmp(sec, "pool.", 5) == 0) {
		struct pool_conf *p = pool_by_name(cfg, name);

		*ret_kind = SEC_POOL;
		if (!valid_instance_name(name)) {
			goto bad_name;
		}
		if (!p && (p = grow((void **)&cfg->pools, &cfg->n_pools, sizeof(*p)))) {
			p->name = strdup(name);
			p->workers = 2;
			p->queue = 64;
		}
		return p;
	}
	if (strncmp(sec, "topic.", 6) == 0) {
		struct topic_conf *t = topic_by_name(cfg, name);

		*ret_kind = SEC_TOPIC;
		if (horus_topic_check(name) < 0) {
			config_error_add(ps->errs,
					 "%s:%d: [%s]: invalid topic name (A-Z a-z 0-9 _ - . /, no "
					 "leading or trailing '/', no \"//\" or \"..\")",
					 ps->file, ps->line, sec);
			return NULL;
		}
		if (!t && (t = grow((void **)&cfg->topics, &cfg->n_topics, sizeof(*t)))) {
			t->name = strdup(name);
		}
		return t;
	}
	if (strncmp(sec, "node.", 5) == 0) {
		struct node_conf *n = node_by_name(cfg, name);

		*ret_kind = SEC_NODE;
		if (!valid_instance_name(name)) {
			goto bad_name;
		}
		if (!n && (n = grow((void **)&cfg->nodes, &cfg->n_nodes, sizeof(*n)))) {
			node_defaults(n);
			n->name = strdup(name);
			n->file = strdup(ps->file);
			n->line = ps->line;
		}
		return n;
	}
	config_error_add(ps->errs,
			 "%s:%d: [%s]: unknown section (expected [daemon], [pool.NAME], "
			 "[topic.NAME] or [node.NAME])",
			 ps->file, ps->line, sec);
	return NULL;
bad_name:
	config_error_add(ps->errs, "%s:%d: [%s]: invalid name '%s' (1 to 40 of A-Z a-z 0-9 _ - .)",
			 ps->file, ps->line, sec, name);
	return NULL;
}

static int set_param(struct node_conf *n, const char *key, const char *val)
{
	struct node_param *p;
	char *v = strdup(val);

	if (!v) {
		return -ENOMEM;
	}
	for (size_t i = 0; i < n->n_params; i++) {
		if (strcmp(n->params[i].key, key) == 0) {
			free(n->params[i].value); /* a later file overrides */
			n->params[i].value = v;
			return 0;
		}
	}
	p = grow((void **)&n->params, &n->n_params, sizeof(*p));
	if (!p || !(p->key = strdup(key))) {
		free(v);
		return -ENOMEM;
	}
	p->value = v;
	return 0;
}

static int on_ini(void *user, const char *sec, const char *key, const char *val)
{
	struct parse_state *ps = user;
	enum section_kind kind;
	const struct cfg_item *it;
	const char *why = NULL;
	void *obj;
	int r;

	ps->key_seen = true;
	if (!ps->section_ok) {
		return 1; /* the section header was reported already */
	}
	obj = section_object(ps, sec, &kind);
	if (!obj) {
		return 1;
	}
	it = find_item(kind, key);
	if (!it) {
		if (kind == SEC_NODE) {
			/* Any other key of a node section is the plugin's own parameter. */
			if (set_param(obj, key, val) < 0) {
				config_error_add(ps->errs, "%s:%d: [%s] %s: out of memory", ps->file,
						 ps->line, sec, key);
			}
			return 1;
		}
		config_error_add(ps->errs, "%s:%d: [%s] %s: unknown key", ps->file, ps->line, sec,
				 key);
		return 1;
	}
	r = it->parse(val, (char *)obj + it->offset, &why);
	if (r < 0) {
		config_error_add(ps->errs, "%s:%d: [%s] %s: '%s' %s", ps->file, ps->line, sec, key,
				 val, why ? why : strerror(-r));
		return 1;
	}
	if (kind == SEC_NODE) {
		struct node_conf *n = obj;

		n->set |= it->set_flag;
		if (strcmp(key, "pool") == 0) {
			/* Checked once all files are read; remember where it was set. */
			free(n->pool_file);
			n->pool_file = strdup(ps->file);
			n->pool_line = ps->line;
		}
	}
	return 1;
}

/*
 * The line reader that inih pulls from: counts lines and notes section headers. It reads byte by
 * byte rather than with fgets(), which cannot say how much it read when a line holds a NUL byte:
 * the rest of such a line would come back as a line of its own and every line number after it
 * would be one off (found by tests/fuzz/fuzz-ini).
 */
static char *read_line(char *buf, int size, void *stream)
{
	struct parse_state *ps = stream;
	bool too_long = false, nul = false;
	size_t len = 0;
	int c;

	while ((c = getc(ps->stream)) != EOF) {
		if (len + 1 >= (size_t)size) {
			too_long = true; /* inih's line buffer is fixed: it would split the line */
			if (c == '\n') {
				break;
			}
			continue;
		}
		buf[len++] = (char)c;
		nul |= c == '\0';
		if (c == '\n') {
			break;
		}
	}
	if (c == EOF && len == 0 && !too_long) {
		return NULL;
	}
	buf[len] = '\0';
	ps->line++;
	if (too_long || nul) {
		if (too_long) {
			config_error_add(ps->errs, "%s:%d: line longer than %d characters",
					 ps->file, ps->line, size - 2);
		} else {
			config_error_add(ps->errs, "%s:%d: contains a NUL byte", ps->file,
					 ps->line);
		}
		buf[0] = '\0';
		return buf;
	}
	/*
	 * A section header: create the section now, so that an empty [node.x] still counts.
	 * Mirror inih's reading of the line: a UTF-8 byte order mark on line 1 is skipped, and an
	 * indented line after a key is a continuation of that key's value, not a header
	 * (inih indents with isspace(): INIH_SPACE).
	 */
	{
		const char *p = buf;
		const char *end;

		if (ps->line == 1 && strncmp(p, "\xEF\xBB\xBF", 3) == 0) {
			p += 3;
		}
		if (strchr(INIH_SPACE, *p) && *p) {
			if (ps->key_seen) {
				return buf;
			}
			p += strspn(p, INIH_SPACE);
		}
		end = *p == '[' ? strchr(p, ']') : NULL;
		if (end) {
			enum section_kind kind;
			size_t n = (size_t)(end - p - 1);

			ps->key_seen = false;
			if (n >= INIH_SECTION_MAX) {
				/* inih would cut the name short and file its keys under that. */
				config_error_add(ps->errs,
						 "%s:%d: [%.*s]: section name longer than %d characters",
						 ps->file, ps->line, (int)n, p + 1, INIH_SECTION_MAX - 1);
				ps->section_ok = false;
				return buf;
			}
			memcpy(ps->section, p + 1, n);
			ps->section[n] = '\0';
			ps->section_ok = section_object(ps, ps->section, &kind) != NULL;
		}
	}
	return buf;
}

/* Parses one file's contents from `stream`; `name` is what messages call it. */
static int parse_stream(struct parse_state *ps, FILE *stream, const char *name)
{
	int r;

	ps->stream = stream;
	ps->file = name;
	ps->line = 0;
	ps->section[0] = '\0';
	ps->section_ok = true;
	ps->key_seen = false;
	r = ini_parse_stream(read_line, ps, on_ini, ps);
	ps->stream = NULL;
	if (r > 0) {
		/* inih reports the first line it could not parse (no ']' or no '='). */
		config_error_add(ps->errs, "%s:%d: syntax error (expected [section] or key = value)",
				 name, r);
		return -EINVAL;
	}
	if (r == -2) {
		config_error_add(ps->errs, "%s: out of memory while parsing", name);
		return -ENOMEM;
	}
	return 0;
}

static int parse_file(struct parse_state *ps, const char *path)
{
	FILE *f = fopen(path, "re");
	int r;

	if (!f) {
		r = -errno;
		config_error_add(ps->errs, "%s: cannot open: %s", path, strerror(errno));
		return r;
	}
	r = parse_stream(ps, f, path);
	fclose(f);
	return r;
}

static int cmp_strings(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every *.ini of dir, sorted. A missing directory is no error. */
static int parse_dropins(struct parse_state *ps, const char *dir)
{
	char **names = NULL;
	size_t n = 0;
	struct dirent *de;
	DIR *d = opendir(dir);
	int r = 0;

	if (!d) {
		if (errno == ENOENT) {
			return 0;
		}
		config_error_add(ps->errs, "%s: cannot open directory: %s", dir, strerror(errno));
		return -errno;
	}
	while ((de = readdir(d))) {
		size_t len = strlen(de->d_name);
		char **nn;

		if (len < 5 || strcmp(de->d_name + len - 4, ".ini") != 0 || de->d_name[0] == '.') {
			continue;
		}
		nn = realloc(names, (n + 1) * sizeof(*names));
		if (!nn) {
			r = -ENOMEM;
			break;
		}
		names = nn;
		if (asprintf(&names[n], "%s/%s", dir, de->d_name) < 0) {
			r = -ENOMEM;
			break;
		}
		n++;
	}
	closedir(d);
	qsort(names, n, sizeof(*names), cmp_strings);
	for (size_t i = 0; i < n; i++) {
		if (r == 0) {
			(void)parse_file(ps, names[i]);
		}
		free(names[i]);
	}
	free(names);
	return r;
}

/* Whole-config checks that no single key can make. */
static void validate(struct horus_config *cfg, struct config_errors *errs)
{
	for (size_t i = 0; i < cfg->n_nodes; i++) {
		struct node_conf *n = &cfg->nodes[i];

		if (n->pool && strcmp(n->pool, "default") != 0 && !pool_by_name(cfg, n->pool)) {
			config_error_add(errs, "%s:%d: [node.%s] pool: no [pool.%s] section",
					 n->pool_file ? n->pool_file : n->file, n->pool_line, n->name,
					 n->pool);
		}
		if (!n->plugin) {
			n->plugin = strdup(n->name);
		}
	}
	if (!cfg->daemon.plugin_dir || !cfg->daemon.ns || !cfg->daemon.control_socket) {
		config_error_add(errs, "out of memory");
	}
}

static void daemon_defaults(struct daemon_conf *d)
{
	d->plugin_dir = strdup(HORUS_PLUGIN_DIR);
	d->ns = strdup("default");
	d->control_socket = strdup(HORUS_CONTROL_SOCKET);
	d->workers = 4;
	d->queue = 256;
	d->log_level = HORUS_LOG_INFO;
}

/* Validates the parsed cfg; moves it to *ret, or frees it if any error was added. */
static int config_finish(struct horus_config *cfg, int r, size_t errors_before,
			 struct horus_config *ret, struct config_errors *errs)
{
	validate(cfg, errs);
	if (errs->n > errors_before) {
		config_free(cfg);
		return r < 0 && r != -EINVAL ? r : -EINVAL;
	}
	*ret = *cfg;
	return 0;
}

int config_load(const char *main_path, const char *dropin_dir, struct horus_config *ret,
		struct config_errors *errs)
{
	struct horus_config cfg = { 0 };
	struct parse_state ps = { .cfg = &cfg, .errs = errs };
	size_t before = errs->n;
	int r;

	daemon_defaults(&cfg.daemon);
	r = parse_file(&ps, main_path);
	/* Even after errors in the main file: report the drop-ins' problems in the same run. */
	if (r != -ENOENT && r != -EACCES && dropin_dir) {
		(void)parse_dropins(&ps, dropin_dir);
	}
	return config_finish(&cfg, r, before, ret, errs);
}

int config_load_buffer(const char *name, const char *data, size_t len, struct horus_config *ret,
		       struct config_errors *errs)
{
	struct horus_config cfg = { 0 };
	struct parse_state ps = { .cfg = &cfg, .errs = errs };
	size_t before = errs->n;
	/* fmemopen() refuses a size of 0 on some C libraries: an empty text reads as "\n". */
	FILE *f = len ? fmemopen((void *)data, len, "r") : fmemopen("\n", 1, "r");
	int r;

	if (!f) {
		r = -errno;
		config_error_add(errs, "%s: cannot read: %s", name, strerror(errno));
		return r;
	}
	daemon_defaults(&cfg.daemon);
	r = parse_stream(&ps, f, name);
	fclose(f);
	return config_finish(&cfg, r, before, ret, errs);
}

void config_free(struct horus_config *cfg)
{
	free(cfg->daemon.plugin_dir);
	free(cfg->daemon.ns);
	free(cfg->daemon.control_socket);
	for (size_t i = 0; i < cfg->n_nodes; i++) {
		struct node_conf *n = &cfg->nodes[i];

		for (size_t j = 0; j < n->n_params; j++) {
			free(n->params[j].key);
			free(n->params[j].value);
		}
		free(n->params);
		free(n->name);
		free(n->plugin);
		free(n->pool);
		free(n->file);
		free(n->pool_file);
	}
	free(cfg->nodes);
	for (size_t i = 0; i < cfg->n_pools; i++) {
		free(cfg->pools[i].name);
	}
	free(cfg->pools);
	for (size_t i = 0; i < cfg->n_topics; i++) {
		free(cfg->topics[i].name);
	}
	free(cfg->topics);
	memset(cfg, 0, sizeof(*cfg));
}
