/* SPDX-License-Identifier: MIT */
#ifndef HORUS_TESTS_UNIT_PEEK_H
#define HORUS_TESTS_UNIT_PEEK_H

/*
 * A segment seen from outside the library, the way a curious or hostile peer maps it: for
 * tests that read or corrupt the shared bytes (layout.h) behind the library's back.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "layout.h"

struct t_seg {
	int fd;
	size_t size;
	uint8_t *base;
	struct shm_header *hdr;
	char path[512];
};

/* Maps the segment of (t_ns, kind, topic) read-write; asserts on failure. */
void t_seg_map(struct t_seg *m, uint32_t kind, const char *topic);
void t_seg_unmap(struct t_seg *m);
/* Slot i (masked by the header's capacity), using the header's own geometry. */
struct shm_slot *t_seg_slot(const struct t_seg *m, uint64_t i);

#endif /* HORUS_TESTS_UNIT_PEEK_H */
