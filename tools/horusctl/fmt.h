/* SPDX-License-Identifier: MIT */
#ifndef HORUS_HORUSCTL_FMT_H
#define HORUS_HORUSCTL_FMT_H

/* Output for people (human units, aligned tables) and for scripts (JSON strings). */

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define FMT_MAX 32

/* "850 ns", "12.3 us", "4.56 ms", "1.20 s"; from microseconds. */
const char *fmt_us(double us, char buf[FMT_MAX]);
/* "100 Hz", "1.50 kHz". */
const char *fmt_hz(double hz, char buf[FMT_MAX]);
/* "512 B", "1.5 KiB", "3.2 MiB". */
const char *fmt_bytes(double bytes, char buf[FMT_MAX]);
/* "5m 02s", "3h 04m", "2d 01h". */
const char *fmt_uptime(double s, char buf[FMT_MAX]);
const char *fmt_u64(uint64_t v, char buf[FMT_MAX]);

/* Writes s (len bytes) as a JSON string literal, escaping what JSON requires. */
void fmt_json_str(FILE *f, const char *s, size_t len);

/* A table: a header row, then rows; printed with each column as wide as its widest cell. */
#define TABLE_COLS_MAX 16
struct table;

struct table *table_new(int ncols, const char *const headers[]);
/* Copies ncols cells. -ENOMEM. */
int table_add(struct table *t, const char *const cells[]);
/* Columns listed in right_align (a bit per column) are right-aligned (numbers). */
void table_print(const struct table *t, FILE *f, unsigned right_align);
void table_free(struct table *t);

#endif /* HORUS_HORUSCTL_FMT_H */
