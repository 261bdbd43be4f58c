/* SPDX-License-Identifier: MIT */
/* The verbs answered by the daemon: status, node list|info|restart|stop|start, reload. */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "fmt.h"
#include "nodes.h"

static void print_raw(const struct json_doc *doc, const struct json_value *v)
{
	size_t len;
	const char *s = json_raw(doc, v, &len);

	fwrite(s, 1, len, stdout);
}

/* The daemon's reply as it came, one line. */
static void print_json_line(const struct json_doc *doc)
{
	print_raw(doc, json_root(doc));
	putchar('\n');
}

/* Prints the table of rows (node list, top's snapshot). */
static int print_node_table(struct node_row *rows, int n)
{
	struct table *t = table_new(NODE_COLS, node_headers);
	char cells[NODE_COLS][NODE_CELL_MAX];
	const char *p[NODE_COLS];

	if (!t) {
		ctl_err("out of memory");
		return CTL_EXIT_FAIL;
	}
	for (int i = 0; i < n; i++) {
		node_cells(&rows[i], cells);
		for (int c = 0; c < NODE_COLS; c++) {
			p[c] = cells[c];
		}
		if (table_add(t, p) < 0) {
			table_free(t);
			ctl_err("out of memory");
			return CTL_EXIT_FAIL;
		}
	}
	table_print(t, stdout, NODE_NUMERIC_COLS);
	table_free(t);
	return CTL_EXIT_OK;
}

static int daemon_error(const char *what, struct json_doc *doc, int r)
{
	if (r == CTL_EXIT_FAIL && doc) {
		ctl_err("%s: %s", what, ctl_reply_error(doc));
	}
	json_free(doc);
	return r;
}

/* ---- status ------------------------------------------------------------------------------ */

static void print_pools(const struct json_value *pools)
{
	for (const struct json_value *p = json_first(pools); p; p = json_next(p)) {
		printf("%-12s%s: %.0f workers (%.0f live, %.0f stuck), queue %.0f/%.0f, "
		       "%.0f running, %.0f completed, %.0f failed, %.0f timed out\n",
		       p == json_first(pools) ? "pools" : "", json_path_str(p, "name", "?"),
		       json_path_num(p, "workers", 0), json_path_num(p, "threads", 0),
		       json_path_num(p, "stuck", 0), json_path_num(p, "queued", 0),
		       json_path_num(p, "queue", 0), json_path_num(p, "running", 0),
		       json_path_num(p, "completed", 0), json_path_num(p, "failed", 0),
		       json_path_num(p, "timed_out", 0));
	}
}

int cmd_status(struct ctl *c)
{
	struct json_doc *st = NULL, *pools = NULL;
	const struct json_value *s, *pl;
	char b[FMT_MAX];
	int r;

	r = ctl_ask(c, "status", CTL_QUERY_TIMEOUT_MS, false, &st);
	if (r != CTL_EXIT_OK) {
		return daemon_error("status", st, r);
	}
	r = ctl_ask(c, "pools", CTL_QUERY_TIMEOUT_MS, false, &pools);
	if (r != CTL_EXIT_OK) {
		json_free(st);
		return daemon_error("pools", pools, r);
	}
	s = json_root(st);
	pl = json_get(json_root(pools), "pools");
	if (c->args.json) {
		/* The daemon's status object with its pools spliced in as "pools". */
		size_t len;
		const char *raw = json_raw(st, s, &len);

		while (len > 0 && raw[len - 1] != '}') {
			len--;
		}
		fwrite(raw, 1, len ? len - 1 : 0, stdout);
		fputs(", \"pools\": ", stdout);
		if (pl) {
			print_raw(pools, pl);
		} else {
			fputs("[]", stdout);
		}
		fputs("}\n", stdout);
	} else {
		printf("%-12s%s\n", "version", json_path_str(s, "version", "?"));
		printf("%-12s%.0f\n", "pid", json_path_num(s, "pid", 0));
		printf("%-12s%s\n", "namespace", json_path_str(s, "namespace", "?"));
		printf("%-12s%s\n", "uptime", fmt_uptime(json_path_num(s, "uptime_s", 0), b));
		printf("%-12s%.0f tick, %.0f stuck\n", "threads",
		       json_path_num(s, "threads.tick", 0), json_path_num(s, "threads.stuck", 0));
		printf("%-12s%.0f\n", "plugins", json_path_num(s, "plugins", 0));
		printf("%-12s%.0f\n", "nodes", json_path_num(s, "nodes", 0));
		printf("%-12s%.0f ticks in %.0f wake-ups\n", "dispatches",
		       json_path_num(s, "dispatches", 0), json_path_num(s, "wakeups", 0));
		printf("%-12sp50 %.0f ns, p99 %.0f ns, max %.0f ns a tick\n", "dispatch",
		       json_path_num(s, "dispatch_ns.p50", 0),
		       json_path_num(s, "dispatch_ns.p99", 0),
		       json_path_num(s, "dispatch_ns.max", 0));
		printf("%-12s%.0f\n", "reloads", json_path_num(s, "reloads", 0));
		print_pools(pl);
	}
	json_free(st);
	json_free(pools);
	return CTL_EXIT_OK;
}

/* ---- nodes ------------------------------------------------------------------------------- */

/* The table of nodes sorted by key: node list, and top's snapshot off a terminal. */
static int node_table(struct ctl *c, enum ctl_sort key)
{
	struct json_doc *doc = NULL;
	struct node_row *rows;
	int r = ctl_ask(c, "node list", CTL_QUERY_TIMEOUT_MS, false, &doc);
	int n;

	if (r != CTL_EXIT_OK) {
		return daemon_error("node list", doc, r);
	}
	if (c->args.json) {
		print_json_line(doc);
		json_free(doc);
		return CTL_EXIT_OK;
	}
	n = nodes_from_reply(json_root(doc), &rows);
	json_free(doc);
	if (n < 0) {
		ctl_err("node list: the daemon's reply has no \"nodes\" array");
		return CTL_EXIT_FAIL;
	}
	nodes_sort(rows, (size_t)n, key);
	r = print_node_table(rows, n);
	free(rows);
	return r;
}

int cmd_node_list(struct ctl *c)
{
	return node_table(c, CTL_SORT_NAME);
}

/* Phrases the daemon's refusal of a node request for the operator. */
static int node_error(const struct ctl *c, struct json_doc *doc, int r)
{
	if (r == CTL_EXIT_FAIL && doc) {
		const char *e = ctl_reply_error(doc);

		if (strstr(e, "no such node") || strstr(e, "no node named")) {
			ctl_err("node '%s': no such node", c->args.name);
		} else {
			ctl_err("node '%s': %s", c->args.name, e);
		}
	}
	json_free(doc);
	return r;
}

static const char *ms_or_none(double ms, char b[FMT_MAX])
{
	return ms > 0 ? fmt_us(ms * 1000.0, b) : "none";
}

static void print_node_info(const struct json_value *n)
{
	struct node_row r;
	char b1[FMT_MAX], b2[FMT_MAX], b3[FMT_MAX];
	const char *err = json_path_str(n, "last_error", NULL);

	nodes_from_json(n, &r);
	printf("%-12s%s\n", "name", r.name);
	printf("%-12s%s\n", "plugin", r.plugin);
	printf("%-12s%s\n", "state", r.state);
	printf("%-12s%s configured, %s actual\n", "rate", fmt_hz(r.rate_hz, b1),
	       fmt_hz(r.actual_hz, b2));
	printf("%-12s%llu (%.0f skipped), order %.0f\n", "ticks", (unsigned long long)r.ticks,
	       json_path_num(n, "skipped", 0), json_path_num(n, "order", 0));
	printf("%-12sp50 %s, p99 %s, max %s\n", "tick time", fmt_us(r.p50_us, b1),
	       fmt_us(r.p99_us, b2), fmt_us(r.max_us, b3));
	printf("%-12sp50 %s, p99 %s, max %s\n", "lateness",
	       fmt_us(json_path_num(n, "late_us.p50", 0), b1),
	       fmt_us(json_path_num(n, "late_us.p99", 0), b2),
	       fmt_us(json_path_num(n, "late_us.max", 0), b3));
	printf("%-12s%s, %llu misses\n", "deadline", ms_or_none(r.deadline_ms, b1),
	       (unsigned long long)r.misses);
	printf("%-12s%s, %llu trips\n", "watchdog", ms_or_none(r.watchdog_ms, b1),
	       (unsigned long long)r.trips);
	printf("%-12s%s, %llu failures\n", "breaker", r.circuit, (unsigned long long)r.failures);
	printf("%-12s%llu\n", "restarts", (unsigned long long)r.restarts);
	printf("%-12s%s\n", "last error", err ? err : "-");
	printf("%-12s%s\n", "pool", json_path_str(n, "pool", "?"));
	printf("%-12s%.0f pending, %.0f submitted, %.0f completed, %.0f failed, %.0f timed out\n",
	       "io", json_path_num(n, "io.pending", 0), json_path_num(n, "io.submitted", 0),
	       json_path_num(n, "io.completed", 0), json_path_num(n, "io.failed", 0),
	       json_path_num(n, "io.timed_out", 0));
}

/* "node VERB NAME" to the daemon; a refusal is phrased for the operator. */
static int ask_node(struct ctl *c, const char *verb, int timeout_ms, struct json_doc **ret)
{
	struct json_doc *doc = NULL;
	char req[256];
	int r;

	snprintf(req, sizeof(req), "node %s %s", verb, c->args.name);
	r = ctl_ask(c, req, timeout_ms, false, &doc);
	if (r != CTL_EXIT_OK) {
		return node_error(c, doc, r);
	}
	if (c->args.json) {
		print_json_line(doc);
	}
	*ret = doc;
	return CTL_EXIT_OK;
}

int cmd_node_info(struct ctl *c)
{
	struct json_doc *doc;
	int r = ask_node(c, "info", CTL_QUERY_TIMEOUT_MS, &doc);

	if (r != CTL_EXIT_OK) {
		return r;
	}
	if (!c->args.json) {
		print_node_info(json_get(json_root(doc), "node"));
	}
	json_free(doc);
	return CTL_EXIT_OK;
}

int cmd_node_op(struct ctl *c)
{
	static const char *const verbs[][2] = {
	    [CTL_NODE_STOP - CTL_NODE_RESTART] = {"stop", "stopped"},
	    [CTL_NODE_START - CTL_NODE_RESTART] = {"start", "started"},
	    [0] = {"restart", "restarted"},
	};
	const char *const *v = verbs[c->args.verb - CTL_NODE_RESTART];
	struct json_doc *doc;
	int r = ask_node(c, v[0], CTL_OP_TIMEOUT_MS, &doc);

	if (r != CTL_EXIT_OK) {
		return r;
	}
	if (!c->args.json) {
		printf("node '%s' %s\n", c->args.name, v[1]);
	}
	json_free(doc);
	return CTL_EXIT_OK;
}

int cmd_reload(struct ctl *c)
{
	struct json_doc *doc = NULL;
	int r = ctl_ask(c, "reload", CTL_OP_TIMEOUT_MS, false, &doc);

	if (r != CTL_EXIT_OK) {
		if (doc) {
			ctl_err("%s", ctl_reply_error(doc)); /* "reload refused: FILE:LINE: ..." */
		}
		json_free(doc);
		return r;
	}
	if (c->args.json) {
		print_json_line(doc);
	} else {
		printf("reloaded\n");
	}
	json_free(doc);
	return CTL_EXIT_OK;
}

/* top on a stdout that is not a terminal: one snapshot of the table, sorted as asked. */
int ctl_top_snapshot(struct ctl *c)
{
	return node_table(c, c->args.sort ? c->args.sort : CTL_SORT_NAME);
}
