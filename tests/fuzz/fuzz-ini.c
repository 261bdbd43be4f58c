/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: the daemon's INI loader (daemon/config.c, through inih) over arbitrary file
 * contents, by config_load_buffer(). A config file is written by an operator, not an attacker,
 * but a typo, a binary file or a truncated copy must get an error, never a crash or a leak.
 *
 * Properties checked (abort() on a violation, so that libFuzzer keeps the input):
 *  - the loader returns 0 or -EINVAL (-ENOMEM only if malloc failed), and errors exist exactly
 *    when it failed;
 *  - every error starts with the file's name, and an error that names a line names one that
 *    exists ("FILE:LINE:", 1 <= LINE <= the input's line count);
 *  - an accepted config is whole: every node has a valid instance name and a plugin, every
 *    parameter a key and a value, the namespace is valid, pools and topics are named;
 *  - loading the same text twice gives the same outcome (no state survives a call).
 * Heap checks (overflows, leaks of the config or the error list) are ASan's.
 */

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <horus/pubsub.h>

#include "config.h"
#include "fuzz-check.h"

#define NAME "fuzz.ini"

static size_t count_lines(const uint8_t *data, size_t size)
{
	size_t n = 1;

	for (size_t i = 0; i < size; i++) {
		n += data[i] == '\n';
	}
	return n;
}

static void check_errors(const struct config_errors *errs, size_t lines)
{
	for (size_t i = 0; i < errs->n; i++) {
		const char *e = errs->lines[i];
		char *end;

		check(e != NULL && e[0] != '\0');
		/* "out of memory" alone comes from validate() when a strdup failed. */
		if (strcmp(e, "out of memory") == 0) {
			continue;
		}
		check(strncmp(e, NAME ":", strlen(NAME ":")) == 0);
		e += strlen(NAME ":");
		if (*e >= '0' && *e <= '9') {
			unsigned long line = strtoul(e, &end, 10);

			check(*end == ':');
			check(line >= 1 && line <= lines);
		}
	}
}

static bool instance_name_ok(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	return n > 0 && n <= 40 &&
	       strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.") == n;
}

static void check_config(const struct horus_config *cfg)
{
	check(cfg->daemon.plugin_dir && cfg->daemon.plugin_dir[0]);
	check(cfg->daemon.control_socket && cfg->daemon.control_socket[0]);
	check(cfg->daemon.ns && strlen(cfg->daemon.ns) >= 1 &&
	      strlen(cfg->daemon.ns) <= HORUS_NAMESPACE_MAX);
	check(cfg->daemon.workers >= 1 && cfg->daemon.queue >= 1);
	for (size_t i = 0; i < cfg->n_nodes; i++) {
		const struct node_conf *n = &cfg->nodes[i];

		check(instance_name_ok(n->name));
		check(n->plugin && n->plugin[0]);
		check(n->rate_hz >= 0.001 && n->rate_hz <= 10000.0);
		check(config_find_node(cfg, n->name) == n); /* one section per name */
		for (size_t j = 0; j < n->n_params; j++) {
			check(n->params[j].key && n->params[j].value);
			check(node_conf_param(n, n->params[j].key) == n->params[j].value);
		}
	}
	for (size_t i = 0; i < cfg->n_pools; i++) {
		check(instance_name_ok(cfg->pools[i].name));
		check(cfg->pools[i].workers >= 1 && cfg->pools[i].queue >= 1);
	}
	for (size_t i = 0; i < cfg->n_topics; i++) {
		const struct topic_conf *t = &cfg->topics[i];

		check(t->name && horus_topic_check(t->name) == 0);
		check(config_find_topic(cfg, t->name) == t);
		check(t->capacity == 0 || (t->capacity & (t->capacity - 1)) == 0);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config_errors errs = {0}, errs2 = {0};
	struct horus_config cfg, cfg2;
	size_t lines = count_lines(data, size);
	int r, r2;

	r = config_load_buffer(NAME, (const char *)data, size, &cfg, &errs);
	check(r == 0 || r == -EINVAL || r == -ENOMEM);
	check((r == 0) == (errs.n == 0));
	check_errors(&errs, lines);
	if (r == 0) {
		check_config(&cfg);
	}

	r2 = config_load_buffer(NAME, (const char *)data, size, &cfg2, &errs2);
	check(r2 == r && errs2.n == errs.n);
	for (size_t i = 0; i < errs.n; i++) {
		check(strcmp(errs.lines[i], errs2.lines[i]) == 0);
	}
	if (r == 0) {
		check(cfg2.n_nodes == cfg.n_nodes && cfg2.n_pools == cfg.n_pools &&
		      cfg2.n_topics == cfg.n_topics);
		config_free(&cfg);
		config_free(&cfg2);
	}
	config_errors_free(&errs);
	config_errors_free(&errs2);
	return 0;
}
