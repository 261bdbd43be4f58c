/* SPDX-License-Identifier: MIT */
/*
 * A replay driver for a fuzz target without libFuzzer: runs LLVMFuzzerTestOneInput() once on
 * every file of the directories (or files) given, so that the kept corpora are regression tests
 * in every build, gcc and ASan included, not only in the clang fuzzing build. A target reports a
 * violated property by abort(); this driver exits 0 after the last input, 1 if it read none.
 *
 *   replay DIR|FILE...
 */

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <libgen.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz-check.h"

static int replay_file(const char *path)
{
	FILE *f = fopen(path, "rbe");
	unsigned char *buf = NULL;
	size_t len = 0, cap = 0;

	if (!f) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		exit(2);
	}
	for (;;) {
		size_t n;

		if (cap - len < 4096) {
			unsigned char *nb = realloc(buf, cap + 65536);

			if (!nb) {
				fprintf(stderr, "replay: out of memory\n");
				exit(2);
			}
			buf = nb;
			cap += 65536;
		}
		n = fread(buf + len, 1, cap - len, f);
		if (n == 0) {
			break;
		}
		len += n;
	}
	fclose(f);
	/* An exact copy, so that a read one byte past the input is caught by ASan. */
	{
		unsigned char *exact = malloc(len ? len : 1);

		if (!exact) {
			fprintf(stderr, "replay: out of memory\n");
			exit(2);
		}
		memcpy(exact, buf, len);
		free(buf);
		(void)LLVMFuzzerTestOneInput(exact, len);
		free(exact);
	}
	return 1;
}

static int replay(const char *path)
{
	struct stat st;
	struct dirent *de;
	int n = 0;
	DIR *d;

	if (stat(path, &st) < 0) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		exit(2);
	}
	if (!S_ISDIR(st.st_mode)) {
		return replay_file(path);
	}
	d = opendir(path);
	if (!d) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		exit(2);
	}
	while ((de = readdir(d))) {
		char file[4096];

		if (de->d_name[0] == '.') {
			continue;
		}
		snprintf(file, sizeof(file), "%s/%s", path, de->d_name);
		n += replay(file);
	}
	closedir(d);
	return n;
}

int main(int argc, char **argv)
{
	int n = 0;

	for (int i = 1; i < argc; i++) {
		n += replay(argv[i]);
	}
	/* The line scripts/reliability-report.sh collects, named after the corpus. */
	printf("RELIABILITY: kept fuzzing inputs replayed: %s: %d inputs, every property held\n",
	       argc > 1 ? basename(argv[1]) : "-", n);
	return n > 0 ? 0 : 1;
}
