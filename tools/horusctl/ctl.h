/* SPDX-License-Identifier: MIT */
#ifndef HORUS_HORUSCTL_CTL_H
#define HORUS_HORUSCTL_CTL_H

/* What horusctl's commands share: the resolved invocation, the daemon client, exit codes. */

#include <signal.h>
#include <stdbool.h>

#include <horus/pubsub.h>

#include "args.h"
#include "json.h"

/* Exit codes (DESIGN.md, Command line). */
enum {
	CTL_EXIT_OK = 0,
	CTL_EXIT_FAIL = 1,     /* unknown node or topic, the daemon refused, I/O failed */
	CTL_EXIT_USAGE = 2,    /* bad command line */
	CTL_EXIT_NODAEMON = 3, /* no daemon answers on the socket */
};

/* How long a request may wait for its reply line. Node operations wait on the tick thread. */
#define CTL_QUERY_TIMEOUT_MS 5000
#define CTL_OP_TIMEOUT_MS 30000
/* Asking the daemon for the namespace must not hold up a topic verb that works without it. */
#define CTL_NS_TIMEOUT_MS 1000

struct ctl {
	struct ctl_args args;
	const char *socket; /* --socket, else $HORUS_SOCKET, else HORUS_CONTROL_SOCKET */
	char ns[HORUS_NAMESPACE_MAX + 1];
	bool tty; /* stdout is a terminal */
};

/* Set by SIGINT, SIGTERM, SIGPIPE: streaming verbs end cleanly when they see it. */
extern volatile sig_atomic_t ctl_interrupted;

/* Prints "horusctl: MESSAGE" to stderr. */
void ctl_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * One request (protocol v1, e.g. "node list") to the daemon. Returns CTL_EXIT_OK with *ret the
 * reply (a JSON object with "schema": 1 and no "error"); CTL_EXIT_NODAEMON when nothing answers
 * in timeout_ms (printed); CTL_EXIT_FAIL when the reply is malformed (printed) or carries an
 * "error" (not printed: *ret is then the reply, for the caller to phrase it; free it).
 * quiet: print nothing at all.
 */
int ctl_ask(const struct ctl *c, const char *request, int timeout_ms, bool quiet,
	    struct json_doc **ret);
/* The "error" text of a reply, or "" */
const char *ctl_reply_error(const struct json_doc *doc);

/*
 * Resolves c->ns for the topic verbs: --namespace, else $HORUS_NAMESPACE, else the daemon's
 * (asked over the socket), else "default". CTL_EXIT_USAGE for an invalid name (printed).
 */
int ctl_resolve_namespace(struct ctl *c);

/* "hub", "link", "unknown". */
const char *ctl_kind_name(uint32_t kind);
/*
 * Checks the name of topic c->args.name and reads its header in c->ns: a hub, else a link.
 * CTL_EXIT_USAGE for an invalid name, CTL_EXIT_FAIL if there is no such topic (printed).
 */
int ctl_topic_find(const struct ctl *c, struct horus_topic_info *ret);

/* Commands: each returns an exit code and prints its own errors. */
int cmd_status(struct ctl *c);
int cmd_node_list(struct ctl *c);
int cmd_node_info(struct ctl *c);
int cmd_node_op(struct ctl *c);
int cmd_reload(struct ctl *c);
int cmd_topic_list(struct ctl *c);
int cmd_topic_info(struct ctl *c);
int cmd_topic_echo(struct ctl *c);
int cmd_topic_pub(struct ctl *c);
int cmd_topic_hz(struct ctl *c);
int cmd_topic_bw(struct ctl *c);
int cmd_clean(struct ctl *c);
int cmd_top(struct ctl *c);
/* top off a terminal: one snapshot of the node table. */
int ctl_top_snapshot(struct ctl *c);

#endif /* HORUS_HORUSCTL_CTL_H */
