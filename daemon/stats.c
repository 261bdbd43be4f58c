/* SPDX-License-Identifier: MIT */
#include <string.h>

#include "stats.h"

static unsigned bucket_of(uint64_t v)
{
	unsigned msb, sub;

	if (v < (1u << HIST_SUB_BITS)) {
		return (unsigned)v; /* small values get a bucket each */
	}
	msb = 63u - (unsigned)__builtin_clzll(v);
	sub = (unsigned)(v >> (msb - HIST_SUB_BITS)) & ((1u << HIST_SUB_BITS) - 1);
	return ((msb - HIST_SUB_BITS + 1) << HIST_SUB_BITS) + sub;
}

/* Upper bound of bucket i (the value reported for a quantile falling in it). */
static uint64_t bucket_top(unsigned i)
{
	unsigned shift, sub;

	if (i < (1u << HIST_SUB_BITS)) {
		return i;
	}
	shift = (i >> HIST_SUB_BITS) - 1;
	sub = i & ((1u << HIST_SUB_BITS) - 1);
	return ((uint64_t)((1u << HIST_SUB_BITS) + sub + 1) << shift) - 1;
}

void hist_record(struct hist *h, uint64_t v)
{
	unsigned i = bucket_of(v);

	/* Single writer: load + store instead of a locked add. */
	atomic_store_explicit(&h->b[i], atomic_load_explicit(&h->b[i], memory_order_relaxed) + 1,
			      memory_order_relaxed);
	atomic_store_explicit(&h->count,
			      atomic_load_explicit(&h->count, memory_order_relaxed) + 1,
			      memory_order_relaxed);
	if (v > atomic_load_explicit(&h->max, memory_order_relaxed)) {
		atomic_store_explicit(&h->max, v, memory_order_relaxed);
	}
}

void hist_record_shared(struct hist *h, uint64_t v)
{
	uint64_t max = atomic_load_explicit(&h->max, memory_order_relaxed);

	atomic_fetch_add_explicit(&h->b[bucket_of(v)], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&h->count, 1, memory_order_relaxed);
	while (v > max && !atomic_compare_exchange_weak_explicit(&h->max, &max, v,
								memory_order_relaxed,
								memory_order_relaxed)) {
	}
}

uint64_t hist_quantile(const struct hist *h, double q)
{
	uint64_t total = 0, seen = 0, want, max;

	for (unsigned i = 0; i < HIST_BUCKETS; i++) {
		total += atomic_load_explicit(&h->b[i], memory_order_relaxed);
	}
	if (total == 0) {
		return 0;
	}
	want = (uint64_t)(q * (double)total);
	if (want >= total) {
		want = total - 1;
	}
	max = atomic_load_explicit(&h->max, memory_order_relaxed);
	for (unsigned i = 0; i < HIST_BUCKETS; i++) {
		seen += atomic_load_explicit(&h->b[i], memory_order_relaxed);
		if (seen > want) {
			uint64_t top = bucket_top(i);

			return top < max ? top : max;
		}
	}
	return max;
}

void hist_reset(struct hist *h)
{
	for (unsigned i = 0; i < HIST_BUCKETS; i++) {
		atomic_store_explicit(&h->b[i], 0, memory_order_relaxed);
	}
	atomic_store_explicit(&h->count, 0, memory_order_relaxed);
	atomic_store_explicit(&h->max, 0, memory_order_relaxed);
}
