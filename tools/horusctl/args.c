/* SPDX-License-Identifier: MIT */
/* horusctl's command line: argv -> struct ctl_args, or one line saying what is wrong. */

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"

#define WORDS_MAX 4

/* Verb options, as bits, so that each verb can say which ones it takes. */
enum {
	OPT_N = 1 << 0,
	OPT_R = 1 << 1,
	OPT_W = 1 << 2,
	OPT_RAW = 1 << 3,
	OPT_D = 1 << 4,
	OPT_SORT = 1 << 5,
};

struct verb_def {
	const char *w1, *w2; /* w2 NULL: a one-word verb */
	enum ctl_verb verb;
	int operands; /* words after the verb's own: NAME, TOPIC, TOPIC DATA */
	int opts;
	const char *usage; /* the operands, for the hint */
};

static const struct verb_def verbs[] = {
    {"status", NULL, CTL_STATUS, 0, 0, ""},
    {"reload", NULL, CTL_RELOAD, 0, 0, ""},
    {"clean", NULL, CTL_CLEAN, 0, 0, ""},
    {"top", NULL, CTL_TOP, 0, OPT_D | OPT_SORT, ""},
    {"help", NULL, CTL_HELP, 0, 0, ""},
    {"node", "list", CTL_NODE_LIST, 0, 0, ""},
    {"node", "info", CTL_NODE_INFO, 1, 0, " NAME"},
    {"node", "restart", CTL_NODE_RESTART, 1, 0, " NAME"},
    {"node", "stop", CTL_NODE_STOP, 1, 0, " NAME"},
    {"node", "start", CTL_NODE_START, 1, 0, " NAME"},
    {"topic", "list", CTL_TOPIC_LIST, 0, 0, ""},
    {"topic", "info", CTL_TOPIC_INFO, 1, OPT_W, " TOPIC"},
    {"topic", "echo", CTL_TOPIC_ECHO, 1, OPT_N | OPT_RAW, " TOPIC"},
    {"topic", "hz", CTL_TOPIC_HZ, 1, OPT_N | OPT_W, " TOPIC"},
    {"topic", "bw", CTL_TOPIC_BW, 1, OPT_N | OPT_W, " TOPIC"},
    {"topic", "pub", CTL_TOPIC_PUB, 2, OPT_N | OPT_R, " TOPIC DATA"},
};

static const char *const sort_names[] = {
    [CTL_SORT_NAME] = "name",	  [CTL_SORT_STATE] = "state", [CTL_SORT_P99] = "p99",
    [CTL_SORT_MISSES] = "misses", [CTL_SORT_RATE] = "rate",
};

const char *ctl_sort_name(enum ctl_sort sort)
{
	return sort >= CTL_SORT_NAME && sort <= CTL_SORT_RATE ? sort_names[sort] : "?";
}

enum ctl_sort ctl_sort_parse(const char *s)
{
	for (int i = CTL_SORT_NAME; i <= CTL_SORT_RATE; i++) {
		if (s && !strcmp(s, sort_names[i])) {
			return (enum ctl_sort)i;
		}
	}
	return 0;
}

static int usage_error(char *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int usage_error(char *err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, CTL_ERR_MAX, fmt, ap);
	va_end(ap);
	/* The message quotes what was typed: keep it one printable line. */
	for (char *p = err; *p; p++) {
		if ((unsigned char)*p < 0x20 || *p == 0x7f) {
			*p = '?';
		}
	}
	return -EINVAL;
}

static int parse_count(const char *opt, const char *s, long min, long *ret, char *err)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (!*s || *end || errno || v < min || v > 1000000000L || s[0] == '+' || s[0] == ' ') {
		return usage_error(
		    err, "option '%s': '%.40s' is not a whole number from %ld to 1000000000", opt,
		    s, min);
	}
	*ret = v;
	return 0;
}

static int parse_real(const char *opt, const char *s, double min, double max, double *ret,
		      char *err)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (!*s || *end || errno || !isfinite(v) || v < min || v > max || s[0] == ' ') {
		return usage_error(err, "option '%s': '%.40s' is not a number from %g to %g", opt,
				   s, min, max);
	}
	*ret = v;
	return 0;
}

/* "--long=value": the value after '=', else NULL. */
static const char *inline_value(const char *arg, const char *name)
{
	size_t n = strlen(name);

	return !strncmp(arg, name, n) && arg[n] == '=' ? arg + n + 1 : NULL;
}

static bool is_flag(const char *arg, const char *short_name, const char *long_name)
{
	return (short_name && !strcmp(arg, short_name)) || !strcmp(arg, long_name);
}

static bool is_opt(const char *arg, const char *short_name, const char *long_name)
{
	return (short_name && !strcmp(arg, short_name)) || (long_name && !strcmp(arg, long_name)) ||
	       (long_name && inline_value(arg, long_name));
}

static int check_node_name(const char *name, char *err)
{
	size_t n = strlen(name);

	if (n == 0 || n > CTL_NODE_NAME_MAX) {
		return usage_error(err, "node name '%.40s' must be 1 to %d bytes", name,
				   CTL_NODE_NAME_MAX);
	}
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)name[i];

		if (c <= ' ' || c == 0x7f) {
			return usage_error(
			    err, "node name '%.40s' contains a blank or control character", name);
		}
	}
	return 0;
}

static const struct verb_def *find_verb(char *const words[], int n, char *err)
{
	const char *w2 = n > 1 ? words[1] : NULL;
	bool family = false;

	if (n == 0) {
		usage_error(err, "missing command");
		return NULL;
	}
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++) {
		if (strcmp(verbs[i].w1, words[0]) != 0) {
			continue;
		}
		family = true;
		if (!verbs[i].w2 || (w2 && !strcmp(verbs[i].w2, w2))) {
			return &verbs[i];
		}
	}
	if (!family) {
		usage_error(err, "unknown command '%.40s'", words[0]);
	} else if (!w2) {
		usage_error(err, "'%s' needs a subcommand: %s", words[0],
			    !strcmp(words[0], "node") ? "list, info, restart, stop, start"
						      : "list, info, echo, hz, bw, pub");
	} else {
		usage_error(err, "unknown command '%s %.40s'", words[0], w2);
	}
	return NULL;
}

/* The verb's operands and options, once the words are known. */
static int check_verb(const struct verb_def *v, char *const words[], int n, int opts,
		      struct ctl_args *a, char *err)
{
	int used = v->w2 ? 2 : 1;
	const char *label = v->w2 ? v->w2 : "";

	if (n - used < v->operands) {
		return usage_error(err, "'%s%s%s' needs%s", v->w1, *label ? " " : "", label,
				   v->usage);
	}
	if (n - used > v->operands) {
		return usage_error(err, "unexpected argument '%.40s' after '%s%s%s'",
				   words[used + v->operands], v->w1, *label ? " " : "", label);
	}
	if (opts & ~v->opts) {
		static const char *const names[] = {"-n", "-r", "-w", "--raw", "-d", "--sort"};

		for (int i = 0; i < 6; i++) {
			if (opts & ~v->opts & (1 << i)) {
				return usage_error(err, "option '%s' does not apply to '%s%s%s'",
						   names[i], v->w1, *label ? " " : "", label);
			}
		}
	}
	a->verb = v->verb;
	if (v->operands >= 1) {
		a->name = words[used];
	}
	if (v->operands >= 2) {
		a->data = words[used + 1];
	}
	if (v->w2 && !strcmp(v->w1, "node") && v->operands) {
		return check_node_name(a->name, err);
	}
	if (v->verb == CTL_TOP && a->json) {
		return usage_error(err, "'top' has no JSON form; use 'node list --json'");
	}
	if (a->raw && a->json) {
		return usage_error(err, "--raw and --json exclude each other");
	}
	return 0;
}

/* Takes the value of option argv[*i] ("-x V" or "--long=V"); NULL with err set if missing. */
static const char *opt_value(int argc, char *const argv[], int *i, const char *long_name, char *err)
{
	const char *v = long_name ? inline_value(argv[*i], long_name) : NULL;

	if (v) {
		return v;
	}
	if (*i + 1 >= argc) {
		usage_error(err, "option '%s' needs a value", argv[*i]);
		return NULL;
	}
	return argv[++*i];
}

int ctl_args_parse(int argc, char *const argv[], struct ctl_args *ret, char err[CTL_ERR_MAX])
{
	struct ctl_args a = {0};
	char *words[WORDS_MAX + 1];
	int n = 0, opts = 0;
	bool dashdash = false;
	const struct verb_def *v;

	err[0] = '\0';
	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i], *val;

		if (!arg) {
			return usage_error(err, "argument %d is missing", i);
		}
		if (dashdash || arg[0] != '-' || !arg[1]) {
			if (n == WORDS_MAX) {
				return usage_error(err, "unexpected argument '%.40s'", arg);
			}
			words[n++] = (char *)arg;
			continue;
		}
		if (!strcmp(arg, "--")) {
			dashdash = true;
		} else if (is_flag(arg, "-h", "--help")) {
			a.verb = CTL_HELP;
			*ret = a;
			return 0;
		} else if (is_flag(arg, NULL, "--version")) {
			a.verb = CTL_VERSION;
			*ret = a;
			return 0;
		} else if (is_flag(arg, "-j", "--json")) {
			a.json = true;
		} else if (is_opt(arg, NULL, "--socket")) {
			if (!(a.socket = opt_value(argc, argv, &i, "--socket", err))) {
				return -EINVAL;
			}
			if (!*a.socket) {
				return usage_error(err, "option '--socket' needs a path");
			}
		} else if (is_opt(arg, NULL, "--namespace")) {
			if (!(a.ns = opt_value(argc, argv, &i, "--namespace", err))) {
				return -EINVAL;
			}
			if (!*a.ns) {
				return usage_error(err, "option '--namespace' needs a name");
			}
		} else if (is_opt(arg, "-n", "--count")) {
			if (!(val = opt_value(argc, argv, &i, "--count", err)) ||
			    parse_count("-n", val, 1, &a.count, err) < 0) {
				return -EINVAL;
			}
			opts |= OPT_N;
		} else if (is_opt(arg, "-r", "--rate")) {
			if (!(val = opt_value(argc, argv, &i, "--rate", err)) ||
			    parse_real("-r", val, 0.001, 100000, &a.rate_hz, err) < 0) {
				return -EINVAL;
			}
			opts |= OPT_R;
		} else if (is_opt(arg, "-w", "--window")) {
			if (!(val = opt_value(argc, argv, &i, "--window", err)) ||
			    parse_real("-w", val, 0.01, 3600, &a.window_s, err) < 0) {
				return -EINVAL;
			}
			opts |= OPT_W;
		} else if (is_opt(arg, "-d", "--delay")) {
			if (!(val = opt_value(argc, argv, &i, "--delay", err)) ||
			    parse_real("-d", val, 0.1, 60, &a.window_s, err) < 0) {
				return -EINVAL;
			}
			opts |= OPT_D;
		} else if (is_opt(arg, "-s", "--sort")) {
			if (!(val = opt_value(argc, argv, &i, "--sort", err))) {
				return -EINVAL;
			}
			if (!(a.sort = ctl_sort_parse(val))) {
				return usage_error(
				    err,
				    "option '--sort': '%.40s' is not one of name, state, "
				    "p99, misses, rate",
				    val);
			}
			opts |= OPT_SORT;
		} else if (is_flag(arg, NULL, "--raw")) {
			a.raw = true;
			opts |= OPT_RAW;
		} else {
			return usage_error(err, "unknown option '%.40s'", arg);
		}
	}
	if (!(v = find_verb(words, n, err))) {
		return -EINVAL;
	}
	if (check_verb(v, words, n, opts, &a, err) < 0) {
		return -EINVAL;
	}
	*ret = a;
	return 0;
}
