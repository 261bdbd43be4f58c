/* SPDX-License-Identifier: MIT */
#ifndef HORUS_SHM_SEGMENT_H
#define HORUS_SHM_SEGMENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "layout.h"

#define SHM_DIR "/dev/shm"
#define SHM_PREFIX "horus."
/* "/horus." + namespace + ".hub." + topic + NUL */
#define SHM_NAME_MAX (1 + 6 + 32 + 6 + 200 + 1)

/*
 * An attached segment, as one handle sees it. The geometry fields are validated copies of the
 * header: the hot paths use these, never the shared ones.
 */
struct shm_seg {
	int fd;
	uint8_t *base;
	size_t size;
	struct shm_header *hdr;
	uint32_t kind;
	uint32_t capacity;
	uint32_t mask;
	uint32_t max_msg;
	uint32_t stride;
	uint64_t slots_offset;
	int part; /* our participant index, -1 if none */
	char name[SHM_NAME_MAX];
};

struct shm_geometry {
	uint32_t capacity;
	uint32_t max_msg;
};

/* names.c */
bool shm_valid_namespace(const char *ns);
bool shm_valid_topic(const char *topic);
/* Writes "/horus.NS.hub.TOPIC" ('/' in TOPIC becomes '+'). -ENAMETOOLONG, -EINVAL. */
int shm_make_name(char *buf, size_t size, const char *ns, uint32_t kind, const char *topic);
/* Parses a /dev/shm file name of namespace ns; ret_topic gets the topic. false if not ours. */
bool shm_parse_name(const char *file, const char *ns, uint32_t *ret_kind, char *ret_topic,
		    size_t topic_size);

/* segment.c */
size_t shm_stride(uint32_t max_msg);
size_t shm_total_size(uint32_t capacity, uint32_t max_msg);

/*
 * Opens segment `name` of `kind`, creating it with geo when geo != NULL and it does not exist.
 * Waits (bounded) for a concurrent creator; removes a half-created segment whose creator died.
 * Does not claim a participant slot.
 */
int shm_seg_open(struct shm_seg *seg, const char *name, uint32_t kind, const char *topic,
		 const struct shm_geometry *geo);
/* Maps an existing file read-write without creating or waiting: for inspection. */
int shm_seg_attach_fd(struct shm_seg *seg, int fd, uint32_t kind);
/* Validates a header image against an object of `size` bytes; -EPROTO if anything is off. */
int shm_validate(const struct shm_header *hdr, size_t size, uint32_t kind);
void shm_seg_close(struct shm_seg *seg);
/*
 * Unlinks segment `name`, open as fd, if no live process holds it (creator, participant or link
 * end) and the name still leads to that file. true if it did.
 */
bool shm_remove_unheld(int fd, const char *name);
/* Does the segment's name still lead to the file we mapped (not unlinked by a cleaner)? */
bool shm_seg_linked(const struct shm_seg *seg);

static inline struct shm_slot *shm_slot_at(const struct shm_seg *seg, uint64_t seq)
{
	return (struct shm_slot *)(seg->base + seg->slots_offset +
				   (size_t)(seq & seg->mask) * seg->stride);
}

static inline uint8_t *shm_slot_data(struct shm_slot *slot)
{
	return (uint8_t *)slot + SHM_SLOT_HDR;
}

/* OFD locks on single bytes. try_lock: 0, -EAGAIN if held elsewhere. */
int shm_lock_try(int fd, off_t off, off_t len);
void shm_lock_release(int fd, off_t off, off_t len);
/* true if some other open file description holds a lock overlapping [off, off+len). */
bool shm_lock_held(int fd, off_t off, off_t len);

/* Claims a participant slot for `role`, reclaiming dead ones on the way. -EUSERS if full. */
int shm_part_claim(struct shm_seg *seg, uint32_t role);
void shm_part_release(struct shm_seg *seg);
/* Is participant i held by a live process (other than through our own fd)? */
bool shm_part_alive(const struct shm_seg *seg, uint32_t i);
/* If participant i is dead, reclaims what it left (busy hub slots become holes). */
void shm_part_reap(struct shm_seg *seg, uint32_t i);
/* Live participants with `role` (one lock test per entry with that role). */
uint32_t shm_count_live(const struct shm_seg *seg, uint32_t role);
/* Reaps every dead participant. */
void shm_reap_all(struct shm_seg *seg);

/* futex on a shared (not process-private) 32-bit word. */
int shm_futex_wait(_Atomic uint32_t *word, uint32_t expected, int64_t timeout_ns);
void shm_futex_wake_all(_Atomic uint32_t *word);

/*
 * Sleeps on `futex` until ready(seg, arg) holds. Sets our participant's bit in *sleepers before
 * every sleep so that wakers call FUTEX_WAKE only when someone sleeps, and only once for a
 * sleeper that does not come back (-EINVAL without a participant). Sleeps in
 * slices of at most 50 ms, calling on_wake (may be NULL) after each. 0, -ETIMEDOUT or -EINTR.
 */
typedef bool (*shm_ready_fn)(struct shm_seg *seg, void *arg);
int shm_wait(struct shm_seg *seg, _Atomic uint32_t *futex, _Atomic uint64_t *sleepers,
	     shm_ready_fn ready, void (*on_wake)(struct shm_seg *seg, void *arg), void *arg,
	     int64_t timeout_ns);
/* Waits of this process whose sleep ran out a slice although the condition held: a sign of a
 * missed wake-up (tests assert there are none). */
uint64_t shm_wait_late_wakeups(void);
/* The waker's half: after publishing, if sleepers are registered, takes their bits and wakes
 * them. */
void shm_wake(_Atomic uint32_t *futex, _Atomic uint64_t *sleepers);
/* The same without the fence, for a hub's sole publisher: sleepers fence it by membarrier. */
void shm_wake_unfenced(_Atomic uint32_t *futex, _Atomic uint64_t *sleepers);

/* Registers the process for MEMBARRIER_CMD_GLOBAL_EXPEDITED once; false if it cannot. */
bool shm_membarrier_register(void);
/* A full memory barrier on every CPU running a registered process. 0 or -errno. */
int shm_membarrier(void);

uint64_t shm_now_ns(void);

#endif /* HORUS_SHM_SEGMENT_H */
