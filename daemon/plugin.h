/* SPDX-License-Identifier: MIT */
#ifndef HORUS_DAEMON_PLUGIN_H
#define HORUS_DAEMON_PLUGIN_H

/*
 * Plugin files: safety checks on the open file, dlopen of exactly that file, and the checks of
 * its descriptor. A refused plugin comes with a message naming the file and the rule it broke.
 */

#include <stdbool.h>
#include <sys/types.h>
#include <time.h>

#include <horus/node.h>

struct plugin {
	char *path;  /* as found, e.g. /usr/lib/horus/nodes/camera_sim.so */
	char *name;  /* the file name without ".so" */
	void *dl;
	struct horus_node_ops ops; /* the descriptor, zero-filled past its struct_size */
	dev_t dev;
	ino_t ino;
	struct timespec mtime;
	off_t size;
	unsigned refs; /* node instances using it (scheduler lock) */
	_Atomic unsigned jobs; /* pool jobs that may still run its code */
	bool doomed;   /* replaced or gone from disk: unload once refs and jobs are 0 */
	int fd;        /* the checked file, open while loaded: see plugin_load() */
};

/*
 * Checks and loads `path`. Files must be regular (not symlinks), owned by root or by `owner`,
 * not writable by group or others, in a directory with the same properties. On failure returns
 * -errno and writes the reason into why (e.g. "refused: writable by group or others"); the
 * caller names the file in front of it.
 */
int plugin_load(const char *path, uid_t owner, struct plugin **ret, char *why, size_t why_size);
/* dlcloses and frees. NULL is accepted. */
void plugin_unload(struct plugin *p);

/* Has the file at p->path changed (replaced, rewritten) since it was loaded? */
bool plugin_changed(const struct plugin *p);

/* Checks only the file and directory rules (no dlopen). */
int plugin_check_file(const char *path, uid_t owner, char *why, size_t why_size);

#endif /* HORUS_DAEMON_PLUGIN_H */
