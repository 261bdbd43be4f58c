/* SPDX-License-Identifier: MIT */
#ifndef HORUS_HORUSCTL_NODES_H
#define HORUS_HORUSCTL_NODES_H

/* Node rows read from the daemon's "node list" reply: for `node list` and for `top`. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "args.h"
#include "json.h"

struct node_row {
	char name[CTL_NODE_NAME_MAX + 1];
	char plugin[64];
	char state[16];
	char circuit[16];
	double rate_hz, actual_hz;
	double p50_us, p99_us, max_us;
	double deadline_ms, watchdog_ms;
	uint64_t ticks, misses, trips, failures, restarts, io_pending;
};

/* The rows of reply {"nodes": [...]}; *ret is malloc'd (free it). Returns the count or -errno. */
int nodes_from_reply(const struct json_value *reply, struct node_row **ret);
void nodes_from_json(const struct json_value *node, struct node_row *ret);
void nodes_sort(struct node_row *rows, size_t n, enum ctl_sort key);

/* The columns shown for each node (node list, top). */
enum {
	NODE_COL_NAME,
	NODE_COL_STATE,
	NODE_COL_RATE,
	NODE_COL_ACTUAL,
	NODE_COL_P99,
	NODE_COL_MAX,
	NODE_COL_MISSES,
	NODE_COL_TRIPS,
	NODE_COL_CIRCUIT,
	NODE_COL_FAILURES,
	NODE_COL_RESTARTS,
	NODE_COL_IO,
	NODE_COLS,
};
#define NODE_CELL_MAX (CTL_NODE_NAME_MAX + 1)
extern const char *const node_headers[NODE_COLS];
/* Bit mask of the numeric columns (right-aligned). */
#define NODE_NUMERIC_COLS 0xefcu
void node_cells(const struct node_row *r, char cells[NODE_COLS][NODE_CELL_MAX]);

/* A state other than running, or a breaker other than closed. */
bool node_unwell(const struct node_row *r);

#endif /* HORUS_HORUSCTL_NODES_H */
