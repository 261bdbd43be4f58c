/* SPDX-License-Identifier: MIT */
/*
 * The JSON reader: recursive descent over a bounded buffer into a flat array of values. Values
 * refer to each other by index while the array may still grow, and get pointers once it is
 * final. Decoded strings go to one pool sized from the input: a decoded string is never longer
 * than its quoted form, so the pool cannot overflow.
 */

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

#define NONE SIZE_MAX
#define NUMBER_MAX 64

struct json_value {
	enum json_type type;
	size_t start, end; /* raw text [start, end) */
	const char *key;
	const char *str;
	double num;
	size_t count;
	size_t first_i, next_i; /* indices while parsing */
	const struct json_value *first, *next;
};

struct json_doc {
	struct json_value *v;
	size_t n, cap;
	char *text; /* a copy of the input, for json_raw */
	char *pool;
	size_t pool_used;
};

struct parser {
	const char *s;
	size_t len, pos;
	struct json_doc *doc;
	struct json_error *err;
	int rc;
};

static int fail(struct parser *p, int rc, const char *what)
{
	if (p->rc == 0) {
		p->rc = rc;
		if (p->err) {
			p->err->offset = p->pos;
			p->err->what = what;
		}
	}
	return -1;
}

static void skip_ws(struct parser *p)
{
	while (p->pos < p->len && (p->s[p->pos] == ' ' || p->s[p->pos] == '\t' ||
				   p->s[p->pos] == '\n' || p->s[p->pos] == '\r')) {
		p->pos++;
	}
}

static long new_value(struct parser *p, enum json_type type)
{
	struct json_doc *d = p->doc;

	if (d->n == d->cap) {
		size_t cap = d->cap ? d->cap * 2 : 16;
		struct json_value *v = realloc(d->v, cap * sizeof(*v));

		if (!v) {
			return fail(p, -ENOMEM, "out of memory");
		}
		d->v = v;
		d->cap = cap;
	}
	memset(&d->v[d->n], 0, sizeof(d->v[0]));
	d->v[d->n].type = type;
	d->v[d->n].start = p->pos;
	d->v[d->n].first_i = NONE;
	d->v[d->n].next_i = NONE;
	return (long)d->n++;
}

static int hex4(struct parser *p, unsigned *ret)
{
	unsigned x = 0;

	if (p->len - p->pos < 4) {
		return fail(p, -EINVAL, "truncated \\u escape");
	}
	for (int i = 0; i < 4; i++) {
		char c = p->s[p->pos++];

		x <<= 4;
		if (c >= '0' && c <= '9') {
			x |= (unsigned)(c - '0');
		} else if (c >= 'a' && c <= 'f') {
			x |= (unsigned)(c - 'a' + 10);
		} else if (c >= 'A' && c <= 'F') {
			x |= (unsigned)(c - 'A' + 10);
		} else {
			p->pos--;
			return fail(p, -EINVAL, "bad hex digit in \\u escape");
		}
	}
	*ret = x;
	return 0;
}

static size_t put_utf8(char *out, unsigned cp)
{
	if (cp < 0x80) {
		out[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (char)(0xc0 | (cp >> 6));
		out[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (char)(0xe0 | (cp >> 12));
		out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		out[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	out[0] = (char)(0xf0 | (cp >> 18));
	out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
	out[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

static int unicode_escape(struct parser *p, char *out, size_t *ret_n)
{
	unsigned cp, lo;

	if (hex4(p, &cp) < 0) {
		return -1;
	}
	if (cp == 0) {
		return fail(p, -EINVAL, "\\u0000 in a string");
	}
	if (cp >= 0xdc00 && cp <= 0xdfff) {
		return fail(p, -EINVAL, "lone low surrogate");
	}
	if (cp >= 0xd800 && cp <= 0xdbff) {
		if (p->len - p->pos < 2 || p->s[p->pos] != '\\' || p->s[p->pos + 1] != 'u') {
			return fail(p, -EINVAL, "high surrogate without its low half");
		}
		p->pos += 2;
		if (hex4(p, &lo) < 0) {
			return -1;
		}
		if (lo < 0xdc00 || lo > 0xdfff) {
			return fail(p, -EINVAL, "high surrogate without its low half");
		}
		cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
	}
	*ret_n = put_utf8(out, cp);
	return 0;
}

/* Decodes the string starting at the opening quote into the pool; NULL on error. */
static const char *parse_string(struct parser *p)
{
	struct json_doc *d = p->doc;
	char *out = d->pool + d->pool_used;
	size_t n = 0;

	p->pos++; /* the opening quote */
	for (;;) {
		unsigned char c;

		if (p->pos >= p->len) {
			fail(p, -EINVAL, "unterminated string");
			return NULL;
		}
		c = (unsigned char)p->s[p->pos];
		if (c == '"') {
			p->pos++;
			break;
		}
		if (c < 0x20) {
			fail(p, -EINVAL, "control character in a string");
			return NULL;
		}
		if (c != '\\') {
			out[n++] = (char)c;
			p->pos++;
			continue;
		}
		if (++p->pos >= p->len) {
			fail(p, -EINVAL, "unterminated escape");
			return NULL;
		}
		c = (unsigned char)p->s[p->pos++];
		switch (c) {
		case '"':
		case '\\':
		case '/':
			out[n++] = (char)c;
			break;
		case 'b':
			out[n++] = '\b';
			break;
		case 'f':
			out[n++] = '\f';
			break;
		case 'n':
			out[n++] = '\n';
			break;
		case 'r':
			out[n++] = '\r';
			break;
		case 't':
			out[n++] = '\t';
			break;
		case 'u': {
			size_t k;

			if (unicode_escape(p, out + n, &k) < 0) {
				return NULL;
			}
			n += k;
			break;
		}
		default:
			p->pos--;
			fail(p, -EINVAL, "unknown escape");
			return NULL;
		}
	}
	out[n] = '\0';
	d->pool_used += n + 1;
	return out;
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static int parse_number(struct parser *p, double *ret)
{
	size_t start = p->pos;
	char buf[NUMBER_MAX];
	char *end;

	if (p->pos < p->len && p->s[p->pos] == '-') {
		p->pos++;
	}
	if (p->pos >= p->len || !is_digit(p->s[p->pos])) {
		return fail(p, -EINVAL, p->pos == start ? "unexpected character" : "bad number");
	}
	if (p->s[p->pos] == '0') {
		p->pos++;
	} else {
		while (p->pos < p->len && is_digit(p->s[p->pos])) {
			p->pos++;
		}
	}
	if (p->pos < p->len && p->s[p->pos] == '.') {
		p->pos++;
		if (p->pos >= p->len || !is_digit(p->s[p->pos])) {
			return fail(p, -EINVAL, "bad number: no digit after '.'");
		}
		while (p->pos < p->len && is_digit(p->s[p->pos])) {
			p->pos++;
		}
	}
	if (p->pos < p->len && (p->s[p->pos] == 'e' || p->s[p->pos] == 'E')) {
		p->pos++;
		if (p->pos < p->len && (p->s[p->pos] == '+' || p->s[p->pos] == '-')) {
			p->pos++;
		}
		if (p->pos >= p->len || !is_digit(p->s[p->pos])) {
			return fail(p, -EINVAL, "bad number: no digit in the exponent");
		}
		while (p->pos < p->len && is_digit(p->s[p->pos])) {
			p->pos++;
		}
	}
	if (p->pos - start >= sizeof(buf)) {
		return fail(p, -EINVAL, "number too long");
	}
	memcpy(buf, p->s + start, p->pos - start);
	buf[p->pos - start] = '\0';
	*ret = strtod(buf, &end);
	if (!isfinite(*ret)) {
		return fail(p, -EINVAL, "number out of range");
	}
	return 0;
}

static int literal(struct parser *p, const char *word)
{
	size_t n = strlen(word);

	if (p->len - p->pos < n || memcmp(p->s + p->pos, word, n) != 0) {
		return fail(p, -EINVAL, "unexpected character");
	}
	p->pos += n;
	return 0;
}

static long parse_value(struct parser *p, int depth);

/* Parses the members or elements of a container whose opening bracket is at p->pos. */
static int parse_container(struct parser *p, long self, int depth, bool object)
{
	char close = object ? '}' : ']';
	size_t last = NONE;

	p->pos++;
	skip_ws(p);
	if (p->pos < p->len && p->s[p->pos] == close) {
		p->pos++;
		return 0;
	}
	for (;;) {
		const char *key = NULL;
		long child;

		skip_ws(p);
		if (object) {
			if (p->pos >= p->len || p->s[p->pos] != '"') {
				return fail(p, -EINVAL, "expected a member name");
			}
			if (!(key = parse_string(p))) {
				return -1;
			}
			skip_ws(p);
			if (p->pos >= p->len || p->s[p->pos] != ':') {
				return fail(p, -EINVAL, "expected ':'");
			}
			p->pos++;
		}
		child = parse_value(p, depth + 1);
		if (child < 0) {
			return -1;
		}
		p->doc->v[child].key = key;
		if (last == NONE) {
			p->doc->v[self].first_i = (size_t)child;
		} else {
			p->doc->v[last].next_i = (size_t)child;
		}
		last = (size_t)child;
		p->doc->v[self].count++;
		skip_ws(p);
		if (p->pos >= p->len) {
			return fail(p, -EINVAL,
				    object ? "unterminated object" : "unterminated array");
		}
		if (p->s[p->pos] == close) {
			p->pos++;
			return 0;
		}
		if (p->s[p->pos] != ',') {
			return fail(p, -EINVAL,
				    object ? "expected ',' or '}'" : "expected ',' or ']'");
		}
		p->pos++;
	}
}

static long parse_value(struct parser *p, int depth)
{
	long self;
	int r = 0;

	if (depth > JSON_DEPTH_MAX) {
		return fail(p, -E2BIG, "nested too deeply");
	}
	skip_ws(p);
	if (p->pos >= p->len) {
		return fail(p, -EINVAL, "expected a value");
	}
	switch (p->s[p->pos]) {
	case '{':
	case '[':
		self = new_value(p, p->s[p->pos] == '{' ? JSON_OBJECT : JSON_ARRAY);
		if (self >= 0) {
			r = parse_container(p, self, depth, p->doc->v[self].type == JSON_OBJECT);
		}
		break;
	case '"':
		self = new_value(p, JSON_STRING);
		if (self >= 0) {
			const char *s = parse_string(p);

			r = s ? 0 : -1;
			p->doc->v[self].str = s;
		}
		break;
	case 't':
		self = new_value(p, JSON_TRUE);
		r = self >= 0 ? literal(p, "true") : -1;
		break;
	case 'f':
		self = new_value(p, JSON_FALSE);
		r = self >= 0 ? literal(p, "false") : -1;
		break;
	case 'n':
		self = new_value(p, JSON_NULL);
		r = self >= 0 ? literal(p, "null") : -1;
		break;
	default:
		self = new_value(p, JSON_NUMBER);
		if (self >= 0) {
			double x = 0;

			r = parse_number(p, &x);
			p->doc->v[self].num = x;
		}
		break;
	}
	if (self < 0 || r < 0) {
		return -1;
	}
	p->doc->v[self].end = p->pos;
	return self;
}

void json_free(struct json_doc *doc)
{
	if (!doc) {
		return;
	}
	free(doc->v);
	free(doc->text);
	free(doc->pool);
	free(doc);
}

int json_parse(const char *text, size_t len, struct json_doc **ret, struct json_error *err)
{
	struct parser p = {.s = text, .len = len, .err = err};
	struct json_doc *d;

	if (!text || !ret) {
		return -EINVAL;
	}
	if (len > JSON_INPUT_MAX) {
		if (err) {
			err->offset = 0;
			err->what = "input too long";
		}
		return -E2BIG;
	}
	d = calloc(1, sizeof(*d));
	if (!d || !(d->text = malloc(len + 1)) || !(d->pool = malloc(len + 1))) {
		json_free(d);
		return -ENOMEM;
	}
	memcpy(d->text, text, len);
	d->text[len] = '\0';
	p.s = d->text;
	p.doc = d;
	if (parse_value(&p, 0) >= 0) {
		skip_ws(&p);
		if (p.pos != p.len) {
			fail(&p, -EINVAL, "trailing characters after the value");
		}
	}
	if (p.rc < 0) {
		json_free(d);
		return p.rc;
	}
	for (size_t i = 0; i < d->n; i++) {
		d->v[i].first = d->v[i].first_i == NONE ? NULL : &d->v[d->v[i].first_i];
		d->v[i].next = d->v[i].next_i == NONE ? NULL : &d->v[d->v[i].next_i];
	}
	*ret = d;
	return 0;
}

const struct json_value *json_root(const struct json_doc *doc)
{
	return doc && doc->n ? &doc->v[0] : NULL;
}

const char *json_raw(const struct json_doc *doc, const struct json_value *v, size_t *ret_len)
{
	if (!doc || !v) {
		*ret_len = 0;
		return NULL;
	}
	*ret_len = v->end - v->start;
	return doc->text + v->start;
}

enum json_type json_type(const struct json_value *v)
{
	return v ? v->type : 0;
}

const struct json_value *json_get(const struct json_value *obj, const char *key)
{
	if (!obj || obj->type != JSON_OBJECT || !key) {
		return NULL;
	}
	for (const struct json_value *m = obj->first; m; m = m->next) {
		if (!strcmp(m->key, key)) {
			return m;
		}
	}
	return NULL;
}

const struct json_value *json_path(const struct json_value *obj, const char *path)
{
	char part[128];

	while (obj && path && *path) {
		const char *dot = strchr(path, '.');
		size_t n = dot ? (size_t)(dot - path) : strlen(path);

		if (n >= sizeof(part)) {
			return NULL;
		}
		memcpy(part, path, n);
		part[n] = '\0';
		obj = json_get(obj, part);
		path = dot ? dot + 1 : NULL;
	}
	return obj;
}

const struct json_value *json_first(const struct json_value *v)
{
	return v ? v->first : NULL;
}

const struct json_value *json_next(const struct json_value *v)
{
	return v ? v->next : NULL;
}

size_t json_count(const struct json_value *v)
{
	return v ? v->count : 0;
}

const char *json_key(const struct json_value *v)
{
	return v ? v->key : NULL;
}

const char *json_string(const struct json_value *v)
{
	return v && v->type == JSON_STRING ? v->str : NULL;
}

bool json_number(const struct json_value *v, double *ret)
{
	if (!v || v->type != JSON_NUMBER) {
		return false;
	}
	*ret = v->num;
	return true;
}

const char *json_path_str(const struct json_value *obj, const char *path, const char *def)
{
	const char *s = json_string(json_path(obj, path));

	return s ? s : def;
}

double json_path_num(const struct json_value *obj, const char *path, double def)
{
	double x;

	return json_number(json_path(obj, path), &x) ? x : def;
}

int json_path_bool(const struct json_value *obj, const char *path, int def)
{
	enum json_type t = json_type(json_path(obj, path));

	return t == JSON_TRUE ? 1 : t == JSON_FALSE ? 0 : def;
}
