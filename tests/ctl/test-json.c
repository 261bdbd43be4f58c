/* SPDX-License-Identifier: MIT */
/*
 * horusctl's JSON reader (tools/horusctl/json.c): what it accepts it decodes right (nesting,
 * escapes, surrogate pairs, numbers, raw spans), and what is malformed, too deep or ambiguous for
 * C strings it refuses with the offset and the reason. Fuzzed separately (fuzz-horusctl-json).
 */

#include <errno.h>
#include <string.h>

#include <check.h>

#include "../../tools/horusctl/json.h"

static struct json_doc *parse_ok(const char *text)
{
	struct json_error err = {0};
	struct json_doc *doc = NULL;
	int r = json_parse(text, strlen(text), &doc, &err);

	ck_assert_msg(r == 0, "'%s' refused: %d at %zu (%s)", text, r, err.offset,
		      err.what ? err.what : "");
	return doc;
}

static void refused(const char *text, size_t len, int want, size_t offset, const char *what)
{
	struct json_error err = {0};
	struct json_doc *doc = NULL;
	int r = json_parse(text, len, &doc, &err);

	ck_assert_msg(r == want, "'%.*s': %d, expected %d", (int)len, text, r, want);
	ck_assert_ptr_null(doc);
	ck_assert_msg(err.offset == offset, "'%.*s': offset %zu, expected %zu", (int)len, text,
		      err.offset, offset);
	ck_assert_msg(err.what && strstr(err.what, what), "'%.*s': '%s', expected '%s'", (int)len,
		      text, err.what ? err.what : "", what);
}

START_TEST(test_daemon_reply)
{
	const char *text =
	    "{\"schema\": 1, \"nodes\": [{\"name\": \"cam\", \"tick_us\": "
	    "{\"p50\": 1.5, \"p99\": 2.5e3}, \"io\": {\"pending\": 0}, \"last_error\": "
	    "null}, {\"name\": \"b\"}], \"ok\": true}";
	struct json_doc *doc = parse_ok(text);
	const struct json_value *root = json_root(doc), *nodes = json_get(root, "nodes");
	const struct json_value *first = json_first(nodes);
	const char *raw;
	size_t len;

	ck_assert_int_eq(json_type(root), JSON_OBJECT);
	ck_assert(json_path_num(root, "schema", 0) == 1);
	ck_assert_int_eq(json_count(nodes), 2);
	ck_assert_str_eq(json_path_str(first, "name", ""), "cam");
	ck_assert(json_path_num(first, "tick_us.p99", 0) == 2500);
	ck_assert(json_path_num(first, "io.pending", -1) == 0);
	ck_assert_int_eq(json_type(json_get(first, "last_error")), JSON_NULL);
	ck_assert_str_eq(json_path_str(json_next(first), "name", ""), "b");
	ck_assert_ptr_null(json_next(json_next(first)));
	ck_assert_int_eq(json_path_bool(root, "ok", -1), 1);
	/* Absent, or of another type: the default. */
	ck_assert(json_path_num(first, "name", 7) == 7);
	ck_assert_str_eq(json_path_str(root, "nope.deeper", "def"), "def");
	ck_assert_ptr_null(json_get(nodes, "name"));
	/* The raw text of a member is the input's, byte for byte. */
	raw = json_raw(doc, json_get(first, "tick_us"), &len);
	ck_assert_int_eq(len, strlen("{\"p50\": 1.5, \"p99\": 2.5e3}"));
	ck_assert(!memcmp(raw, "{\"p50\": 1.5, \"p99\": 2.5e3}", len));
	ck_assert_str_eq(json_key(json_get(first, "tick_us")), "tick_us");
	json_free(doc);
}
END_TEST

START_TEST(test_strings)
{
	struct json_doc *doc = parse_ok(" \"a\\\"b\\\\c\\/d\\n\\t\\u00e9\\u20ac\\ud83d\\ude00\" ");

	ck_assert_str_eq(json_string(json_root(doc)),
			 "a\"b\\c/d\n\t\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80");
	json_free(doc);
}
END_TEST

START_TEST(test_numbers)
{
	static const struct {
		const char *text;
		double want;
	} ok[] = {{"0", 0},
		  {"-0.5", -0.5},
		  {"12e2", 1200},
		  {"1E-2", 0.01},
		  {"18446744073709551615", 18446744073709551615.0}};

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		struct json_doc *doc = parse_ok(ok[i].text);
		double v = -1;

		ck_assert(json_number(json_root(doc), &v));
		ck_assert_msg(v == ok[i].want, "%s -> %g", ok[i].text, v);
		json_free(doc);
	}
	refused("01", 2, -EINVAL, 1, "trailing");
	refused("1.", 2, -EINVAL, 2, "no digit after '.'");
	refused("-", 1, -EINVAL, 1, "bad number");
	refused("1e", 2, -EINVAL, 2, "exponent");
	refused("1e999", 5, -EINVAL, 5, "out of range");
	refused("+1", 2, -EINVAL, 0, "unexpected character");
}
END_TEST

START_TEST(test_malformed)
{
	char deep[JSON_DEPTH_MAX + 2 + JSON_DEPTH_MAX + 2];

	refused("", 0, -EINVAL, 0, "expected a value");
	refused("{\"a\" 1}", 7, -EINVAL, 5, "expected ':'");
	refused("{\"a\": 1,}", 9, -EINVAL, 8, "member name");
	refused("[1, 2", 5, -EINVAL, 5, "unterminated array");
	refused("[1 2]", 5, -EINVAL, 3, "expected ',' or ']'");
	refused("\"abc", 4, -EINVAL, 4, "unterminated string");
	refused("\"a\nb\"", 5, -EINVAL, 2, "control character");
	refused("\"\\x\"", 4, -EINVAL, 2, "unknown escape");
	refused("\"\\u12G4\"", 8, -EINVAL, 5, "bad hex digit");
	refused("\"\\u0000\"", 8, -EINVAL, 7, "\\u0000");
	refused("\"\\ud83d\"", 8, -EINVAL, 7, "without its low half");
	refused("\"\\ude00\"", 8, -EINVAL, 7, "lone low surrogate");
	refused("tru", 3, -EINVAL, 0, "unexpected character");
	refused("{} {}", 5, -EINVAL, 3, "trailing");
	/* Bounded by the length given, not by a NUL: "[1]" cut at 2 bytes is unterminated. */
	refused("[1]", 2, -EINVAL, 2, "unterminated array");

	/* Nesting: JSON_DEPTH_MAX levels are fine, one more is refused. */
	memset(deep, '[', JSON_DEPTH_MAX + 1);
	memset(deep + JSON_DEPTH_MAX + 1, ']', JSON_DEPTH_MAX + 1);
	{
		struct json_doc *doc = NULL;

		ck_assert_int_eq(json_parse(deep, 2 * (JSON_DEPTH_MAX + 1), &doc, NULL), 0);
		json_free(doc);
	}
	memset(deep, '[', JSON_DEPTH_MAX + 2);
	memset(deep + JSON_DEPTH_MAX + 2, ']', JSON_DEPTH_MAX + 2);
	refused(deep, sizeof(deep), -E2BIG, JSON_DEPTH_MAX + 1, "nested too deeply");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("json");
	TCase *tc = tcase_create("reader");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_daemon_reply);
	tcase_add_test(tc, test_strings);
	tcase_add_test(tc, test_numbers);
	tcase_add_test(tc, test_malformed);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
