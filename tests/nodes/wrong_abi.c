/* SPDX-License-Identifier: MIT */
/* A plugin built for a future ABI major: must be refused with the versions named. */
#include <horus/node.h>

static int init(const struct horus_host *host, void **ret_ctx)
{
	(void)host;
	*ret_ctx = NULL;
	return 0;
}

static int tick(void *ctx)
{
	(void)ctx;
	return 0;
}

static void fini(void *ctx)
{
	(void)ctx;
}

__attribute__((visibility("default"))) const struct horus_node_ops horus_node_entry = {
	.abi_major = HORUS_NODE_ABI_MAJOR + 1,
	.abi_minor = 0,
	.struct_size = sizeof(struct horus_node_ops),
	.name = "wrong_abi",
	.default_rate_hz = 10,
	.init = init,
	.tick = tick,
	.fini = fini,
};
