/* SPDX-License-Identifier: MIT */
/*
 * Reproducer for a double fetch in shm_seg_attach_fd() (a bug report, not a fuzz target).
 *
 * shm_validate() reads the geometry from the shared header and checks it; seg_adopt_geometry()
 * then reads it from the shared header again. layout.h promises the opposite ("readers copy the
 * geometry once, validate it, and never re-read it"). A process with write access to the segment
 * can change `capacity` between the two reads: the attached handle then has a capacity and mask
 * larger than its mapping, and shm_slot_at() points past the end of it.
 *
 * Here a thread flips the shared capacity between 2 (what the file size says) and 65536 while the
 * main thread attaches again and again, and checks every attached geometry against the size of
 * the mapping. Exits 1 with a message when it catches one, 0 if it did not within the time.
 *
 *   fuzz-race-geometry [SECONDS]      default 10
 */

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <horus/pubsub.h>

#include "segment.h"

static atomic_bool stop;

static void *flipper(void *arg)
{
	volatile uint32_t *cap = &((struct shm_header *)arg)->capacity;

	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		*cap = 65536;
		*cap = 2;
	}
	return NULL;
}

int main(int argc, char **argv)
{
	double seconds = argc > 1 ? atof(argv[1]) : 10;
	size_t size = shm_total_size(2, 64);
	struct shm_header *h;
	pthread_t thr;
	uint64_t tries = 0, end;
	int fd, rc = 0;

	fd = memfd_create("race-geometry", MFD_CLOEXEC);
	if (fd < 0 || ftruncate(fd, (off_t)size) < 0) {
		perror("memfd");
		return 2;
	}
	h = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (h == MAP_FAILED) {
		perror("mmap");
		return 2;
	}
	/* A valid hub segment, as seg_create() writes it. */
	h->magic = SHM_MAGIC;
	h->version = SHM_LAYOUT_VERSION;
	h->header_size = sizeof(*h);
	h->total_size = size;
	h->kind = HORUS_KIND_HUB;
	h->capacity = 2;
	h->max_msg = 64;
	h->slot_stride = (uint32_t)shm_stride(64);
	h->slots_offset = sizeof(*h);
	atomic_store(&h->ready, SHM_READY);

	if (pthread_create(&thr, NULL, flipper, h) != 0) {
		return 2;
	}
	end = shm_now_ns() + (uint64_t)(seconds * 1e9);
	while (shm_now_ns() < end) {
		struct shm_seg seg = { .fd = -1, .part = -1 };

		tries++;
		if (shm_seg_attach_fd(&seg, fd, HORUS_KIND_HUB) < 0) {
			continue;
		}
		if (seg.slots_offset + (uint64_t)seg.capacity * seg.stride > seg.size) {
			printf("fuzz-race-geometry: attach %llu accepted capacity %u (mask %u) for a "
			       "%zu-byte mapping: slot %u would start %llu bytes past its end\n",
			       (unsigned long long)tries, seg.capacity, seg.mask, seg.size,
			       seg.capacity - 1,
			       (unsigned long long)(seg.slots_offset +
						    (uint64_t)(seg.capacity - 1) * seg.stride -
						    seg.size));
			rc = 1;
		}
		munmap(seg.base, seg.size); /* not shm_seg_close(): fd is ours to keep */
		if (rc) {
			break;
		}
	}
	atomic_store(&stop, true);
	pthread_join(thr, NULL);
	if (!rc) {
		printf("fuzz-race-geometry: not reproduced in %llu attaches\n",
		       (unsigned long long)tries);
	}
	return rc;
}
