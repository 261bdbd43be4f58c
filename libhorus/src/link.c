/* SPDX-License-Identifier: MIT */
/* Link end handles: one thread at a time. */

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>

#include "libhorus.h"
#include "link_ring.h"

struct horus_link {
	struct shm_seg seg;
	struct link_end end;
	uint32_t role;
	bool loaned;
};

static off_t role_lock(uint32_t role)
{
	return role == HORUS_LINK_PRODUCER ? SHM_LOCK_PRODUCER : SHM_LOCK_CONSUMER;
}

HORUS_EXPORT int horus_link_open(const char *ns, const char *name, enum horus_link_role role,
				 const struct horus_topic_opts *opts, struct horus_link **ret)
{
	struct horus_link *link;
	int r;

	if (!name || !ret || (role != HORUS_LINK_PRODUCER && role != HORUS_LINK_CONSUMER)) {
		return -EINVAL;
	}
	link = calloc(1, sizeof(*link));
	if (!link) {
		return -ENOMEM;
	}
	link->role = role;
	r = attach_segment(&link->seg, ns, HORUS_KIND_LINK, name, opts, true,
			   role == HORUS_LINK_PRODUCER ? SHM_ROLE_PRODUCER : SHM_ROLE_CONSUMER);
	if (r < 0) {
		free(link);
		return r;
	}
	/* One live producer and one live consumer: the role lock is held for the handle's life
	 * and dropped by the kernel if the process dies. */
	r = shm_lock_try(link->seg.fd, role_lock(role), 1);
	if (r < 0) {
		r = r == -EAGAIN ? -EBUSY : r;
		goto fail;
	}
	r = role == HORUS_LINK_PRODUCER ? link_producer_init(&link->seg, &link->end)
					: link_consumer_init(&link->seg, &link->end);
	if (r < 0) {
		goto fail;
	}
	*ret = link;
	return 0;
fail:
	detach_segment(&link->seg);
	free(link);
	return r;
}

HORUS_EXPORT int horus_link_send(struct horus_link *link, const void *data, size_t len)
{
	if (!link || link->role != HORUS_LINK_PRODUCER || (!data && len)) {
		return -EINVAL;
	}
	link->loaned = false;
	return link_send(&link->seg, &link->end, data, len);
}

HORUS_EXPORT int horus_link_loan(struct horus_link *link, void **ret_buf)
{
	int r;

	if (!link || link->role != HORUS_LINK_PRODUCER || !ret_buf) {
		return -EINVAL;
	}
	r = link_loan(&link->seg, &link->end, ret_buf);
	link->loaned = r == 0;
	return r;
}

HORUS_EXPORT int horus_link_commit(struct horus_link *link, size_t len)
{
	int r;

	if (!link || link->role != HORUS_LINK_PRODUCER || !link->loaned) {
		return -EINVAL;
	}
	r = link_commit(&link->seg, &link->end, len);
	if (r == 0) {
		link->loaned = false;
	}
	return r;
}

HORUS_EXPORT int horus_link_recv(struct horus_link *link, void *buf, size_t cap)
{
	if (!link || link->role != HORUS_LINK_CONSUMER || (!buf && cap)) {
		return -EINVAL;
	}
	return link_recv(&link->seg, &link->end, buf, cap);
}

HORUS_EXPORT int horus_link_wait(struct horus_link *link, int64_t timeout_ns)
{
	if (!link) {
		return -EINVAL;
	}
	return link->role == HORUS_LINK_PRODUCER
		       ? link_wait_space(&link->seg, &link->end, timeout_ns)
		       : link_wait_data(&link->seg, &link->end, timeout_ns);
}

HORUS_EXPORT size_t horus_link_max_msg(const struct horus_link *link)
{
	return link ? link->seg.max_msg : 0;
}

HORUS_EXPORT void horus_link_close(struct horus_link *link)
{
	if (!link) {
		return;
	}
	detach_segment(&link->seg); /* closing the fd drops the role lock too */
	free(link);
}
