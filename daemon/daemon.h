/* SPDX-License-Identifier: MIT */
#ifndef HORUS_DAEMON_DAEMON_H
#define HORUS_DAEMON_DAEMON_H

/*
 * The daemon as the watcher thread (main) sees it: config paths, the scheduler, the event loop
 * that serves signals, the watchdog check and the control socket. None of it runs plugin code.
 */

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "scheduler.h"

struct event_base;
struct event;
struct control;

struct daemon {
	const char *config_path;
	char *dropin_dir;
	struct event_base *base;
	struct sched *sched;
	struct control *control;
	char ns[64];
	char control_path[256];
	uint64_t start_ns;
	uint64_t watchdog_usec; /* systemd's WatchdogSec, 0 if none */
	uint64_t last_ping_ns;
	bool reloading;
	unsigned reloads;
	struct event *apply_done_ev;
	_Atomic int apply_result;
	struct event *watch_ev;
	struct event *sig_ev[4];
};

/* Re-reads the config and applies it if valid; the running one stays otherwise. */
int daemon_reload(struct daemon *d, char **ret_errors);

/* The control socket (control.c), served on d->base. */
int control_open(struct daemon *d, const char *path, struct control **ret);
void control_close(struct control *c);

#endif /* HORUS_DAEMON_DAEMON_H */
