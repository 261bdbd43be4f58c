/* SPDX-License-Identifier: MIT */
/* Namespaces, and attaching a handle to a topic's segment. */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "libhorus.h"

HORUS_EXPORT int horus_namespace(const char *ns, char buf[HORUS_NAMESPACE_MAX + 1])
{
	if (!buf) {
		return -EINVAL;
	}
	if (!ns) {
		ns = getenv("HORUS_NAMESPACE");
		if (ns && !*ns) {
			ns = NULL; /* an empty variable is as good as none */
		}
	}
	if (!ns) {
		ns = "default";
	}
	if (!shm_valid_namespace(ns)) {
		return -EINVAL;
	}
	snprintf(buf, HORUS_NAMESPACE_MAX + 1, "%s", ns);
	return 0;
}

HORUS_EXPORT int horus_topic_check(const char *topic)
{
	return shm_valid_topic(topic) ? 0 : -EINVAL;
}

static int resolve_geometry(const struct horus_topic_opts *opts, struct shm_geometry *geo)
{
	geo->capacity = opts && opts->capacity ? opts->capacity : HORUS_DEFAULT_CAPACITY;
	geo->max_msg = opts && opts->max_msg ? opts->max_msg : HORUS_DEFAULT_MAX_MSG;
	if (geo->capacity < 2 || geo->capacity > HORUS_CAPACITY_MAX ||
	    (geo->capacity & (geo->capacity - 1)) != 0 || geo->max_msg > HORUS_MAX_MSG_MAX) {
		return -EINVAL;
	}
	return 0;
}

int segment_name(const char *ns, uint32_t kind, const char *topic, char name[SHM_NAME_MAX])
{
	char nsbuf[HORUS_NAMESPACE_MAX + 1];
	int r;

	if (!topic) {
		return -EINVAL;
	}
	r = horus_namespace(ns, nsbuf);
	if (r < 0) {
		return r;
	}
	return shm_make_name(name, SHM_NAME_MAX, nsbuf, kind, topic);
}

int attach_segment(struct shm_seg *seg, const char *ns, uint32_t kind, const char *topic,
		   const struct horus_topic_opts *opts, bool create, uint32_t role)
{
	char name[SHM_NAME_MAX];
	struct shm_geometry geo;
	int r;

	r = segment_name(ns, kind, topic, name);
	if (r < 0) {
		return r;
	}
	r = resolve_geometry(opts, &geo);
	if (r < 0) {
		return r;
	}
	/* Up to ~100 ms of retries: enough to outlast any cleaner, short enough for a caller. */
	for (int attempt = 0; attempt < 100; attempt++) {
		r = shm_seg_open(seg, name, kind, topic, create ? &geo : NULL);
		if (r < 0) {
			return r;
		}
		if (opts && opts->max_msg > seg->max_msg) {
			shm_seg_close(seg);
			return -EMSGSIZE;
		}
		r = shm_part_claim(seg, role);
		if (r == -EUSERS && attempt < 99) {
			/* A cleaner's lock over the whole header also looks like "all taken" for
			 * the moment it holds it: look again shortly. */
			shm_seg_close(seg);
			nanosleep(&(struct timespec){ .tv_nsec = 1000 * 1000 }, NULL);
			continue;
		}
		if (r < 0) {
			shm_seg_close(seg);
			return r;
		}
		/* Holding a participant lock, no cleaner can remove the segment from now on; but
		 * one may have done so just before. Then start over with a fresh segment. */
		if (shm_seg_linked(seg)) {
			return 0;
		}
		shm_part_release(seg);
		shm_seg_close(seg);
	}
	return -ESTALE;
}

void detach_segment(struct shm_seg *seg)
{
	shm_part_release(seg);
	shm_seg_close(seg);
}
