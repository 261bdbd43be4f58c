/* SPDX-License-Identifier: MIT */
/*
 * A full /dev/shm: creating a segment that does not fit is a clean -ENOSPC, never a SIGBUS
 * later, and leaves no file behind. Needs root: each test mounts a tiny tmpfs on /dev/shm in a
 * private mount namespace of its own process. Exits 77 (skipped) where that is not possible.
 */

#include <dirent.h>
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <horus/pubsub.h>

#include "common.h"

/* Gives this process a private /dev/shm of 256 KiB. 0, or -errno. */
static int private_tiny_shm(void)
{
	if (unshare(CLONE_NEWNS) < 0) {
		return -errno;
	}
	/* Private propagation: our mount must not leak to the host's /dev/shm. */
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
		return -errno;
	}
	if (mount("horus-test", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV,
		  "size=256k,mode=1777") < 0) {
		return -errno;
	}
	return 0;
}

static int count_entries(void)
{
	DIR *dir = opendir("/dev/shm");
	struct dirent *de;
	int n = 0;

	ck_assert_ptr_nonnull(dir);
	while ((de = readdir(dir))) {
		n += de->d_name[0] != '.';
	}
	closedir(dir);
	return n;
}

START_TEST(enospc_clean)
{
	/* 16 slots of 64 KiB: 1 MiB, four times what the mount holds. */
	static const struct horus_topic_opts big = { .capacity = 16, .max_msg = 65536 };
	static const struct horus_topic_opts fits = { .capacity = 4, .max_msg = 1024 };
	struct horus_pub *pub;
	struct horus_sub *sub;
	struct horus_link *link;
	uint8_t buf[1024] = { 0 };

	ck_assert_int_eq(private_tiny_shm(), 0);
	ck_assert_int_eq(count_entries(), 0);

	ck_assert_int_eq(horus_pub_open(t_ns, "big", &big, &pub), -ENOSPC);
	ck_assert_int_eq(horus_sub_open(t_ns, "big", &big, 0, &sub), -ENOSPC);
	ck_assert_int_eq(horus_link_open(t_ns, "big", HORUS_LINK_PRODUCER, &big, &link), -ENOSPC);
	ck_assert_int_eq(count_entries(), 0); /* nothing left behind */

	/* What fits works, and is usable to its last byte (every page was reserved). */
	ck_assert_int_eq(horus_pub_open(t_ns, "small", &fits, &pub), 0);
	ck_assert_int_eq(horus_sub_open(t_ns, "small", &fits, 0, &sub), 0);
	for (int i = 0; i < 8; i++) {
		ck_assert_int_eq(horus_pub_publish(pub, buf, sizeof(buf)), 0);
	}
	ck_assert_int_eq(horus_sub_read(sub, buf, sizeof(buf), NULL), (int)sizeof(buf));
	/* Fill the rest of the mount, then ask for one more segment: -ENOSPC again. */
	for (int i = 0; i < 64; i++) {
		char name[16];
		struct horus_link *l;
		int r;

		snprintf(name, sizeof(name), "fill%d", i);
		r = horus_link_open(t_ns, name, HORUS_LINK_CONSUMER, &fits, &l);
		if (r == -ENOSPC) {
			break;
		}
		ck_assert_int_eq(r, 0);
		horus_link_close(l); /* the segment stays */
	}
	ck_assert_int_eq(horus_pub_open(t_ns, "one-more", &fits, &pub), -ENOSPC);
	horus_pub_close(pub);
	horus_sub_close(sub);
	ck_assert_int_gt(horus_clean(t_ns), 1);
	ck_assert_int_eq(count_entries(), 0);
}
END_TEST

/* Can this machine run the test at all? Tried in a throw-away child. */
static bool can_mount(void)
{
	pid_t pid;
	int status;

	if (geteuid() != 0) {
		return false;
	}
	pid = fork();
	if (pid < 0) {
		return false;
	}
	if (pid == 0) {
		_exit(private_tiny_shm() == 0 ? 0 : 1);
	}
	return waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

int main(void)
{
	Suite *s = suite_create("enospc");
	SRunner *probe;

	if (!can_mount()) {
		fprintf(stderr, "skipped: needs root and a private mount namespace\n");
		return 77;
	}
	/* The mount namespace must belong to the test's own process, never to the runner. */
	probe = srunner_create(NULL);
	if (srunner_fork_status(probe) == CK_NOFORK) {
		fprintf(stderr, "skipped: needs CK_FORK\n");
		srunner_free(probe);
		return 77;
	}
	srunner_free(probe);
	tcase_add_test(t_tcase(s, "enospc_clean", 10), enospc_clean);
	return t_run(s, "nsp");
}
