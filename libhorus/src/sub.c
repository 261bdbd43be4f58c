/* SPDX-License-Identifier: MIT */
/* Hub subscriber handles: one thread at a time. */

#include <errno.h>
#include <stdlib.h>

#include "hub.h"
#include "libhorus.h"

struct horus_sub {
	struct shm_seg seg;
	struct hub_reader rd;
};

HORUS_EXPORT int horus_sub_open(const char *ns, const char *topic,
				const struct horus_topic_opts *opts, uint32_t last_n,
				struct horus_sub **ret)
{
	struct horus_sub *sub;
	int r;

	if (!topic || !ret) {
		return -EINVAL;
	}
	sub = calloc(1, sizeof(*sub));
	if (!sub) {
		return -ENOMEM;
	}
	r = attach_segment(&sub->seg, ns, HORUS_KIND_HUB, topic, opts, true, SHM_ROLE_SUB);
	if (r < 0) {
		free(sub);
		return r;
	}
	hub_reader_init(&sub->seg, &sub->rd, last_n);
	*ret = sub;
	return 0;
}

HORUS_EXPORT int horus_sub_read(struct horus_sub *sub, void *buf, size_t cap,
				struct horus_msg_info *info)
{
	uint64_t seq, lost;
	int r;

	if (!sub || (!buf && cap)) {
		return -EINVAL;
	}
	r = hub_read(&sub->seg, &sub->rd, buf, cap, &seq, &lost);
	if (r >= 0 && info) {
		info->seq = seq;
		info->lost = lost;
	}
	return r;
}

HORUS_EXPORT int horus_sub_next_len(struct horus_sub *sub)
{
	if (!sub) {
		return -EINVAL;
	}
	return hub_next_len(&sub->seg, &sub->rd);
}

HORUS_EXPORT int horus_sub_take(struct horus_sub *sub, struct horus_sample *ret)
{
	const void *data;
	size_t len;
	uint64_t seq, stamp, lost;
	int r;

	if (!sub || !ret) {
		return -EINVAL;
	}
	r = hub_take(&sub->seg, &sub->rd, &data, &len, &seq, &stamp, &lost);
	if (r < 0) {
		return r;
	}
	ret->data = data;
	ret->len = len;
	ret->seq = seq;
	ret->lost = lost;
	ret->stamp_ = stamp;
	return 0;
}

HORUS_EXPORT int horus_sub_check(struct horus_sub *sub, const struct horus_sample *sample)
{
	if (!sub || !sample) {
		return -EINVAL;
	}
	return hub_check(&sub->seg, &sub->rd, sample->seq, sample->stamp_);
}

HORUS_EXPORT int horus_sub_wait(struct horus_sub *sub, int64_t timeout_ns)
{
	if (!sub) {
		return -EINVAL;
	}
	return hub_wait(&sub->seg, &sub->rd, timeout_ns);
}

HORUS_EXPORT uint64_t horus_sub_lost(const struct horus_sub *sub)
{
	return sub ? sub->rd.lost : 0;
}

HORUS_EXPORT uint64_t horus_sub_received(const struct horus_sub *sub)
{
	return sub ? sub->rd.received : 0;
}

HORUS_EXPORT void horus_sub_close(struct horus_sub *sub)
{
	if (!sub) {
		return;
	}
	detach_segment(&sub->seg);
	free(sub);
}
