/* SPDX-License-Identifier: MIT */
#ifndef HORUS_TESTS_RELIABILITY_BUS_REL_H
#define HORUS_TESTS_RELIABILITY_BUS_REL_H

/*
 * What the bus reliability suites share, on top of the unit suites' helpers (common.h: fresh
 * namespace per test, children, pipes, self-checking messages): how big a run is, the figure
 * lines the report collects, a namespace's footprint in /dev/shm, and a checker for the stream
 * of messages one subscriber sees.
 */

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <horus/pubsub.h>

#include "common.h"

/* ---- run size ------------------------------------------------------------------------------ */

/* True when built with AddressSanitizer (gcc or clang). */
bool rel_asan(void);

/*
 * Factor applied to loop counts: $HORUS_RELIABILITY_SCALE if set (a positive number), else 0.25
 * under ASan, else 1. The first call prints which one applies.
 */
double rel_scale(void);

/* base * rel_scale(), at least 1. */
unsigned rel_count(unsigned base);

/* Seconds a timed test runs: $HORUS_RELIABILITY_SECONDS if set, else def. */
unsigned rel_seconds(unsigned def);

/*
 * After a loop bounded by a count and a wall-clock cap: says so when the cap cut it short, and
 * asserts it still did a tenth of the count (the cap is for a machine in trouble).
 */
void rel_loop_ended(unsigned done, unsigned planned, unsigned cap_s);

/* Prints "RELIABILITY: <what>: <figure>" on stdout (the report collects these lines). */
void rel_figure(const char *what, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Runs fn(arg) in a child process, which _exit()s with its return value. */
pid_t rel_spawn(int (*fn)(void *arg), void *arg);

/* ---- /dev/shm footprint --------------------------------------------------------------------- */

struct rel_footprint {
	unsigned segments; /* files of the namespace */
	uint64_t bytes;	   /* their allocated size (st_blocks), what /dev/shm really holds */
};

struct rel_footprint rel_footprint_of(const char *ns);

/*
 * With every process that held them gone: the first clean removes exactly `expected` segments
 * and leaves the namespace empty, a second one removes nothing. Uses horusctl for both when it
 * is built ($HORUSCTL names it), then horus_clean() once more; else horus_clean() twice.
 */
const char *rel_clean_twice(const char *ns, unsigned expected); /* which clean it used */

/* ---- checking what a subscriber receives ------------------------------------------------- */

#define REL_WRITERS 4096u     /* writer ids 0..REL_WRITERS-1 */
#define REL_END_WRITER 0xe0du /* a message from this writer ends a run */

/* Counters in MAP_SHARED memory: they survive the subscriber that fills them being killed. */
struct rel_tally {
	_Atomic uint64_t delivered;    /* messages that verified */
	_Atomic uint64_t corrupt;      /* checksum failed, or an impossible writer: a torn read */
	_Atomic uint64_t disorder;     /* a writer's count went backwards or repeated */
	_Atomic uint64_t gap_mismatch; /* seq - previous seq - 1 != the lost count reported */
	_Atomic uint64_t stale;	       /* zero-copy: overwritten while held (counted lost) */
};

/* One subscriber's view: what it expects next. */
struct rel_stream {
	struct rel_tally *tally;
	bool started;	   /* a first message was seen (a late joiner starts anywhere) */
	uint64_t next_seq; /* seq expected if nothing is lost */
	uint64_t *last;	   /* per writer: last count + 1, 0 before its first message */
};

void rel_stream_init(struct rel_stream *s, struct rel_tally *tally);
void rel_stream_fini(struct rel_stream *s);

enum rel_read_mode {
	REL_READ_COPY, /* horus_sub_read into the caller's buffer */
	REL_READ_TAKE, /* horus_sub_take, verified in place, then horus_sub_check */
};

/*
 * Reads and checks one message. Returns its length, -EAGAIN when there is none, -ESTALE when a
 * zero-copy sample was overwritten while it was checked (counted lost by the library), or
 * another error. *ret_msg gets the message's header when a message is returned; its writer is
 * UINT32_MAX if the message failed to verify (counted corrupt).
 */
int rel_read_one(struct horus_sub *sub, enum rel_read_mode mode, struct rel_stream *s, void *buf,
		 size_t cap, struct t_msg *ret_msg);

/* How a checking subscriber ended (kept in MAP_SHARED memory). */
struct rel_sub_end {
	uint64_t received, lost; /* its own totals */
	uint64_t end_seq;	 /* seq of the end message */
	int ended, error;
};

/*
 * Asserts what subscriber idx, which read until the end message, must show: no error, nothing
 * corrupt, out of order or lost unreported, every delivery verified, and every sequence
 * accounted for: received + lost == sequences, the end message the last of them.
 */
void rel_check_sub_end(int idx, const struct rel_sub_end *end, struct rel_tally *tally,
		       uint64_t sequences);

/* ---- long-lived publishers and subscribers (children) ------------------------------------ */

/* A publisher of self-checking messages that runs until *stop. Counters in shared memory. */
struct rel_writer {
	const char *topic;
	const struct horus_topic_opts *opts;
	uint32_t writer;	   /* its id in the messages */
	uint32_t min_len, max_len; /* lengths drawn uniformly from [min_len, max_len] */
	unsigned loan_every;	   /* every n-th message is loaned and filled in place; 0: none */
	unsigned pace_us;	   /* pause after each message; 0: as fast as it can */
	struct t_pipe *ready;	   /* signalled once it is open */
	atomic_int *stop;
	_Atomic uint64_t *published;
	_Atomic uint64_t *refused; /* -EAGAIN: a slot held by another writer past HUB_LAP_WAIT */
	_Atomic int *error;	   /* any other failure, which ends it */
};

/* Runs the writer; returns its exit status (0 when stopped, having closed its handle). */
int rel_write_until_stopped(const struct rel_writer *w);

/* A checking subscriber that runs until the end message (from REL_END_WRITER). */
struct rel_reader {
	const char *topic;
	const struct horus_topic_opts *opts;
	enum rel_read_mode mode;
	struct t_pipe *ready; /* signalled once it is subscribed */
	struct rel_tally *tally;
	struct rel_sub_end *end;
	uint64_t give_up_ns; /* gives up after this long without the end (end->ended stays 0) */
	/* Called with every verified message, the end message included; may be NULL. */
	void (*on_msg)(struct horus_sub *sub, const struct t_msg *m, void *arg);
	void *arg;
};

/* Runs the reader; returns its exit status. */
int rel_read_until_end(const struct rel_reader *r);

/*
 * Waits up to bound_ms until values[i] > floors[i] for all i < n (counters other processes
 * advance); *ret_waited_ns gets how long that took. False if the bound ran out.
 */
bool rel_await_all_above(_Atomic uint64_t *values, const uint64_t *floors, unsigned n,
			 unsigned bound_ms, uint64_t *ret_waited_ns);

/* Publishes one self-checking message of len bytes, by copy or (loan) in place. */
int rel_publish(struct horus_pub *pub, bool loan, void *buf, uint32_t len, uint32_t writer,
		uint64_t count);

#endif /* HORUS_TESTS_RELIABILITY_BUS_REL_H */
