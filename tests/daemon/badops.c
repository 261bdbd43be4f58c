/* SPDX-License-Identifier: MIT */
/*
 * Plugins with unusual descriptors, one per VARIANT_* macro, for test-plugin:
 *   VARIANT_SMALL    struct_size ends before fini: refused (-EPROTO)
 *   VARIANT_FUTURE   a newer minor with fields appended: loaded, the extra fields ignored
 *   VARIANT_NO_TICK  no tick callback: refused
 *   VARIANT_BAD_RATE default_rate_hz 0: refused
 */
#include <stddef.h>
#include <stdint.h>

#include <horus/node.h>

static int init(const struct horus_host *host, void **ret_ctx)
{
	(void)host;
	*ret_ctx = NULL;
	return 0;
}

/* unused by VARIANT_NO_TICK */
__attribute__((unused)) static int tick(void *ctx)
{
	(void)ctx;
	return 0;
}

static void fini(void *ctx)
{
	(void)ctx;
}

#define EXPORT __attribute__((visibility("default")))

#if defined(VARIANT_SMALL)
EXPORT const struct horus_node_ops horus_node_entry = {
	.abi_major = HORUS_NODE_ABI_MAJOR,
	.abi_minor = HORUS_NODE_ABI_MINOR,
	.struct_size = offsetof(struct horus_node_ops, fini),
	.name = "small_struct",
	.default_rate_hz = 10,
	.init = init,
	.tick = tick,
	.fini = fini,
};
#elif defined(VARIANT_FUTURE)
struct future_ops {
	struct horus_node_ops base;
	uint64_t added_later;
	int (*another_callback)(void *ctx);
};

EXPORT const struct future_ops horus_node_entry = {
	.base = {
		.abi_major = HORUS_NODE_ABI_MAJOR,
		.abi_minor = HORUS_NODE_ABI_MINOR + 1,
		.struct_size = sizeof(struct future_ops),
		.name = "future_minor",
		.default_rate_hz = 25,
		.init = init,
		.tick = tick,
		.fini = fini,
	},
	.added_later = 0xdeadbeefu,
	.another_callback = tick,
};
#elif defined(VARIANT_NO_TICK)
HORUS_NODE_DEFINE(.name = "no_tick", .default_rate_hz = 10, .init = init, .fini = fini);
#elif defined(VARIANT_BAD_RATE)
HORUS_NODE_DEFINE(.name = "bad_rate", .default_rate_hz = 0, .init = init, .tick = tick,
		  .fini = fini);
#else
#error "define one VARIANT_*"
#endif
