/* SPDX-License-Identifier: MIT */
/*
 * Hub publisher handles. Safe from any thread: the first thread that publishes may become the
 * topic's sole publisher (fast path, shm/hub.c); any other takes that away before writing.
 */

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "hub.h"
#include "libhorus.h"

struct horus_pub {
	struct shm_seg seg;
	struct hub_writer writer;
};

HORUS_EXPORT int horus_pub_open(const char *ns, const char *topic,
				const struct horus_topic_opts *opts, struct horus_pub **ret)
{
	struct horus_pub *pub;
	int r;

	if (!topic || !ret) {
		return -EINVAL;
	}
	pub = calloc(1, sizeof(*pub));
	if (!pub) {
		return -ENOMEM;
	}
	r = attach_segment(&pub->seg, ns, HORUS_KIND_HUB, topic, opts, true, SHM_ROLE_PUB);
	if (r < 0) {
		free(pub);
		return r;
	}
	*ret = pub;
	return 0;
}

HORUS_EXPORT int horus_pub_publish(struct horus_pub *pub, const void *data, size_t len)
{
	struct hub_loan loan;
	int r;

	if (!pub || (!data && len)) {
		return -EINVAL;
	}
	if (len > pub->seg.max_msg) {
		return -EMSGSIZE;
	}
	r = hub_writer_claim(&pub->seg, &pub->writer, (uint32_t)len, false, &loan);
	if (r < 0) {
		return r;
	}
	if (len) {
		memcpy(shm_slot_data(loan.slot), data, len);
	}
	hub_writer_commit(&pub->seg, &pub->writer, &loan);
	return 0;
}

HORUS_EXPORT int horus_pub_loan(struct horus_pub *pub, size_t len, void **ret_buf)
{
	struct hub_loan loan;
	int r;

	if (!pub || !ret_buf) {
		return -EINVAL;
	}
	if (len > pub->seg.max_msg) {
		return -EMSGSIZE;
	}
	r = hub_writer_claim(&pub->seg, &pub->writer, (uint32_t)len, true, &loan);
	if (r < 0) {
		return r;
	}
	*ret_buf = shm_slot_data(loan.slot);
	return 0;
}

HORUS_EXPORT int horus_pub_commit(struct horus_pub *pub, void *buf)
{
	struct hub_loan loan;
	int r;

	if (!pub || !buf) {
		return -EINVAL;
	}
	r = hub_loan_find(&pub->seg, (uint32_t)pub->seg.part, buf, &loan);
	if (r < 0) {
		return r;
	}
	hub_writer_commit(&pub->seg, &pub->writer, &loan);
	return 0;
}

HORUS_EXPORT int horus_pub_discard(struct horus_pub *pub, void *buf)
{
	struct hub_loan loan;
	int r;

	if (!pub || !buf) {
		return -EINVAL;
	}
	r = hub_loan_find(&pub->seg, (uint32_t)pub->seg.part, buf, &loan);
	if (r < 0) {
		return r;
	}
	hub_writer_discard(&pub->seg, &pub->writer, &loan);
	return 0;
}

HORUS_EXPORT size_t horus_pub_max_msg(const struct horus_pub *pub)
{
	return pub ? pub->seg.max_msg : 0;
}

HORUS_EXPORT void horus_pub_close(struct horus_pub *pub)
{
	if (!pub) {
		return;
	}
	detach_segment(&pub->seg); /* open loans become holes */
	free(pub);
}
