/* SPDX-License-Identifier: MIT */
/*
 * Who may get in, checked on a real horusd (DESIGN.md: "Plugin loading rules", "Shared memory
 * rules", the control socket's mode):
 *  - a world-writable plugin file, at start-up and dropped in before a reload, and a
 *    world-writable (also sticky) plugin_dir: each refused with the rule named in the log, while
 *    the daemon and its good nodes go on;
 *  - the control socket is a socket of mode 0660 even when horusd starts under umask 0; a user
 *    outside its owner and group (uid and gid nobody) gets EACCES from connect(), a user in its
 *    group gets answers;
 *  - a segment is 0660 whoever creates it (the daemon under umask 0, a client under umask 077),
 *    and nobody outside the group can open it (EACCES).
 * The other plugin rules are covered elsewhere and not repeated here: group-writable file,
 * symlink and file of another uid in a real daemon by tests/integration/it-startup.c
 * (bad_plugins_refused_good_run); each rule, group-writable and foreign-owned directories and
 * non-regular files by the plugin loader's unit suite, tests/daemon/test-plugin.c.
 * Root is needed to act as another user; without it those checks are skipped with a note.
 */

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <horus/pubsub.h>

#include "rd.h"

#define NOBODY 65534

static struct hd H;
static bool root;

static void setup(void)
{
	rd_init(&H);
}

static void teardown(void)
{
	hd_cleanup(&H);
}

static void expect_refused(const char *file, const char *rule)
{
	char needle[HD_PATH + 160];

	snprintf(needle, sizeof(needle), "%s/%s: %s", H.plugdir, file, rule);
	HD_WAIT(&H, hd_log_has(&H, needle), 5000, "the log names %s and the rule '%s'", file, rule);
}

START_TEST(test_world_writable_plugin)
{
	char reply[HD_REPLY_MAX];
	struct ni n;

	hd_plugin_mode(&H, "testnode", "ww", 0757);
	hd_config(&H, "[node.good]\nplugin = testnode\nrate_hz = 100\n"
		      "[node.bad]\nplugin = ww\nrate_hz = 100\n");
	hd_start(&H);
	expect_refused("ww.so", "refused: the file is writable by group or others (mode 0757)");
	HD_CHECK(&H, !hd_node(&H, "bad", &n) || (!strcmp(n.state, "failed") && n.ticks == 0),
		 "bad: %s with %llu ticks", n.state, (unsigned long long)n.ticks);
	HD_WAIT(&H, hd_ticks(&H, "good") > 20, 5000, "good ticks");

	/* Dropped in before a reload: refused the same way, the running nodes untouched. */
	hd_plugin_mode(&H, "testnode", "late", 0777);
	hd_config(&H, "[node.good]\nplugin = testnode\nrate_hz = 100\n"
		      "[node.late]\nplugin = late\nrate_hz = 100\n");
	HD_CHECK(&H, hd_request(&H, "1 reload", reply, sizeof(reply)), "reload");
	expect_refused("late.so", "refused: the file is writable by group or others (mode 0777)");
	HD_CHECK(&H, !hd_node(&H, "late", &n) || n.ticks == 0, "late ticked");
	HD_CHECK(&H, hd_node(&H, "good", &n) && n.restarts == 0 && n.ticks > 20, "good untouched");
	rel_figure("permissions: world-writable plugin",
		   "refused at start-up (mode 0757) and when dropped in before a reload (0777), "
		   "with the rule named; the good node ran on");
}
END_TEST

START_TEST(test_world_writable_dir)
{
	HD_CHECK(&H, chmod(H.plugdir, 0777) == 0, "chmod");
	hd_config(&H, "[node.a]\nplugin = testnode\nrate_hz = 100\n");
	hd_start(&H);
	expect_refused("testnode.so",
		       "refused: its directory is writable by group or others (mode 0777)");
	HD_CHECK(&H, !hd_state_is(&H, "a", "running"), "a runs from a world-writable directory");
	/* Like /tmp: the sticky bit does not make it safe. */
	HD_CHECK(&H, chmod(H.plugdir, 01777) == 0, "chmod");
	hd_signal(&H, SIGHUP);
	expect_refused("testnode.so",
		       "refused: its directory is writable by group or others (mode 1777)");
	HD_CHECK(&H, hd_status_pid(&H) == H.pid, "the daemon answers");
	/* Made safe again: the next reload loads it. */
	HD_CHECK(&H, chmod(H.plugdir, 0755) == 0, "chmod");
	hd_signal(&H, SIGHUP);
	HD_WAIT(&H, hd_ticks(&H, "a") > 0, 5000, "a loads once the directory is safe");
	rel_figure("permissions: world-writable plugin_dir",
		   "every plugin in it refused (modes 0777 and 1777) with the rule named; loaded "
		   "once the directory was 0755 again");
}
END_TEST

/* In a child: drops to uid nobody (and gid, or keeps gid 0), then runs fn; exit status 0 = ok. */
static int as_user(gid_t gid, int (*fn)(void))
{
	pid_t pid;

	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		if (setgroups(0, NULL) < 0 || setgid(gid) < 0 || setuid(NOBODY) < 0) {
			_exit(90);
		}
		_exit(fn());
	}
	return t_child_wait(pid, 10000);
}

/* 0: connect refused with EACCES; 1: connected; 2: other error. */
static int try_connect(void)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0 || strlen(H.sock) >= sizeof(sa.sun_path)) {
		return 2;
	}
	memcpy(sa.sun_path, H.sock, strlen(H.sock) + 1);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
		close(fd);
		return 1;
	}
	return errno == EACCES ? 0 : 2;
}

/* 0: a status request answered by the daemon. */
static int group_member_asks(void)
{
	char reply[HD_REPLY_MAX];
	int fd = hd_connect(&H);

	if (fd < 0) {
		return 3;
	}
	if (write(fd, "1 status\n", 9) != 9 || hd_read_line(fd, reply, sizeof(reply), 5000) < 0) {
		return 4;
	}
	close(fd);
	return strstr(reply, "\"pid\"") ? 0 : 5;
}

START_TEST(test_control_socket)
{
	struct stat st;
	mode_t old = umask(0);
	int r;

	hd_config(&H, "[node.a]\nplugin = testnode\nrate_hz = 100\n");
	hd_start(&H); /* under umask 0 */
	umask(old);
	HD_CHECK(&H, lstat(H.sock, &st) == 0, "stat %s: %s", H.sock, strerror(errno));
	HD_CHECK(&H, S_ISSOCK(st.st_mode) && (st.st_mode & 07777) == 0660,
		 "control socket mode %o, want a socket of 0660", (unsigned)st.st_mode);
	if (!root) {
		fprintf(stderr, "SKIP control socket as another user: needs root to setuid\n");
		return;
	}
	r = as_user(NOBODY, try_connect);
	HD_CHECK(&H, r == 0, "uid/gid nobody: connect %s (want EACCES)",
		 r == 1 ? "succeeded" : "failed otherwise");
	r = as_user(st.st_gid, group_member_asks);
	HD_CHECK(&H, r == 0, "uid nobody in the socket's group %d: no answer (%d)", (int)st.st_gid,
		 r);
	rel_figure(
	    "permissions: control socket",
	    "mode 0660 (socket) under umask 0; a user outside owner and group gets EACCES, a "
	    "member of its group gets answers");
}
END_TEST

static char seg_path[HD_PATH];

/* 0: opening the segment refused with EACCES. */
static int try_open_segment(void)
{
	int fd = open(seg_path, O_RDWR | O_CLOEXEC);

	if (fd >= 0) {
		close(fd);
		return 1;
	}
	return errno == EACCES ? 0 : 2;
}

static void expect_0660(const char *topic, const char *who)
{
	struct stat st;

	snprintf(seg_path, sizeof(seg_path), "/dev/shm/horus.%s.hub.%s", H.ns, topic);
	HD_WAIT(&H, stat(seg_path, &st) == 0, 5000, "%s exists", seg_path);
	HD_CHECK(&H, S_ISREG(st.st_mode) && (st.st_mode & 07777) == 0660,
		 "%s (created by %s): mode %04o, want 0660", seg_path, who,
		 (unsigned)st.st_mode & 07777);
	if (root) {
		int r = as_user(NOBODY, try_open_segment);

		HD_CHECK(&H, r == 0, "uid/gid nobody: opening %s %s (want EACCES)", seg_path,
			 r == 1 ? "succeeded" : "failed otherwise");
	}
}

START_TEST(test_segments)
{
	struct horus_pub *pub;
	mode_t old = umask(0);
	int r;

	hd_config(&H, "[node.src]\nplugin = testnode\nrate_hz = 100\ntopic = perm.daemon\n");
	hd_start(&H); /* under umask 0: not widened to 0666 */
	umask(077);   /* a strict client: not narrowed to 0600 either */
	r = horus_pub_open(H.ns, "perm.client", NULL, &pub);
	umask(old);
	HD_CHECK(&H, r == 0, "horus_pub_open: %s", strerror(-r));
	expect_0660("perm.daemon", "horusd under umask 0");
	expect_0660("perm.client", "a client under umask 077");
	horus_pub_close(pub);
	if (!root) {
		fprintf(stderr, "SKIP segments as another user: needs root to setuid\n");
	}
	rel_figure("permissions: segments",
		   "0660 whether created by horusd under umask 0 or by a client under umask 077%s",
		   root ? "; a user outside the group gets EACCES" : "");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("rd-perms");
	TCase *tc;

	root = geteuid() == 0;
#define ADD(name, fn)                                                                              \
	tc = tcase_create(name);                                                                   \
	tcase_add_checked_fixture(tc, setup, teardown);                                            \
	tcase_set_timeout(tc, 60);                                                                 \
	tcase_add_test(tc, fn);                                                                    \
	suite_add_tcase(s, tc)

	ADD("world_writable_plugin", test_world_writable_plugin);
	ADD("world_writable_dir", test_world_writable_dir);
	ADD("control_socket", test_control_socket);
	ADD("segments", test_segments);
#undef ADD
	if (!root) {
		fprintf(stderr, "note: not root: the checks as another user are skipped\n");
	}
	return hd_run_suite(s);
}
