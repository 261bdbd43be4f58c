/* SPDX-License-Identifier: MIT */
#include <horus/horus.h>

#include "libhorus.h"

HORUS_EXPORT const char *horus_version(void)
{
	return HORUS_VERSION_STRING;
}
