/* SPDX-License-Identifier: MIT */
#ifndef HORUS_HORUS_H
#define HORUS_HORUS_H

/* Umbrella header of libhorus. */

#include <horus/pubsub.h>

#ifdef __cplusplus
extern "C" {
#endif

#define HORUS_VERSION_MAJOR 0
#define HORUS_VERSION_MINOR 1
#define HORUS_VERSION_PATCH 0

/* Version of the library actually loaded, "MAJOR.MINOR.PATCH". */
const char *horus_version(void);

#ifdef __cplusplus
}
#endif

#endif /* HORUS_HORUS_H */
