/* SPDX-License-Identifier: MIT */
#ifndef HORUS_TESTS_INTEGRATION_HARNESS_H
#define HORUS_TESTS_INTEGRATION_HARNESS_H

/*
 * A real horusd per test: a private temp directory (0755; under $HORUS_IT_TMPDIR, else /tmp)
 * holding the config, a plugin_dir with copies of the test node modules (0755), the control
 * socket, the daemon's log and the test node's record file; a namespace of its own. The daemon is fork/exec'd from $HORUSD and dies
 * with the test process (PR_SET_PDEATHSIG), so a timed-out test leaves no daemon behind.
 *
 * Every wait is a poll on a condition with a generous bound, never a sleep used as a barrier.
 * On failure the daemon's log tail and its node list go to stderr before the test aborts.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <check.h>

#define HD_PATH 512
#define HD_REPLY_MAX 65536

struct hd {
	char dir[64]; /* $HORUS_IT_TMPDIR/itd-XXXXXX, or /tmp/itd-XXXXXX */
	char plugdir[HD_PATH];
	char conf[HD_PATH];
	char sock[HD_PATH];
	char rec[HD_PATH];    /* the test node's record= file */
	char log[HD_PATH];    /* the daemon's stdout + stderr */
	char notify[HD_PATH]; /* our NOTIFY_SOCKET, "" if none */
	char ns[40];
	int notify_fd;
	unsigned long watchdog_usec; /* > 0: WATCHDOG_USEC/WATCHDOG_PID for the daemon */
	bool journal;		     /* JOURNAL_STREAM names the log file, as under systemd */
	pid_t pid;		     /* > 0 while the daemon may run */
	int status;		     /* wait status once reaped */
	bool reaped;
};

/* Node fields from "1 node info NAME". */
struct ni {
	char state[16];
	char circuit[16];
	char plugin[64];
	double rate_hz, actual_hz, deadline_ms, watchdog_ms;
	uint64_t ticks, skipped, deadline_misses, watchdog_trips, failures, restarts;
};

uint64_t mono_ms(void);
uint64_t mono_us(void);

/* Per-test set-up and tear-down (checked fixture). */
void hd_init(struct hd *h);
void hd_cleanup(struct hd *h);

/* Copies the built module (testnode, wrong_abi, no_entry) into plugin_dir as AS.so, mode. */
void hd_plugin_mode(struct hd *h, const char *module, const char *as, unsigned mode);
void hd_plugin(struct hd *h, const char *module, const char *as);

/*
 * Writes the main config: a [daemon] section (plugin_dir, namespace, control_socket,
 * log_level = debug) followed by body, in which "@REC@" becomes the record file's path.
 * With daemon_extra, those lines are appended to the [daemon] section.
 */
void hd_config2(struct hd *h, const char *daemon_extra, const char *body);
void hd_config(struct hd *h, const char *body);
/* Writes dir/horusd.d/NAME (a drop-in). */
void hd_dropin(struct hd *h, const char *name, const char *body);

/* Opens the notify datagram socket; hd_start then passes NOTIFY_SOCKET. */
void hd_notify_open(struct hd *h);
/* The next notify datagram, NUL-terminated, or false after timeout_ms. */
bool hd_notify_recv(struct hd *h, char *buf, size_t size, int timeout_ms);

/* Starts horusd and waits (up to 10 s) for its control socket to answer. */
void hd_start(struct hd *h);
/* Starts horusd without waiting. */
void hd_spawn(struct hd *h);
/* Sends sig; waits up to timeout_ms for the exit. Returns the wait status or -1 if alive. */
int hd_stop(struct hd *h, int sig, int timeout_ms);
bool hd_alive(struct hd *h);
void hd_signal(struct hd *h, int sig);

/*
 * One request over a fresh connection: sends req (a '\n' is added), reads one line.
 * Checks the reply is one valid JSON object with "schema": 1. false if no reply.
 */
bool hd_request(struct hd *h, const char *req, char *reply, size_t size);
/* Connects to the control socket; -1 on failure. Timeouts of 5 s on the socket. */
int hd_connect(struct hd *h);
/* Reads one line from fd within timeout_ms (-1: EOF/error/timeout, else length). */
ssize_t hd_read_line(int fd, char *buf, size_t size, int timeout_ms);

/* JSON helpers. */
bool json_valid(const char *s);
bool json_str_field(const char *json, const char *key, char *out, size_t size);
bool json_num_field(const char *json, const char *key, double *out);

/* "1 node info NAME" parsed; false if the daemon says there is no such node. */
bool hd_node(struct hd *h, const char *name, struct ni *ret);
/* Node names from "1 node list", comma-separated into out; returns the count. */
int hd_node_names(struct hd *h, char *out, size_t size);
bool hd_state_is(struct hd *h, const char *name, const char *state);
uint64_t hd_ticks(struct hd *h, const char *name);
/* "1 status" pid field. */
long hd_status_pid(struct hd *h);
double hd_status_num(struct hd *h, const char *key);

/*
 * Counts ticks of a node over window_ms: returns completed ticks over rate * elapsed, with the
 * raw figures through the optional pointers.
 */
double hd_tick_ratio(struct hd *h, const char *name, int window_ms, uint64_t *ret_ticks,
		     double *ret_expected);

/* Lines of the record file that start with "WHAT NAME " (e.g. "init a"). */
int hd_rec_count(struct hd *h, const char *what, const char *name);
bool hd_log_has(struct hd *h, const char *needle);
/* Count of occurrences of needle in the log. */
int hd_log_count(struct hd *h, const char *needle);
/* Count of horus.<ns>.* entries in /dev/shm. */
int hd_shm_count(struct hd *h);

/* Prints the log tail and node list to stderr, then fails the test. */
void hd_fail(struct hd *h, const char *file, int line, const char *expr, const char *fmt, ...)
    __attribute__((format(printf, 5, 6), noreturn));

#define HD_CHECK(h, cond, ...)                                                                     \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			hd_fail((h), __FILE__, __LINE__, #cond, __VA_ARGS__);                      \
		}                                                                                  \
	} while (0)

/* Polls cond every 20 ms for up to ms milliseconds. */
#define HD_WAIT(h, cond, ms, ...)                                                                  \
	do {                                                                                       \
		uint64_t hd_end_ = mono_ms() + (ms);                                               \
		while (!(cond)) {                                                                  \
			if (mono_ms() > hd_end_) {                                                 \
				hd_fail((h), __FILE__, __LINE__, "timed out: " #cond,              \
					__VA_ARGS__);                                              \
			}                                                                          \
			usleep(20000);                                                             \
		}                                                                                  \
	} while (0)

/* Runs the suite (CK_NORMAL output), returns the process exit status. */
int hd_run_suite(Suite *s);

#endif /* HORUS_TESTS_INTEGRATION_HARNESS_H */
