/* SPDX-License-Identifier: MIT */
/* horus-bench: dispatches to one subcommand per file (bench-<name>.c). */

#include <stdio.h>
#include <string.h>

#include "bench-daemon.h"
#include "bench.h"

struct subcommand {
	const char *name;
	int (*main)(int argc, char **argv);
	const char *summary;
};

static const struct subcommand subcommands[] = {
	{ "latency", bench_latency_main,
	  "one-way latency, two processes ping-ponging on two cores, vs the bare floor" },
	{ "throughput", bench_throughput_main,
	  "messages per second, one publisher streaming to one spinning subscriber" },
	{ "scheduler", bench_scheduler_main,
	  "tick lateness and dispatch cost of a real horusd, vs a bare timerfd loop" },
	{ "asyncio", bench_asyncio_main,
	  "the seed's 50 ms read in a 100 Hz horusd: blocking in tick vs the worker pool" },
	{ "pool", bench_pool_main,
	  "submit-to-completion of empty jobs in horusd's pool, vs CPython's executor" },
};

static void usage(FILE *f)
{
	fputs("Usage: horus-bench COMMAND [options] [--json]\n"
	      "\n"
	      "Benchmarks of the horusd shared-memory bus. Each command prints a table, or with\n"
	      "--json one JSON object per case and line. 'horus-bench COMMAND -h' lists its\n"
	      "options.\n"
	      "\n"
	      "Commands:\n",
	      f);
	for (size_t i = 0; i < sizeof(subcommands) / sizeof(subcommands[0]); i++) {
		fprintf(f, "  %-12s %s\n", subcommands[i].name, subcommands[i].summary);
	}
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return BENCH_EXIT_USAGE;
	}
	if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
		usage(stdout);
		return BENCH_EXIT_OK;
	}
	for (size_t i = 0; i < sizeof(subcommands) / sizeof(subcommands[0]); i++) {
		if (strcmp(argv[1], subcommands[i].name) == 0) {
			return subcommands[i].main(argc - 1, argv + 1);
		}
	}
	fprintf(stderr, "horus-bench: unknown command '%s'\n\n", argv[1]);
	usage(stderr);
	return BENCH_EXIT_USAGE;
}
