/* SPDX-License-Identifier: MIT */
/* Segment names: namespace and topic validation, and the mapping to /dev/shm file names. */

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <horus/pubsub.h>

#include "segment.h"

static bool is_name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '-';
}

bool shm_valid_namespace(const char *ns)
{
	size_t n = 0;

	if (!ns) {
		return false;
	}
	for (; ns[n]; n++) {
		if (n >= HORUS_NAMESPACE_MAX || !is_name_char(ns[n])) {
			return false;
		}
	}
	return n > 0;
}

bool shm_valid_topic(const char *topic)
{
	size_t n = 0;

	if (!topic || topic[0] == '/' || topic[0] == '\0') {
		return false;
	}
	for (; topic[n]; n++) {
		char c = topic[n];
		if (n >= HORUS_TOPIC_MAX) {
			return false;
		}
		if (!is_name_char(c) && c != '.' && c != '/') {
			return false;
		}
		if ((c == '/' || c == '.') && topic[n + 1] == c) {
			return false; /* "//" and ".." */
		}
	}
	return topic[n - 1] != '/';
}

static const char *kind_word(uint32_t kind)
{
	return kind == HORUS_KIND_HUB ? "hub" : kind == HORUS_KIND_LINK ? "link" : NULL;
}

int shm_make_name(char *buf, size_t size, const char *ns, uint32_t kind, const char *topic)
{
	const char *kw = kind_word(kind);
	int n;

	if (!kw || !shm_valid_namespace(ns) || !shm_valid_topic(topic)) {
		return -EINVAL;
	}
	n = snprintf(buf, size, "/" SHM_PREFIX "%s.%s.%s", ns, kw, topic);
	if (n < 0 || (size_t)n >= size) {
		return -ENAMETOOLONG;
	}
	/* shm names cannot contain '/' past the first; '+' is not a topic character. */
	for (char *p = buf + 1; *p; p++) {
		if (*p == '/') {
			*p = '+';
		}
	}
	return 0;
}

bool shm_parse_name(const char *file, const char *ns, uint32_t *ret_kind, char *ret_topic,
		    size_t topic_size)
{
	size_t plen = strlen(SHM_PREFIX), nlen = strlen(ns);
	const char *p = file;
	uint32_t kind;
	size_t tlen;

	if (strncmp(p, SHM_PREFIX, plen) != 0) {
		return false;
	}
	p += plen;
	if (strncmp(p, ns, nlen) != 0 || p[nlen] != '.') {
		return false;
	}
	p += nlen + 1;
	if (strncmp(p, "hub.", 4) == 0) {
		kind = HORUS_KIND_HUB;
		p += 4;
	} else if (strncmp(p, "link.", 5) == 0) {
		kind = HORUS_KIND_LINK;
		p += 5;
	} else {
		return false;
	}
	tlen = strlen(p);
	if (tlen == 0 || tlen >= topic_size) {
		return false;
	}
	for (size_t i = 0; i <= tlen; i++) {
		ret_topic[i] = p[i] == '+' ? '/' : p[i];
	}
	if (!shm_valid_topic(ret_topic)) {
		return false;
	}
	*ret_kind = kind;
	return true;
}
