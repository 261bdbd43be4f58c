/* SPDX-License-Identifier: MIT */
/* Namespace and topic names: what is accepted, and how names map to /dev/shm files. */

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <horus/pubsub.h>

#include "common.h"
#include "segment.h"

static const char *const good_topics[] = {
	"a", "camera/front", "camera/front/raw", "a.b", "A-Z_a-z.0-9", "x/y.z/w", ".hidden", "a.",
	"-", "_",
};

static const char *const bad_topics[] = {
	"",      "/a",    "a/",    "/",     "a//b",     "a..b",  "..",    "a/../b",
	"a b",   "a+b",   "a*b",   "a\nb",  "caf\xc3\xa9", "a\\b", "a:b",   "a%b",
	"a,b",   "a~b",   "a\tb",  "...",
};

static char *repeat(char c, size_t n)
{
	char *s = malloc(n + 1);

	ck_assert_ptr_nonnull(s);
	memset(s, c, n);
	s[n] = '\0';
	return s;
}

/* Every public entry point that takes a topic agrees on what a valid topic is. */
static int open_all(const char *topic)
{
	struct horus_pub *pub = NULL;
	struct horus_sub *sub = NULL;
	struct horus_link *link = NULL;
	int rp = horus_pub_open(t_ns, topic, NULL, &pub);
	int rs = horus_sub_open(t_ns, topic, NULL, 0, &sub);
	int rl = horus_link_open(t_ns, topic, HORUS_LINK_PRODUCER, NULL, &link);

	horus_pub_close(pub);
	horus_sub_close(sub);
	horus_link_close(link);
	ck_assert_msg(rp == rs && rs == rl, "'%s': pub %d sub %d link %d disagree", topic, rp, rs,
		      rl);
	return rp;
}

START_TEST(topic_valid)
{
	static const struct horus_topic_opts small = { .capacity = 2, .max_msg = 8 };
	char *longest = repeat('t', HORUS_TOPIC_MAX);
	struct horus_pub *pub;

	for (size_t i = 0; i < sizeof(good_topics) / sizeof(good_topics[0]); i++) {
		ck_assert_msg(shm_valid_topic(good_topics[i]), "'%s' refused", good_topics[i]);
		ck_assert_int_eq(horus_topic_check(good_topics[i]), 0);
		ck_assert_int_eq(open_all(good_topics[i]), 0);
	}
	ck_assert(shm_valid_topic(longest));
	ck_assert_int_eq(horus_topic_check(longest), 0);
	ck_assert_int_eq(horus_pub_open(t_ns, longest, &small, &pub), 0);
	horus_pub_close(pub);
	free(longest);
}
END_TEST

START_TEST(topic_invalid)
{
	char *too_long = repeat('t', HORUS_TOPIC_MAX + 1);
	struct horus_topic_info info;
	struct horus_pub *pub = (struct horus_pub *)&info; /* must stay untouched */

	for (size_t i = 0; i < sizeof(bad_topics) / sizeof(bad_topics[0]); i++) {
		ck_assert_msg(!shm_valid_topic(bad_topics[i]), "'%s' accepted", bad_topics[i]);
		ck_assert_int_eq(horus_topic_check(bad_topics[i]), -EINVAL);
		ck_assert_int_eq(open_all(bad_topics[i]), -EINVAL);
		ck_assert_int_eq(horus_topic_info(t_ns, bad_topics[i], HORUS_KIND_HUB, &info),
				 -EINVAL);
	}
	ck_assert(!shm_valid_topic(too_long));
	ck_assert(!shm_valid_topic(NULL));
	ck_assert_int_eq(horus_topic_check(too_long), -EINVAL);
	ck_assert_int_eq(horus_topic_check(NULL), -EINVAL);
	ck_assert_int_eq(open_all(too_long), -EINVAL);
	ck_assert_int_eq(horus_pub_open(t_ns, NULL, NULL, &pub), -EINVAL);
	ck_assert_ptr_eq(pub, (struct horus_pub *)&info); /* out-params written only on success */
	free(too_long);
}
END_TEST

START_TEST(namespace_valid)
{
	static const char *const good[] = { "x", "default", "A-b_9", "0" };
	char *longest = repeat('n', HORUS_NAMESPACE_MAX);
	char buf[HORUS_NAMESPACE_MAX + 1];
	struct horus_pub *pub;

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		ck_assert(shm_valid_namespace(good[i]));
		ck_assert_int_eq(horus_namespace(good[i], buf), 0);
		ck_assert_str_eq(buf, good[i]);
	}
	ck_assert(shm_valid_namespace(longest));
	ck_assert_int_eq(horus_namespace(longest, buf), 0);
	ck_assert_str_eq(buf, longest);
	ck_assert_int_eq(horus_pub_open(t_ns, "t", NULL, &pub), 0); /* t_ns itself is valid */
	horus_pub_close(pub);
	free(longest);
}
END_TEST

START_TEST(namespace_invalid)
{
	static const char *const bad[] = { "a.b", "a/b", "a b", "a+b", "\xc3\xa9", "a:b", ".", ".." };
	char *too_long = repeat('n', HORUS_NAMESPACE_MAX + 1);
	char buf[HORUS_NAMESPACE_MAX + 1];
	struct horus_pub *pub;
	struct horus_link *link;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_msg(!shm_valid_namespace(bad[i]), "'%s' accepted", bad[i]);
		ck_assert_int_eq(horus_namespace(bad[i], buf), -EINVAL);
		ck_assert_int_eq(horus_pub_open(bad[i], "t", NULL, &pub), -EINVAL);
		ck_assert_int_eq(horus_link_open(bad[i], "t", HORUS_LINK_CONSUMER, NULL, &link),
				 -EINVAL);
		ck_assert_int_eq(horus_clean(bad[i]), -EINVAL);
	}
	ck_assert(!shm_valid_namespace(too_long));
	ck_assert(!shm_valid_namespace(""));
	ck_assert(!shm_valid_namespace(NULL));
	ck_assert_int_eq(horus_namespace(too_long, buf), -EINVAL);
	ck_assert_int_eq(horus_namespace("x", NULL), -EINVAL);
	free(too_long);
}
END_TEST

START_TEST(namespace_env)
{
	char buf[HORUS_NAMESPACE_MAX + 1], path[512];
	struct horus_topic_info info;
	struct horus_pub *pub;

	/* Each test runs in its own process (CK_FORK), so the environment is ours to change. */
	unsetenv("HORUS_NAMESPACE");
	ck_assert_int_eq(horus_namespace(NULL, buf), 0);
	ck_assert_str_eq(buf, "default");

	ck_assert_int_eq(setenv("HORUS_NAMESPACE", "", 1), 0);
	ck_assert_int_eq(horus_namespace(NULL, buf), 0);
	ck_assert_str_eq(buf, "default");

	ck_assert_int_eq(setenv("HORUS_NAMESPACE", t_ns, 1), 0);
	ck_assert_int_eq(horus_namespace(NULL, buf), 0);
	ck_assert_str_eq(buf, t_ns);
	/* An explicit namespace wins over the environment. */
	ck_assert_int_eq(horus_namespace("other", buf), 0);
	ck_assert_str_eq(buf, "other");

	/* NULL everywhere in the API means the environment's namespace. */
	ck_assert_int_eq(horus_pub_open(NULL, "env/topic", NULL, &pub), 0);
	t_shm_path(path, sizeof(path), t_ns, HORUS_KIND_HUB, "env/topic");
	ck_assert(t_exists(path));
	ck_assert_int_eq(horus_topic_info(t_ns, "env/topic", HORUS_KIND_HUB, &info), 0);
	ck_assert_int_eq(horus_topic_info(NULL, "env/topic", HORUS_KIND_HUB, &info), 0);
	ck_assert_uint_eq(info.publishers, 1);
	horus_pub_close(pub);
	ck_assert_int_eq(horus_clean(NULL), 1);
	ck_assert(!t_exists(path));

	ck_assert_int_eq(setenv("HORUS_NAMESPACE", "bad.ns", 1), 0);
	ck_assert_int_eq(horus_namespace(NULL, buf), -EINVAL);
	ck_assert_int_eq(horus_pub_open(NULL, "t", NULL, &pub), -EINVAL);
	ck_assert_int_eq(horus_clean(NULL), -EINVAL);
}
END_TEST

START_TEST(name_mapping)
{
	char *ns = repeat('n', HORUS_NAMESPACE_MAX), *topic = repeat('t', HORUS_TOPIC_MAX);
	char buf[SHM_NAME_MAX], small[16], path[512];
	struct horus_pub *pub;
	struct horus_link *link;

	ck_assert_int_eq(shm_make_name(buf, sizeof(buf), "ns", HORUS_KIND_HUB, "camera/front/raw"),
			 0);
	ck_assert_str_eq(buf, "/horus.ns.hub.camera+front+raw");
	ck_assert_int_eq(shm_make_name(buf, sizeof(buf), "ns", HORUS_KIND_LINK, "a.b"), 0);
	ck_assert_str_eq(buf, "/horus.ns.link.a.b");
	/* The longest namespace and topic, of the longer kind, fit the name buffer. */
	ck_assert_int_eq(shm_make_name(buf, sizeof(buf), ns, HORUS_KIND_LINK, topic), 0);
	ck_assert_uint_eq(strlen(buf), SHM_NAME_MAX - 1);
	ck_assert_int_eq(shm_make_name(small, sizeof(small), "ns", HORUS_KIND_HUB, "abcdefgh"),
			 -ENAMETOOLONG);
	ck_assert_int_eq(shm_make_name(buf, sizeof(buf), "ns", 0, "a"), -EINVAL);
	ck_assert_int_eq(shm_make_name(buf, sizeof(buf), "ns", 3, "a"), -EINVAL);
	ck_assert_int_eq(shm_make_name(buf, sizeof(buf), "n.s", HORUS_KIND_HUB, "a"), -EINVAL);
	ck_assert_int_eq(shm_make_name(buf, sizeof(buf), "ns", HORUS_KIND_HUB, "a//b"), -EINVAL);

	/* The files the library creates are where the mapping says. */
	ck_assert_int_eq(horus_pub_open(t_ns, "camera/front", NULL, &pub), 0);
	ck_assert_int_eq(horus_link_open(t_ns, "camera/front", HORUS_LINK_PRODUCER, NULL, &link),
			 0);
	t_shm_path(path, sizeof(path), t_ns, HORUS_KIND_HUB, "camera/front");
	ck_assert_msg(t_exists(path), "%s missing", path);
	t_shm_path(path, sizeof(path), t_ns, HORUS_KIND_LINK, "camera/front");
	ck_assert_msg(t_exists(path), "%s missing", path);
	horus_pub_close(pub);
	horus_link_close(link);
	free(ns);
	free(topic);
}
END_TEST

START_TEST(name_parse)
{
	char topic[HORUS_TOPIC_MAX + 1], buf[SHM_NAME_MAX];
	uint32_t kind = 0;

	ck_assert(shm_parse_name("horus.ns.hub.camera+front", "ns", &kind, topic, sizeof(topic)));
	ck_assert_uint_eq(kind, HORUS_KIND_HUB);
	ck_assert_str_eq(topic, "camera/front");
	ck_assert(shm_parse_name("horus.ns.link.a.b", "ns", &kind, topic, sizeof(topic)));
	ck_assert_uint_eq(kind, HORUS_KIND_LINK);
	ck_assert_str_eq(topic, "a.b");

	/* Round trip for every good topic. */
	for (size_t i = 0; i < sizeof(good_topics) / sizeof(good_topics[0]); i++) {
		ck_assert_int_eq(shm_make_name(buf, sizeof(buf), "ns", HORUS_KIND_HUB,
					       good_topics[i]),
				 0);
		ck_assert(shm_parse_name(buf + 1, "ns", &kind, topic, sizeof(topic)));
		ck_assert_str_eq(topic, good_topics[i]);
	}

	/* Not ours: another namespace (even one that starts like ours), kind or prefix. */
	ck_assert(!shm_parse_name("horus.nsx.hub.a", "ns", &kind, topic, sizeof(topic)));
	ck_assert(!shm_parse_name("horus.n.hub.a", "ns", &kind, topic, sizeof(topic)));
	ck_assert(!shm_parse_name("horus.ns.pipe.a", "ns", &kind, topic, sizeof(topic)));
	ck_assert(!shm_parse_name("horus.ns.hub.", "ns", &kind, topic, sizeof(topic)));
	ck_assert(!shm_parse_name("horus.ns.hub.a++b", "ns", &kind, topic, sizeof(topic)));
	ck_assert(!shm_parse_name("horus.ns.hub.+a", "ns", &kind, topic, sizeof(topic)));
	ck_assert(!shm_parse_name("horus.ns.hub.a..b", "ns", &kind, topic, sizeof(topic)));
	ck_assert(!shm_parse_name("other.ns.hub.a", "ns", &kind, topic, sizeof(topic)));
	ck_assert(!shm_parse_name("horus.ns.hub.abcdef", "ns", &kind, topic, 4));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("names");

	tcase_add_test(t_tcase(s, "topic_valid", 10), topic_valid);
	tcase_add_test(t_tcase(s, "topic_invalid", 10), topic_invalid);
	tcase_add_test(t_tcase(s, "namespace_valid", 10), namespace_valid);
	tcase_add_test(t_tcase(s, "namespace_invalid", 10), namespace_invalid);
	tcase_add_test(t_tcase(s, "namespace_env", 10), namespace_env);
	tcase_add_test(t_tcase(s, "name_mapping", 10), name_mapping);
	tcase_add_test(t_tcase(s, "name_parse", 10), name_parse);
	return t_run(s, "nam");
}
