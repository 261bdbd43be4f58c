/* SPDX-License-Identifier: MIT */
#ifndef HORUS_TESTS_SHIPPED_H
#define HORUS_TESTS_SHIPPED_H

/*
 * Tests of the shipped nodes against a real horusd: each test gets a private directory (0755)
 * with its config, a plugin_dir holding copies (0755) of the node modules it needs, the control
 * socket and the daemon's log, and a namespace of its own. The daemon is fork/exec'd from
 * $HORUSD, dies with the test process (PR_SET_PDEATHSIG), and is killed in teardown.
 *
 * Every wait polls a condition with a generous bound; no sleep is used as a barrier. A failed
 * check prints the daemon's log tail and node list before the test aborts.
 */

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <check.h>

#include <horus/nodes.h>
#include <horus/pubsub.h>

#define SD_PATH 512
#define SD_REPLY_MAX 65536

struct sd {
	char dir[256];
	char plugdir[SD_PATH];
	char conf[SD_PATH];
	char sock[SD_PATH];
	char log[SD_PATH];
	char ns[40];
	pid_t pid;  /* > 0 while the daemon may run */
	int status; /* wait status once reaped */
	bool reaped;
};

/* Fields of "1 node info NAME". */
struct sd_node {
	char state[16];
	double rate_hz, actual_hz, tick_p50_us, tick_max_us;
	uint64_t ticks, failures, io_submitted, io_completed, io_failed, io_timed_out;
};

uint64_t sd_ms(void);
uint64_t sd_us(void);

/* The fixture: the test's one daemon. */
extern struct sd sd_h;
void sd_setup(void);
void sd_teardown(void);

/* Copies build/nodes/NAME.so into plugin_dir (mode 0755); sd_unplug removes it. */
void sd_plugin(struct sd *h, const char *name);
void sd_unplug(struct sd *h, const char *name);
/* Path of a file in the test's directory. */
void sd_path(struct sd *h, const char *name, char *buf, size_t size);

/* Writes the config atomically: [daemon] (plugin_dir, namespace, socket, log_level = debug)
 * followed by the printf-formatted body. */
void sd_config(struct sd *h, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Starts horusd and waits (up to 10 s) for its control socket to answer. */
void sd_start(struct sd *h);
/* Sends sig and waits up to timeout_ms for the exit: the wait status, or -1. */
int sd_stop(struct sd *h, int sig, int timeout_ms);
void sd_signal(struct sd *h, int sig);

/* One request, one JSON line back (without the newline). false if no reply. */
bool sd_request(struct sd *h, const char *req, char *reply, size_t size);
/* The number after "key": in json (the first occurrence at or after `from`, if not NULL). */
bool sd_json_num(const char *json, const char *key, double *ret);
/* "1 node info NAME"; false if there is no such node. */
bool sd_node_info(struct sd *h, const char *name, struct sd_node *ret);
bool sd_node_state_is(struct sd *h, const char *name, const char *state);
uint64_t sd_node_ticks(struct sd *h, const char *name);

/* Occurrences of needle in the daemon's log. */
int sd_log_count(struct sd *h, const char *needle);

/* The whole content of a file (NUL-terminated; caller frees), or NULL. */
char *sd_read_file(const char *path, size_t *ret_len);
/* Replaces path's content atomically (write + rename). */
void sd_write_file(struct sd *h, const char *path, const char *text);

/* Subscribes to a topic of the test's namespace once it exists (up to 10 s). */
struct horus_sub *sd_subscribe(struct sd *h, const char *topic);

/*
 * Reads struct horus_reading messages until pred() holds for one (then true, with it in *ret
 * and its text in text) or timeout_ms pass (false, *ret = the last one seen).
 */
bool sd_wait_reading(struct sd *h, struct horus_sub *sub, int timeout_ms,
		     bool (*pred)(const struct horus_reading *r, const char *text, void *arg),
		     void *arg, struct horus_reading *ret, char *text, size_t text_size);

void sd_fail(struct sd *h, const char *file, int line, const char *expr, const char *fmt, ...)
    __attribute__((format(printf, 5, 6), noreturn));

#define SD_CHECK(h, cond, ...)                                                                     \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			sd_fail((h), __FILE__, __LINE__, #cond, __VA_ARGS__);                      \
		}                                                                                  \
	} while (0)

/* Polls cond every 10 ms for up to ms milliseconds. */
#define SD_WAIT(h, cond, ms, ...)                                                                  \
	do {                                                                                       \
		uint64_t sd_end_ = sd_ms() + (ms);                                                 \
		while (!(cond)) {                                                                  \
			if (sd_ms() > sd_end_) {                                                   \
				sd_fail((h), __FILE__, __LINE__, "timed out: " #cond,              \
					__VA_ARGS__);                                              \
			}                                                                          \
			usleep(10000);                                                             \
		}                                                                                  \
	} while (0)

/* Adds a TCase with the fixture and a 90 s timeout. */
TCase *sd_tcase(const char *name);
/* Runs the suite; exit status (77: skipped, when not run through meson). */
int sd_run(Suite *s);

#endif /* HORUS_TESTS_SHIPPED_H */
