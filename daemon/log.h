/* SPDX-License-Identifier: MIT */
#ifndef HORUS_DAEMON_LOG_H
#define HORUS_DAEMON_LOG_H

/*
 * Daemon logging to stderr. Under journald ($JOURNAL_STREAM matches stderr) each line starts with
 * a "<N>" priority prefix; on a terminal with the local time; otherwise plain. Thread-safe: one
 * write(2) per line.
 */

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>

#include <horus/node.h>

void log_init(void);
void log_set_level(int level);
int log_get_level(void);

void horus_log_write(int level, const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
void horus_log_vwrite(int level, const char *file, int line, const char *fmt, va_list ap);

#define log_err(...) horus_log_write(HORUS_LOG_ERR, __FILE__, __LINE__, __VA_ARGS__)
#define log_warn(...) horus_log_write(HORUS_LOG_WARN, __FILE__, __LINE__, __VA_ARGS__)
#define log_info(...) horus_log_write(HORUS_LOG_INFO, __FILE__, __LINE__, __VA_ARGS__)
#define log_debug(...) horus_log_write(HORUS_LOG_DEBUG, __FILE__, __LINE__, __VA_ARGS__)

/*
 * Rate limiting for messages that could repeat every tick: at most one line per interval;
 * the next line says how many were suppressed. Not thread-safe: one per thread of use.
 */
struct log_limit {
	uint64_t interval_ns;
	uint64_t last_ns;
	uint64_t suppressed;
};

/* true if the caller may log now; *ret_suppressed = how many were held back since. */
bool log_limit_pass(struct log_limit *ll, uint64_t now_ns, uint64_t *ret_suppressed);

#endif /* HORUS_DAEMON_LOG_H */
