/* SPDX-License-Identifier: MIT */
/* Reading numbers from a hub topic in a test. See hd-topic.h. */

#include <errno.h>
#include <string.h>

#include <horus/pubsub.h>

#include "hd-topic.h"

void hd_topic_open(struct hd *h, struct hd_topic *t, const char *topic)
{
	struct horus_topic_opts opts = {.capacity = 1024, .max_msg = sizeof(uint64_t)};
	int r;

	memset(t, 0, sizeof(*t));
	r = horus_sub_open(h->ns, topic, &opts, 0, &t->sub);
	HD_CHECK(h, r == 0, "horus_sub_open %s: %s", topic, strerror(-r));
}

bool hd_topic_read(struct hd *h, struct hd_topic *t, uint64_t *ret)
{
	struct horus_msg_info mi;
	int r = horus_sub_read(t->sub, ret, sizeof(*ret), &mi);

	if (r == -EAGAIN) {
		return false;
	}
	HD_CHECK(h, r == (int)sizeof(*ret), "horus_sub_read: %d", r);
	t->lost += mi.lost;
	return true;
}

void hd_topic_close(struct hd_topic *t)
{
	horus_sub_close(t->sub);
	t->sub = NULL;
}
