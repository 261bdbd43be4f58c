/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: namespace and topic names, and their mapping to /dev/shm file names.
 *
 *   input := sel:u8 shrink:u8 ns NUL topic NUL file     (missing parts are empty strings)
 *   sel bits 0-1: kind (0, hub, link, a foreign 9); shrink: bytes taken off the name buffer
 *
 * Properties checked (abort() on a violation, so that libFuzzer keeps the input):
 *  - shm_valid_namespace() and shm_valid_topic() agree with the rules written in pubsub.h,
 *    implemented here a second time, independently;
 *  - shm_make_name() succeeds exactly for a known kind, a valid namespace and topic and a buffer
 *    big enough, says -ENAMETOOLONG when only the buffer is short, writes within the buffer, and
 *    leaves no '/' past the first byte;
 *  - a made name parses back (shm_parse_name) to the same kind and topic;
 *  - any file name that parses gives a valid topic, and making the name again from what was
 *    parsed gives back the same file name (the mapping is one-to-one).
 * Buffers are heap blocks of the exact size passed, so ASan sees any write past them.
 */

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <horus/pubsub.h>

#include "fuzz-check.h"
#include "segment.h"

static bool ref_name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '-';
}

/* pubsub.h: "a namespace is 1..32 of [A-Za-z0-9_-]" */
static bool ref_valid_ns(const char *ns)
{
	size_t n = strlen(ns);

	if (n < 1 || n > HORUS_NAMESPACE_MAX) {
		return false;
	}
	for (size_t i = 0; i < n; i++) {
		if (!ref_name_char(ns[i])) {
			return false;
		}
	}
	return true;
}

/* pubsub.h: "a topic is 1..HORUS_TOPIC_MAX of [A-Za-z0-9_.-/], not starting or ending with '/',
 * without "//" or ".."" */
static bool ref_valid_topic(const char *t)
{
	size_t n = strlen(t);

	if (n < 1 || n > HORUS_TOPIC_MAX || t[0] == '/' || t[n - 1] == '/') {
		return false;
	}
	for (size_t i = 0; i < n; i++) {
		if (!ref_name_char(t[i]) && t[i] != '.' && t[i] != '/') {
			return false;
		}
	}
	return strstr(t, "//") == NULL && strstr(t, "..") == NULL;
}

/* Splits off the next NUL-terminated part into a heap string (empty past the end). */
static char *next_part(const uint8_t **p, size_t *n)
{
	const uint8_t *end = memchr(*p, '\0', *n);
	size_t len = end ? (size_t)(end - *p) : *n;
	char *s = malloc(len + 1);

	check(s);
	memcpy(s, *p, len);
	s[len] = '\0';
	*p += len + (end ? 1 : 0);
	*n -= len + (end ? 1 : 0);
	return s;
}

static const char *kind_word(uint32_t kind)
{
	return kind == HORUS_KIND_HUB ? "hub" : kind == HORUS_KIND_LINK ? "link" : NULL;
}

/* What shm_make_name() should write, with no size limit; NULL if the inputs are invalid. */
static char *expected_name(const char *ns, uint32_t kind, const char *topic)
{
	const char *kw = kind_word(kind);
	size_t len;
	char *s;

	if (!kw || !ref_valid_ns(ns) || !ref_valid_topic(topic)) {
		return NULL;
	}
	len = 1 + strlen(SHM_PREFIX) + strlen(ns) + 1 + strlen(kw) + 1 + strlen(topic);
	s = malloc(len + 1);
	check(s);
	strcpy(s, "/" SHM_PREFIX);
	strcat(s, ns);
	strcat(s, ".");
	strcat(s, kw);
	strcat(s, ".");
	for (char *d = s + strlen(s); *topic; topic++) {
		*d++ = *topic == '/' ? '+' : *topic;
		*d = '\0';
	}
	return s;
}

static void check_make_and_parse(const char *ns, uint32_t kind, const char *topic, size_t bufsz)
{
	char *want = expected_name(ns, kind, topic);
	char *buf = malloc(bufsz ? bufsz : 1);
	char parsed[HORUS_TOPIC_MAX + 1];
	uint32_t pkind = 0;
	int r;

	check(buf);
	r = shm_make_name(buf, bufsz, ns, kind, topic);
	if (!want) {
		check(r == -EINVAL);
	} else if (strlen(want) >= bufsz) {
		check(r == -ENAMETOOLONG);
	} else {
		check(r == 0);
		check(strcmp(buf, want) == 0);
		check(strchr(buf + 1, '/') == NULL);
		/* The full-size buffer always fits a valid name: SHM_NAME_MAX is the worst case. */
		check(strlen(buf) < SHM_NAME_MAX);
		check(shm_parse_name(buf + 1, ns, &pkind, parsed, sizeof(parsed)));
		check(pkind == kind);
		check(strcmp(parsed, topic) == 0);
	}
	if (want && bufsz < SHM_NAME_MAX) {
		/* Whatever the caller's buffer, the library's own SHM_NAME_MAX buffers fit. */
		char full[SHM_NAME_MAX];

		check(shm_make_name(full, sizeof(full), ns, kind, topic) == 0);
	}
	free(want);
	free(buf);
}

static void check_parse(const char *file, const char *ns, size_t topic_size)
{
	char *topic = malloc(topic_size ? topic_size : 1);
	uint32_t kind = 0;

	check(topic);
	if (shm_parse_name(file, ns, &kind, topic, topic_size)) {
		check(kind == HORUS_KIND_HUB || kind == HORUS_KIND_LINK);
		check(strlen(topic) < topic_size);
		check(shm_valid_topic(topic));
		/* /dev/shm entries never hold '/': for those, the mapping must be one-to-one. */
		if (ref_valid_ns(ns) && !strchr(file, '/')) {
			char name[SHM_NAME_MAX];

			check(shm_make_name(name, sizeof(name), ns, kind, topic) == 0);
			check(strcmp(name + 1, file) == 0);
		}
	}
	free(topic);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint32_t kinds[] = { 0, HORUS_KIND_HUB, HORUS_KIND_LINK, 9 };
	const uint8_t *p = data;
	size_t n = size;
	unsigned sel, shrink;
	char *ns, *topic, *file;

	if (size < 2) {
		return 0;
	}
	sel = data[0];
	shrink = data[1];
	p += 2;
	n -= 2;
	ns = next_part(&p, &n);
	topic = next_part(&p, &n);
	file = next_part(&p, &n);

	check(shm_valid_namespace(ns) == ref_valid_ns(ns));
	check(shm_valid_topic(topic) == ref_valid_topic(topic));
	check(!shm_valid_namespace(NULL) && !shm_valid_topic(NULL));

	check_make_and_parse(ns, kinds[sel & 3], topic, SHM_NAME_MAX);
	check_make_and_parse(ns, kinds[sel & 3], topic, SHM_NAME_MAX - shrink % SHM_NAME_MAX);

	/* Arbitrary file names, and the topic re-read as one. */
	check_parse(file, ns, HORUS_TOPIC_MAX + 1);
	check_parse(file, ns, (shrink % (HORUS_TOPIC_MAX + 1)) + 1);
	check_parse(topic, ns, HORUS_TOPIC_MAX + 1);

	free(ns);
	free(topic);
	free(file);
	return 0;
}
