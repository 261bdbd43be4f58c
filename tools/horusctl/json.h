/* SPDX-License-Identifier: MIT */
#ifndef HORUS_HORUSCTL_JSON_H
#define HORUS_HORUSCTL_JSON_H

/*
 * A small JSON reader for the daemon's replies (RFC 8259 values). The input is untrusted: every
 * read is bounded by the given length (no NUL terminator needed), nesting is limited to
 * JSON_DEPTH_MAX, and anything malformed is refused with the byte offset and what is wrong.
 * Strings are decoded (escapes, \u surrogate pairs to UTF-8); "\u0000" is refused so that every
 * decoded string is a plain C string.
 */

#include <stdbool.h>
#include <stddef.h>

#define JSON_DEPTH_MAX 64
#define JSON_INPUT_MAX (16u * 1024u * 1024u)

enum json_type {
	JSON_NULL = 1,
	JSON_FALSE,
	JSON_TRUE,
	JSON_NUMBER,
	JSON_STRING,
	JSON_ARRAY,
	JSON_OBJECT,
};

struct json_value;
struct json_doc;

struct json_error {
	size_t offset;	  /* byte offset in the input where parsing stopped */
	const char *what; /* static text */
};

/*
 * Parses text[0..len) as one JSON value, optionally surrounded by whitespace. On success *ret
 * owns the document (json_free). Returns 0, -EINVAL (malformed: err says where and why), -E2BIG
 * (longer than JSON_INPUT_MAX or nested deeper than JSON_DEPTH_MAX) or -ENOMEM. err may be NULL.
 */
int json_parse(const char *text, size_t len, struct json_doc **ret, struct json_error *err);
void json_free(struct json_doc *doc);

const struct json_value *json_root(const struct json_doc *doc);
/* The value's own text in the input (for passing a sub-object through unchanged). */
const char *json_raw(const struct json_doc *doc, const struct json_value *v, size_t *ret_len);

/* All accessors accept NULL and then answer "absent" (NULL, false, 0). */
enum json_type json_type(const struct json_value *v);
/* Member `key` of an object (the first one if repeated), else NULL. */
const struct json_value *json_get(const struct json_value *obj, const char *key);
/* Follows a dotted path of member names, e.g. "tick_us.p99". */
const struct json_value *json_path(const struct json_value *obj, const char *path);
/* First element (array) or member (object), then the next one; NULL at the end. */
const struct json_value *json_first(const struct json_value *v);
const struct json_value *json_next(const struct json_value *v);
/* Elements or members. */
size_t json_count(const struct json_value *v);
/* The member name of a value inside an object, else NULL. */
const char *json_key(const struct json_value *v);

/* The decoded string, or NULL if v is not a string. */
const char *json_string(const struct json_value *v);
/* true and *ret for a number, else false. */
bool json_number(const struct json_value *v, double *ret);

/* Shorthands on members: the value at path if it has the right type, else def. */
const char *json_path_str(const struct json_value *obj, const char *path, const char *def);
double json_path_num(const struct json_value *obj, const char *path, double def);
/* JSON_TRUE -> 1, JSON_FALSE -> 0, else def. */
int json_path_bool(const struct json_value *obj, const char *path, int def);

#endif /* HORUS_HORUSCTL_JSON_H */
