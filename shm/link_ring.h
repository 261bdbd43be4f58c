/* SPDX-License-Identifier: MIT */
#ifndef HORUS_SHM_LINK_RING_H
#define HORUS_SHM_LINK_RING_H

/*
 * Link ring: one producer, one consumer, FIFO, no loss.
 *
 * The producer writes slot (seq % capacity) and publishes it by storing its stamp
 * (seq + 1) << 8; the consumer polls that stamp, copies, and advances `tail`. Each side keeps a
 * private copy of the other's index and reads the shared one only when the copy says full or
 * empty, so in steady state the two cores share only the slot lines.
 */

#include <stdint.h>

#include "segment.h"

struct link_end {
	uint64_t pos;   /* producer: next seq to write; consumer: next seq to read */
	uint64_t other; /* producer: cached tail */
};

/* Sets the end's position from the segment. -EPROTO if the indices are inconsistent. */
int link_producer_init(struct shm_seg *seg, struct link_end *end);
int link_consumer_init(struct shm_seg *seg, struct link_end *end);

int link_send(struct shm_seg *seg, struct link_end *end, const void *data, size_t len);
/* Zero-copy: the payload area of the next slot, or -EAGAIN when full. */
int link_loan(struct shm_seg *seg, struct link_end *end, void **ret_buf);
int link_commit(struct shm_seg *seg, struct link_end *end, size_t len);

int link_recv(struct shm_seg *seg, struct link_end *end, void *buf, size_t cap);

int link_wait_space(struct shm_seg *seg, struct link_end *end, int64_t timeout_ns);
int link_wait_data(struct shm_seg *seg, struct link_end *end, int64_t timeout_ns);

#endif /* HORUS_SHM_LINK_RING_H */
