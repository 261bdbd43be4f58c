/* SPDX-License-Identifier: MIT */
#ifndef HORUS_HORUSCTL_ARGS_H
#define HORUS_HORUSCTL_ARGS_H

/*
 * horusctl's command line, parsed by a pure function (no environment, no I/O, no globals) so
 * that it can be fuzzed. Global options (--socket, --namespace, --json, -h) may stand anywhere;
 * a verb's own options follow the verb; "--" ends the options (for a DATA starting with '-').
 */

#include <stdbool.h>
#include <stddef.h>

enum ctl_verb {
	CTL_HELP = 1,
	CTL_VERSION,
	CTL_STATUS,
	CTL_NODE_LIST,
	CTL_NODE_INFO,
	CTL_NODE_RESTART,
	CTL_NODE_STOP,
	CTL_NODE_START,
	CTL_TOPIC_LIST,
	CTL_TOPIC_INFO,
	CTL_TOPIC_ECHO,
	CTL_TOPIC_HZ,
	CTL_TOPIC_BW,
	CTL_TOPIC_PUB,
	CTL_TOP,
	CTL_RELOAD,
	CTL_CLEAN,
};

/* Sort keys of `top`. */
enum ctl_sort {
	CTL_SORT_NAME = 1,
	CTL_SORT_STATE,
	CTL_SORT_P99,
	CTL_SORT_MISSES,
	CTL_SORT_RATE,
};

/* Node names travel as one word of the control protocol: no blanks, bounded. */
#define CTL_NODE_NAME_MAX 127

struct ctl_args {
	enum ctl_verb verb;
	const char *socket; /* --socket, NULL if not given */
	const char *ns;	    /* --namespace, NULL if not given */
	bool json;
	const char *name; /* node name or topic (borrowed from argv) */
	const char *data; /* topic pub DATA */
	long count;	  /* -n: 0 when not given */
	double rate_hz;	  /* -r: 0 when not given */
	double window_s;  /* -w, and top's -d */
	bool raw;	  /* topic echo --raw */
	enum ctl_sort sort;
};

#define CTL_ERR_MAX 256

/*
 * Parses argv[1..argc) into *ret (strings borrowed from argv). Returns 0, or -EINVAL with a
 * one-line message in err naming what is wrong.
 */
int ctl_args_parse(int argc, char *const argv[], struct ctl_args *ret, char err[CTL_ERR_MAX]);

const char *ctl_sort_name(enum ctl_sort sort);
/* CTL_SORT_* for "name", "state", "p99", "misses", "rate"; 0 if unknown. */
enum ctl_sort ctl_sort_parse(const char *s);

#endif /* HORUS_HORUSCTL_ARGS_H */
