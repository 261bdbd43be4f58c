/* SPDX-License-Identifier: MIT */
/*
 * http_sensor in a real horusd against a real HTTP server on 127.0.0.1, run by the test in a
 * thread: it answers with a value, stalls past the node's timeout, or fails with 500, on
 * command. The node publishes fresh values, then the last good value marked stale while the
 * server stalls or fails, then fresh values again, and its ticks are never held up.
 */

#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "shipped.h"

/* ---- the server -------------------------------------------------------------------------- */

enum mode { ANSWER, STALL, FAIL };

struct server {
	int fd;
	int port;
	pthread_t tid;
	atomic_bool stop;
	atomic_int mode;
	atomic_uint requests;
	pthread_mutex_t lock;
	char body[256];
};

static struct server srv;

static void srv_set(enum mode m, const char *body)
{
	pthread_mutex_lock(&srv.lock);
	if (body) {
		snprintf(srv.body, sizeof(srv.body), "%s", body);
	}
	pthread_mutex_unlock(&srv.lock);
	atomic_store(&srv.mode, m);
}

/* Reads the request head (up to the blank line), at most 2 s. */
static bool read_request(int c)
{
	char buf[8192];
	size_t len = 0;
	uint64_t end = sd_ms() + 2000;

	while (sd_ms() < end && len < sizeof(buf) - 1) {
		struct pollfd p = {.fd = c, .events = POLLIN};
		ssize_t n;

		if (poll(&p, 1, 100) <= 0) {
			continue;
		}
		n = recv(c, buf + len, sizeof(buf) - 1 - len, 0);
		if (n <= 0) {
			return false;
		}
		len += (size_t)n;
		buf[len] = '\0';
		if (strstr(buf, "\r\n\r\n")) {
			return true;
		}
	}
	return false;
}

static void send_all(int c, const char *s)
{
	size_t len = strlen(s), done = 0;

	while (done < len) {
		ssize_t n = send(c, s + done, len - done, MSG_NOSIGNAL);

		if (n <= 0) {
			return;
		}
		done += (size_t)n;
	}
}

static void serve(int c)
{
	char resp[512];

	if (!read_request(c)) {
		return;
	}
	atomic_fetch_add(&srv.requests, 1);
	switch (atomic_load(&srv.mode)) {
	case ANSWER:
		pthread_mutex_lock(&srv.lock);
		snprintf(resp, sizeof(resp),
			 "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n"
			 "Connection: close\r\n\r\n%s",
			 strlen(srv.body), srv.body);
		pthread_mutex_unlock(&srv.lock);
		send_all(c, resp);
		break;
	case FAIL:
		send_all(c, "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 6\r\n"
			    "Connection: close\r\n\r\nbroken");
		break;
	case STALL:
		/* Hold the request until the client gives up (or 10 s, or a new mode). */
		for (uint64_t end = sd_ms() + 10000; sd_ms() < end;) {
			struct pollfd p = {.fd = c, .events = POLLIN};
			char b[64];

			if (atomic_load(&srv.mode) != STALL || atomic_load(&srv.stop)) {
				break;
			}
			if (poll(&p, 1, 20) > 0 && recv(c, b, sizeof(b), MSG_DONTWAIT) == 0) {
				break; /* the client closed */
			}
		}
		break;
	}
}

static void *srv_main(void *arg)
{
	(void)arg;
	while (!atomic_load(&srv.stop)) {
		struct pollfd p = {.fd = srv.fd, .events = POLLIN};
		int c;

		if (poll(&p, 1, 50) <= 0) {
			continue;
		}
		c = accept4(srv.fd, NULL, NULL, SOCK_CLOEXEC);
		if (c < 0) {
			continue;
		}
		serve(c);
		close(c);
	}
	return NULL;
}

static void srv_start(void)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t len = sizeof(sa);
	int one = 1;

	memset(&srv, 0, sizeof(srv));
	pthread_mutex_init(&srv.lock, NULL);
	srv.fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(srv.fd, 0);
	setsockopt(srv.fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(srv.fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(listen(srv.fd, 16), 0);
	ck_assert_int_eq(getsockname(srv.fd, (struct sockaddr *)&sa, &len), 0);
	srv.port = ntohs(sa.sin_port);
	srv_set(ANSWER, "0");
	ck_assert_int_eq(pthread_create(&srv.tid, NULL, srv_main, NULL), 0);
}

static void srv_stop(void)
{
	atomic_store(&srv.stop, true);
	pthread_join(srv.tid, NULL);
	close(srv.fd);
}

/* ---- expectations ------------------------------------------------------------------------ */

struct want {
	double value;
	const char *text; /* format = text */
	bool stale;
	int error;
	uint32_t status; /* checked when error != 0 and status != 0 */
};

static bool is(const struct horus_reading *r, const char *text, void *arg)
{
	const struct want *w = arg;

	if (!(r->flags & HORUS_READING_VALID) || !!(r->flags & HORUS_READING_STALE) != w->stale ||
	    r->error != w->error) {
		return false;
	}
	if (w->status && r->status != w->status) {
		return false;
	}
	if (w->text) {
		return (r->flags & HORUS_READING_TEXT) && !strcmp(text, w->text);
	}
	return fabs(r->value - w->value) < 1e-9;
}

static void expect(struct sd *h, struct horus_sub *sub, const struct want *w,
		   struct horus_reading *ret)
{
	struct horus_reading r;
	char text[512];

	SD_CHECK(h, sd_wait_reading(h, sub, 10000, is, (void *)w, &r, text, sizeof(text)),
		 "no reading %g/'%s' stale %d error %d; last: %g/'%s' flags 0x%x error %d "
		 "status %u",
		 w->value, w->text ? w->text : "", w->stale, w->error, r.value, text, r.flags,
		 r.error, r.status);
	if (ret) {
		*ret = r;
	}
}

/* ---- tests ------------------------------------------------------------------------------- */

START_TEST(fresh_stale_fresh)
{
	struct sd *h = &sd_h;
	struct horus_reading fresh, stale;
	struct horus_sub *sub;
	struct sd_node n;
	uint64_t t0, ticks0;
	double ratio;

	srv_start();
	srv_set(ANSWER, "21.5\n");
	sd_plugin(h, "http_sensor");
	/* A breaker that would stop the node after 5 failures is not what is tested here. */
	sd_config(h,
		  "[node.web]\nplugin = http_sensor\nrate_hz = 50\nurl = http://127.0.0.1:%d/v\n"
		  "period_ms = 100\ntimeout_ms = 300\ncircuit_threshold = 1000\ntopic = test/web\n",
		  srv.port);
	sd_start(h);
	sub = sd_subscribe(h, "test/web");

	expect(h, sub, &(struct want){.value = 21.5}, NULL);
	srv_set(ANSWER, "22.75");
	expect(h, sub, &(struct want){.value = 22.75}, &fresh);

	/* The server stalls past the timeout: the last good value, stale, -ETIMEDOUT; and the
	 * node keeps its 50 Hz meanwhile. */
	SD_CHECK(h, sd_node_info(h, "web", &n), "no node");
	t0 = sd_us();
	ticks0 = n.ticks;
	srv_set(STALL, NULL);
	expect(h, sub, &(struct want){.value = 22.75, .stale = true, .error = -ETIMEDOUT}, &stale);
	SD_CHECK(h, stale.stamp_ns == fresh.stamp_ns, "the stale value has a new stamp");
	SD_CHECK(h, stale.attempt > fresh.attempt, "attempts do not count up");
	expect(h, sub, &(struct want){.value = 22.75, .stale = true, .error = -ETIMEDOUT}, NULL);
	SD_CHECK(h, sd_node_info(h, "web", &n), "no node");
	ratio = (double)(n.ticks - ticks0) / (50.0 * (double)(sd_us() - t0) / 1e6);
	/* A tick that waited for the request would take the whole 300 ms timeout. Allow for a
	 * loaded machine (other suites run in parallel) in the rate. */
	SD_CHECK(h, ratio >= 0.8, "the node ticked at %.3f of its rate while requests stalled",
		 ratio);
	SD_CHECK(h, n.tick_max_us < 100000, "a tick took %.1f us", n.tick_max_us);

	/* Fresh again. */
	srv_set(ANSWER, "23");
	expect(h, sub, &(struct want){.value = 23}, NULL);

	/* HTTP 500: stale, -EIO, status 500. */
	srv_set(FAIL, NULL);
	expect(h, sub, &(struct want){.value = 23, .stale = true, .error = -EIO, .status = 500},
	       NULL);

	srv_set(ANSWER, " 24.5 \r\n");
	expect(h, sub, &(struct want){.value = 24.5}, NULL);

	/* A body that is no number is a failure too. */
	srv_set(ANSWER, "hot");
	expect(h, sub, &(struct want){.value = 24.5, .stale = true, .error = -EBADMSG}, NULL);
	srv_set(ANSWER, "25");
	expect(h, sub, &(struct want){.value = 25}, NULL);

	SD_CHECK(h, sd_node_info(h, "web", &n), "no node");
	SD_CHECK(h, n.io_failed + n.io_timed_out >= 3 && n.io_completed >= 5,
		 "io: completed %llu failed %llu timed out %llu",
		 (unsigned long long)n.io_completed, (unsigned long long)n.io_failed,
		 (unsigned long long)n.io_timed_out);
	SD_CHECK(h, sd_log_count(h, "Failed to fetch 'http://127.0.0.1:") >= 3,
		 "failures not logged");
	SD_CHECK(h, sd_log_count(h, "answers again after") >= 3, "recoveries not logged");
	horus_sub_close(sub);
	SD_CHECK(h, sd_stop(h, SIGTERM, 10000) == 0, "horusd did not exit cleanly");
	srv_stop();
}
END_TEST

START_TEST(text_and_refused)
{
	struct sd *h = &sd_h;
	struct horus_sub *sub, *none;
	struct horus_reading r;
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t len = sizeof(sa);
	int closed_port, fd;

	/* A port nobody listens on: bound, never listened to, closed. */
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	closed_port = ntohs(sa.sin_port);
	close(fd);

	srv_start();
	srv_set(ANSWER, "hello, robot");
	sd_plugin(h, "http_sensor");
	sd_config(h,
		  "[node.txt]\nplugin = http_sensor\nurl = http://127.0.0.1:%d/t\nformat = text\n"
		  "period_ms = 100\ntimeout_ms = 300\ncircuit_threshold = 1000\n"
		  "max_body = 16\n\n"
		  "[node.none]\nplugin = http_sensor\nurl = http://127.0.0.1:%d/\n"
		  "period_ms = 100\ncircuit_threshold = 1000\n",
		  srv.port, closed_port);
	sd_start(h);
	sub = sd_subscribe(h, "http/txt");
	none = sd_subscribe(h, "http/none");

	expect(h, sub, &(struct want){.text = "hello, robot"}, NULL);
	srv_set(FAIL, NULL);
	expect(h, sub, &(struct want){.text = "hello, robot", .stale = true, .error = -EIO}, NULL);
	srv_set(ANSWER, "this body is longer than 16 bytes");
	expect(h, sub, &(struct want){.text = "hello, robot", .stale = true, .error = -EMSGSIZE},
	       NULL);
	srv_set(ANSWER, "bye");
	expect(h, sub, &(struct want){.text = "bye"}, NULL);

	/* Nothing ever answered: stale, no value (NaN, not VALID), -ECONNREFUSED. */
	{
		uint64_t end = sd_ms() + 10000;
		unsigned char buf[1024];
		int n = -EAGAIN;

		while (sd_ms() < end && (n = horus_sub_read(none, buf, sizeof(buf), NULL)) < 0) {
			horus_sub_wait(none, 50 * 1000000ll);
		}
		SD_CHECK(h, n == (int)sizeof(r), "no message from the refused node: %d", n);
		memcpy(&r, buf, sizeof(r));
		SD_CHECK(h,
			 (r.flags & HORUS_READING_STALE) && !(r.flags & HORUS_READING_VALID) &&
			     isnan(r.value) && r.error == -ECONNREFUSED && r.status == 0,
			 "refused: value %g flags 0x%x error %d status %u", r.value, r.flags,
			 r.error, r.status);
	}
	horus_sub_close(none);
	horus_sub_close(sub);
	srv_stop();
}
END_TEST

START_TEST(bad_params)
{
	struct sd *h = &sd_h;

	sd_plugin(h, "http_sensor");
	sd_config(h, "[node.h1]\nplugin = http_sensor\n\n"
		     "[node.h2]\nplugin = http_sensor\nurl = ftp://example.org/x\n\n"
		     "[node.h3]\nplugin = http_sensor\nurl = http://127.0.0.1/\ntimeout_ms = 0\n\n"
		     "[node.h4]\nplugin = http_sensor\nurl = http://127.0.0.1/\nformat = json\n\n"
		     "[node.h5]\nplugin = http_sensor\nurl = http://127.0.0.1/\nperiod_ms = 1h\n");
	sd_start(h);
	SD_WAIT(h, sd_node_state_is(h, "h5", "failed"), 10000, "h5 did not fail");
	for (int i = 1; i <= 4; i++) {
		char name[8];

		snprintf(name, sizeof(name), "h%d", i);
		SD_CHECK(h, sd_node_state_is(h, name, "failed"), "node %s is not failed", name);
	}
	SD_CHECK(h, sd_log_count(h, "parameter 'url' is required") >= 1, "url");
	SD_CHECK(h, sd_log_count(h, "parameter 'url': 'ftp://example.org/x'") == 1, "ftp");
	SD_CHECK(h, sd_log_count(h, "parameter 'timeout_ms': 0 is out of range") == 1, "timeout");
	SD_CHECK(h, sd_log_count(h, "parameter 'format': invalid value 'json'") == 1, "format");
	SD_CHECK(h, sd_log_count(h, "parameter 'period_ms': invalid value '1h'") == 1, "period");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("http_sensor");
	TCase *tc = sd_tcase("server");

	tcase_add_test(tc, fresh_stale_fresh);
	tcase_add_test(tc, text_and_refused);
	suite_add_tcase(s, tc);
	tc = sd_tcase("params");
	tcase_add_test(tc, bad_params);
	suite_add_tcase(s, tc);
	return sd_run(s);
}
