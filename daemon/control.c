/* SPDX-License-Identifier: MIT */
/*
 * The control socket, served by the watcher thread's event loop (so it answers while a tick
 * hangs). Protocol version 1: a request is one line of words,
 *     status | pools | node list | node info NAME | node stop|start|restart NAME | reload
 * and each gets one line back: a JSON object with "schema": 1 and either the result or
 * "error": "...". The line is parsed by control_parse() (control-parse.h). Lines longer than
 * CONTROL_LINE_MAX, a line not finished within CONTROL_PARTIAL_S, or a client silent for
 * CONTROL_IDLE_S, are dropped; the daemon never waits on a client.
 */

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <horus/horus.h>

#include "control-parse.h"
#include "daemon.h"
#include "log.h"

#define CONTROL_IDLE_S 30
/* A request line must be complete this long after its first byte: a client cannot hold one of
 * the CONTROL_CLIENTS_MAX slots with a half-written line (or by trickling it) for long. */
#define CONTROL_PARTIAL_S 2
#define CONTROL_CLIENTS_MAX 128

struct control {
	struct daemon *d;
	struct evconnlistener *listener;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	unsigned clients;
};

/* A request waiting for the tick thread (node operations). */
struct pending {
	struct control *ctl;
	struct bufferevent *bev; /* NULL once the client is gone */
	struct event *done_ev;
	_Atomic int result;
	const char *op;
	char name[CONTROL_NAME_MAX + 1];
};

struct client {
	struct control *ctl;
	struct pending *pending; /* at most one outstanding */
	bool closing;		 /* close once the output is written */
	uint64_t partial_since;	 /* when the unfinished line in the input began, or 0 */
};

/* ---- JSON output ------------------------------------------------------------------------- */

static void json_str(struct evbuffer *out, const char *s)
{
	evbuffer_add(out, "\"", 1);
	for (const unsigned char *p = (const unsigned char *)s; p && *p; p++) {
		if (*p == '"' || *p == '\\') {
			evbuffer_add_printf(out, "\\%c", *p);
		} else if (*p < 0x20) {
			evbuffer_add_printf(out, "\\u%04x", *p);
		} else {
			evbuffer_add(out, p, 1);
		}
	}
	evbuffer_add(out, "\"", 1);
}

static void reply_error(struct evbuffer *out, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void reply_error(struct evbuffer *out, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	evbuffer_add_printf(out, "{\"schema\": 1, \"error\": ");
	json_str(out, msg);
	evbuffer_add_printf(out, "}\n");
}

static double us(uint64_t ns)
{
	return ns / 1000.0;
}

static void node_json(struct evbuffer *out, const struct node_info *n)
{
	evbuffer_add_printf(out, "{\"name\": ");
	json_str(out, n->name);
	evbuffer_add_printf(out, ", \"plugin\": ");
	json_str(out, n->plugin);
	evbuffer_add_printf(
	    out,
	    ", \"state\": \"%s\", \"rate_hz\": %.6g, \"actual_hz\": %.6g, \"ticks\": %llu, "
	    "\"skipped\": %llu, \"order\": %d, "
	    "\"tick_us\": {\"p50\": %.3f, \"p99\": %.3f, \"max\": %.3f}, "
	    "\"late_us\": {\"p50\": %.3f, \"p99\": %.3f, \"max\": %.3f}, "
	    "\"deadline_ms\": %.6g, \"deadline_misses\": %llu, \"watchdog_ms\": %.6g, "
	    "\"watchdog_trips\": %llu, \"circuit\": \"%s\", \"failures\": %llu, "
	    "\"restarts\": %llu, \"last_error\": ",
	    node_state_name(n->state), n->rate_hz, n->actual_hz, (unsigned long long)n->ticks,
	    (unsigned long long)n->skipped, n->order, us(n->tick_p50_ns), us(n->tick_p99_ns),
	    us(n->tick_max_ns), us(n->late_p50_ns), us(n->late_p99_ns), us(n->late_max_ns),
	    n->deadline_ns / 1e6, (unsigned long long)n->deadline_misses, n->watchdog_ns / 1e6,
	    (unsigned long long)n->watchdog_trips, circuit_state_name(n->circuit),
	    (unsigned long long)n->failures, (unsigned long long)n->restarts);
	if (n->last_error) {
		json_str(out, strerror(n->last_error));
	} else {
		evbuffer_add_printf(out, "null");
	}
	evbuffer_add_printf(out, ", \"pool\": ");
	json_str(out, n->pool);
	evbuffer_add_printf(out,
			    ", \"io\": {\"pending\": %u, \"submitted\": %llu, \"completed\": %llu, "
			    "\"failed\": %llu, \"timed_out\": %llu}}",
			    n->io_pending, (unsigned long long)n->io_submitted,
			    (unsigned long long)n->io_completed, (unsigned long long)n->io_failed,
			    (unsigned long long)n->io_timed_out);
}

static void cmd_status(struct control *ctl, struct evbuffer *out)
{
	struct sched_stats st;

	sched_get_stats(ctl->d->sched, &st);
	evbuffer_add_printf(out, "{\"schema\": 1, \"version\": ");
	json_str(out, horus_version());
	evbuffer_add_printf(out, ", \"pid\": %d, \"namespace\": ", (int)getpid());
	json_str(out, ctl->d->ns);
	evbuffer_add_printf(out,
			    ", \"uptime_s\": %.3f, \"threads\": {\"tick\": %u, \"stuck\": %u}, "
			    "\"plugins\": %u, \"nodes\": %u, \"dispatches\": %llu, "
			    "\"wakeups\": %llu, \"dispatch_ns\": {\"p50\": %llu, \"p99\": %llu, "
			    "\"max\": %llu}, \"reloads\": %u}\n",
			    (now_ns() - ctl->d->start_ns) / 1e9, st.threads, st.retired, st.plugins,
			    st.nodes, (unsigned long long)st.dispatches,
			    (unsigned long long)st.wakeups, (unsigned long long)st.dispatch_p50_ns,
			    (unsigned long long)st.dispatch_p99_ns,
			    (unsigned long long)st.dispatch_max_ns, ctl->d->reloads);
}

static void cmd_pools(struct control *ctl, struct evbuffer *out)
{
	struct pool_info *info;
	int n = sched_pools(ctl->d->sched, &info);

	if (n < 0) {
		reply_error(out, "cannot list pools: %s", strerror(-n));
		return;
	}
	evbuffer_add_printf(out, "{\"schema\": 1, \"pools\": [");
	for (int i = 0; i < n; i++) {
		const struct pool_info *p = &info[i];

		evbuffer_add_printf(out, "%s{\"name\": ", i ? ", " : "");
		json_str(out, p->name);
		evbuffer_add_printf(
		    out,
		    ", \"workers\": %u, \"threads\": %u, \"stuck\": %u, \"queue\": %u, "
		    "\"queued\": %u, \"running\": %u, \"submitted\": %llu, \"completed\": %llu, "
		    "\"failed\": %llu, \"timed_out\": %llu, \"cancelled\": %llu, \"refused\": "
		    "%llu, "
		    "\"replaced\": %llu, \"latency_us\": {\"p50\": %.3f, \"p99\": %.3f, "
		    "\"max\": %.3f}}",
		    p->workers, p->live, p->stuck, p->queue, p->queued, p->running,
		    (unsigned long long)p->submitted, (unsigned long long)p->completed,
		    (unsigned long long)p->failed, (unsigned long long)p->timed_out,
		    (unsigned long long)p->cancelled, (unsigned long long)p->refused,
		    (unsigned long long)p->replaced, us(p->latency_p50_ns), us(p->latency_p99_ns),
		    us(p->latency_max_ns));
	}
	evbuffer_add_printf(out, "]}\n");
	free(info);
}

static void cmd_nodes(struct control *ctl, struct evbuffer *out, const char *only)
{
	struct node_info *info;
	int n = sched_list(ctl->d->sched, &info);
	bool found = false;

	if (n < 0) {
		reply_error(out, "cannot list nodes: %s", strerror(-n));
		return;
	}
	if (!only) {
		evbuffer_add_printf(out, "{\"schema\": 1, \"nodes\": [");
	}
	for (int i = 0; i < n; i++) {
		if (only && strcmp(info[i].name, only) != 0) {
			continue;
		}
		if (only) {
			evbuffer_add_printf(out, "{\"schema\": 1, \"node\": ");
		} else if (found) {
			evbuffer_add_printf(out, ", ");
		}
		found = true;
		node_json(out, &info[i]);
		if (only) {
			evbuffer_add_printf(out, "}\n");
		}
	}
	if (!only) {
		evbuffer_add_printf(out, "]}\n");
	} else if (!found) {
		reply_error(out, "no node named '%s'", only);
	}
	sched_info_free(info, n);
}

/* ---- node operations: answered when the tick thread is done ------------------------------ */

static void on_pending_done(evutil_socket_t fd, short what, void *arg)
{
	struct pending *p = arg;
	int r = atomic_load(&p->result);

	(void)fd;
	(void)what;
	if (p->bev) {
		struct evbuffer *out = bufferevent_get_output(p->bev);
		struct client *cl = NULL;

		if (r < 0) {
			reply_error(out, "node %s %s: %s", p->op, p->name,
				    r == -ENOENT ? "no such node" : strerror(-r));
		} else {
			evbuffer_add_printf(out, "{\"schema\": 1, \"ok\": true}\n");
		}
		bufferevent_getcb(p->bev, NULL, NULL, NULL, (void **)&cl);
		if (cl) {
			cl->pending = NULL;
		}
		bufferevent_enable(p->bev, EV_READ);
	}
	event_free(p->done_ev);
	free(p);
}

static void pending_done(void *userdata, int result)
{
	struct pending *p = userdata;

	atomic_store(&p->result, result);
	event_active(p->done_ev, EV_READ, 0); /* back to the watcher loop */
}

static void cmd_node_op(struct control *ctl, struct bufferevent *bev, struct client *cl,
			const struct control_req *req)
{
	const char *op = control_node_op_name(req->cmd);
	enum sched_node_op o = req->cmd == CONTROL_NODE_STOP	? SCHED_NODE_STOP
			       : req->cmd == CONTROL_NODE_START ? SCHED_NODE_START
								: SCHED_NODE_RESTART;
	struct pending *p;
	int r;

	p = calloc(1, sizeof(*p));
	if (!p || !(p->done_ev = event_new(ctl->d->base, -1, 0, on_pending_done, p))) {
		free(p);
		reply_error(bufferevent_get_output(bev), "out of memory");
		return;
	}
	p->ctl = ctl;
	p->bev = bev;
	p->op = op;
	snprintf(p->name, sizeof(p->name), "%s", req->name);
	r = sched_node_op(ctl->d->sched, req->name, o, pending_done, p);
	if (r < 0) {
		event_free(p->done_ev);
		free(p);
		reply_error(bufferevent_get_output(bev), "node %s %s: %s", op, req->name,
			    strerror(-r));
		return;
	}
	cl->pending = p;
	bufferevent_disable(bev, EV_READ); /* one request at a time per client */
}

/* ---- requests ---------------------------------------------------------------------------- */

static void handle_line(struct control *ctl, struct bufferevent *bev, struct client *cl,
			const char *line, size_t len)
{
	struct evbuffer *out = bufferevent_get_output(bev);
	struct control_req req;
	char *errors = NULL;

	if (control_parse(line, len, &req) < 0) {
		reply_error(out, "%s", req.error);
		return;
	}
	switch (req.cmd) {
	case CONTROL_STATUS:
		cmd_status(ctl, out);
		break;
	case CONTROL_POOLS:
		cmd_pools(ctl, out);
		break;
	case CONTROL_NODE_LIST:
		cmd_nodes(ctl, out, NULL);
		break;
	case CONTROL_NODE_INFO:
		cmd_nodes(ctl, out, req.name);
		break;
	case CONTROL_NODE_STOP:
	case CONTROL_NODE_START:
	case CONTROL_NODE_RESTART:
		cmd_node_op(ctl, bev, cl, &req);
		break;
	case CONTROL_RELOAD:
		if (daemon_reload(ctl->d, &errors) < 0) {
			reply_error(out, "reload refused: %s", errors ? errors : "errors");
		} else {
			evbuffer_add_printf(out, "{\"schema\": 1, \"ok\": true}\n");
		}
		free(errors);
		break;
	}
}

static void client_free(struct bufferevent *bev, struct client *cl)
{
	if (cl->pending) {
		cl->pending->bev = NULL; /* answered into the void when it completes */
	}
	cl->ctl->clients--;
	free(cl);
	bufferevent_free(bev);
}

/*
 * While a line is unfinished, the client has CONTROL_PARTIAL_S from its first byte to end it
 * (a silent one hits the shorter read timeout, a trickling one the check here); with no line
 * under way it may idle for CONTROL_IDLE_S.
 */
static void track_partial(struct bufferevent *bev, struct client *cl)
{
	struct timeval idle = {.tv_sec = CONTROL_IDLE_S}, partial = {.tv_sec = CONTROL_PARTIAL_S};
	bool unfinished = !cl->pending && evbuffer_get_length(bufferevent_get_input(bev)) > 0;
	uint64_t now = now_ns();

	if (!unfinished) {
		if (cl->partial_since) {
			cl->partial_since = 0;
			bufferevent_set_timeouts(bev, &idle, &idle);
		}
		return;
	}
	if (!cl->partial_since) {
		cl->partial_since = now;
		bufferevent_set_timeouts(bev, &partial, &idle);
	} else if (now - cl->partial_since > CONTROL_PARTIAL_S * 1000000000ull) {
		reply_error(bufferevent_get_output(bev), "request not finished within %d s",
			    CONTROL_PARTIAL_S);
		evbuffer_drain(bufferevent_get_input(bev),
			       evbuffer_get_length(bufferevent_get_input(bev)));
		bufferevent_disable(bev, EV_READ);
		cl->closing = true;
	}
}

static void on_read(struct bufferevent *bev, void *arg)
{
	struct client *cl = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	char *line;
	size_t len;

	while (!cl->pending && (line = evbuffer_readln(in, &len, EVBUFFER_EOL_LF))) {
		/* A line too long is refused by the parser; the connection stays usable. */
		handle_line(cl->ctl, bev, cl, line, len);
		free(line);
	}
	if (evbuffer_get_length(in) > CONTROL_LINE_MAX) {
		reply_error(bufferevent_get_output(bev), "request longer than %d bytes",
			    CONTROL_LINE_MAX);
		evbuffer_drain(in, evbuffer_get_length(in));
		bufferevent_disable(bev, EV_READ);
		cl->closing = true; /* on_write closes it once the error is out */
		return;
	}
	track_partial(bev, cl);
}

static void on_write(struct bufferevent *bev, void *arg)
{
	struct client *cl = arg;

	if (cl->closing && evbuffer_get_length(bufferevent_get_output(bev)) == 0) {
		client_free(bev, cl);
	}
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
	(void)what; /* EOF, error or idle timeout: drop the client */
	client_free(bev, arg);
}

static void on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int len,
		      void *arg)
{
	struct control *ctl = arg;
	struct timeval idle = {.tv_sec = CONTROL_IDLE_S};
	struct bufferevent *bev;
	struct client *cl;

	(void)l;
	(void)sa;
	(void)len;
	if (ctl->clients >= CONTROL_CLIENTS_MAX) {
		close(fd); /* refuse rather than grow without bound */
		return;
	}
	bev = bufferevent_socket_new(ctl->d->base, fd, BEV_OPT_CLOSE_ON_FREE);
	cl = calloc(1, sizeof(*cl));
	if (!bev || !cl) {
		if (bev) {
			bufferevent_free(bev);
		} else {
			close(fd);
		}
		free(cl);
		return;
	}
	cl->ctl = ctl;
	ctl->clients++;
	bufferevent_setcb(bev, on_read, on_write, on_event, cl);
	bufferevent_set_timeouts(bev, &idle, &idle);
	bufferevent_setwatermark(bev, EV_READ, 0, CONTROL_LINE_MAX * 2);
	bufferevent_enable(bev, EV_READ | EV_WRITE);
}

int control_open(struct daemon *d, const char *path, struct control **ret)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct control *ctl;
	mode_t old;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		return -ENAMETOOLONG;
	}
	ctl = calloc(1, sizeof(*ctl));
	if (!ctl) {
		return -ENOMEM;
	}
	ctl->d = d;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	snprintf(ctl->path, sizeof(ctl->path), "%s", path);
	unlink(path);	   /* a socket left by a previous run */
	old = umask(0117); /* 0660: owner and group only */
	ctl->listener = evconnlistener_new_bind(d->base, on_accept, ctl,
						LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 16,
						(struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (!ctl->listener) {
		int r = -errno;

		free(ctl);
		return r ? r : -EIO;
	}
	chmod(path, 0660);
	*ret = ctl;
	return 0;
}

void control_close(struct control *ctl)
{
	if (!ctl) {
		return;
	}
	evconnlistener_free(ctl->listener);
	unlink(ctl->path);
	free(ctl);
}
