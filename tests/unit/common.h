/* SPDX-License-Identifier: MIT */
#ifndef HORUS_TESTS_UNIT_COMMON_H
#define HORUS_TESTS_UNIT_COMMON_H

/*
 * What every bus suite shares: a fresh namespace per test (so that tests never see each other's
 * segments, even when suites run in parallel), its cleaning, time, polling and child-process
 * helpers, and self-checking messages for the concurrency tests.
 */

#include <check.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <horus/pubsub.h>

#define T_MS (1000ull * 1000)
#define T_S (1000ull * T_MS)

/* The running test's namespace, set by t_setup(). */
extern char t_ns[HORUS_NAMESPACE_MAX + 1];

/* Checked fixture: t_setup() picks a namespace nobody else uses, t_teardown() cleans it. */
void t_setup(void);
void t_teardown(void);

/* Adds a TCase with the shared fixture and a timeout (seconds). */
TCase *t_tcase(Suite *s, const char *name, double timeout_s);

/*
 * Runs the suite and returns the process exit status. `tag` (a few letters) starts every
 * namespace of this run; whatever failed tests left under it in /dev/shm is removed at the end.
 */
int t_run(Suite *s, const char *tag);

uint64_t t_now_ns(void);
void t_nap_us(unsigned us);

/* Polls `cond` until it holds or timeout_ms passes; the caller then asserts it. */
#define T_POLL(cond, timeout_ms)                                                  \
	do {                                                                      \
		uint64_t t_end_ = t_now_ns() + (uint64_t)(timeout_ms) * T_MS;     \
		while (!(cond) && t_now_ns() < t_end_) {                          \
			t_nap_us(200);                                            \
		}                                                                 \
	} while (0)

/* /dev/shm path of a topic's segment, following the documented name mapping. */
void t_shm_path(char *buf, size_t size, const char *ns, uint32_t kind, const char *topic);
bool t_exists(const char *path);

/* Children. Every child ends with _exit(); it never returns into Check. */
/* Waits up to timeout_ms for pid: its exit status, 128 + signal, or -1 (then it is killed). */
int t_child_wait(pid_t pid, int timeout_ms);
/* Kills pid with SIGKILL and reaps it. */
void t_child_kill(pid_t pid);

/* One-byte handshakes over a pipe. */
struct t_pipe {
	int r, w;
};
void t_pipe_open(struct t_pipe *p);
void t_pipe_close(struct t_pipe *p);
bool t_pipe_signal(struct t_pipe *p);
/* Waits up to timeout_ms for a byte. */
bool t_pipe_await(struct t_pipe *p, int timeout_ms);

/* Shared (MAP_SHARED anonymous) memory that survives fork(), zeroed. */
void *t_shared_alloc(size_t size);
void t_shared_free(void *p, size_t size);

/* ---- self-checking messages ---------------------------------------------------------------- */

/*
 * A message that proves its own integrity: who wrote it, its per-writer count, its length and
 * bytes derived from (writer, count), all covered by an FNV-1a hash. A torn copy, a wrong
 * length or bytes from another message fail t_msg_verify().
 */
struct t_msg {
	uint32_t writer;
	uint32_t len;
	uint64_t count;
	uint64_t stamp_ns; /* free for the test (latency) */
	uint64_t hash;
};

#define T_MSG_MIN ((uint32_t)sizeof(struct t_msg))

uint64_t t_fnv1a(const void *p, size_t n, uint64_t h);
/* Fills buf with a message of len >= T_MSG_MIN bytes. */
void t_msg_fill(void *buf, uint32_t len, uint32_t writer, uint64_t count, uint64_t stamp_ns);
bool t_msg_verify(const void *buf, size_t len);

/* Small PRNG (xorshift64*), deterministic per seed. */
uint64_t t_rand(uint64_t *state);

#endif /* HORUS_TESTS_UNIT_COMMON_H */
