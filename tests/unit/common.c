/* SPDX-License-Identifier: MIT */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

char t_ns[HORUS_NAMESPACE_MAX + 1];

/* "<tag><runner pid>-": every namespace of this run starts with it. */
static char run_prefix[24];
static unsigned ns_counter;

void t_setup(void)
{
	/* getpid() differs per test under CK_FORK; the counter keeps CK_FORK=no runs apart. */
	snprintf(t_ns, sizeof(t_ns), "%s%d-%u", run_prefix, (int)getpid(), ns_counter++);
}

void t_teardown(void)
{
	horus_clean(t_ns);
}

TCase *t_tcase(Suite *s, const char *name, double timeout_s)
{
	TCase *tc = tcase_create(name);

	tcase_add_checked_fixture(tc, t_setup, t_teardown);
	tcase_set_timeout(tc, timeout_s);
	suite_add_tcase(s, tc);
	return tc;
}

/*
 * A failed assertion ends a CK_FORK test at once, without its teardown: remove whatever the
 * run left (every process that could hold it is gone by now).
 */
static void remove_leftovers(void)
{
	char prefix[64];
	struct dirent *de;
	DIR *dir = opendir("/dev/shm");

	if (!dir) {
		return;
	}
	snprintf(prefix, sizeof(prefix), "horus.%s", run_prefix);
	while ((de = readdir(dir))) {
		if (strncmp(de->d_name, prefix, strlen(prefix)) == 0) {
			char name[300];

			snprintf(name, sizeof(name), "/%s", de->d_name);
			shm_unlink(name);
		}
	}
	closedir(dir);
}

int t_run(Suite *s, const char *tag)
{
	SRunner *sr = srunner_create(s);
	int failed;

	snprintf(run_prefix, sizeof(run_prefix), "%s%d-", tag, (int)getpid());
	srunner_run_all(sr, CK_ENV); /* CK_VERBOSITY, default normal */
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	remove_leftovers();
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

uint64_t t_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * T_S + (uint64_t)ts.tv_nsec;
}

void t_nap_us(unsigned us)
{
	struct timespec ts = { .tv_sec = us / 1000000, .tv_nsec = (long)(us % 1000000) * 1000 };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
	}
}

void t_shm_path(char *buf, size_t size, const char *ns, uint32_t kind, const char *topic)
{
	size_t n = (size_t)snprintf(buf, size, "/dev/shm/horus.%s.%s.", ns,
				    kind == HORUS_KIND_LINK ? "link" : "hub");

	for (const char *p = topic; *p && n + 1 < size; p++) {
		buf[n++] = *p == '/' ? '+' : *p;
	}
	buf[n < size ? n : size - 1] = '\0';
}

bool t_exists(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0;
}

int t_child_wait(pid_t pid, int timeout_ms)
{
	uint64_t end = t_now_ns() + (uint64_t)timeout_ms * T_MS;
	int status;

	for (;;) {
		pid_t r = waitpid(pid, &status, WNOHANG);

		if (r == pid) {
			if (WIFEXITED(status)) {
				return WEXITSTATUS(status);
			}
			return 128 + WTERMSIG(status);
		}
		if (r < 0 && errno != EINTR) {
			return -1;
		}
		if (t_now_ns() > end) {
			t_child_kill(pid);
			return -1;
		}
		t_nap_us(500);
	}
}

void t_child_kill(pid_t pid)
{
	kill(pid, SIGKILL);
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
	}
}

void t_pipe_open(struct t_pipe *p)
{
	int fds[2];

	ck_assert_int_eq(pipe(fds), 0);
	p->r = fds[0];
	p->w = fds[1];
}

void t_pipe_close(struct t_pipe *p)
{
	close(p->r);
	close(p->w);
}

bool t_pipe_signal(struct t_pipe *p)
{
	char c = 1;

	return write(p->w, &c, 1) == 1;
}

bool t_pipe_await(struct t_pipe *p, int timeout_ms)
{
	struct pollfd pfd = { .fd = p->r, .events = POLLIN };
	char c;

	if (poll(&pfd, 1, timeout_ms) != 1) {
		return false;
	}
	return read(p->r, &c, 1) == 1;
}

void *t_shared_alloc(size_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	ck_assert_ptr_ne(p, MAP_FAILED);
	return p;
}

void t_shared_free(void *p, size_t size)
{
	munmap(p, size);
}

/* ---- self-checking messages ---------------------------------------------------------------- */

uint64_t t_fnv1a(const void *p, size_t n, uint64_t h)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < n; i++) {
		h = (h ^ b[i]) * UINT64_C(0x100000001b3);
	}
	return h;
}

uint64_t t_rand(uint64_t *state)
{
	uint64_t x = *state ? *state : UINT64_C(0x9e3779b97f4a7c15);

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*state = x;
	return x * UINT64_C(0x2545f4914f6cdd1d);
}

/*
 * FNV-1a over 64-bit words (then the tail bytes): as good at catching a torn copy as the byte
 * version, and fast enough that writers and readers spend their time in the bus, where the
 * races are, rather than in hashing.
 */
static uint64_t hash_words(const uint8_t *p, size_t n, uint64_t h)
{
	size_t i = 0;

	for (; i + 8 <= n; i += 8) {
		uint64_t w;

		memcpy(&w, p + i, 8);
		h = (h ^ w) * UINT64_C(0x100000001b3);
	}
	return t_fnv1a(p + i, n - i, h);
}

static uint64_t msg_hash(const struct t_msg *m, const uint8_t *payload, size_t n)
{
	uint64_t h = UINT64_C(0xcbf29ce484222325);

	h = t_fnv1a(&m->writer, sizeof(m->writer), h);
	h = t_fnv1a(&m->len, sizeof(m->len), h);
	h = t_fnv1a(&m->count, sizeof(m->count), h);
	h = t_fnv1a(&m->stamp_ns, sizeof(m->stamp_ns), h);
	return hash_words(payload, n, h);
}

void t_msg_fill(void *buf, uint32_t len, uint32_t writer, uint64_t count, uint64_t stamp_ns)
{
	struct t_msg m = { .writer = writer, .len = len, .count = count, .stamp_ns = stamp_ns };
	uint8_t *payload = (uint8_t *)buf + sizeof(m);
	uint64_t seed = ((uint64_t)writer << 40) ^ count ^ UINT64_C(0x5bd1e995);
	size_t n = len - sizeof(m), i = 0;

	for (; i + 8 <= n; i += 8) {
		uint64_t w = t_rand(&seed);

		memcpy(payload + i, &w, 8);
	}
	for (; i < n; i++) {
		payload[i] = (uint8_t)(t_rand(&seed) >> 56);
	}
	m.hash = msg_hash(&m, payload, n);
	memcpy(buf, &m, sizeof(m));
}

bool t_msg_verify(const void *buf, size_t len)
{
	struct t_msg m;

	if (len < sizeof(m)) {
		return false;
	}
	memcpy(&m, buf, sizeof(m));
	return m.len == len && m.hash == msg_hash(&m, (const uint8_t *)buf + sizeof(m),
						   len - sizeof(m));
}
