/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for horusctl's JSON reader: any bytes, parsed; an accepted document is walked
 * through every accessor, and each value's raw text must lie within the input and parse again
 * on its own.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void walk(const struct json_doc *doc, const struct json_value *v, size_t size, int depth)
{
	struct json_doc *again;
	size_t len, n = 0;
	const char *raw = json_raw(doc, v, &len);
	double x;

	if (len > size || (json_type(v) == JSON_STRING && !json_string(v)) ||
	    (json_type(v) == JSON_NUMBER && !json_number(v, &x)) || depth > JSON_DEPTH_MAX + 1) {
		abort();
	}
	if (depth < 4) { /* each level re-parses its subtree: keep the work linear-ish */
		if (json_parse(raw, len, &again, NULL) != 0) {
			abort();
		}
		json_free(again);
	}
	for (const struct json_value *c = json_first(v); c; c = json_next(c)) {
		if (json_type(v) == JSON_OBJECT &&
		    (!json_key(c) || json_get(v, json_key(c)) == NULL)) {
			abort();
		}
		walk(doc, c, size, depth + 1);
		n++;
	}
	if (n != json_count(v)) {
		abort();
	}
	(void)json_path_num(v, "a.b", 0);
	(void)json_path_str(v, "schema", NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct json_doc *doc;

	if (json_parse((const char *)data, size, &doc, NULL) == 0) {
		walk(doc, json_root(doc), size, 0);
		json_free(doc);
	}
	return 0;
}
