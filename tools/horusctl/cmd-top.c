/* SPDX-License-Identifier: MIT */
/*
 * top: a live table of every node (ncurses). Each refresh asks the daemon afresh over a new
 * connection, so a daemon that goes away and comes back is simply answered again; meanwhile the
 * screen says "daemon not answering". Rows are red when the node is not running or its breaker
 * is not closed, yellow when its deadline misses or watchdog trips rose since the last refresh.
 */

#include <curses.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctl.h"
#include "fmt.h"
#include "nodes.h"

#define TOP_DEFAULT_S 1.0
#define TOP_REQUEST_MS 2000

enum { PAIR_BAD = 1, PAIR_RISING, PAIR_HEAD };

struct top {
	struct ctl *c;
	enum ctl_sort sort;
	int delay_ms;
	struct node_row *rows, *prev;
	int n, nprev;
	bool answering;
	char status[256];
};

/* The same node's row at the previous refresh, or NULL. */
static const struct node_row *previous(const struct top *t, const char *name)
{
	for (int i = 0; i < t->nprev; i++) {
		if (!strcmp(t->prev[i].name, name)) {
			return &t->prev[i];
		}
	}
	return NULL;
}

static void fetch(struct top *t)
{
	struct json_doc *st = NULL, *nl = NULL;
	struct node_row *rows;
	char b[FMT_MAX];
	int n;

	free(t->prev);
	t->prev = t->rows;
	t->nprev = t->n;
	t->rows = NULL;
	t->n = 0;
	t->answering = false;
	if (ctl_ask(t->c, "status", TOP_REQUEST_MS, true, &st) != CTL_EXIT_OK ||
	    ctl_ask(t->c, "node list", TOP_REQUEST_MS, true, &nl) != CTL_EXIT_OK) {
		json_free(st);
		json_free(nl);
		return;
	}
	n = nodes_from_reply(json_root(nl), &rows);
	if (n >= 0) {
		nodes_sort(rows, (size_t)n, t->sort);
		t->rows = rows;
		t->n = n;
		t->answering = true;
		snprintf(t->status, sizeof(t->status), "horusd %s  pid %.0f  namespace %s  up %s",
			 json_path_str(json_root(st), "version", "?"),
			 json_path_num(json_root(st), "pid", 0),
			 json_path_str(json_root(st), "namespace", "?"),
			 fmt_uptime(json_path_num(json_root(st), "uptime_s", 0), b));
	}
	json_free(st);
	json_free(nl);
}

static int row_pair(const struct top *t, const struct node_row *r)
{
	const struct node_row *p = previous(t, r->name);

	if (node_unwell(r)) {
		return PAIR_BAD;
	}
	if (p && (r->misses > p->misses || r->trips > p->trips)) {
		return PAIR_RISING;
	}
	return 0;
}

static void draw(const struct top *t)
{
	char cells[NODE_COLS][NODE_CELL_MAX];
	size_t width[NODE_COLS];
	char help[256];
	int cols = COLS, y = 0;

	erase();
	attron(A_BOLD);
	mvprintw(y++, 0, "%.*s", cols, t->answering ? t->status : "");
	attroff(A_BOLD);
	snprintf(help, sizeof(help),
		 "%d nodes  sort: %s  refresh %.1f s  (q quit; sort: n name, s state, p p99, "
		 "m misses, r rate)",
		 t->n, ctl_sort_name(t->sort), t->delay_ms / 1000.0);
	mvprintw(y++, 0, "%.*s", cols, help);
	y++;
	if (!t->answering) {
		attron(A_BOLD | (has_colors() ? COLOR_PAIR(PAIR_BAD) : A_REVERSE));
		mvprintw(y, 0, "daemon not answering on %.*s (retrying)", cols - 30, t->c->socket);
		attroff(A_BOLD | (has_colors() ? COLOR_PAIR(PAIR_BAD) : A_REVERSE));
		refresh();
		return;
	}
	for (int c = 0; c < NODE_COLS; c++) {
		width[c] = strlen(node_headers[c]);
	}
	for (int i = 0; i < t->n; i++) {
		node_cells(&t->rows[i], cells);
		for (int c = 0; c < NODE_COLS; c++) {
			size_t w = strlen(cells[c]);

			width[c] = w > width[c] ? w : width[c];
		}
	}
	for (int i = -1; i < t->n && y < LINES; i++, y++) {
		char line[1024];
		size_t at = 0;
		int pair = i < 0 ? PAIR_HEAD : row_pair(t, &t->rows[i]);

		if (i >= 0) {
			node_cells(&t->rows[i], cells);
		}
		for (int c = 0; c < NODE_COLS && at < sizeof(line); c++) {
			const char *s = i < 0 ? node_headers[c] : cells[c];
			bool right = NODE_NUMERIC_COLS & (1u << c);
			int n = snprintf(line + at, sizeof(line) - at, right ? "%*s  " : "%-*s  ",
					 (int)width[c], s);

			at += n > 0 ? (size_t)n : 0;
		}
		if (pair && has_colors()) {
			attron(COLOR_PAIR(pair));
		} else if (pair == PAIR_HEAD) {
			attron(A_REVERSE);
		}
		mvprintw(y, 0, "%.*s", cols, line);
		attroff(COLOR_PAIR(pair) | A_REVERSE);
	}
	refresh();
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void start_curses(void)
{
	cbreak();
	noecho();
	keypad(stdscr, TRUE);
	curs_set(0);
	if (has_colors()) {
		start_color();
		use_default_colors();
		init_pair(PAIR_BAD, COLOR_RED, -1);
		init_pair(PAIR_RISING, COLOR_YELLOW, -1);
		init_pair(PAIR_HEAD, COLOR_BLACK, COLOR_CYAN);
	}
}

static bool handle_key(struct top *t, int ch)
{
	switch (ch) {
	case 'q':
	case 'Q':
		return false;
	case 'n':
		t->sort = CTL_SORT_NAME;
		break;
	case 's':
		t->sort = CTL_SORT_STATE;
		break;
	case 'p':
		t->sort = CTL_SORT_P99;
		break;
	case 'm':
		t->sort = CTL_SORT_MISSES;
		break;
	case 'r':
		t->sort = CTL_SORT_RATE;
		break;
	default:
		break;
	}
	nodes_sort(t->rows, (size_t)t->n, t->sort);
	return true;
}

int cmd_top(struct ctl *c)
{
	struct top t = {
	    .c = c,
	    .sort = c->args.sort ? c->args.sort : CTL_SORT_NAME,
	    .delay_ms = (int)((c->args.window_s > 0 ? c->args.window_s : TOP_DEFAULT_S) * 1000),
	};
	bool run = true;
	SCREEN *screen = newterm(NULL, stdout, stdin);

	if (!screen) {
		ctl_err("top: cannot use the terminal (TERM=%s)",
			getenv("TERM") ? getenv("TERM") : "unset");
		return CTL_EXIT_FAIL;
	}
	set_term(screen);
	start_curses();
	while (run && !ctl_interrupted) {
		long long t0;
		int ch;

		fetch(&t);
		draw(&t);
		/* Keys are answered at once; the data is fetched again when the delay is over. */
		timeout(t.delay_ms);
		t0 = now_ms();
		ch = getch();
		if (ch == ERR && now_ms() - t0 < t.delay_ms) {
			/* No input to wait on (stdin at its end): still refresh at the set pace. */
			poll(NULL, 0, (int)(t.delay_ms - (now_ms() - t0)));
		}
		while (ch != ERR && run) {
			run = handle_key(&t, ch);
			draw(&t);
			timeout(0);
			ch = getch();
		}
	}
	endwin();
	delscreen(screen);
	free(t.rows);
	free(t.prev);
	return CTL_EXIT_OK;
}
