/* SPDX-License-Identifier: MIT */
#ifndef HORUS_TESTS_HD_TOPIC_H
#define HORUS_TESTS_HD_TOPIC_H

/*
 * Reading the 8-byte numbers a node publishes on a hub topic (testnode's io_topic and
 * tick_time_topic), from the test process. Open before the daemon starts: the subscriber holds
 * the segment, so the node's first message is not missed.
 */

#include <stdbool.h>
#include <stdint.h>

#include "harness.h"

struct horus_sub;

struct hd_topic {
	struct horus_sub *sub;
	uint64_t lost; /* messages overwritten before they were read, so far */
};

void hd_topic_open(struct hd *h, struct hd_topic *t, const char *topic);
/* The next value waiting; false when none is. Fails the test on a bad message. */
bool hd_topic_read(struct hd *h, struct hd_topic *t, uint64_t *ret);
void hd_topic_close(struct hd_topic *t);

#endif /* HORUS_TESTS_HD_TOPIC_H */
