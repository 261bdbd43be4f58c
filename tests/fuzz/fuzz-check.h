/* SPDX-License-Identifier: MIT */
#ifndef HORUS_TESTS_FUZZ_FUZZ_CHECK_H
#define HORUS_TESTS_FUZZ_FUZZ_CHECK_H

/*
 * What the property-checking fuzz targets share: the libFuzzer entry point's prototype and
 * check(), which abort()s on a violated property so that libFuzzer keeps the input as a crash.
 */

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define check(cond)                                                                                \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

#endif /* HORUS_TESTS_FUZZ_FUZZ_CHECK_H */
