/* SPDX-License-Identifier: MIT */
/*
 * The tick-time histogram: quantiles within 12.5% (never below the true order statistic, since
 * a bucket reports its top, capped by the max) on known distributions; max; reset; empty.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dtest.h"
#include "stats.h"

static struct hist *h;

static void setup(void)
{
	h = calloc(1, sizeof(*h));
	ck_assert_ptr_nonnull(h);
}

static void teardown(void)
{
	free(h);
	h = NULL;
}

static uint64_t rand64(uint64_t *s)
{
	/* xorshift64*: deterministic per seed */
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545F4914F6CDD1Dull;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static const double quantiles[] = { 0.0, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99, 0.999, 1.0 };

/*
 * Records v[0..n) and checks every quantile against the exact order statistic: the histogram
 * reports the top of the bucket holding the sample of rank floor(q * n) (the last one for
 * q = 1), capped by the max, so est is in [exact, exact * 1.125].
 */
static void check_against_exact(uint64_t *v, size_t n, const char *what)
{
	for (size_t i = 0; i < n; i++) {
		hist_record(h, v[i]);
	}
	qsort(v, n, sizeof(*v), cmp_u64);
	ck_assert_uint_eq(atomic_load(&h->count), n);
	ck_assert_uint_eq(atomic_load(&h->max), v[n - 1]);
	for (size_t i = 0; i < sizeof(quantiles) / sizeof(quantiles[0]); i++) {
		double q = quantiles[i];
		size_t rank = (size_t)(q * (double)n);
		uint64_t exact = v[rank < n ? rank : n - 1];
		uint64_t est = hist_quantile(h, q);

		ck_assert_msg(est >= exact && (double)est <= (double)exact * 1.125,
			      "%s: q %.3f = %llu, exact %llu (off by %.2f%%)", what, q,
			      (unsigned long long)est, (unsigned long long)exact,
			      exact ? 100.0 * ((double)est - (double)exact) / (double)exact : 0.0);
	}
	ck_assert_uint_eq(hist_quantile(h, 1.0), v[n - 1]);
}

START_TEST(uniform)
{
	size_t n = 100000;
	uint64_t *v = malloc(n * sizeof(*v)), seed = 0x1234;

	ck_assert_ptr_nonnull(v);
	for (size_t i = 0; i < n; i++) {
		v[i] = 1000 + rand64(&seed) % 1000000; /* 1 us .. 1 ms */
	}
	check_against_exact(v, n, "uniform");
	/* Known values of this distribution, with the 12.5% bound. */
	ck_assert_uint_ge(hist_quantile(h, 0.5), 480000);
	ck_assert_uint_le(hist_quantile(h, 0.5), 520000 * 1.125);
	ck_assert_uint_ge(hist_quantile(h, 0.99), 980000);
	free(v);
}
END_TEST

START_TEST(log_uniform)
{
	size_t n = 100000;
	uint64_t *v = malloc(n * sizeof(*v)), seed = 0xfeed;

	ck_assert_ptr_nonnull(v);
	for (size_t i = 0; i < n; i++) {
		unsigned bits = (unsigned)(rand64(&seed) % 40); /* 1 ns .. ~18 min */

		v[i] = (rand64(&seed) >> (63 - bits)) | 1;
	}
	check_against_exact(v, n, "log-uniform");
	free(v);
}
END_TEST

START_TEST(bimodal)
{
	size_t n = 10000;
	uint64_t *v = malloc(n * sizeof(*v));

	ck_assert_ptr_nonnull(v);
	/* 99% at 50 us, 1% at 10 ms, interleaved */
	for (size_t i = 0; i < n; i++) {
		v[i] = i % 100 == 7 ? 10000000 : 50000;
	}
	check_against_exact(v, n, "bimodal");
	ck_assert_uint_lt(hist_quantile(h, 0.5), 50000 * 1.125);
	ck_assert_uint_lt(hist_quantile(h, 0.98), 50000 * 1.125);
	ck_assert_uint_eq(hist_quantile(h, 0.99), 10000000); /* capped by the max */
	free(v);
}
END_TEST

START_TEST(every_value_small)
{
	/* 0..7 get a bucket each: exact. Then every value up to 4096 within the bound. */
	size_t n = 4097;
	uint64_t *v = malloc(n * sizeof(*v));

	ck_assert_ptr_nonnull(v);
	for (size_t i = 0; i < n; i++) {
		v[i] = n - 1 - i;
	}
	check_against_exact(v, n, "0..4096");
	hist_reset(h);
	for (uint64_t x = 0; x < 8; x++) {
		hist_record(h, x);
	}
	for (uint64_t x = 0; x < 8; x++) {
		ck_assert_uint_eq(hist_quantile(h, ((double)x + 0.5) / 8.0), x);
	}
	free(v);
}
END_TEST

START_TEST(constant)
{
	for (int i = 0; i < 1000; i++) {
		hist_record(h, 1234567);
	}
	/* The bucket's top is capped by the max: exact. */
	for (size_t i = 0; i < sizeof(quantiles) / sizeof(quantiles[0]); i++) {
		ck_assert_uint_eq(hist_quantile(h, quantiles[i]), 1234567);
	}
}
END_TEST

START_TEST(extremes)
{
	hist_record(h, UINT64_MAX);
	hist_record(h, 1);
	ck_assert_uint_eq(atomic_load(&h->max), UINT64_MAX);
	ck_assert_uint_eq(hist_quantile(h, 0.0), 1);
	ck_assert_uint_eq(hist_quantile(h, 1.0), UINT64_MAX);
	hist_record(h, UINT64_MAX / 3);
	ck_assert_uint_ge(hist_quantile(h, 0.5), UINT64_MAX / 3);
	ck_assert(hist_quantile(h, 0.5) <= (uint64_t)((double)(UINT64_MAX / 3) * 1.125));
}
END_TEST

START_TEST(max_tracks)
{
	static const uint64_t seq[] = { 5, 900, 3, 900, 17, 100000, 99999, 2 };
	uint64_t want = 0;

	ck_assert_uint_eq(atomic_load(&h->max), 0);
	for (size_t i = 0; i < sizeof(seq) / sizeof(seq[0]); i++) {
		hist_record(h, seq[i]);
		want = seq[i] > want ? seq[i] : want;
		ck_assert_uint_eq(atomic_load(&h->max), want);
		ck_assert_uint_eq(atomic_load(&h->count), i + 1);
		ck_assert_uint_eq(hist_quantile(h, 1.0), want);
	}
}
END_TEST

START_TEST(empty)
{
	ck_assert_uint_eq(hist_quantile(h, 0.0), 0);
	ck_assert_uint_eq(hist_quantile(h, 0.5), 0);
	ck_assert_uint_eq(hist_quantile(h, 0.99), 0);
	ck_assert_uint_eq(hist_quantile(h, 1.0), 0);
	ck_assert_uint_eq(atomic_load(&h->count), 0);
	ck_assert_uint_eq(atomic_load(&h->max), 0);
}
END_TEST

START_TEST(reset)
{
	struct hist zero;

	for (uint64_t x = 1; x < 100000; x = x * 3 + 1) {
		hist_record(h, x);
	}
	ck_assert_uint_gt(hist_quantile(h, 0.5), 0);
	hist_reset(h);
	memset(&zero, 0, sizeof(zero));
	ck_assert_msg(memcmp(h, &zero, sizeof(zero)) == 0, "hist_reset left something behind");
	ck_assert_uint_eq(hist_quantile(h, 0.5), 0);
	ck_assert_uint_eq(hist_quantile(h, 1.0), 0);

	/* And it records afresh: only the new values count. */
	hist_record(h, 42);
	ck_assert_uint_eq(atomic_load(&h->count), 1);
	ck_assert_uint_eq(atomic_load(&h->max), 42);
	ck_assert_uint_eq(hist_quantile(h, 0.0), 42);
	ck_assert_uint_eq(hist_quantile(h, 1.0), 42);
}
END_TEST

static Suite *stats_suite(void)
{
	Suite *s = suite_create("stats");
	TCase *tc;

	tc = dt_tcase(s, "quantile accuracy", 30, setup, teardown);
	tcase_add_test(tc, uniform);
	tcase_add_test(tc, log_uniform);
	tcase_add_test(tc, bimodal);
	tcase_add_test(tc, every_value_small);
	tcase_add_test(tc, constant);
	tcase_add_test(tc, extremes);
	tc = dt_tcase(s, "max", 10, setup, teardown);
	tcase_add_test(tc, max_tracks);
	tc = dt_tcase(s, "empty", 10, setup, teardown);
	tcase_add_test(tc, empty);
	tc = dt_tcase(s, "reset", 10, setup, teardown);
	tcase_add_test(tc, reset);
	return s;
}

int main(void)
{
	return dt_run(stats_suite());
}
