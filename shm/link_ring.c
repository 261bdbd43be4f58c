/* SPDX-License-Identifier: MIT */
/* Link ring operations: single-producer single-consumer FIFO. See link.h. */

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "link_ring.h"

static uint64_t committed(uint64_t seq)
{
	return stamp_make(seq, 0, 0);
}

/*
 * Are head and tail, read from the segment, within a ring of each other? head may trail tail
 * by the message of a producer that died between publishing a slot and advancing head.
 */
static bool indices_sane(const struct shm_seg *seg, uint64_t head, uint64_t tail)
{
	return head >= tail ? head - tail <= seg->capacity : tail - head <= seg->capacity;
}

int link_producer_init(struct shm_seg *seg, struct link_end *end)
{
	struct shm_header *h = seg->hdr;
	uint64_t head = atomic_load_explicit(&h->head, memory_order_acquire);
	uint64_t tail = atomic_load_explicit(&h->tail, memory_order_acquire);

	/* A producer that died between publishing a slot and advancing head left that slot
	 * committed, and the consumer may have read it already (tail = head + 1): continue
	 * after every committed slot, or its message would be overwritten unseen. */
	if (!indices_sane(seg, head, tail)) {
		return -EPROTO;
	}
	if (head < tail) {
		head = tail;
	}
	while (head - tail < seg->capacity &&
	       atomic_load_explicit(&shm_slot_at(seg, head)->stamp, memory_order_acquire) ==
		       committed(head)) {
		head++;
	}
	atomic_store_explicit(&h->head, head, memory_order_relaxed);
	end->pos = head;
	end->other = tail;
	return 0;
}

int link_consumer_init(struct shm_seg *seg, struct link_end *end)
{
	struct shm_header *h = seg->hdr;
	uint64_t head = atomic_load_explicit(&h->head, memory_order_acquire);
	uint64_t tail = atomic_load_explicit(&h->tail, memory_order_acquire);

	if (!indices_sane(seg, head, tail)) {
		return -EPROTO;
	}
	end->pos = tail;
	end->other = 0;
	return 0;
}

static int has_space(struct shm_seg *seg, struct link_end *end)
{
	if (end->pos - end->other < seg->capacity) {
		return 0;
	}
	end->other = atomic_load_explicit(&seg->hdr->tail, memory_order_acquire);
	if (end->other > end->pos || end->pos - end->other > seg->capacity) {
		return -EPROTO; /* the consumer's index is corrupt */
	}
	return end->pos - end->other < seg->capacity ? 0 : -EAGAIN;
}

static void publish(struct shm_seg *seg, struct link_end *end, struct shm_slot *slot, size_t len)
{
	struct shm_header *h = seg->hdr;
	uint64_t seq = end->pos;

	atomic_store_explicit(&slot->len, (uint32_t)len, memory_order_relaxed);
	atomic_store_explicit(&slot->stamp, committed(seq), memory_order_release);
	end->pos = seq + 1;
	/* Single producer: plain read-modify-write, no locked instructions. */
	atomic_store_explicit(&h->head, seq + 1, memory_order_relaxed);
	atomic_store_explicit(&h->messages,
			      atomic_load_explicit(&h->messages, memory_order_relaxed) + 1,
			      memory_order_relaxed);
	atomic_store_explicit(&h->bytes,
			      atomic_load_explicit(&h->bytes, memory_order_relaxed) + len,
			      memory_order_relaxed);
	shm_wake(&h->data_futex, &h->data_sleepers);
}

int link_send(struct shm_seg *seg, struct link_end *end, const void *data, size_t len)
{
	struct shm_slot *slot;
	int r;

	if (len > seg->max_msg) {
		return -EMSGSIZE;
	}
	r = has_space(seg, end);
	if (r < 0) {
		return r;
	}
	slot = shm_slot_at(seg, end->pos);
	if (len) {
		memcpy(shm_slot_data(slot), data, len);
	}
	publish(seg, end, slot, len);
	return 0;
}

int link_loan(struct shm_seg *seg, struct link_end *end, void **ret_buf)
{
	int r = has_space(seg, end);

	if (r < 0) {
		return r;
	}
	*ret_buf = shm_slot_data(shm_slot_at(seg, end->pos));
	return 0;
}

int link_commit(struct shm_seg *seg, struct link_end *end, size_t len)
{
	int r;

	if (len > seg->max_msg) {
		return -EMSGSIZE;
	}
	r = has_space(seg, end);
	if (r < 0) {
		return r;
	}
	publish(seg, end, shm_slot_at(seg, end->pos), len);
	return 0;
}

int link_recv(struct shm_seg *seg, struct link_end *end, void *buf, size_t cap)
{
	struct shm_header *h = seg->hdr;
	struct shm_slot *slot = shm_slot_at(seg, end->pos);
	uint64_t st = atomic_load_explicit(&slot->stamp, memory_order_acquire);
	uint32_t len;

	if (st != committed(end->pos)) {
		return -EAGAIN;
	}
	len = atomic_load_explicit(&slot->len, memory_order_relaxed);
	if (len > seg->max_msg) {
		return -EPROTO;
	}
	if (len > cap) {
		return -EMSGSIZE;
	}
	if (len) {
		memcpy(buf, shm_slot_data(slot), len);
	}
	end->pos++;
	atomic_store_explicit(&h->tail, end->pos, memory_order_release);
	shm_wake(&h->space_futex, &h->space_sleepers);
	return (int)len;
}

static bool space_ready(struct shm_seg *seg, void *arg)
{
	return has_space(seg, arg) != -EAGAIN;
}

static bool data_ready(struct shm_seg *seg, void *arg)
{
	const struct link_end *end = arg;

	return atomic_load_explicit(&shm_slot_at(seg, end->pos)->stamp, memory_order_acquire) ==
	       committed(end->pos);
}

int link_wait_space(struct shm_seg *seg, struct link_end *end, int64_t timeout_ns)
{
	return shm_wait(seg, &seg->hdr->space_futex, &seg->hdr->space_sleepers, space_ready, NULL,
			end, timeout_ns);
}

int link_wait_data(struct shm_seg *seg, struct link_end *end, int64_t timeout_ns)
{
	return shm_wait(seg, &seg->hdr->data_futex, &seg->hdr->data_sleepers, data_ready, NULL, end,
			timeout_ns);
}
