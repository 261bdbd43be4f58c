/* SPDX-License-Identifier: MIT */
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common.h"
#include "peek.h"

void t_seg_map(struct t_seg *m, uint32_t kind, const char *topic)
{
	struct stat st;

	t_shm_path(m->path, sizeof(m->path), t_ns, kind, topic);
	m->fd = open(m->path, O_RDWR | O_CLOEXEC);
	ck_assert_msg(m->fd >= 0, "cannot open %s", m->path);
	ck_assert_int_eq(fstat(m->fd, &st), 0);
	m->size = (size_t)st.st_size;
	m->base = mmap(NULL, m->size, PROT_READ | PROT_WRITE, MAP_SHARED, m->fd, 0);
	ck_assert_ptr_ne(m->base, MAP_FAILED);
	m->hdr = (struct shm_header *)m->base;
}

void t_seg_unmap(struct t_seg *m)
{
	munmap(m->base, m->size);
	close(m->fd);
	m->fd = -1;
}

struct shm_slot *t_seg_slot(const struct t_seg *m, uint64_t i)
{
	uint64_t idx = i & (m->hdr->capacity - 1);

	return (struct shm_slot *)(m->base + m->hdr->slots_offset + idx * m->hdr->slot_stride);
}
