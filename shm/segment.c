/* SPDX-License-Identifier: MIT */
/*
 * Segment life: exclusive create, posix_fallocate, initialise, mark ready; open and validate;
 * participants and their liveness through OFD locks; futex helpers.
 */

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <linux/futex.h>
#include <linux/membarrier.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <horus/pubsub.h>

#include "hub.h"
#include "segment.h"

/* How long an opener waits for a concurrent creator to finish before calling it dead. */
#define CREATE_WAIT_NS (2000ull * 1000 * 1000)
/* A not-ready segment whose creator lock is free for this long is a dead creator's leftover. */
#define STALE_GRACE_NS (50ull * 1000 * 1000)

uint64_t shm_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void sleep_ns(long ns)
{
	struct timespec ts = {.tv_sec = 0, .tv_nsec = ns};

	nanosleep(&ts, NULL);
}

size_t shm_stride(uint32_t max_msg)
{
	size_t s = SHM_SLOT_HDR + (size_t)max_msg;

	return (s + SHM_CACHELINE - 1) & ~(size_t)(SHM_CACHELINE - 1);
}

size_t shm_total_size(uint32_t capacity, uint32_t max_msg)
{
	return sizeof(struct shm_header) + (size_t)capacity * shm_stride(max_msg);
}

/* ---- locks ------------------------------------------------------------------------------- */

int shm_lock_try(int fd, off_t off, off_t len)
{
	struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = off, .l_len = len};

	if (fcntl(fd, F_OFD_SETLK, &fl) == 0) {
		return 0;
	}
	return (errno == EACCES || errno == EAGAIN) ? -EAGAIN : -errno;
}

void shm_lock_release(int fd, off_t off, off_t len)
{
	struct flock fl = {.l_type = F_UNLCK, .l_whence = SEEK_SET, .l_start = off, .l_len = len};

	(void)fcntl(fd, F_OFD_SETLK, &fl);
}

bool shm_lock_held(int fd, off_t off, off_t len)
{
	struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = off, .l_len = len};

	if (fcntl(fd, F_OFD_GETLK, &fl) < 0) {
		return true; /* cannot tell: assume alive, never reclaim on doubt */
	}
	return fl.l_type != F_UNLCK;
}

/* ---- futex ------------------------------------------------------------------------------- */

int shm_futex_wait(_Atomic uint32_t *word, uint32_t expected, int64_t timeout_ns)
{
	struct timespec ts, *tsp = NULL;

	if (timeout_ns >= 0) {
		ts.tv_sec = timeout_ns / 1000000000;
		ts.tv_nsec = timeout_ns % 1000000000;
		tsp = &ts;
	}
	/* Shared futex (no FUTEX_PRIVATE_FLAG): the word lives in memory mapped by many processes.
	 */
	if (syscall(SYS_futex, (uint32_t *)word, FUTEX_WAIT, expected, tsp, NULL, 0) < 0) {
		return -errno; /* EAGAIN: value changed; ETIMEDOUT; EINTR */
	}
	return 0;
}

void shm_futex_wake_all(_Atomic uint32_t *word)
{
	(void)syscall(SYS_futex, (uint32_t *)word, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
}

#define WAIT_SLICE_NS (50ll * 1000 * 1000)
/* A hub sleeper whose membarrier() fails (a seccomp filter) cannot be sure a sole publisher
 * saw it register: it sleeps in short slices instead, so a missed wake-up costs this much. */
#define WAIT_SLICE_UNFENCED_NS (1ll * 1000 * 1000)

/* Slices that ran out with the awaited condition true: wake-ups that came late or not at all. */
static _Atomic uint64_t late_wakeups;

uint64_t shm_wait_late_wakeups(void)
{
	return atomic_load_explicit(&late_wakeups, memory_order_relaxed);
}

/* 1: this process registered for MEMBARRIER_CMD_GLOBAL_EXPEDITED, -1: it cannot, 0: untried. */
static _Atomic int membarrier_state;

static void membarrier_forget(void)
{
	/* A forked child has a new address space, and registration belongs to the old one. */
	atomic_store_explicit(&membarrier_state, 0, memory_order_relaxed);
}

/*
 * Registering costs nothing in a single-threaded process and about 10 ms in a threaded one
 * (the kernel synchronises every thread), so it is done when the library is loaded, not on a
 * publisher's first message, which a node sends from a deadline-checked tick.
 */
__attribute__((constructor)) static void membarrier_at_load(void)
{
	(void)pthread_atfork(NULL, NULL, membarrier_forget);
	(void)shm_membarrier_register();
}

bool shm_membarrier_register(void)
{
	int st = atomic_load_explicit(&membarrier_state, memory_order_acquire);

	if (st == 0) {
		st = syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED, 0, 0) == 0
			 ? 1
			 : -1;
		atomic_store_explicit(&membarrier_state, st, memory_order_release);
	}
	return st > 0;
}

int shm_membarrier(void)
{
	/* Every CPU running a registered process executes a full memory barrier before this
	 * returns: an IPI to those CPUs, well under a microsecond here. */
	if (syscall(SYS_membarrier, MEMBARRIER_CMD_GLOBAL_EXPEDITED, 0, 0) < 0) {
		return -errno;
	}
	return 0;
}

int shm_wait(struct shm_seg *seg, _Atomic uint32_t *futex, _Atomic uint64_t *sleepers,
	     shm_ready_fn ready, void (*on_wake)(struct shm_seg *seg, void *arg), void *arg,
	     int64_t timeout_ns)
{
	uint64_t start, bit;
	int r = 0;

	if (ready(seg, arg)) {
		return 0;
	}
	if (timeout_ns == 0) {
		return -ETIMEDOUT;
	}
	if (seg->part < 0 || seg->part >= (int)SHM_PARTICIPANTS) {
		return -EINVAL; /* only a participant can register as a sleeper */
	}
	start = shm_now_ns();
	bit = UINT64_C(1) << seg->part;
	for (bool expired = false;; expired = r == -ETIMEDOUT) {
		int64_t slice = WAIT_SLICE_NS;
		uint32_t fv;

		/*
		 * Registered again on every turn: a waker takes the bits it wakes (shm_wake), so
		 * that a sleeper that does not run, SIGSTOPped say, costs publishers one wake-up
		 * and not a system call a message.
		 */
		atomic_fetch_or_explicit(sleepers, bit, memory_order_seq_cst);
		/*
		 * The futex word before the fence: if it shows a waker's increment, the fence
		 * makes that waker's data visible to ready() below; if not, the wait below
		 * returns at once should the increment come before it sleeps.
		 */
		fv = atomic_load_explicit(futex, memory_order_relaxed);
		/* Pairs with the fence in shm_wake(): either we see the waker's data, or it sees
		 * our bit and wakes us. A hub's sole publisher has no fence in its commit (it
		 * would halve its rate): the membarrier puts one into it for this moment. */
		atomic_thread_fence(memory_order_seq_cst);
		if (seg->kind == HORUS_KIND_HUB && shm_membarrier() < 0) {
			slice = WAIT_SLICE_UNFENCED_NS;
		}
		if (ready(seg, arg)) {
			if (expired) {
				atomic_fetch_add_explicit(&late_wakeups, 1, memory_order_relaxed);
			}
			r = 0;
			break;
		}
		if (timeout_ns > 0) {
			int64_t left = timeout_ns - (int64_t)(shm_now_ns() - start);

			if (left <= 0) {
				r = -ETIMEDOUT;
				break;
			}
			if (left < slice) {
				slice = left;
			}
		}
		r = shm_futex_wait(futex, fv, slice);
		if (r == -EINTR) {
			break;
		}
		if (on_wake) {
			on_wake(seg, arg);
		}
	}
	atomic_fetch_and_explicit(sleepers, ~bit, memory_order_relaxed);
	return r;
}

void shm_wake(_Atomic uint32_t *futex, _Atomic uint64_t *sleepers)
{
	atomic_thread_fence(memory_order_seq_cst);
	shm_wake_unfenced(futex, sleepers);
}

void shm_wake_unfenced(_Atomic uint32_t *futex, _Atomic uint64_t *sleepers)
{
	/*
	 * Take the bits before waking their owners: each registers again before it sleeps
	 * again, and one that cannot (stopped) is woken once, not on every message. The load
	 * first keeps the common case, nobody asleep, free of a locked instruction.
	 */
	if (atomic_load_explicit(sleepers, memory_order_relaxed) &&
	    atomic_exchange_explicit(sleepers, 0, memory_order_relaxed)) {
		atomic_fetch_add_explicit(futex, 1, memory_order_relaxed);
		shm_futex_wake_all(futex);
	}
}

/* ---- validation -------------------------------------------------------------------------- */

int shm_validate(const struct shm_header *hdr, size_t size, uint32_t kind)
{
	uint32_t cap, max_msg;

	if (size < sizeof(*hdr)) {
		return -EPROTO;
	}
	cap = hdr->capacity;
	max_msg = hdr->max_msg;
	if (hdr->magic != SHM_MAGIC || hdr->version != SHM_LAYOUT_VERSION ||
	    hdr->header_size != sizeof(*hdr)) {
		return -EPROTO;
	}
	if ((kind && hdr->kind != kind) ||
	    (hdr->kind != HORUS_KIND_HUB && hdr->kind != HORUS_KIND_LINK)) {
		return -EPROTO;
	}
	if (cap < 2 || cap > HORUS_CAPACITY_MAX || (cap & (cap - 1)) != 0 || max_msg == 0 ||
	    max_msg > HORUS_MAX_MSG_MAX) {
		return -EPROTO;
	}
	if (hdr->slot_stride != shm_stride(max_msg) || hdr->slots_offset != sizeof(*hdr) ||
	    hdr->total_size != shm_total_size(cap, max_msg) || hdr->total_size != size) {
		return -EPROTO;
	}
	if (memchr(hdr->name, '\0', sizeof(hdr->name)) == NULL) {
		return -EPROTO;
	}
	return 0;
}

/* From a validated snapshot of the header, never from shared memory a peer may change. */
static void seg_adopt_geometry(struct shm_seg *seg, const struct shm_header *h)
{
	seg->kind = h->kind;
	seg->capacity = h->capacity;
	seg->mask = h->capacity - 1;
	seg->max_msg = h->max_msg;
	seg->stride = h->slot_stride;
	seg->slots_offset = h->slots_offset;
}

/* ---- create and open --------------------------------------------------------------------- */

static void seg_reset(struct shm_seg *seg)
{
	memset(seg, 0, sizeof(*seg));
	seg->fd = -1;
	seg->part = -1;
}

/* Is the file behind fd still the one named `name` in /dev/shm? (Not unlinked by a cleaner.) */
static bool seg_still_linked(int fd, const char *name)
{
	char path[sizeof(SHM_DIR) + SHM_NAME_MAX];
	struct stat a, b;

	snprintf(path, sizeof(path), SHM_DIR "%s", name);
	return fstat(fd, &a) == 0 && stat(path, &b) == 0 && a.st_ino == b.st_ino &&
	       a.st_dev == b.st_dev;
}

bool shm_remove_unheld(int fd, const char *name)
{
	/*
	 * One lock over the whole header conflicts with every creator, participant and link-end
	 * lock: if we get it, no live process holds the segment, and none can attach while we
	 * hold it (attachers re-check the name after locking, and start over if it is gone).
	 * Unlink only if the name still leads to the file we locked: another cleaner may have
	 * removed it meanwhile, and a creator made a new one under the same name.
	 */
	bool removed = false;

	if (shm_lock_try(fd, 0, (off_t)sizeof(struct shm_header)) == 0) {
		removed = seg_still_linked(fd, name) && shm_unlink(name) == 0;
		shm_lock_release(fd, 0, (off_t)sizeof(struct shm_header));
	}
	return removed;
}

static int seg_create(struct shm_seg *seg, const char *name, uint32_t kind, const char *topic,
		      const struct shm_geometry *geo)
{
	size_t size = shm_total_size(geo->capacity, geo->max_msg);
	struct shm_header *h;
	int fd, r;

	fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0660);
	if (fd < 0) {
		return -errno; /* EEXIST: someone else created it first */
	}
	/* Hold the creator lock until `ready` is set: openers wait for us, not for a timeout. */
	r = shm_lock_try(fd, SHM_LOCK_CREATOR, 1);
	if (r == -EAGAIN) {
		/* A cleaner found the empty file first and holds the whole header while it
		 * unlinks it: let it, and start over. */
		close(fd);
		return -EAGAIN;
	}
	if (r < 0) {
		goto fail_unlink;
	}
	(void)fchmod(fd, 0660); /* the umask may have taken group bits away */
	/* Reserve every page now: a full /dev/shm is -ENOSPC here, never SIGBUS later. */
	r = -posix_fallocate(fd, 0, (off_t)size);
	if (r < 0) {
		goto fail_unlink;
	}
	h = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (h == MAP_FAILED) {
		r = -errno;
		goto fail_unlink;
	}
	/* fallocate left the file zeroed: only non-zero fields need writing. */
	h->magic = SHM_MAGIC;
	h->version = SHM_LAYOUT_VERSION;
	h->header_size = sizeof(*h);
	h->total_size = size;
	h->kind = kind;
	h->capacity = geo->capacity;
	h->max_msg = geo->max_msg;
	h->slot_stride = (uint32_t)shm_stride(geo->max_msg);
	h->slots_offset = sizeof(*h);
	h->creator_pid = (int32_t)getpid();
	h->creator_uid = (uint32_t)getuid();
	snprintf(h->name, sizeof(h->name), "%s", topic);
	atomic_store_explicit(&h->ready, SHM_READY, memory_order_release);
	shm_lock_release(fd, SHM_LOCK_CREATOR, 1);

	seg->fd = fd;
	seg->base = (uint8_t *)h;
	seg->size = size;
	seg->hdr = h;
	seg_adopt_geometry(seg, h); /* ours alone until `ready` */
	return 0;

fail_unlink:
	shm_unlink(name);
	close(fd);
	return r;
}

int shm_seg_attach_fd(struct shm_seg *seg, int fd, uint32_t kind)
{
	struct shm_header *h, *snap;
	struct stat st;
	int r;

	if (fstat(fd, &st) < 0) {
		return -errno;
	}
	if (st.st_size == 0) {
		return -EINPROGRESS; /* a creator between shm_open and posix_fallocate */
	}
	if ((size_t)st.st_size < sizeof(struct shm_header) ||
	    (uint64_t)st.st_size > shm_total_size(HORUS_CAPACITY_MAX, HORUS_MAX_MSG_MAX)) {
		return -EPROTO;
	}
	h = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (h == MAP_FAILED) {
		return -errno;
	}
	if (atomic_load_explicit(&h->ready, memory_order_acquire) != SHM_READY) {
		r = -EINPROGRESS;
		goto fail;
	}
	/* Validate a private copy and adopt that: a peer rewriting the header between our
	 * check and our use must not slip us a geometry larger than the mapping. */
	snap = malloc(sizeof(*snap));
	if (!snap) {
		r = -ENOMEM;
		goto fail;
	}
	memcpy(snap, (const void *)h, sizeof(*snap));
	r = shm_validate(snap, (size_t)st.st_size, kind);
	if (r < 0) {
		free(snap);
		goto fail;
	}
	seg->fd = fd;
	seg->base = (uint8_t *)h;
	seg->size = (size_t)st.st_size;
	seg->hdr = h;
	seg_adopt_geometry(seg, snap);
	free(snap);
	return 0;
fail:
	munmap(h, (size_t)st.st_size);
	return r;
}

int shm_seg_open(struct shm_seg *seg, const char *name, uint32_t kind, const char *topic,
		 const struct shm_geometry *geo)
{
	uint64_t start = shm_now_ns(), orphan_since = 0;
	int fd, r;

	seg_reset(seg);
	snprintf(seg->name, sizeof(seg->name), "%s", name);
	for (;;) {
		if (geo) {
			r = seg_create(seg, name, kind, topic, geo);
			if (r == -EAGAIN && shm_now_ns() - start < CREATE_WAIT_NS) {
				sleep_ns(100 * 1000);
				continue; /* a cleaner was removing our fresh file */
			}
			if (r != -EEXIST) {
				return r;
			}
		}
		fd = shm_open(name, O_RDWR | O_CLOEXEC, 0);
		if (fd < 0) {
			if (errno == ENOENT && geo) {
				continue; /* removed between our create and open: create again */
			}
			return -errno;
		}
		r = shm_seg_attach_fd(seg, fd, kind);
		if (r != -EINPROGRESS) {
			if (r < 0) {
				close(fd);
			}
			return r;
		}
		/*
		 * Not ready yet. A live creator holds its lock until it is; a segment that stays
		 * unready with nobody holding that lock was left by a creator that died while it
		 * sized or initialised it: we remove it (only if nobody holds it at all) and
		 * create the topic anew, or report it absent.
		 */
		if (shm_lock_held(fd, SHM_LOCK_CREATOR, 1)) {
			orphan_since = 0;
		} else if (!orphan_since) {
			orphan_since = shm_now_ns();
		} else if (shm_now_ns() - orphan_since > STALE_GRACE_NS) {
			bool removed = shm_remove_unheld(fd, name);

			close(fd);
			if (!removed) {
				return -EPROTO;
			}
			if (!geo) {
				return -ENOENT;
			}
			orphan_since = 0;
			continue;
		}
		close(fd);
		if (shm_now_ns() - start > CREATE_WAIT_NS) {
			return -ETIMEDOUT;
		}
		sleep_ns(200 * 1000);
	}
}

void shm_seg_close(struct shm_seg *seg)
{
	if (seg->base) {
		munmap(seg->base, seg->size);
	}
	if (seg->fd >= 0) {
		close(seg->fd); /* drops every OFD lock we held on it */
	}
	seg_reset(seg);
}

bool shm_seg_linked(const struct shm_seg *seg)
{
	return seg_still_linked(seg->fd, seg->name);
}

/* ---- participants ------------------------------------------------------------------------ */

static _Atomic uint32_t *role_counter(struct shm_header *h, uint32_t role)
{
	switch (role) {
	case SHM_ROLE_PUB:
	case SHM_ROLE_PRODUCER:
		return &h->publishers;
	case SHM_ROLE_SUB:
	case SHM_ROLE_CONSUMER:
		return &h->subscribers;
	default:
		return NULL;
	}
}

static void counter_dec(_Atomic uint32_t *c)
{
	uint32_t v = atomic_load_explicit(c, memory_order_relaxed);

	/* Never below zero, whatever a corrupt or crashed peer left behind. */
	while (v > 0 && !atomic_compare_exchange_weak_explicit(c, &v, v - 1, memory_order_relaxed,
							       memory_order_relaxed)) {
	}
}

/*
 * Cleans up after a dead participant i whose lock we now hold: its busy hub slots become holes
 * (readers skip them as lost, writers may reuse them), its sleeper and role counts are undone.
 */
static void part_cleanup(struct shm_seg *seg, uint32_t i)
{
	struct shm_header *h = seg->hdr;
	struct shm_participant *p = &h->parts[i];
	uint32_t role = atomic_load_explicit(&p->role, memory_order_acquire);
	_Atomic uint32_t *counter = role_counter(h, role);

	if (role == SHM_ROLE_NONE) {
		return;
	}
	if (seg->kind == HORUS_KIND_HUB && role == SHM_ROLE_PUB) {
		for (uint32_t s = 0; s < seg->capacity; s++) {
			struct shm_slot *slot = shm_slot_at(seg, s);
			uint64_t st = atomic_load_explicit(&slot->stamp, memory_order_acquire);

			if ((st & STAMP_BUSY) && stamp_owner(st) == i) {
				uint64_t hole =
				    (st & ~(STAMP_BUSY | (STAMP_OWNER_MASK << STAMP_OWNER_SHIFT))) |
				    STAMP_HOLE;
				if (atomic_compare_exchange_strong_explicit(&slot->stamp, &st, hole,
									    memory_order_release,
									    memory_order_relaxed)) {
					hub_uncount(seg, slot, st);
					atomic_fetch_add_explicit(&h->holes, 1,
								  memory_order_relaxed);
				}
			}
		}
		hub_solo_forget(seg, i); /* after the holes: a new sole publisher sees them */
	}
	atomic_fetch_and_explicit(&h->data_sleepers, ~(UINT64_C(1) << i), memory_order_relaxed);
	atomic_fetch_and_explicit(&h->space_sleepers, ~(UINT64_C(1) << i), memory_order_relaxed);
	if (counter) {
		counter_dec(counter);
	}
	atomic_store_explicit(&p->pid, 0, memory_order_relaxed);
	atomic_store_explicit(&p->role, SHM_ROLE_NONE, memory_order_release);
}

int shm_part_claim(struct shm_seg *seg, uint32_t role)
{
	struct shm_header *h = seg->hdr;
	_Atomic uint32_t *counter = role_counter(h, role);

	for (uint32_t i = 0; i < SHM_PARTICIPANTS; i++) {
		int r = shm_lock_try(seg->fd, SHM_LOCK_PART(i), 1);
		struct shm_participant *p = &h->parts[i];

		if (r == -EAGAIN) {
			continue; /* a live participant */
		}
		if (r < 0) {
			return r;
		}
		part_cleanup(seg, i); /* whoever had it before is gone */
		atomic_fetch_add_explicit(&p->gen, 1, memory_order_relaxed);
		atomic_store_explicit(&p->pid, (int32_t)getpid(), memory_order_relaxed);
		atomic_store_explicit(&p->active, 0, memory_order_relaxed);
		atomic_store_explicit(&p->role, role, memory_order_release);
		if (counter) {
			/* seq_cst: a hub writer that becomes sole publisher counts publishers after
			 * taking the privilege (hub.c); one of the two sees the other. */
			atomic_fetch_add_explicit(counter, 1, memory_order_seq_cst);
		}
		seg->part = (int)i;
		return 0;
	}
	return -EUSERS;
}

void shm_part_release(struct shm_seg *seg)
{
	if (seg->part < 0) {
		return;
	}
	part_cleanup(seg, (uint32_t)seg->part);
	shm_lock_release(seg->fd, SHM_LOCK_PART(seg->part), 1);
	seg->part = -1;
}

bool shm_part_alive(const struct shm_seg *seg, uint32_t i)
{
	if (i >= SHM_PARTICIPANTS) {
		return false;
	}
	if (seg->part == (int)i) {
		return true;
	}
	return shm_lock_held(seg->fd, SHM_LOCK_PART(i), 1);
}

void shm_part_reap(struct shm_seg *seg, uint32_t i)
{
	if (i >= SHM_PARTICIPANTS || seg->part == (int)i) {
		return;
	}
	if (atomic_load_explicit(&seg->hdr->parts[i].role, memory_order_acquire) == SHM_ROLE_NONE) {
		return;
	}
	if (shm_lock_try(seg->fd, SHM_LOCK_PART(i), 1) == 0) {
		part_cleanup(seg, i);
		shm_lock_release(seg->fd, SHM_LOCK_PART(i), 1);
	}
}

uint32_t shm_count_live(const struct shm_seg *seg, uint32_t role)
{
	uint32_t n = 0;

	for (uint32_t i = 0; i < SHM_PARTICIPANTS; i++) {
		if (atomic_load_explicit(&seg->hdr->parts[i].role, memory_order_acquire) == role &&
		    shm_part_alive(seg, i)) {
			n++;
		}
	}
	return n;
}

void shm_reap_all(struct shm_seg *seg)
{
	for (uint32_t i = 0; i < SHM_PARTICIPANTS; i++) {
		shm_part_reap(seg, i);
	}
}
