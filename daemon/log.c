/* SPDX-License-Identifier: MIT */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

enum log_style {
	STYLE_PLAIN,
	STYLE_JOURNAL,
	STYLE_TERMINAL,
};

static enum log_style style = STYLE_PLAIN;
static _Atomic int max_level = HORUS_LOG_INFO;

/* Is stderr the stream systemd connected to the journal? ($JOURNAL_STREAM = "DEV:INO") */
static bool stderr_is_journal(void)
{
	const char *js = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	if (!js || sscanf(js, "%llu:%llu", &dev, &ino) != 2 || fstat(STDERR_FILENO, &st) < 0) {
		return false;
	}
	return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

void log_init(void)
{
	if (stderr_is_journal()) {
		style = STYLE_JOURNAL;
	} else if (isatty(STDERR_FILENO)) {
		style = STYLE_TERMINAL;
	} else {
		style = STYLE_PLAIN;
	}
}

void log_set_level(int level)
{
	atomic_store(&max_level, level);
}

int log_get_level(void)
{
	return atomic_load(&max_level);
}

static const char *level_word(int level)
{
	switch (level) {
	case HORUS_LOG_ERR:
		return "error";
	case HORUS_LOG_WARN:
		return "warning";
	case HORUS_LOG_INFO:
		return "info";
	default:
		return "debug";
	}
}

void horus_log_vwrite(int level, const char *file, int line, const char *fmt, va_list ap)
{
	char buf[1024];
	size_t n = 0;
	int w;

	if (level > atomic_load_explicit(&max_level, memory_order_relaxed)) {
		return;
	}
	if (style == STYLE_JOURNAL) {
		w = snprintf(buf, sizeof(buf), "<%d>", level);
	} else if (style == STYLE_TERMINAL) {
		struct timespec ts;
		struct tm tm;

		clock_gettime(CLOCK_REALTIME, &ts);
		localtime_r(&ts.tv_sec, &tm);
		w = snprintf(buf, sizeof(buf), "%02d:%02d:%02d.%03ld %s: ", tm.tm_hour, tm.tm_min,
			     tm.tm_sec, ts.tv_nsec / 1000000, level_word(level));
	} else {
		w = snprintf(buf, sizeof(buf), "%s: ", level_word(level));
	}
	n = w > 0 ? (size_t)w : 0;
	w = vsnprintf(buf + n, sizeof(buf) - n, fmt, ap);
	n = w < 0 ? n : n + (size_t)w;
	if (n > sizeof(buf) - 2) {
		n = sizeof(buf) - 2;
	}
	if (level == HORUS_LOG_DEBUG && file) {
		int m = snprintf(buf + n, sizeof(buf) - n, " (%s:%d)", file, line);

		n = m > 0 && n + (size_t)m < sizeof(buf) - 1 ? n + (size_t)m : n;
	}
	buf[n++] = '\n';
	/* One write per line: lines from several threads never interleave. */
	(void)!write(STDERR_FILENO, buf, n);
}

void horus_log_write(int level, const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	horus_log_vwrite(level, file, line, fmt, ap);
	va_end(ap);
}

bool log_limit_pass(struct log_limit *ll, uint64_t now_ns, uint64_t *ret_suppressed)
{
	if (ll->last_ns && now_ns - ll->last_ns < ll->interval_ns) {
		ll->suppressed++;
		return false;
	}
	*ret_suppressed = ll->suppressed;
	ll->suppressed = 0;
	ll->last_ns = now_ns;
	return true;
}
