/* SPDX-License-Identifier: MIT */
/*
 * Reproducer: a peer that shrinks a segment file kills every reader attached to it with SIGBUS
 * (a bug report, not a fuzz target; see README.md, known bug 6).
 *
 * Any process that may write a segment (mode 0660: the whole group) may also ftruncate() it.
 * Pages of a MAP_SHARED mapping past the new end of the file then raise SIGBUS on access, and
 * nothing in shm/ guards against it (no SIGBUS handling, no seals: shm_open files cannot be
 * sealed), so the reader dies instead of getting -EPROTO.
 *
 * Here a child attaches a valid hub segment, the parent truncates the file, the child reads.
 * Exits 1 if the child died of a signal, 0 if it survived.
 */

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <horus/pubsub.h>

#include "hub.h"
#include "segment.h"

/* Under ASan, let SIGBUS kill the reader as it would without ASan (ASan turns it into exit 1). */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
	return "handle_sigbus=0";
}

int main(void)
{
	size_t size = shm_total_size(2, 64);
	struct shm_header *h;
	int fd, go[2], status;
	pid_t pid;

	fd = memfd_create("repro-truncate", MFD_CLOEXEC);
	if (fd < 0 || ftruncate(fd, (off_t)size) < 0 || pipe(go) < 0) {
		perror("setup");
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
	atomic_store(&h->head, 1);
	atomic_store(&((struct shm_slot *)((uint8_t *)h + sizeof(*h)))->stamp,
		     stamp_make(0, 0, 0));

	pid = fork();
	if (pid == 0) {
		struct shm_seg seg = { .fd = -1, .part = -1 };
		struct hub_reader rd;
		uint8_t buf[64];
		char c;
		int r = shm_seg_attach_fd(&seg, fd, HORUS_KIND_HUB);

		if (r < 0) {
			fprintf(stderr, "attach: %s\n", strerror(-r));
			_exit(2);
		}
		hub_reader_init(&seg, &rd, 1);
		close(go[1]);
		if (read(go[0], &c, 1) < 0) { /* wait for the truncation */
			_exit(2);
		}
		r = hub_read(&seg, &rd, buf, sizeof(buf), NULL, NULL);
		printf("repro-truncate: reader survived, hub_read() = %d\n", r);
		_exit(0);
	}
	close(go[0]);
	usleep(100 * 1000);
	if (ftruncate(fd, 0) < 0) {
		perror("ftruncate");
	}
	close(go[1]);
	waitpid(pid, &status, 0);
	if (WIFSIGNALED(status)) {
		printf("repro-truncate: the reader was killed by %s after the file was truncated\n",
		       strsignal(WTERMSIG(status)));
		return 1;
	}
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 2;
}
