/* SPDX-License-Identifier: MIT */
/*
 * periodic_sensor in a real horusd: it reads a real file on the pool, publishes its first
 * number, follows changes of the file, republishes the last value as stale when the file goes
 * away, and scales a thermal-zone style value.
 */

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shipped.h"

struct want {
	double value;
	bool stale;
	int error;
};

static bool is(const struct horus_reading *r, const char *text, void *arg)
{
	const struct want *w = arg;

	(void)text;
	return fabs(r->value - w->value) < 1e-9 && !!(r->flags & HORUS_READING_STALE) == w->stale &&
	       (r->flags & HORUS_READING_VALID) && r->error == w->error;
}

static bool fresh(const struct horus_reading *r, const char *text, void *arg)
{
	(void)text;
	(void)arg;
	return (r->flags & HORUS_READING_VALID) && !(r->flags & HORUS_READING_STALE) &&
	       r->value >= 0 && r->error == 0 && r->stamp_ns > 0;
}

static void expect(struct sd *h, struct horus_sub *sub, double value, bool stale, int error)
{
	struct want w = {value, stale, error};
	struct horus_reading r;

	SD_CHECK(h, sd_wait_reading(h, sub, 10000, is, &w, &r, NULL, 0),
		 "no reading %g stale %d error %d; last: %g flags 0x%x error %d", value, stale,
		 error, r.value, r.flags, r.error);
}

START_TEST(follows_file)
{
	struct sd *h = &sd_h;
	struct horus_reading r;
	struct horus_sub *sub, *load;
	struct sd_node n;
	char path[SD_PATH + 16];
	uint64_t stamp;

	sd_path(h, "value", path, sizeof(path));
	sd_write_file(h, path, "12.5\n");
	sd_plugin(h, "periodic_sensor");
	sd_config(h,
		  "[node.temp]\nplugin = periodic_sensor\nrate_hz = 50\npath = %s\n"
		  "period_ms = 100\ntopic = test/temp\n\n"
		  "[node.load]\nplugin = periodic_sensor\nrate_hz = 20\nperiod_ms = 100\n",
		  path);
	sd_start(h);
	sub = sd_subscribe(h, "test/temp");
	expect(h, sub, 12.5, false, 0);

	sd_write_file(h, path, "  42.25 degrees\n");
	expect(h, sub, 42.25, false, 0);

	/* The file goes away: the last good value, marked stale, with the error. */
	SD_CHECK(h, unlink(path) == 0, "unlink");
	expect(h, sub, 42.25, true, -ENOENT);
	stamp = 0;
	{
		struct want w = {42.25, true, -ENOENT};

		SD_CHECK(h, sd_wait_reading(h, sub, 5000, is, &w, &r, NULL, 0), "stale again");
		stamp = r.stamp_ns;
	}
	/* A file with no number: stale too, with -EBADMSG. */
	sd_write_file(h, path, "n/a\n");
	expect(h, sub, 42.25, true, -EBADMSG);
	{
		struct want w = {42.25, true, -EBADMSG};

		SD_CHECK(h, sd_wait_reading(h, sub, 5000, is, &w, &r, NULL, 0), "stale");
		SD_CHECK(h, r.stamp_ns == stamp, "a stale reading changed its stamp");
	}
	sd_write_file(h, path, "-3\n");
	expect(h, sub, -3, false, 0);

	/* The default path, /proc/loadavg, on the default topic. */
	load = sd_subscribe(h, "sensor/load");
	SD_CHECK(h, sd_wait_reading(h, load, 10000, fresh, NULL, &r, NULL, 0),
		 "no load average: value %g flags 0x%x error %d", r.value, r.flags, r.error);

	/* The reads ran on the pool, about every period, never in tick. */
	SD_CHECK(h, sd_node_info(h, "temp", &n), "no node");
	SD_CHECK(h, n.io_completed + n.io_failed >= 5, "io: %llu completed",
		 (unsigned long long)n.io_completed);
	SD_CHECK(h, n.ticks >= 3 * (n.io_completed + n.io_failed),
		 "%llu ticks for %llu reads: not polling at a lower rate",
		 (unsigned long long)n.ticks, (unsigned long long)(n.io_completed + n.io_failed));
	horus_sub_close(load);
	horus_sub_close(sub);
}
END_TEST

START_TEST(thermal_scale)
{
	struct sd *h = &sd_h;
	struct horus_sub *sub;
	char path[SD_PATH + 16];

	sd_path(h, "temp", path, sizeof(path));
	sd_write_file(h, path, "45000\n"); /* /sys/class/thermal/thermal_zone0/temp: m°C */
	sd_plugin(h, "periodic_sensor");
	sd_config(h,
		  "[node.cpu]\nplugin = periodic_sensor\npath = %s\nscale = 0.001\n"
		  "period_ms = 50ms\nrate_hz = 40\n",
		  path);
	sd_start(h);
	sub = sd_subscribe(h, "sensor/cpu");
	expect(h, sub, 45.0, false, 0);
	sd_write_file(h, path, "51250\n");
	expect(h, sub, 51.25, false, 0);
	horus_sub_close(sub);
}
END_TEST

START_TEST(bad_params)
{
	struct sd *h = &sd_h;

	sd_plugin(h, "periodic_sensor");
	sd_config(h, "[node.p1]\nplugin = periodic_sensor\nperiod_ms = 0\n\n"
		     "[node.p2]\nplugin = periodic_sensor\nscale = lots\n\n"
		     "[node.p3]\nplugin = periodic_sensor\npath =\n\n"
		     "[node.ok]\nplugin = periodic_sensor\n");
	sd_start(h);
	SD_WAIT(h, sd_node_ticks(h, "ok") > 0, 10000, "the good node never ticked");
	SD_CHECK(h, sd_node_state_is(h, "p1", "failed"), "p1");
	SD_CHECK(h, sd_node_state_is(h, "p2", "failed"), "p2");
	SD_CHECK(h, sd_log_count(h, "parameter 'period_ms': 0 is out of range") == 1, "period");
	SD_CHECK(h, sd_log_count(h, "parameter 'scale': invalid value 'lots'") == 1, "scale");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("periodic_sensor");
	TCase *tc = sd_tcase("file");

	tcase_add_test(tc, follows_file);
	tcase_add_test(tc, thermal_scale);
	suite_add_tcase(s, tc);
	tc = sd_tcase("params");
	tcase_add_test(tc, bad_params);
	suite_add_tcase(s, tc);
	return sd_run(s);
}
