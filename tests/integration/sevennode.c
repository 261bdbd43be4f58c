/* SPDX-License-Identifier: MIT */
/*
 * A second, different good plugin for the integration tests: it declares a default rate of
 * 7 Hz and its tick fails with -ENOTSUP every time, so that which plugin's code a node really
 * runs is visible from outside (rate_hz, failures, last_error).
 */

#include <errno.h>
#include <stdlib.h>

#include <horus/node.h>

static int seven_init(const struct horus_host *host, void **ret_ctx)
{
	(void)host;
	*ret_ctx = NULL;
	return 0;
}

static int seven_tick(void *ctx)
{
	(void)ctx;
	return -ENOTSUP;
}

static void seven_fini(void *ctx)
{
	(void)ctx;
}

HORUS_NODE_DEFINE(.name = "sevennode", .default_rate_hz = 7.0, .init = seven_init,
		  .tick = seven_tick, .fini = seven_fini);
