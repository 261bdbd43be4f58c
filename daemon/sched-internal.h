/* SPDX-License-Identifier: MIT */
#ifndef HORUS_DAEMON_SCHED_INTERNAL_H
#define HORUS_DAEMON_SCHED_INTERNAL_H

/*
 * What the scheduler's files share: lanes (lane.c: threads, heaps, ticks, I/O completions),
 * commands and config application (apply.c), the watcher's checks (watch.c), and the public
 * entry points (scheduler.c). Everything here is guarded by struct sched's lock unless a
 * comment says otherwise.
 */

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "cpu-relax.h"
#include "scheduler.h"
#include "stats.h"

struct event_base;
struct event;
struct sched_thread;

/*
 * Announcements from the pools (completion.c): nodes with resolved jobs. Its own lock, held for
 * an append or a swap; never taken while a pool's lock is held. The node pointers are compared
 * against the live nodes before they are touched.
 */
struct io_mailbox {
	pthread_mutex_t lock;
	struct node **v, **spare; /* spare: the array the tick thread is reading */
	size_t n, cap, spare_cap;
	struct sched_thread *lane; /* woken on the first announcement: the active lane */
	bool woken;		   /* woken, and not looked at since */
	bool lost;		   /* one did not fit: every node with a pool is looked at */
	_Atomic bool full;	   /* n > 0 or lost: read without the lock by the tick thread */
};

/*
 * A lane: a tick thread with its own heap and timerfd. The active lane ticks every node, except
 * nodes that once overstayed a call: each of those keeps the thread it was stuck on as its own
 * dedicated lane, and the others moved to a fresh active lane. A dedicated lane whose node is
 * gone ends its thread.
 */
struct sched_thread {
	struct sched *s;
	pthread_t tid;
	struct event_base *base;
	struct event *timer_ev;
	struct event *wake_ev;
	int tfd;
	/* The timerfd's next expiry and period (0: disarmed, one-shot); its own thread only. */
	uint64_t armed_ns;
	uint64_t interval_ns;
	bool retired; /* dedicated to `owner`, no longer the active lane */
	bool exited;
	struct node *owner;	/* the node a dedicated lane serves */
	uint64_t call_since_ns; /* inside a plugin call since (lock), 0 if not */
	/*
	 * The wake-up being run (run_due), own thread only: time spent on things other than
	 * dispatching ticks (plugin calls, spin waits, I/O hand-overs, commands), and the ticks
	 * run. What is left of the wake-up, per tick, goes into sched's dispatch_hist.
	 */
	uint64_t aside_ns;
	unsigned run_ticks;
	struct node **heap; /* scheduled nodes, min-heap on (due_ns, order) */
	size_t heap_len;
	size_t heap_cap;
	struct sched_thread *next;
};

enum cmd_kind {
	CMD_APPLY,
	CMD_NODE,
	CMD_START,    /* init a listed node, by name: one command per node, so that a hanging
		       * init holds up nothing but itself */
	CMD_BARRIER,  /* runs `done` once the commands before it are through */
	CMD_SWEEP,    /* unload plugins that nothing uses any more */
	CMD_WATCHDOG, /* a watchdog trip on a node that is not inside a call */
};

struct cmd {
	enum cmd_kind kind;
	struct horus_config cfg; /* CMD_APPLY */
	char *name;		 /* CMD_NODE, CMD_START, CMD_WATCHDOG */
	enum sched_node_op op;
	sched_done_fn done;
	void *userdata;
	struct cmd *next;
};

struct sched {
	pthread_mutex_t lock;
	char ns[64];
	uid_t owner;
	struct horus_config cfg; /* the applied config */
	bool have_cfg;

	struct node **nodes; /* every live node (not zombies), sorted by nothing */
	size_t n_nodes;
	struct plugin **plugins;
	size_t n_plugins;

	struct sched_thread *active;
	struct sched_thread *retired; /* dedicated lanes */
	unsigned n_retired;
	struct cmd *cmd_head, *cmd_tail;
	bool stopping;

	_Atomic uint64_t dispatches;
	/*
	 * The lanes' own work per tick, one record per wake-up that ran ticks: its time from
	 * run_due's start (the timer's callback) to the timer's part (its read and re-arm), minus
	 * the time set aside (see aside_ns), over its ticks. Recorded under the lock, so
	 * hist_record's single writer holds.
	 */
	struct hist dispatch_hist;
	uint64_t epoch_ns; /* origin of every node's tick grid: the first node's start (lane.c) */
	uint64_t rate_prev_ns;
	struct log_limit handoff_limit;

	struct pool **pools; /* [0] is "default"; never destroyed before the scheduler */
	size_t n_pools;
	bool sweep_queued;
	bool draining;	       /* shutting down: nodes stop when their call returns */
	struct node **zombies; /* abandoned instances still inside a hung call */
	size_t n_zombies;
	struct node **io_ready; /* nodes with resolved jobs to hand over on their thread */
	size_t n_io_ready;
	size_t io_ready_cap;
	bool io_retry; /* an announcement did not fit in io_ready: see sched_io_retry */
	struct io_mailbox mail;
};

int sched_heap_push(struct sched_thread *l, struct node *n);
void sched_heap_remove(struct node *n);
void sched_push_from(struct sched_thread *t, struct node *n);
struct node *sched_find_node(struct sched *s, const char *name);
bool sched_find_node_ptr(struct sched *s, const struct node *n);
int sched_add_node(struct sched *s, struct node *n);
void sched_release_lane(struct node *n);
void sched_forget_io(struct sched *s, struct node *n);
void sched_drop_node(struct sched *s, struct node *n);
void sched_reschedule(struct sched_thread *t, struct node *n, uint64_t after);
void sched_schedule_from_now(struct sched_thread *t, struct node *n);
void sched_call_enter(struct sched_thread *t, struct node *n);
void sched_call_enter_at(struct sched_thread *t, struct node *n, uint64_t now);
void sched_call_leave(struct sched_thread *t, struct node *n);
int sched_start_node(struct sched_thread *t, struct node *n);
void sched_stop_node(struct sched_thread *t, struct node *n, uint32_t final_state);
void sched_settle_zombie(struct sched_thread *t, struct node *n);
/* completion.c */
void sched_mail_init(struct sched *s);
void sched_mail_fini(struct sched *s);
void sched_mail_set_lane(struct sched *s, struct sched_thread *t); /* s->active changed */
void sched_io_notify(void *userdata, struct node *n);		   /* a pool_notify_fn */
void sched_io_retry(struct sched *s);
void sched_run_io(struct sched_thread *t);
/* lane.c */
void sched_update_state_now(struct node *n, uint64_t now);
void sched_breaker_failure(struct node *n, uint64_t now, bool io);
void sched_thread_wake(struct sched_thread *t);
void sched_thread_free(struct sched_thread *t);
int sched_thread_start(struct sched *s, struct sched_thread **ret);
void sched_reap_threads(struct sched *s);
void sched_queue_cmd(struct sched *s, struct cmd *c);
void sched_run_commands(struct sched_thread *t);
/*
 * Abandons a node inside a call (hung, or being replaced): it leaves the node list, and its
 * fini runs (and it is freed) if the call ever returns. Lock held.
 */
void sched_abandon(struct sched *s, struct node *n);
/* Unloads doomed plugins once no instance and no job uses them. Lock held. */
void sched_sweep_plugins(struct sched_thread *t);

#endif /* HORUS_DAEMON_SCHED_INTERNAL_H */
