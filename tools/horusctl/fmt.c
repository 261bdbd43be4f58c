/* SPDX-License-Identifier: MIT */
/* Human units, aligned tables and JSON string literals. */

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "fmt.h"

/* A unit applies to values below limit (0: the last unit), which are divided by scale. */
struct unit {
	double limit, scale;
	const char *name;
};

/* Three significant digits, and no exponent: "12.3 us", "850 ns", "1000 us". */
static const char *scaled(double v, const struct unit *u, char buf[FMT_MAX])
{
	while (u->limit > 0 && v >= u->limit) {
		u++;
	}
	v /= u->scale;
	snprintf(buf, FMT_MAX, v < 100 ? "%.3g %s" : "%.0f %s", v, u->name);
	return buf;
}

const char *fmt_us(double us, char buf[FMT_MAX])
{
	static const struct unit units[] = {
	    {1, 1e-3, "ns"}, {1e3, 1, "us"}, {1e6, 1e3, "ms"}, {0, 1e6, "s"}};

	return scaled(us, units, buf);
}

const char *fmt_hz(double hz, char buf[FMT_MAX])
{
	static const struct unit units[] = {{1e3, 1, "Hz"}, {1e6, 1e3, "kHz"}, {0, 1e6, "MHz"}};

	return scaled(hz, units, buf);
}

const char *fmt_bytes(double bytes, char buf[FMT_MAX])
{
	static const struct unit units[] = {{1024.0, 1, "B"},
					    {1024.0 * 1024, 1024.0, "KiB"},
					    {1024.0 * 1024 * 1024, 1024.0 * 1024, "MiB"},
					    {0, 1024.0 * 1024 * 1024, "GiB"}};

	return scaled(bytes, units, buf);
}

const char *fmt_uptime(double s, char buf[FMT_MAX])
{
	unsigned long t = s > 0 ? (unsigned long)s : 0;

	if (t < 60) {
		snprintf(buf, FMT_MAX, "%lus", t);
	} else if (t < 3600) {
		snprintf(buf, FMT_MAX, "%lum %02lus", t / 60, t % 60);
	} else if (t < 86400) {
		snprintf(buf, FMT_MAX, "%luh %02lum", t / 3600, t / 60 % 60);
	} else {
		snprintf(buf, FMT_MAX, "%lud %02luh", t / 86400, t / 3600 % 24);
	}
	return buf;
}

const char *fmt_u64(uint64_t v, char buf[FMT_MAX])
{
	snprintf(buf, FMT_MAX, "%" PRIu64, v);
	return buf;
}

void fmt_json_str(FILE *f, const char *s, size_t len)
{
	fputc('"', f);
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '"' || c == '\\') {
			fprintf(f, "\\%c", c);
		} else if (c == '\n') {
			fputs("\\n", f);
		} else if (c == '\t') {
			fputs("\\t", f);
		} else if (c < 0x20 || c == 0x7f) {
			fprintf(f, "\\u%04x", c);
		} else {
			fputc(c, f);
		}
	}
	fputc('"', f);
}

struct table {
	int ncols;
	size_t nrows, cap;
	char **cells; /* row-major; row 0 is the header */
};

int table_add(struct table *t, const char *const cells[])
{
	if (t->nrows == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 16;
		char **c = realloc(t->cells, cap * (size_t)t->ncols * sizeof(*c));

		if (!c) {
			return -ENOMEM;
		}
		t->cells = c;
		t->cap = cap;
	}
	for (int i = 0; i < t->ncols; i++) {
		char *s = strdup(cells[i] ? cells[i] : "");

		if (!s) {
			while (i-- > 0) {
				free(t->cells[t->nrows * (size_t)t->ncols + (size_t)i]);
			}
			return -ENOMEM;
		}
		t->cells[t->nrows * (size_t)t->ncols + (size_t)i] = s;
	}
	t->nrows++;
	return 0;
}

struct table *table_new(int ncols, const char *const headers[])
{
	struct table *t;

	if (ncols < 1 || ncols > TABLE_COLS_MAX || !(t = calloc(1, sizeof(*t)))) {
		return NULL;
	}
	t->ncols = ncols;
	if (table_add(t, headers) < 0) {
		free(t);
		return NULL;
	}
	return t;
}

void table_print(const struct table *t, FILE *f, unsigned right_align)
{
	size_t width[TABLE_COLS_MAX] = {0};

	for (size_t r = 0; r < t->nrows; r++) {
		for (int c = 0; c < t->ncols; c++) {
			size_t w = strlen(t->cells[r * (size_t)t->ncols + (size_t)c]);

			width[c] = w > width[c] ? w : width[c];
		}
	}
	for (size_t r = 0; r < t->nrows; r++) {
		for (int c = 0; c < t->ncols; c++) {
			const char *s = t->cells[r * (size_t)t->ncols + (size_t)c];
			bool last = c == t->ncols - 1;
			int w = (int)width[c];

			if (right_align & (1u << c)) {
				fprintf(f, "%*s%s", w, s, last ? "" : "  ");
			} else if (last) {
				fputs(s, f);
			} else {
				fprintf(f, "%-*s  ", w, s);
			}
		}
		fputc('\n', f);
	}
}

void table_free(struct table *t)
{
	if (!t) {
		return;
	}
	for (size_t i = 0; i < t->nrows * (size_t)t->ncols; i++) {
		free(t->cells[i]);
	}
	free(t->cells);
	free(t);
}
