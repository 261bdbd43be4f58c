/* SPDX-License-Identifier: MIT */
#ifndef HORUS_DAEMON_STATS_H
#define HORUS_DAEMON_STATS_H

/*
 * A log-linear histogram of durations in ns: 8 sub-buckets per power of two, so percentiles are
 * within 12.5%. One thread records (hist_record: plain relaxed stores, no locked instructions),
 * or several (hist_record_shared: atomic adds); any thread may read a consistent-enough snapshot
 * for p50/p99.
 */

#include <stdatomic.h>
#include <stdint.h>

#define HIST_SUB_BITS 3
#define HIST_BUCKETS (64 << HIST_SUB_BITS)

struct hist {
	_Atomic uint32_t b[HIST_BUCKETS];
	_Atomic uint64_t count;
	_Atomic uint64_t max;
};

void hist_record(struct hist *h, uint64_t v);
void hist_record_shared(struct hist *h, uint64_t v);
/* The value below which a fraction q (0..1) of records fall; 0 when empty. */
uint64_t hist_quantile(const struct hist *h, double q);
void hist_reset(struct hist *h);

#endif /* HORUS_DAEMON_STATS_H */
