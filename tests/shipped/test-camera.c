/* SPDX-License-Identifier: MIT */
/*
 * camera_sim in a real horusd: frames of the right size and content at the rate its read
 * latency allows, without delaying its own ticks or another node's 100 Hz; and the
 * deliberately blocking variant, which visibly stalls its tick.
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shipped.h"

#define W 640u
#define H 480u
#define FRAME (W * H * 3u)

struct frames {
	uint64_t received, lost, bad_size, bad_pixels, out_of_order;
	uint64_t first_no, last_no;
};

/* Takes every frame that arrives for window_ms, checking size, counter and pixels. */
static void take_frames(struct sd *h, struct horus_sub *sub, int window_ms, struct frames *f)
{
	uint64_t end = sd_ms() + (uint64_t)window_ms;
	bool first = true;

	memset(f, 0, sizeof(*f));
	while (sd_ms() < end) {
		struct horus_sample s;
		int r = horus_sub_take(sub, &s);

		if (r == -EAGAIN) {
			horus_sub_wait(sub, 20 * 1000000ll);
			continue;
		}
		SD_CHECK(h, r == 0, "horus_sub_take: %s", strerror(-r));
		f->lost += s.lost;
		if (s.len != FRAME) {
			f->bad_size++;
		} else {
			uint64_t n = horus_camera_sim_frame_no(s.data);
			const unsigned char *p = s.data;
			/* A few pixels away from the 8-byte stamp. */
			static const uint32_t xs[] = {3, 100, 639, 17}, ys[] = {0, 1, 479, 240};

			for (unsigned i = 0; i < 4; i++) {
				const unsigned char *px = p + 3 * ((size_t)ys[i] * W + xs[i]);

				for (unsigned c = 0; c < 3; c++) {
					if (px[c] != horus_camera_sim_pixel(n, xs[i], ys[i], c)) {
						f->bad_pixels++;
					}
				}
			}
			if (!first && n <= f->last_no) {
				f->out_of_order++;
			}
			if (first) {
				f->first_no = n;
				first = false;
			}
			f->last_no = n;
		}
		if (horus_sub_check(sub, &s) == 0) {
			f->received++;
		} else {
			f->lost++;
		}
	}
}

/* Ticks of a node over the window, against its rate: returns completed / expected. */
static double tick_ratio(struct sd *h, const char *name, uint64_t t0_us, uint64_t ticks0,
			 uint64_t *ret_ticks)
{
	struct sd_node n;
	uint64_t t1_us;

	SD_CHECK(h, sd_node_info(h, name, &n), "no node %s", name);
	t1_us = sd_us();
	*ret_ticks = n.ticks - ticks0;
	return (double)(n.ticks - ticks0) / (n.rate_hz * (double)(t1_us - t0_us) / 1e6);
}

static void run_rate_test(bool callback)
{
	struct sd *h = &sd_h;
	struct horus_sub *sub;
	struct sd_node cam, other;
	struct frames f;
	uint64_t t0, cam0, other0, cam_ticks, other_ticks;
	double cam_ratio, other_ratio, fps;
	const int window_ms = 3000;

	sd_plugin(h, "camera_sim");
	sd_plugin(h, "periodic_sensor");
	sd_config(h,
		  "[node.cam]\nplugin = camera_sim\nrate_hz = 100\nlatency_ms = 50\n"
		  "callback = %s\n\n"
		  "[node.other]\nplugin = periodic_sensor\nrate_hz = 100\nperiod_ms = 100\n",
		  callback ? "true" : "false");
	sd_start(h);
	SD_WAIT(h, sd_node_ticks(h, "cam") > 0 && sd_node_ticks(h, "other") > 0, 10000,
		"nodes never ticked");
	sub = sd_subscribe(h, "camera/cam");
	/* Let the first frames through before measuring. */
	SD_WAIT(h, horus_sub_wait(sub, 0) == 0, 5000, "no frame at all");

	SD_CHECK(h, sd_node_info(h, "cam", &cam) && sd_node_info(h, "other", &other), "no nodes");
	t0 = sd_us();
	cam0 = cam.ticks;
	other0 = other.ticks;
	take_frames(h, sub, window_ms, &f);
	cam_ratio = tick_ratio(h, "cam", t0, cam0, &cam_ticks);
	other_ratio = tick_ratio(h, "other", t0, other0, &other_ticks);
	fps = (double)(f.received + f.lost) * 1000.0 / window_ms;
	SD_CHECK(h, sd_node_info(h, "cam", &cam), "no cam");
	fprintf(stderr,
		"camera_sim (callback=%d): %llu frames (%llu lost) in %d ms = %.1f fps (latency "
		"limit 20); cam ticks %.3f of 100 Hz, actual_hz %.1f, tick p50 %.1f us; other "
		"node %.3f of 100 Hz\n",
		callback, (unsigned long long)f.received, (unsigned long long)f.lost, window_ms,
		fps, cam_ratio, cam.actual_hz, cam.tick_p50_us, other_ratio);

	SD_CHECK(h, f.bad_size == 0, "%llu frames of the wrong size",
		 (unsigned long long)f.bad_size);
	SD_CHECK(h, f.bad_pixels == 0, "%llu wrong pixels", (unsigned long long)f.bad_pixels);
	SD_CHECK(h, f.out_of_order == 0, "frame counter went backwards %llu times",
		 (unsigned long long)f.out_of_order);
	SD_CHECK(h, f.lost == 0, "the test lost %llu frames", (unsigned long long)f.lost);
	/* A read takes 50 ms and one is in flight: at most 20 fps; polling at 100 Hz adds at
	 * most a tick per frame (16.7 fps). Allow for a loaded machine below that. */
	SD_CHECK(h, fps <= 20.5, "%.1f fps is faster than the 50 ms read allows", fps);
	SD_CHECK(h, fps >= 13.0, "%.1f fps: the reads do not follow each other", fps);
	SD_CHECK(h, f.last_no - f.first_no + 1 == f.received,
		 "frame counter gaps: %llu..%llu for %llu frames", (unsigned long long)f.first_no,
		 (unsigned long long)f.last_no, (unsigned long long)f.received);
	/* Neither the camera's ticks nor the other node's are delayed by the reads. */
	SD_CHECK(h, cam_ratio >= 0.95, "camera ticks at %.3f of its rate", cam_ratio);
	SD_CHECK(h, other_ratio >= 0.95, "the other node ticks at %.3f of its rate", other_ratio);
	SD_CHECK(h, cam.actual_hz >= 90 && cam.actual_hz <= 110, "camera actual_hz %.1f",
		 cam.actual_hz);
	SD_CHECK(h, cam.tick_p50_us < 2000, "camera tick p50 %.1f us", cam.tick_p50_us);
	SD_CHECK(h, cam.io_completed >= f.received && cam.io_failed == 0 && cam.io_timed_out == 0,
		 "io: completed %llu failed %llu timed out %llu",
		 (unsigned long long)cam.io_completed, (unsigned long long)cam.io_failed,
		 (unsigned long long)cam.io_timed_out);
	horus_sub_close(sub);

	/* A clean stop: fini wakes the read in flight and waits for it; the daemon exits 0. */
	SD_CHECK(h, sd_stop(h, SIGTERM, 10000) == 0, "horusd did not exit cleanly after SIGTERM");
}

START_TEST(frames_polling)
{
	run_rate_test(false);
}
END_TEST

START_TEST(frames_callback)
{
	run_rate_test(true);
}
END_TEST

START_TEST(blocking_stalls)
{
	struct sd *h = &sd_h;
	struct horus_sub *sub;
	struct sd_node cam;

	sd_plugin(h, "camera_sim");
	sd_config(h, "[node.cam]\nplugin = camera_sim\nrate_hz = 100\nlatency_ms = 50\n"
		     "blocking = true\nwidth = 64\nheight = 48\n");
	sd_start(h);
	SD_WAIT(h, sd_node_ticks(h, "cam") >= 20, 10000, "the camera never ticked 20 times");
	sub = sd_subscribe(h, "camera/cam");
	SD_WAIT(h, horus_sub_wait(sub, 0) == 0, 5000, "no frame at all");
	/* actual_hz is measured over the watcher's window: give it a full one. */
	SD_WAIT(h, sd_node_info(h, "cam", &cam) && cam.actual_hz > 0 && cam.ticks >= 40, 10000,
		"no actual_hz");
	fprintf(stderr, "camera_sim blocking: tick p50 %.1f us, actual_hz %.1f of 100\n",
		cam.tick_p50_us, cam.actual_hz);
	SD_CHECK(h, cam.tick_p50_us >= 50000, "tick p50 %.1f us < the 50 ms read", cam.tick_p50_us);
	SD_CHECK(h, cam.actual_hz < 25, "actual_hz %.1f: the read did not stall the tick",
		 cam.actual_hz);
	SD_CHECK(h, cam.io_submitted == 0, "blocking mode used the pool");
	horus_sub_close(sub);
}
END_TEST

START_TEST(bad_params)
{
	struct sd *h = &sd_h;

	sd_plugin(h, "camera_sim");
	sd_config(h, "[node.c1]\nplugin = camera_sim\nwidth = 0\n\n"
		     "[node.c2]\nplugin = camera_sim\nlatency_ms = soon\n\n"
		     "[node.c3]\nplugin = camera_sim\nblocking = maybe\n\n"
		     "[node.c4]\nplugin = camera_sim\ntopic = /bad//name\n\n"
		     "[node.c5]\nplugin = camera_sim\nwidth = 16384\nheight = 16384\n\n"
		     "[node.ok]\nplugin = camera_sim\nwidth = 8\nheight = 8\nlatency_ms = 5\n");
	sd_start(h);
	SD_WAIT(h, sd_node_ticks(h, "ok") > 0, 10000, "the good node never ticked");
	for (int i = 1; i <= 5; i++) {
		char name[8];

		snprintf(name, sizeof(name), "c%d", i);
		SD_CHECK(h, sd_node_state_is(h, name, "failed"), "node %s is not failed", name);
	}
	SD_CHECK(h, sd_log_count(h, "parameter 'width': 0 is out of range") == 1, "width");
	SD_CHECK(h, sd_log_count(h, "parameter 'latency_ms': invalid value 'soon'") == 1,
		 "latency_ms");
	SD_CHECK(h, sd_log_count(h, "parameter 'blocking': invalid value 'maybe'") == 1,
		 "blocking");
	SD_CHECK(h, sd_log_count(h, "parameter 'topic': '/bad//name'") == 1, "topic");
	SD_CHECK(h, sd_log_count(h, "exceeds the bus limit") == 1, "frame size");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("camera_sim");
	TCase *tc = sd_tcase("rate");

	tcase_add_test(tc, frames_polling);
	tcase_add_test(tc, frames_callback);
	suite_add_tcase(s, tc);
	tc = sd_tcase("blocking");
	tcase_add_test(tc, blocking_stalls);
	suite_add_tcase(s, tc);
	tc = sd_tcase("params");
	tcase_add_test(tc, bad_params);
	suite_add_tcase(s, tc);
	return sd_run(s);
}
