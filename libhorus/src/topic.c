/* SPDX-License-Identifier: MIT */
/* Introspection of topics (horusctl topic list/info, hz, bw) and removal of stale segments. */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "libhorus.h"

static void fill_info(struct shm_seg *seg, struct horus_topic_info *info)
{
	struct shm_header *h = seg->hdr;

	memset(info, 0, sizeof(*info));
	/* The name was validated NUL-terminated at open; copy within bounds all the same. */
	snprintf(info->name, sizeof(info->name), "%.*s", HORUS_TOPIC_MAX, h->name);
	info->kind = seg->kind;
	info->capacity = seg->capacity;
	info->max_msg = seg->max_msg;
	info->creator_pid = h->creator_pid;
	/* First: what dead participants left (their uncommitted counts, sleeper bits) is taken
	 * back before the counters are read, so one look shows the result. */
	shm_reap_all(seg);
	info->messages = atomic_load_explicit(&h->messages, memory_order_relaxed);
	info->bytes = atomic_load_explicit(&h->bytes, memory_order_relaxed);
	if (seg->kind == HORUS_KIND_HUB) {
		/* Counted from the participants themselves: the header's counters are hints that a
		 * crash between two stores can leave one off. */
		info->publishers = shm_count_live(seg, SHM_ROLE_PUB);
		info->subscribers = shm_count_live(seg, SHM_ROLE_SUB);
		info->lost = atomic_load_explicit(&h->lost, memory_order_relaxed);
		info->holes = atomic_load_explicit(&h->holes, memory_order_relaxed);
		info->sequences = atomic_load_explicit(&h->head, memory_order_relaxed);
	} else {
		uint64_t head = atomic_load_explicit(&h->head, memory_order_relaxed);
		uint64_t tail = atomic_load_explicit(&h->tail, memory_order_relaxed);

		info->publishers = shm_lock_held(seg->fd, SHM_LOCK_PRODUCER, 1);
		info->subscribers = shm_lock_held(seg->fd, SHM_LOCK_CONSUMER, 1);
		info->pending = head >= tail ? head - tail : 0;
	}
}

HORUS_EXPORT int horus_topic_info(const char *ns, const char *topic, enum horus_kind kind,
				  struct horus_topic_info *ret)
{
	char name[SHM_NAME_MAX];
	struct shm_seg seg;
	int r;

	if (!ret) {
		return -EINVAL;
	}
	r = segment_name(ns, kind, topic, name);
	if (r < 0) {
		return r;
	}
	r = shm_seg_open(&seg, name, kind, topic, NULL);
	if (r < 0) {
		return r;
	}
	fill_info(&seg, ret);
	shm_seg_close(&seg);
	return 0;
}

HORUS_EXPORT int horus_topic_remove(const char *ns, const char *topic, enum horus_kind kind)
{
	char name[SHM_NAME_MAX];
	int r = segment_name(ns, kind, topic, name);

	if (r < 0) {
		return r;
	}
	return shm_unlink(name) < 0 ? -errno : 0;
}

/* Opens /dev/shm entry `file` (a bare name) read-write; -errno. */
static int open_entry(const char *file)
{
	char name[SHM_NAME_MAX + 1];
	int fd;

	if (snprintf(name, sizeof(name), "/%s", file) >= (int)sizeof(name)) {
		return -ENAMETOOLONG;
	}
	fd = shm_open(name, O_RDWR | O_CLOEXEC, 0);
	return fd < 0 ? -errno : fd;
}

/* Calls fn for every /dev/shm entry of namespace ns (by prefix). */
static int walk_namespace(const char *ns, int (*fn)(const char *file, void *userdata),
			  void *userdata)
{
	char prefix[sizeof(SHM_PREFIX) + HORUS_NAMESPACE_MAX + 1];
	struct dirent *de;
	DIR *dir;
	int n = 0, r = 0;

	snprintf(prefix, sizeof(prefix), SHM_PREFIX "%s.", ns);
	dir = opendir(SHM_DIR);
	if (!dir) {
		return -errno;
	}
	while ((de = readdir(dir))) {
		if (strncmp(de->d_name, prefix, strlen(prefix)) != 0) {
			continue;
		}
		r = fn(de->d_name, userdata);
		if (r < 0) {
			break;
		}
		n += r;
	}
	closedir(dir);
	return r < 0 ? r : n;
}

struct list_ctx {
	const char *ns;
	int (*cb)(const struct horus_topic_info *info, void *userdata);
	void *userdata;
	bool stop;
};

static int list_one(const char *file, void *userdata)
{
	struct list_ctx *ctx = userdata;
	struct horus_topic_info info;
	char topic[HORUS_TOPIC_MAX + 1];
	struct shm_seg seg = {.fd = -1, .part = -1};
	uint32_t kind;
	int fd;

	if (ctx->stop) {
		return 0;
	}
	memset(&info, 0, sizeof(info));
	fd = open_entry(file);
	if (fd >= 0 && shm_parse_name(file, ctx->ns, &kind, topic, sizeof(topic)) &&
	    shm_seg_attach_fd(&seg, fd, kind) == 0) {
		fill_info(&seg, &info);
		shm_seg_close(&seg); /* closes fd */
	} else {
		/* Unreadable: report it by file name so that it can be seen and cleaned. */
		if (fd >= 0) {
			close(fd);
		}
		snprintf(info.name, sizeof(info.name), "%s", file);
	}
	if (ctx->cb(&info, ctx->userdata) != 0) {
		ctx->stop = true;
	}
	return 1;
}

HORUS_EXPORT int horus_topic_list(const char *ns,
				  int (*cb)(const struct horus_topic_info *info, void *userdata),
				  void *userdata)
{
	char nsbuf[HORUS_NAMESPACE_MAX + 1];
	struct list_ctx ctx = {.cb = cb, .userdata = userdata};
	int r;

	if (!cb) {
		return -EINVAL;
	}
	r = horus_namespace(ns, nsbuf);
	if (r < 0) {
		return r;
	}
	ctx.ns = nsbuf;
	return walk_namespace(nsbuf, list_one, &ctx);
}

static int clean_one(const char *file, void *userdata)
{
	char name[SHM_NAME_MAX + 1];
	int fd = open_entry(file), removed;

	(void)userdata;
	if (fd < 0) {
		return 0; /* gone meanwhile, or not something we can open (a directory): skip */
	}
	snprintf(name, sizeof(name), "/%s", file);
	removed = shm_remove_unheld(fd, name);
	close(fd);
	return removed;
}

HORUS_EXPORT int horus_clean(const char *ns)
{
	char nsbuf[HORUS_NAMESPACE_MAX + 1];
	int r = horus_namespace(ns, nsbuf);

	if (r < 0) {
		return r;
	}
	return walk_namespace(nsbuf, clean_one, NULL);
}
