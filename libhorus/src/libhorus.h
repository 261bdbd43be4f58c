/* SPDX-License-Identifier: MIT */
#ifndef HORUS_LIBHORUS_LIBHORUS_H
#define HORUS_LIBHORUS_LIBHORUS_H

/* Private to libhorus: what its source files share. */

#include <horus/pubsub.h>

#include "segment.h"

/* The library is built with hidden visibility; only these definitions are exported. */
#define HORUS_EXPORT __attribute__((visibility("default")))

/* The /dev/shm name of a topic: namespace resolved and names checked. -EINVAL, ... */
int segment_name(const char *ns, uint32_t kind, const char *topic, char name[SHM_NAME_MAX]);

/*
 * Opens (creating with opts when create is set) the segment of `topic` and claims a
 * participant slot for `role`. Retries if a cleaner removed the segment in between.
 */
int attach_segment(struct shm_seg *seg, const char *ns, uint32_t kind, const char *topic,
		   const struct horus_topic_opts *opts, bool create, uint32_t role);
void detach_segment(struct shm_seg *seg);

#endif /* HORUS_LIBHORUS_LIBHORUS_H */
