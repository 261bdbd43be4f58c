/* SPDX-License-Identifier: MIT */
/*
 * Plugin files: every safety rule of DESIGN.md ("Plugin loading rules") refuses its case with a
 * message naming the rule; descriptors are checked (ABI major, struct_size, callbacks, rate);
 * a good plugin loads with its descriptor; plugin_changed() notices a replaced file.
 *
 * Each test works on copies of the plugins in a private directory (mode 0755, files 0755).
 */

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <horus/node.h>

#include "dtest.h"
#include "plugin.h"

#define OTHER_UID 65534 /* nobody */

static char dir[PATH_MAX];

static const struct {
	const char *file; /* in dir */
	const char *env;  /* where meson built it */
} plugins[] = {
	{ "testnode.so", "TESTNODE_SO" },	  { "wrong_abi.so", "WRONG_ABI_SO" },
	{ "no_entry.so", "NO_ENTRY_SO" },	  { "small_struct.so", "SMALL_STRUCT_SO" },
	{ "future_minor.so", "FUTURE_MINOR_SO" }, { "no_tick.so", "NO_TICK_SO" },
	{ "bad_rate.so", "BAD_RATE_SO" },
};

static void setup(void)
{
	char path[PATH_MAX + 64];

	dt_mkdtemp(dir, sizeof(dir), 0755);
	for (size_t i = 0; i < sizeof(plugins) / sizeof(plugins[0]); i++) {
		dt_fmt(path, sizeof(path), "%s/%s", dir, plugins[i].file);
		dt_copy(dt_env(plugins[i].env), path, 0755);
	}
}

static void teardown(void)
{
	dt_rm_rf(dir);
}

/* dir/name, in a static buffer per call site slot. */
static const char *in_dir(const char *name)
{
	static char bufs[4][PATH_MAX + 64];
	static unsigned next;
	char *b = bufs[next++ % 4];

	dt_fmt(b, sizeof(bufs[0]), "%s/%s", dir, name);
	return b;
}

/*
 * plugin_check_file (if `file_rule`) and plugin_load must both refuse path for `owner` with
 * want_r (or any -errno if 0), a reason containing every one of `needles` (NULL-terminated),
 * and leave *ret alone.
 */
static void expect_refused(const char *path, uid_t owner, bool file_rule, int want_r,
			   const char *const *needles)
{
	struct plugin *sentinel = (struct plugin *)&sentinel, *p = sentinel;
	char why[512];
	int r;

	if (file_rule) {
		why[0] = '\0';
		r = plugin_check_file(path, owner, why, sizeof(why));
		ck_assert_msg(r < 0, "plugin_check_file(%s) accepted it", path);
		if (want_r) {
			ck_assert_msg(r == want_r, "plugin_check_file(%s) = %d (%s), want %d", path,
				      r, why, want_r);
		}
		for (size_t i = 0; needles[i]; i++) {
			ck_assert_msg(strstr(why, needles[i]), "check %s: '%s' lacks '%s'", path,
				      why, needles[i]);
		}
	}
	why[0] = '\0';
	r = plugin_load(path, owner, &p, why, sizeof(why));
	ck_assert_msg(r < 0, "plugin_load(%s) accepted it (name %s)", path,
		      r == 0 ? p->ops.name : "?");
	if (want_r) {
		ck_assert_msg(r == want_r, "plugin_load(%s) = %d (%s), want %d", path, r, why,
			      want_r);
	}
	for (size_t i = 0; needles[i]; i++) {
		ck_assert_msg(strstr(why, needles[i]), "load %s: '%s' lacks '%s'", path, why,
			      needles[i]);
	}
	ck_assert_msg(p == sentinel, "*ret written although plugin_load failed");
}

static struct plugin *expect_loaded(const char *path, uid_t owner)
{
	struct plugin *p = NULL;
	char why[512] = "";
	int r = plugin_check_file(path, owner, why, sizeof(why));

	ck_assert_msg(r == 0, "plugin_check_file(%s) = %d: %s", path, r, why);
	r = plugin_load(path, owner, &p, why, sizeof(why));
	ck_assert_msg(r == 0, "plugin_load(%s) = %d: %s", path, r, why);
	ck_assert_ptr_nonnull(p);
	return p;
}

/* ---- a fake host, to call the loaded callbacks ------------------------------------------ */

static const char *fake_param(const struct horus_host *host, const char *key)
{
	(void)host;
	(void)key;
	return NULL;
}

static void fake_vlog(const struct horus_host *host, int level, const char *fmt, va_list ap)
{
	(void)host;
	(void)level;
	(void)fmt;
	(void)ap;
}

static void fake_log(const struct horus_host *host, int level, const char *fmt, ...)
{
	(void)host;
	(void)level;
	(void)fmt;
}

static int fake_pub_open(const struct horus_host *host, const char *topic, uint32_t max_msg,
			 struct horus_pub **ret)
{
	(void)host;
	(void)topic;
	(void)max_msg;
	(void)ret;
	return -ENOTSUP;
}

static const struct horus_host fake_host = {
	.abi_major = HORUS_NODE_ABI_MAJOR,
	.abi_minor = HORUS_NODE_ABI_MINOR,
	.struct_size = sizeof(struct horus_host),
	.node_name = "fake",
	.ns = "none",
	.log = fake_log,
	.vlog = fake_vlog,
	.param = fake_param,
	.pub_open = fake_pub_open,
};

/* ---- a good plugin ----------------------------------------------------------------------- */

START_TEST(good_plugin)
{
	struct plugin *p = expect_loaded(in_dir("testnode.so"), geteuid());
	void *ctx = NULL;

	ck_assert_str_eq(p->path, in_dir("testnode.so"));
	ck_assert_str_eq(p->name, "testnode");
	ck_assert_ptr_nonnull(p->dl);
	ck_assert_uint_eq(p->ops.abi_major, HORUS_NODE_ABI_MAJOR);
	ck_assert_uint_eq(p->ops.abi_minor, HORUS_NODE_ABI_MINOR);
	ck_assert_uint_eq(p->ops.struct_size, sizeof(struct horus_node_ops));
	ck_assert_str_eq(p->ops.name, "testnode");
	ck_assert(p->ops.default_rate_hz == 100.0);
	ck_assert_ptr_nonnull(p->ops.init);
	ck_assert_ptr_nonnull(p->ops.tick);
	ck_assert_ptr_nonnull(p->ops.fini);
	ck_assert_uint_eq(p->refs, 0);

	/* The callbacks are the plugin's own: one init/tick/fini round through a fake host. */
	ck_assert_int_eq(p->ops.init(&fake_host, &ctx), 0);
	ck_assert_ptr_nonnull(ctx);
	ck_assert_int_eq(p->ops.tick(ctx), 0);
	p->ops.fini(ctx);
	plugin_unload(p);
	plugin_unload(NULL);
}
END_TEST

/* A newer minor with fields appended: accepted, and only what the daemon knows is copied. */
START_TEST(newer_minor_plugin)
{
	struct plugin *p = expect_loaded(in_dir("future_minor.so"), geteuid());

	ck_assert_str_eq(p->ops.name, "future_minor");
	ck_assert_uint_eq(p->ops.abi_minor, HORUS_NODE_ABI_MINOR + 1);
	ck_assert_uint_gt(p->ops.struct_size, sizeof(struct horus_node_ops));
	ck_assert(p->ops.default_rate_hz == 25.0);
	plugin_unload(p);
}
END_TEST

/*
 * Regression (fixed; daemon/plugin.c plugin_load(): dlopen("/proc/self/fd/N")): glibc finds an already loaded
 * object by the name passed to dlopen. plugin_load() closes its fd after loading, so the next
 * plugin_load() gets the same fd number, the same "/proc/self/fd/N" name, and the handle of the
 * plugin loaded first: while one plugin stays loaded, every other plugin loads as a copy of it
 * (its descriptor and code), and a bad one (wrong ABI, no descriptor) is not even refused.
 */
START_TEST(several_plugins_loaded)
{
	static const char *const abi[] = { "ABI", NULL };
	struct plugin *a = expect_loaded(in_dir("testnode.so"), geteuid());
	struct plugin *b = expect_loaded(in_dir("future_minor.so"), geteuid());

	ck_assert_msg(strcmp(b->ops.name, "future_minor") == 0,
		      "future_minor.so loaded while testnode.so is loaded has the "
		      "descriptor of '%s'",
		      b->ops.name);
	ck_assert(b->ops.default_rate_hz == 25.0);
	ck_assert_msg(a->dl != b->dl, "two plugin files share one dlopen handle");
	expect_refused(in_dir("wrong_abi.so"), geteuid(), false, -EPROTO, abi);
	plugin_unload(b);
	plugin_unload(a);
}
END_TEST

/* ---- file rules -------------------------------------------------------------------------- */

START_TEST(refuse_symlink)
{
	static const char *const needles[] = { "refused", "symbolic link", NULL };
	char target[PATH_MAX + 64];

	ck_assert_int_eq(symlink(in_dir("testnode.so"), in_dir("link.so")), 0);
	expect_refused(in_dir("link.so"), geteuid(), true, 0, needles);
	/* A relative link, and one that leaves the directory. */
	ck_assert_int_eq(symlink("testnode.so", in_dir("rel.so")), 0);
	expect_refused(in_dir("rel.so"), geteuid(), true, 0, needles);
	dt_fmt(target, sizeof(target), "%s", dt_env("TESTNODE_SO"));
	ck_assert_int_eq(symlink(target, in_dir("out.so")), 0);
	expect_refused(in_dir("out.so"), geteuid(), true, 0, needles);
}
END_TEST

START_TEST(refuse_group_writable_file)
{
	static const char *const needles[] = { "refused", "the file",
					       "writable by group or others", "0775", NULL };

	ck_assert_int_eq(chmod(in_dir("testnode.so"), 0775), 0);
	expect_refused(in_dir("testnode.so"), geteuid(), true, 0, needles);
}
END_TEST

START_TEST(refuse_world_writable_file)
{
	static const char *const needles[] = { "refused", "the file",
					       "writable by group or others", "0757", NULL };

	ck_assert_int_eq(chmod(in_dir("testnode.so"), 0757), 0);
	expect_refused(in_dir("testnode.so"), geteuid(), true, 0, needles);
}
END_TEST

START_TEST(refuse_file_of_other_uid)
{
	static const char *const needles[] = { "refused", "the file", "owned by uid 65534", NULL };
	struct plugin *p;

	ck_assert_int_eq(chown(in_dir("testnode.so"), OTHER_UID, (gid_t)-1), 0);
	ck_assert_int_eq(chmod(in_dir("testnode.so"), 0755), 0);
	expect_refused(in_dir("testnode.so"), 0, true, 0, needles);
	/* ... unless that uid is the daemon's own user. */
	p = expect_loaded(in_dir("testnode.so"), OTHER_UID);
	ck_assert_str_eq(p->ops.name, "testnode");
	plugin_unload(p);
}
END_TEST

START_TEST(refuse_group_writable_dir)
{
	static const char *const needles[] = { "refused", "its directory",
					       "writable by group or others", "0775", NULL };

	ck_assert_int_eq(chmod(dir, 0775), 0);
	expect_refused(in_dir("testnode.so"), geteuid(), true, 0, needles);
}
END_TEST

START_TEST(refuse_world_writable_dir)
{
	static const char *const needles[] = { "refused", "its directory",
					       "writable by group or others", "0757", NULL };
	static const char *const sticky[] = { "refused", "its directory",
					      "writable by group or others", "1777", NULL };

	ck_assert_int_eq(chmod(dir, 0757), 0);
	expect_refused(in_dir("testnode.so"), geteuid(), true, 0, needles);
	/* Like /tmp: the sticky bit does not make it safe. */
	ck_assert_int_eq(chmod(dir, 01777), 0);
	expect_refused(in_dir("testnode.so"), geteuid(), true, 0, sticky);
}
END_TEST

START_TEST(refuse_dir_of_other_uid)
{
	static const char *const needles[] = { "refused", "its directory", "owned by uid 65534",
					       NULL };
	struct plugin *p;

	ck_assert_int_eq(chown(dir, OTHER_UID, (gid_t)-1), 0);
	expect_refused(in_dir("testnode.so"), 0, true, 0, needles);
	/* The daemon's own user may own the directory (and root the file). */
	p = expect_loaded(in_dir("testnode.so"), OTHER_UID);
	plugin_unload(p);
}
END_TEST

START_TEST(refuse_not_regular)
{
	static const char *const needles[] = { "refused", "not a regular file", NULL };

	ck_assert_int_eq(mkdir(in_dir("dir.so"), 0755), 0);
	expect_refused(in_dir("dir.so"), geteuid(), true, 0, needles);
	/* Opening must not block on a FIFO without a writer (the tcase timeout catches that). */
	ck_assert_int_eq(mkfifo(in_dir("fifo.so"), 0755), 0);
	ck_assert_int_eq(chmod(in_dir("fifo.so"), 0755), 0);
	expect_refused(in_dir("fifo.so"), geteuid(), true, 0, needles);
}
END_TEST

START_TEST(refuse_missing)
{
	static const char *const needles[] = { "cannot open", NULL };

	expect_refused(in_dir("absent.so"), geteuid(), true, -ENOENT, needles);
}
END_TEST

/* ---- descriptor rules -------------------------------------------------------------------- */

START_TEST(refuse_no_descriptor)
{
	static const char *const needles[] = { "refused", HORUS_NODE_ENTRY_SYMBOL, NULL };
	char why[512] = "";

	/* The file itself is fine. */
	ck_assert_int_eq(plugin_check_file(in_dir("no_entry.so"), geteuid(), why, sizeof(why)), 0);
	expect_refused(in_dir("no_entry.so"), geteuid(), false, 0, needles);
}
END_TEST

START_TEST(refuse_wrong_abi)
{
	char theirs[32], ours[32];
	const char *const needles[] = { "refused", theirs, ours, NULL };
	char why[512] = "";

	dt_fmt(theirs, sizeof(theirs), "ABI %u.0", HORUS_NODE_ABI_MAJOR + 1);
	dt_fmt(ours, sizeof(ours), "ABI %u", HORUS_NODE_ABI_MAJOR);
	ck_assert_int_eq(plugin_check_file(in_dir("wrong_abi.so"), geteuid(), why, sizeof(why)),
			 0);
	expect_refused(in_dir("wrong_abi.so"), geteuid(), false, -EPROTO, needles);
}
END_TEST

START_TEST(refuse_small_struct)
{
	static const char *const needles[] = { "refused", "descriptor size", "too small", NULL };

	expect_refused(in_dir("small_struct.so"), geteuid(), false, -EPROTO, needles);
}
END_TEST

START_TEST(refuse_missing_callback)
{
	static const char *const needles[] = { "refused", "tick", NULL };

	expect_refused(in_dir("no_tick.so"), geteuid(), false, -EPROTO, needles);
}
END_TEST

START_TEST(refuse_bad_default_rate)
{
	static const char *const needles[] = { "refused", "default_rate_hz", NULL };

	expect_refused(in_dir("bad_rate.so"), geteuid(), false, -EPROTO, needles);
}
END_TEST

/* ---- plugin_changed ---------------------------------------------------------------------- */

START_TEST(changed_replaced)
{
	struct plugin *p = expect_loaded(in_dir("testnode.so"), geteuid());

	ck_assert(!plugin_changed(p));
	ck_assert(!plugin_changed(p)); /* asking does not change the answer */
	/* The usual way to install a new build: a new file renamed over the old one. */
	dt_copy(dt_env("TESTNODE_SO"), in_dir("new.tmp"), 0755);
	ck_assert_int_eq(rename(in_dir("new.tmp"), in_dir("testnode.so")), 0);
	ck_assert(plugin_changed(p));
	plugin_unload(p);
}
END_TEST

START_TEST(changed_rewritten)
{
	struct plugin *p = expect_loaded(in_dir("testnode.so"), geteuid());
	struct timespec times[2] = { { 0, UTIME_OMIT }, { 0, 0 } };
	struct stat st;
	int fd;

	/* Same inode and size, new modification time. */
	ck_assert_int_eq(stat(in_dir("testnode.so"), &st), 0);
	times[1].tv_sec = st.st_mtim.tv_sec - 3600;
	ck_assert_int_eq(utimensat(AT_FDCWD, in_dir("testnode.so"), times, 0), 0);
	ck_assert(plugin_changed(p));
	plugin_unload(p);

	/* Same inode, grown. */
	p = expect_loaded(in_dir("testnode.so"), geteuid());
	ck_assert(!plugin_changed(p));
	fd = open(in_dir("testnode.so"), O_WRONLY | O_APPEND | O_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, "\0\0\0\0", 4), 4);
	close(fd);
	ck_assert(plugin_changed(p));
	plugin_unload(p);
}
END_TEST

START_TEST(changed_removed)
{
	struct plugin *p = expect_loaded(in_dir("testnode.so"), geteuid());

	ck_assert(!plugin_changed(p));
	ck_assert_int_eq(unlink(in_dir("testnode.so")), 0);
	ck_assert(plugin_changed(p));
	plugin_unload(p);
}
END_TEST

static TCase *tc(Suite *s, const char *name)
{
	return dt_tcase(s, name, 20, setup, teardown);
}

static Suite *plugin_suite(void)
{
	Suite *s = suite_create("plugin");
	TCase *t;

	t = tc(s, "good plugin loads");
	tcase_add_test(t, good_plugin);
	tcase_add_test(t, newer_minor_plugin);
	t = tc(s, "several plugins loaded at once");
	tcase_add_test(t, several_plugins_loaded);

	t = tc(s, "rule: symlink");
	tcase_add_test(t, refuse_symlink);
	t = tc(s, "rule: group-writable file");
	tcase_add_test(t, refuse_group_writable_file);
	t = tc(s, "rule: world-writable file");
	tcase_add_test(t, refuse_world_writable_file);
	t = tc(s, "rule: group-writable directory");
	tcase_add_test(t, refuse_group_writable_dir);
	t = tc(s, "rule: world-writable directory");
	tcase_add_test(t, refuse_world_writable_dir);
	if (geteuid() == 0) {
		t = tc(s, "rule: file owned by another uid");
		tcase_add_test(t, refuse_file_of_other_uid);
		t = tc(s, "rule: directory owned by another uid");
		tcase_add_test(t, refuse_dir_of_other_uid);
	} else {
		fprintf(stderr, "SKIP plugin: 'file owned by another uid' and 'directory owned by "
				"another uid' need root to chown to %d\n",
			OTHER_UID);
	}
	t = tc(s, "rule: not a regular file");
	tcase_add_test(t, refuse_not_regular);
	t = tc(s, "rule: missing file");
	tcase_add_test(t, refuse_missing);

	t = tc(s, "descriptor: missing");
	tcase_add_test(t, refuse_no_descriptor);
	t = tc(s, "descriptor: wrong ABI major");
	tcase_add_test(t, refuse_wrong_abi);
	t = tc(s, "descriptor: struct_size too small");
	tcase_add_test(t, refuse_small_struct);
	t = tc(s, "descriptor: missing callback or bad rate");
	tcase_add_test(t, refuse_missing_callback);
	tcase_add_test(t, refuse_bad_default_rate);

	t = tc(s, "plugin_changed");
	tcase_add_test(t, changed_replaced);
	tcase_add_test(t, changed_rewritten);
	tcase_add_test(t, changed_removed);
	return s;
}

int main(void)
{
	return dt_run(plugin_suite());
}
