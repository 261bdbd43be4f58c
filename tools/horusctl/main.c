/* SPDX-License-Identifier: MIT */
/* horusctl: operate and inspect horusd and its bus (DESIGN.md, Command line). */

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <horus/horus.h>

#include "ctl.h"

volatile sig_atomic_t ctl_interrupted;

static const char help[] =
    "Usage: horusctl [--socket PATH] [--namespace NS] [--json] COMMAND\n"
    "\n"
    "Daemon commands (over the control socket):\n"
    "  status                        version, pid, uptime, threads, plugins, pools, namespace\n"
    "  node list                     every node: state, rates, tick p99, misses, breaker, I/O\n"
    "  node info NAME                one node in full\n"
    "  node restart|stop|start NAME  steer one node\n"
    "  reload                        re-read the config and plugins (same as SIGHUP)\n"
    "  top [-d SECONDS] [--sort KEY] live table of nodes; KEY: name, state, p99, misses,\n"
    "                                rate; keys in the view: n s p m r to sort, q to quit.\n"
    "                                Off a terminal: prints one snapshot and exits\n"
    "\n"
    "Bus commands (on the shared memory, with or without a daemon):\n"
    "  topic list                    topics: kind, publishers, subscribers, counters\n"
    "  topic info TOPIC [-w SECONDS] one topic, with rate and bandwidth over -w (0.5 s)\n"
    "  topic echo TOPIC [-n N] [--raw]\n"
    "                                print messages as they arrive: text as text, else hex;\n"
    "                                --raw writes the bytes; -n stops after N\n"
    "  topic hz TOPIC [-w SECONDS] [-n N]\n"
    "                                rate, and period mean/min/max/stddev, every -w (1 s);\n"
    "                                -n stops after N reports. From the publishers' counter,\n"
    "                                sampled every 1 ms: the rate is exact, periods are\n"
    "                                known to 1 ms. Subscribes to nothing\n"
    "  topic bw TOPIC [-w SECONDS] [-n N]\n"
    "                                bytes per second, message size mean/min/max (min/max\n"
    "                                exact below 1 message per ms), as hz\n"
    "  topic pub TOPIC DATA [-r HZ] [-n N]\n"
    "                                publish DATA once; -n N times at -r HZ (10); -r alone:\n"
    "                                until interrupted. Use -- before a DATA starting with -\n"
    "  clean                         remove this namespace's segments no live process holds\n"
    "\n"
    "Options:\n"
    "  --socket PATH      the daemon's control socket. Precedence: --socket, then\n"
    "                     $HORUS_SOCKET, then " HORUS_CONTROL_SOCKET "\n"
    "  --namespace NS     the bus namespace. Precedence: --namespace, then $HORUS_NAMESPACE,\n"
    "                     then the daemon's (asked over the socket), then 'default'\n"
    "  -j, --json         JSON with \"schema\": 1; streaming commands print one object per line\n"
    "  -h, --help         this help;  --version  the version\n"
    "\n"
    "Exit status: 0 ok, 1 failure (unknown node or topic, refused by the daemon),\n"
    "2 usage error, 3 no daemon answers.\n";

static void on_signal(int sig)
{
	(void)sig;
	ctl_interrupted = 1;
}

static void catch_signals(void)
{
	struct sigaction sa = {.sa_handler = on_signal};

	/* No SA_RESTART: a sleep or wait returns early and the loop sees the flag. */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGPIPE, &sa, NULL);
}

static bool uses_namespace(enum ctl_verb v)
{
	return v == CTL_TOPIC_LIST || v == CTL_TOPIC_INFO || v == CTL_TOPIC_ECHO ||
	       v == CTL_TOPIC_HZ || v == CTL_TOPIC_BW || v == CTL_TOPIC_PUB || v == CTL_CLEAN;
}

static int run(struct ctl *c)
{
	switch (c->args.verb) {
	case CTL_HELP:
		fputs(help, stdout);
		return CTL_EXIT_OK;
	case CTL_VERSION:
		printf("horusctl %s\n", horus_version());
		return CTL_EXIT_OK;
	case CTL_STATUS:
		return cmd_status(c);
	case CTL_NODE_LIST:
		return cmd_node_list(c);
	case CTL_NODE_INFO:
		return cmd_node_info(c);
	case CTL_NODE_RESTART:
	case CTL_NODE_STOP:
	case CTL_NODE_START:
		return cmd_node_op(c);
	case CTL_RELOAD:
		return cmd_reload(c);
	case CTL_TOP:
		return c->tty ? cmd_top(c) : ctl_top_snapshot(c);
	case CTL_TOPIC_LIST:
		return cmd_topic_list(c);
	case CTL_TOPIC_INFO:
		return cmd_topic_info(c);
	case CTL_TOPIC_ECHO:
		return cmd_topic_echo(c);
	case CTL_TOPIC_HZ:
		return cmd_topic_hz(c);
	case CTL_TOPIC_BW:
		return cmd_topic_bw(c);
	case CTL_TOPIC_PUB:
		return cmd_topic_pub(c);
	case CTL_CLEAN:
		return cmd_clean(c);
	}
	return CTL_EXIT_USAGE;
}

int main(int argc, char *argv[])
{
	struct ctl c = {0};
	char err[CTL_ERR_MAX];
	const char *env = getenv("HORUS_SOCKET");
	int r;

	if (ctl_args_parse(argc, argv, &c.args, err) < 0) {
		ctl_err("%s", err);
		fputs("Try 'horusctl -h' for the list of commands and options.\n", stderr);
		return CTL_EXIT_USAGE;
	}
	c.socket = c.args.socket ? c.args.socket : env && *env ? env : HORUS_CONTROL_SOCKET;
	c.tty = isatty(STDOUT_FILENO);
	catch_signals();
	if (uses_namespace(c.args.verb)) {
		r = ctl_resolve_namespace(&c);
		if (r != CTL_EXIT_OK) {
			return r;
		}
	}
	r = run(&c);
	if (fflush(stdout) != 0 && r == CTL_EXIT_OK && !ctl_interrupted) {
		ctl_err("cannot write the output: %m");
		r = CTL_EXIT_FAIL;
	}
	return r;
}
