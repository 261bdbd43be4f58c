/* SPDX-License-Identifier: MIT */
/* horusd: command line, start-up, signals, reload, systemd notification, the watcher loop. */

#include <dirent.h>
#include <errno.h>
#include <event2/event.h>
#include <getopt.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include <horus/horus.h>

#include "daemon.h"
#include "log.h"

#define EXIT_CONFIG 78 /* EX_CONFIG */
#define WATCH_INTERVAL_US 5000

static void usage(FILE *f)
{
	fprintf(f, "Usage: horusd [-c FILE] [--check-config] [--version] [-h]\n"
		   "\n"
		   "Runs the horus node runtime in the foreground.\n"
		   "\n"
		   "  -c, --config FILE   main configuration (default " HORUS_CONFIG_FILE ");\n"
		   "                      drop-ins are read from FILE's directory/horusd.d/*.ini\n"
		   "      --check-config  check the configuration and the plugins, print every\n"
		   "                      problem, exit 0 if good and 78 if not\n"
		   "      --version       print the version\n"
		   "  -h, --help          this text\n");
}

static char *dropin_dir_of(const char *config_path)
{
	char *copy = strdup(config_path), *dir = NULL;

	if (copy && asprintf(&dir, "%s/horusd.d", dirname(copy)) < 0) {
		dir = NULL;
	}
	free(copy);
	return dir;
}

static void print_errors(struct config_errors *errs)
{
	for (size_t i = 0; i < errs->n; i++) {
		log_err("%s", errs->lines[i]);
	}
}

/* Loads one plugin without calling init; reports a refusal. Returns 1 if refused. */
static int check_one_plugin(const char *path, const char *where)
{
	struct plugin *p = NULL;
	char why[512] = "";

	if (plugin_load(path, geteuid(), &p, why, sizeof(why)) < 0) {
		log_err("%s%s: %s", where, path, why);
		return 1;
	}
	plugin_unload(p);
	return 0;
}

/*
 * Loads every plugin the daemon would run: those named by [node.*] sections and every *.so in
 * plugin_dir, without calling init. Returns the problem count.
 */
static int check_plugins(const struct horus_config *cfg)
{
	int problems = 0;
	struct dirent *de;
	DIR *dir = opendir(cfg->daemon.plugin_dir);

	if (!dir) {
		log_err("plugin_dir %s: cannot open: %s", cfg->daemon.plugin_dir, strerror(errno));
		problems++;
	}
	while (dir && (de = readdir(dir))) {
		size_t len = strlen(de->d_name);
		char *path;

		if (len < 4 || de->d_name[0] == '.' || strcmp(de->d_name + len - 3, ".so") != 0) {
			continue;
		}
		char *where = NULL;

		if (asprintf(&path, "%s/%s", cfg->daemon.plugin_dir, de->d_name) < 0) {
			break;
		}
		/* Name the section that uses it, if one does: that is where the user looks. */
		for (size_t i = 0; i < cfg->n_nodes && !where; i++) {
			const struct node_conf *n = &cfg->nodes[i];

			if (strlen(n->plugin) == len - 3 && !strncmp(n->plugin, de->d_name, len - 3) &&
			    asprintf(&where, "%s:%d: [node.%s] plugin: ", n->file, n->line,
				     n->name) < 0) {
				where = NULL;
			}
		}
		problems += check_one_plugin(path, where ? where : "plugin ");
		free(where);
		free(path);
	}
	if (dir) {
		closedir(dir);
	}

	for (size_t i = 0; i < cfg->n_nodes; i++) {
		const struct node_conf *n = &cfg->nodes[i];
		char *path, *where;

		if (strchr(n->plugin, '/')) {
			path = strdup(n->plugin);
		} else if (asprintf(&path, "%s/%s.so", cfg->daemon.plugin_dir, n->plugin) < 0) {
			path = NULL;
		}
		if (!path || asprintf(&where, "%s:%d: [node.%s] plugin: ", n->file, n->line,
				      n->name) < 0) {
			free(path);
			return problems + 1;
		}
		if (strchr(n->plugin, '/')) {
			problems += check_one_plugin(path, where); /* plugin_dir ones were checked */
		} else if (access(path, F_OK) != 0) {
			log_err("%s%s: no such plugin", where, path);
			problems++;
		}
		free(where);
		free(path);
	}
	return problems;
}

static void notify_status(struct daemon *d, const char *what)
{
	struct sched_stats st;

	sched_get_stats(d->sched, &st);
	sd_notifyf(0, "STATUS=%s: %u nodes, %u plugins, %u tick threads%s", what, st.nodes,
		   st.plugins, st.threads, st.retired ? " (some stuck in hung calls)" : "");
}

static void on_apply_done(evutil_socket_t fd, short what, void *arg)
{
	struct daemon *d = arg;

	(void)fd;
	(void)what;
	if (d->reloading) {
		d->reloading = false;
		log_info("configuration applied: %d nodes running", atomic_load(&d->apply_result));
		sd_notify(0, "READY=1");
		notify_status(d, "running");
	}
}

/* Runs on the tick thread: hand the result over to the watcher loop. */
static void apply_done(void *userdata, int result)
{
	struct daemon *d = userdata;

	atomic_store(&d->apply_result, result);
	event_active(d->apply_done_ev, EV_READ, 0);
}

static int load_and_apply(struct daemon *d, bool first, char **ret_errors)
{
	struct config_errors errs = { 0 };
	struct horus_config cfg;
	int r = config_load(d->config_path, d->dropin_dir, &cfg, &errs);

	if (r < 0) {
		print_errors(&errs);
		if (ret_errors) {
			size_t len = 1;

			for (size_t i = 0; i < errs.n; i++) {
				len += strlen(errs.lines[i]) + 1;
			}
			*ret_errors = calloc(1, len);
			for (size_t i = 0; *ret_errors && i < errs.n; i++) {
				strcat(*ret_errors, errs.lines[i]);
				strcat(*ret_errors, "\n");
			}
		}
		config_errors_free(&errs);
		return r;
	}
	config_errors_free(&errs);
	if (!first && strcmp(cfg.daemon.ns, d->ns) != 0) {
		log_warn("namespace change to '%s' needs a restart; keeping '%s'", cfg.daemon.ns,
			 d->ns);
	}
	log_set_level(cfg.daemon.log_level);
	d->reloading = true;
	return sched_apply(d->sched, &cfg, apply_done, d);
}

int daemon_reload(struct daemon *d, char **ret_errors)
{
	int r;

	log_info("reloading configuration from %s", d->config_path);
	sd_notify(0, "RELOADING=1");
	r = load_and_apply(d, false, ret_errors);
	if (r < 0) {
		log_err("reload refused: the configuration has errors; the running one stays");
		sd_notify(0, "READY=1");
		notify_status(d, "running (last reload refused)");
		return r;
	}
	d->reloads++;
	return 0;
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct daemon *d = arg;

	(void)what;
	if (sig == SIGHUP) {
		(void)daemon_reload(d, NULL);
		return;
	}
	log_info("received %s; stopping", strsignal((int)sig));
	event_base_loopbreak(d->base);
}

static void on_watch(evutil_socket_t fd, short what, void *arg)
{
	struct daemon *d = arg;
	bool healthy;
	uint64_t now;

	(void)fd;
	(void)what;
	healthy = sched_watch(d->sched);
	now = now_ns();
	/* Ping systemd at half its interval, and only while the scheduler makes progress. */
	if (d->watchdog_usec && healthy && now - d->last_ping_ns > d->watchdog_usec * 500) {
		sd_notify(0, "WATCHDOG=1");
		d->last_ping_ns = now;
	}
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "check-config", no_argument, NULL, 'C' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct daemon d = { .config_path = HORUS_CONFIG_FILE };
	struct timeval tv = { .tv_sec = 0, .tv_usec = WATCH_INTERVAL_US };
	static const int sigs[] = { SIGHUP, SIGTERM, SIGINT };
	bool check = false;
	int c, r, exit_code = EXIT_SUCCESS;

	log_init();
	while ((c = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			d.config_path = optarg;
			break;
		case 'C':
			check = true;
			break;
		case 'V':
			printf("horusd %s\n", horus_version());
			return EXIT_SUCCESS;
		case 'h':
			usage(stdout);
			return EXIT_SUCCESS;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "horusd: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return 2;
	}
	d.dropin_dir = dropin_dir_of(d.config_path);

	if (check) {
		struct config_errors errs = { 0 };
		struct horus_config cfg;
		int problems;

		r = config_load(d.config_path, d.dropin_dir, &cfg, &errs);
		print_errors(&errs);
		config_errors_free(&errs);
		if (r < 0) {
			free(d.dropin_dir);
			return EXIT_CONFIG;
		}
		problems = check_plugins(&cfg);
		config_free(&cfg);
		free(d.dropin_dir);
		if (problems) {
			return EXIT_CONFIG;
		}
		printf("configuration OK\n");
		return EXIT_SUCCESS;
	}

	/* The first config must be valid: there is nothing to fall back to. */
	{
		struct config_errors errs = { 0 };
		struct horus_config cfg;

		r = config_load(d.config_path, d.dropin_dir, &cfg, &errs);
		print_errors(&errs);
		config_errors_free(&errs);
		if (r < 0) {
			log_err("not starting: the configuration has errors");
			free(d.dropin_dir);
			return EXIT_CONFIG;
		}
		snprintf(d.ns, sizeof(d.ns), "%s", cfg.daemon.ns);
		snprintf(d.control_path, sizeof(d.control_path), "%s", cfg.daemon.control_socket);
		log_set_level(cfg.daemon.log_level);
		config_free(&cfg);
	}
	signal(SIGPIPE, SIG_IGN);
	d.start_ns = now_ns();
	r = horus_clean(d.ns);
	if (r > 0) {
		log_info("removed %d stale segments of namespace '%s'", r, d.ns);
	}
	r = sched_create(d.ns, geteuid(), &d.sched);
	if (r < 0) {
		log_err("Failed to start the scheduler: %s", strerror(-r));
		return EXIT_FAILURE;
	}
	d.base = event_base_new();
	if (!d.base) {
		log_err("Failed to create the event loop");
		return EXIT_FAILURE;
	}
	d.apply_done_ev = event_new(d.base, -1, 0, on_apply_done, &d);
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
		d.sig_ev[i] = evsignal_new(d.base, sigs[i], on_signal, &d);
		event_add(d.sig_ev[i], NULL);
	}
	d.watch_ev = event_new(d.base, -1, EV_PERSIST, on_watch, &d);
	event_add(d.watch_ev, &tv);
	if (sd_watchdog_enabled(0, &d.watchdog_usec) <= 0) {
		d.watchdog_usec = 0;
	}
	r = control_open(&d, d.control_path, &d.control);
	if (r < 0) {
		log_err("Failed to open the control socket '%s': %s; going on without it",
			d.control_path, strerror(-r));
	}
	r = load_and_apply(&d, true, NULL);
	if (r < 0) {
		exit_code = EXIT_CONFIG;
		goto out;
	}
	log_info("horusd %s running in namespace '%s'", horus_version(), d.ns);
	event_base_dispatch(d.base);

	sd_notify(0, "STOPPING=1");
out:
	control_close(d.control);
	sched_destroy(d.sched, 5000ull * 1000 * 1000);
	r = horus_clean(d.ns);
	log_info("stopped (removed %d segments)", r > 0 ? r : 0);
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
		event_free(d.sig_ev[i]);
	}
	event_free(d.watch_ev);
	event_free(d.apply_done_ev);
	event_base_free(d.base);
	free(d.dropin_dir);
	return exit_code;
}
