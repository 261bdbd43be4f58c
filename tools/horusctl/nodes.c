/* SPDX-License-Identifier: MIT */
/* Node rows from the daemon's JSON, their sorting and their cells. */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fmt.h"
#include "nodes.h"

const char *const node_headers[NODE_COLS] = {
    [NODE_COL_NAME] = "NAME",	      [NODE_COL_STATE] = "STATE",
    [NODE_COL_RATE] = "RATE",	      [NODE_COL_ACTUAL] = "ACTUAL",
    [NODE_COL_P99] = "TICK P99",      [NODE_COL_MAX] = "TICK MAX",
    [NODE_COL_MISSES] = "MISSES",     [NODE_COL_TRIPS] = "WD TRIPS",
    [NODE_COL_CIRCUIT] = "BREAKER",   [NODE_COL_FAILURES] = "FAILURES",
    [NODE_COL_RESTARTS] = "RESTARTS", [NODE_COL_IO] = "IO PENDING",
};

static uint64_t u64(const struct json_value *obj, const char *path)
{
	double v = json_path_num(obj, path, 0);

	return v > 0 && v < 1.8e19 ? (uint64_t)v : 0;
}

void nodes_from_json(const struct json_value *n, struct node_row *r)
{
	memset(r, 0, sizeof(*r));
	snprintf(r->name, sizeof(r->name), "%s", json_path_str(n, "name", "?"));
	snprintf(r->plugin, sizeof(r->plugin), "%s", json_path_str(n, "plugin", "?"));
	snprintf(r->state, sizeof(r->state), "%s", json_path_str(n, "state", "?"));
	snprintf(r->circuit, sizeof(r->circuit), "%s", json_path_str(n, "circuit", "?"));
	r->rate_hz = json_path_num(n, "rate_hz", 0);
	r->actual_hz = json_path_num(n, "actual_hz", 0);
	r->p50_us = json_path_num(n, "tick_us.p50", 0);
	r->p99_us = json_path_num(n, "tick_us.p99", 0);
	r->max_us = json_path_num(n, "tick_us.max", 0);
	r->deadline_ms = json_path_num(n, "deadline_ms", 0);
	r->watchdog_ms = json_path_num(n, "watchdog_ms", 0);
	r->ticks = u64(n, "ticks");
	r->misses = u64(n, "deadline_misses");
	r->trips = u64(n, "watchdog_trips");
	r->failures = u64(n, "failures");
	r->restarts = u64(n, "restarts");
	r->io_pending = u64(n, "io.pending");
}

int nodes_from_reply(const struct json_value *reply, struct node_row **ret)
{
	const struct json_value *list = json_get(reply, "nodes");
	size_t n = json_count(list), i = 0;
	struct node_row *rows;

	if (json_type(list) != JSON_ARRAY) {
		return -EPROTO;
	}
	rows = calloc(n ? n : 1, sizeof(*rows));
	if (!rows) {
		return -ENOMEM;
	}
	for (const struct json_value *v = json_first(list); v && i < n; v = json_next(v)) {
		if (json_type(v) == JSON_OBJECT) {
			nodes_from_json(v, &rows[i++]);
		}
	}
	*ret = rows;
	return (int)i;
}

bool node_unwell(const struct node_row *r)
{
	return strcmp(r->state, "running") != 0 || strcmp(r->circuit, "closed") != 0;
}

static int cmp_double_desc(double a, double b)
{
	return a > b ? -1 : a < b;
}

static int cmp_by(const struct node_row *a, const struct node_row *b, enum ctl_sort key)
{
	int c = 0;

	switch (key) {
	case CTL_SORT_STATE:
		/* The unwell first, so that trouble is on top. */
		c = (int)node_unwell(b) - (int)node_unwell(a);
		if (!c) {
			c = strcmp(a->state, b->state);
		}
		break;
	case CTL_SORT_P99:
		c = cmp_double_desc(a->p99_us, b->p99_us);
		break;
	case CTL_SORT_MISSES:
		c = cmp_double_desc((double)a->misses, (double)b->misses);
		break;
	case CTL_SORT_RATE:
		c = cmp_double_desc(a->actual_hz, b->actual_hz);
		break;
	default:
		break;
	}
	return c ? c : strcmp(a->name, b->name);
}

/* Insertion sort: a few hundred rows at most, and no global for qsort's comparator. */
void nodes_sort(struct node_row *rows, size_t n, enum ctl_sort key)
{
	for (size_t i = 1; i < n; i++) {
		struct node_row tmp = rows[i];
		size_t j = i;

		while (j > 0 && cmp_by(&rows[j - 1], &tmp, key) > 0) {
			rows[j] = rows[j - 1];
			j--;
		}
		rows[j] = tmp;
	}
}

void node_cells(const struct node_row *r, char cells[NODE_COLS][NODE_CELL_MAX])
{
	char b[FMT_MAX];

	snprintf(cells[NODE_COL_NAME], NODE_CELL_MAX, "%s", r->name);
	snprintf(cells[NODE_COL_STATE], NODE_CELL_MAX, "%s", r->state);
	snprintf(cells[NODE_COL_RATE], NODE_CELL_MAX, "%s", fmt_hz(r->rate_hz, b));
	snprintf(cells[NODE_COL_ACTUAL], NODE_CELL_MAX, "%s", fmt_hz(r->actual_hz, b));
	snprintf(cells[NODE_COL_P99], NODE_CELL_MAX, "%s", fmt_us(r->p99_us, b));
	snprintf(cells[NODE_COL_MAX], NODE_CELL_MAX, "%s", fmt_us(r->max_us, b));
	snprintf(cells[NODE_COL_MISSES], NODE_CELL_MAX, "%s", fmt_u64(r->misses, b));
	snprintf(cells[NODE_COL_TRIPS], NODE_CELL_MAX, "%s", fmt_u64(r->trips, b));
	snprintf(cells[NODE_COL_CIRCUIT], NODE_CELL_MAX, "%s", r->circuit);
	snprintf(cells[NODE_COL_FAILURES], NODE_CELL_MAX, "%s", fmt_u64(r->failures, b));
	snprintf(cells[NODE_COL_RESTARTS], NODE_CELL_MAX, "%s", fmt_u64(r->restarts, b));
	snprintf(cells[NODE_COL_IO], NODE_CELL_MAX, "%s", fmt_u64(r->io_pending, b));
}
