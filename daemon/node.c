/* SPDX-License-Identifier: MIT */
/* Node instances: host services for plugins, init/fini, configuration of a live node. */

#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <horus/pubsub.h>

#include "node.h"

#define container_of(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))

uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

const char *node_state_name(uint32_t s)
{
	static const char *const names[] = { "running", "degraded", "tripped",
					     "hung",    "stopped",  "failed" };

	return s < sizeof(names) / sizeof(names[0]) ? names[s] : "?";
}

const char *circuit_state_name(uint32_t s)
{
	static const char *const names[] = { "closed", "open", "half_open" };

	return s < sizeof(names) / sizeof(names[0]) ? names[s] : "?";
}

/* ---- topic geometry for host->pub_open: the [topic.*] sections of the running config ------ */

static pthread_mutex_t topics_lock = PTHREAD_MUTEX_INITIALIZER;
static struct topic_conf *topics;
static size_t n_topics;

void node_set_topics(const struct horus_config *cfg)
{
	struct topic_conf *copy = NULL;
	size_t n = 0;

	if (cfg && cfg->n_topics) {
		copy = calloc(cfg->n_topics, sizeof(*copy));
		for (size_t i = 0; copy && i < cfg->n_topics; i++) {
			copy[i] = cfg->topics[i];
			copy[i].name = strdup(cfg->topics[i].name);
			n++;
		}
	}
	pthread_mutex_lock(&topics_lock);
	for (size_t i = 0; i < n_topics; i++) {
		free(topics[i].name);
	}
	free(topics);
	topics = copy;
	n_topics = n;
	pthread_mutex_unlock(&topics_lock);
}

static void topic_opts(const char *topic, uint32_t max_msg, struct horus_topic_opts *opts)
{
	opts->capacity = 0;
	opts->max_msg = max_msg;
	pthread_mutex_lock(&topics_lock);
	for (size_t i = 0; i < n_topics; i++) {
		if (topics[i].name && strcmp(topics[i].name, topic) == 0) {
			if (topics[i].capacity) {
				opts->capacity = topics[i].capacity;
			}
			if (topics[i].max_msg && topics[i].max_msg >= max_msg) {
				opts->max_msg = topics[i].max_msg;
			}
		}
	}
	pthread_mutex_unlock(&topics_lock);
}

/* ---- host services ----------------------------------------------------------------------- */

static struct node *host_node(const struct horus_host *host)
{
	return container_of(host, struct node, host);
}

static void host_vlog(const struct horus_host *host, int level, const char *fmt, va_list ap)
{
	char msg[900];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (level < HORUS_LOG_ERR) {
		level = HORUS_LOG_ERR;
	} else if (level > HORUS_LOG_DEBUG) {
		level = HORUS_LOG_DEBUG;
	}
	horus_log_write(level, NULL, 0, "node %s: %s", host->node_name, msg);
}

static void host_log(const struct horus_host *host, int level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	host_vlog(host, level, fmt, ap);
	va_end(ap);
}

static const char *host_param(const struct horus_host *host, const char *key)
{
	if (!host || !key) {
		return NULL;
	}
	return node_conf_param(&host_node(host)->conf, key);
}

/* Appends handle h of `topic` to a node's arrays. */
static int remember(void ***arr, char ***names, size_t *n, void *h, const char *topic)
{
	void **p = realloc(*arr, (*n + 1) * sizeof(**arr));
	char **t;

	if (!p) {
		return -ENOMEM;
	}
	*arr = p;
	t = realloc(*names, (*n + 1) * sizeof(**names));
	if (!t) {
		return -ENOMEM;
	}
	*names = t;
	t[*n] = strdup(topic);
	if (!t[*n]) {
		return -ENOMEM;
	}
	p[(*n)++] = h;
	return 0;
}

static int host_pub_open(const struct horus_host *host, const char *topic, uint32_t max_msg,
			 struct horus_pub **ret)
{
	struct node *n;
	struct horus_topic_opts opts;
	struct horus_pub *pub;
	int r;

	if (!host || !topic || !ret) {
		return -EINVAL;
	}
	n = host_node(host);
	topic_opts(topic, max_msg, &opts);
	r = horus_pub_open(host->ns, topic, &opts, &pub);
	if (r < 0) {
		return r;
	}
	r = remember((void ***)&n->pubs, &n->pub_topics, &n->n_pubs, pub, topic);
	if (r < 0) {
		horus_pub_close(pub);
		return r;
	}
	*ret = pub;
	return 0;
}

static int host_sub_open(const struct horus_host *host, const char *topic, uint32_t last_n,
			 struct horus_sub **ret)
{
	struct node *n;
	struct horus_topic_opts opts;
	struct horus_sub *sub;
	int r;

	if (!host || !topic || !ret) {
		return -EINVAL;
	}
	n = host_node(host);
	topic_opts(topic, 0, &opts);
	r = horus_sub_open(host->ns, topic, &opts, last_n, &sub);
	if (r < 0) {
		return r;
	}
	r = remember((void ***)&n->subs, &n->sub_topics, &n->n_subs, sub, topic);
	if (r < 0) {
		horus_sub_close(sub);
		return r;
	}
	*ret = sub;
	return 0;
}

static uint64_t host_tick_time_ns(const struct horus_host *host)
{
	return host ? host_node(host)->tick_time_ns : 0;
}

static int host_submit(const struct horus_host *host, const struct horus_io_request *req,
		       struct horus_future **ret)
{
	struct node *n;

	if (!host || !req || !ret) {
		return -EINVAL;
	}
	n = host_node(host);
	if (!n->pool) {
		return -ENODEV;
	}
	return pool_submit(n->pool, n, &n->io, n->conf.max_inflight, req, n->conf.io_timeout_ns,
			   n->plugin ? &n->plugin->jobs : NULL, ret);
}

static int host_future_state(const struct horus_host *host, const struct horus_future *f)
{
	struct node *n = host ? host_node(host) : NULL;

	return n && n->pool && f ? pool_future_state(n->pool, &n->io, f) : -EINVAL;
}

static int host_future_take(const struct horus_host *host, struct horus_future *f)
{
	struct node *n = host ? host_node(host) : NULL;

	return n && n->pool && f ? pool_future_take(n->pool, &n->io, f) : -EINVAL;
}

static const char *host_future_error(const struct horus_host *host, const struct horus_future *f)
{
	struct node *n = host ? host_node(host) : NULL;

	return n && n->pool && f ? pool_future_error(n->pool, &n->io, f) : "";
}

static int host_future_cancel(const struct horus_host *host, struct horus_future *f)
{
	struct node *n = host ? host_node(host) : NULL;

	return n && n->pool && f ? pool_future_cancel(n->pool, &n->io, f) : -EINVAL;
}

static int host_future_release(const struct horus_host *host, struct horus_future *f)
{
	struct node *n = host ? host_node(host) : NULL;

	return n && n->pool && f ? pool_future_release(n->pool, &n->io, f) : -EINVAL;
}

/* ---- configuration ----------------------------------------------------------------------- */

int node_conf_copy(struct node_conf *dst, const struct node_conf *src)
{
	*dst = *src;
	dst->name = strdup(src->name);
	dst->plugin = src->plugin ? strdup(src->plugin) : NULL;
	dst->pool = src->pool ? strdup(src->pool) : NULL;
	dst->file = src->file ? strdup(src->file) : NULL;
	dst->pool_file = src->pool_file ? strdup(src->pool_file) : NULL;
	dst->params = src->n_params ? calloc(src->n_params, sizeof(*dst->params)) : NULL;
	dst->n_params = 0;
	if (!dst->name || (src->n_params && !dst->params)) {
		node_conf_free(dst);
		return -ENOMEM;
	}
	for (size_t i = 0; i < src->n_params; i++) {
		dst->params[i].key = strdup(src->params[i].key);
		dst->params[i].value = strdup(src->params[i].value);
		dst->n_params++;
		if (!dst->params[i].key || !dst->params[i].value) {
			node_conf_free(dst);
			return -ENOMEM;
		}
	}
	return 0;
}

void node_conf_free(struct node_conf *c)
{
	for (size_t i = 0; i < c->n_params; i++) {
		free(c->params[i].key);
		free(c->params[i].value);
	}
	free(c->params);
	free(c->name);
	free(c->plugin);
	free(c->pool);
	free(c->file);
	free(c->pool_file);
	memset(c, 0, sizeof(*c));
}

static bool same_str(const char *a, const char *b)
{
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

bool node_conf_needs_restart(const struct node_conf *a, const struct node_conf *b)
{
	if (!same_str(a->plugin, b->plugin) || !same_str(a->pool, b->pool) ||
	    a->n_params != b->n_params) {
		return true;
	}
	for (size_t i = 0; i < a->n_params; i++) {
		if (!same_str(node_conf_param(b, a->params[i].key), a->params[i].value)) {
			return true;
		}
	}
	return false;
}

void node_apply_conf(struct node *n, const struct node_conf *conf)
{
	double def = n->plugin ? n->plugin->ops.default_rate_hz : conf->rate_hz;
	double rate = (conf->set & NODE_SET_RATE) ? conf->rate_hz : def;

	n->period_ns = (uint64_t)(1e9 / rate);
	n->conf.rate_hz = rate;
	n->conf.order = conf->order;
	n->conf.spin_ns = conf->spin_ns;
	/* Unless set, a tick may take its whole period. */
	n->conf.deadline_ns = (conf->set & NODE_SET_DEADLINE) ? conf->deadline_ns : n->period_ns;
	n->conf.on_deadline_miss = conf->on_deadline_miss;
	/* Unless set, the watchdog allows at least three periods without a completed tick. */
	n->conf.watchdog_ns = conf->watchdog_ns;
	if (!(conf->set & NODE_SET_WATCHDOG) && n->conf.watchdog_ns < 3 * n->period_ns) {
		n->conf.watchdog_ns = 3 * n->period_ns;
	}
	n->conf.on_watchdog = conf->on_watchdog;
	if (n->conf.circuit_cooldown_ns != conf->circuit_cooldown_ns || !n->cooldown_ns) {
		n->cooldown_ns = conf->circuit_cooldown_ns;
	}
	n->conf.circuit_threshold = conf->circuit_threshold;
	n->conf.circuit_cooldown_ns = conf->circuit_cooldown_ns;
	n->conf.max_inflight = conf->max_inflight;
	n->conf.io_timeout_ns = conf->io_timeout_ns;
	n->conf.enabled = conf->enabled;
	n->conf.set = conf->set;
}

struct node *node_create(const struct node_conf *conf, struct plugin *plugin, const char *ns)
{
	struct node *n = calloc(1, sizeof(*n));

	if (!n) {
		return NULL;
	}
	if (node_conf_copy(&n->conf, conf) < 0) {
		free(n);
		return NULL;
	}
	static _Atomic uint64_t next_id;

	n->id = atomic_fetch_add(&next_id, 1);
	n->name = n->conf.name;
	n->plugin = plugin;
	if (plugin) {
		plugin->refs++;
	} else {
		atomic_store(&n->state, NODE_FAILED); /* its plugin could not be loaded */
	}
	n->heap_index = SIZE_MAX;
	n->host = (struct horus_host){
		.abi_major = HORUS_NODE_ABI_MAJOR,
		.abi_minor = HORUS_NODE_ABI_MINOR,
		.struct_size = sizeof(struct horus_host),
		.node_name = n->name,
		.ns = ns,
		.log = host_log,
		.vlog = host_vlog,
		.param = host_param,
		.pub_open = host_pub_open,
		.sub_open = host_sub_open,
		.tick_time_ns = host_tick_time_ns,
		.submit = host_submit,
		.future_state = host_future_state,
		.future_take = host_future_take,
		.future_error = host_future_error,
		.future_cancel = host_future_cancel,
		.future_release = host_future_release,
	};
	n->miss_limit.interval_ns = 5000ull * 1000 * 1000;
	n->fail_limit.interval_ns = 5000ull * 1000 * 1000;
	node_apply_conf(n, conf);
	return n;
}

int node_init(struct node *n)
{
	void *ctx = NULL;
	uint64_t t = now_ns();
	int r;

	if (!n->plugin) {
		return -ENOENT;
	}
	atomic_store(&n->call_since_ns, t);
	r = n->plugin->ops.init(&n->host, &ctx);
	atomic_store(&n->call_since_ns, 0);
	if (r < 0) {
		atomic_store(&n->state, NODE_FAILED);
		atomic_store(&n->c.last_error, (uint64_t)-r);
		if (n->pool) {
			/* Jobs a failed init submitted: fini will not run to let go of them. */
			pool_detach_node(n->pool, &n->io);
		}
		return r;
	}
	n->ctx = ctx;
	n->inited = true;
	n->consecutive_failures = 0;
	n->skip_next = false;
	n->cooldown_ns = n->conf.circuit_cooldown_ns;
	atomic_store(&n->circuit, CIRCUIT_CLOSED);
	atomic_store(&n->state, NODE_RUNNING);
	atomic_store(&n->started_ns, now_ns());
	atomic_store(&n->last_complete_ns, now_ns());
	return 0;
}

void node_fini(struct node *n)
{
	if (n->inited) {
		atomic_store(&n->call_since_ns, now_ns());
		n->plugin->ops.fini(n->ctx);
		atomic_store(&n->call_since_ns, 0);
		n->inited = false;
		n->ctx = NULL;
	}
	/* Jobs it left: queued ones are cancelled, running ones finish unobserved. */
	if (n->pool) {
		pool_detach_node(n->pool, &n->io);
	}
	for (size_t i = 0; i < n->n_pubs; i++) {
		horus_pub_close(n->pubs[i]);
		free(n->pub_topics[i]);
	}
	for (size_t i = 0; i < n->n_subs; i++) {
		horus_sub_close(n->subs[i]);
		free(n->sub_topics[i]);
	}
	free(n->pubs);
	free(n->subs);
	free(n->pub_topics);
	free(n->sub_topics);
	n->pubs = NULL;
	n->subs = NULL;
	n->pub_topics = NULL;
	n->sub_topics = NULL;
	n->n_pubs = 0;
	n->n_subs = 0;
}

/* How many of n's own handles are on `topic`. */
static uint32_t own_handles(const struct node *n, const char *topic)
{
	uint32_t k = 0;

	for (size_t i = 0; i < n->n_pubs; i++) {
		k += strcmp(n->pub_topics[i], topic) == 0;
	}
	for (size_t i = 0; i < n->n_subs; i++) {
		k += strcmp(n->sub_topics[i], topic) == 0;
	}
	return k;
}

void node_remove_stuck_topics(struct node *const *stuck, size_t n_stuck)
{
	for (size_t k = 0; k < n_stuck; k++) {
		const struct node *n = stuck[k];

		for (size_t i = 0; i < n->n_pubs + n->n_subs; i++) {
			const char *topic =
				i < n->n_pubs ? n->pub_topics[i] : n->sub_topics[i - n->n_pubs];
			struct horus_topic_info info;
			uint32_t ours = 0;

			for (size_t j = 0; j < n_stuck; j++) {
				ours += own_handles(stuck[j], topic);
			}
			if (horus_topic_info(n->host.ns, topic, HORUS_KIND_HUB, &info) == 0 &&
			    info.publishers + info.subscribers <= ours) {
				(void)horus_topic_remove(n->host.ns, topic, HORUS_KIND_HUB);
			}
		}
	}
}

void node_destroy(struct node *n)
{
	if (!n) {
		return;
	}
	if (n->plugin) {
		n->plugin->refs--;
	}
	pool_node_io_free(&n->io); /* empty once its pool let go of it (pool_detach_node) */
	node_conf_free(&n->conf);
	free(n);
}
