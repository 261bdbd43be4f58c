/* SPDX-License-Identifier: MIT */
#ifndef HORUS_NODES_H
#define HORUS_NODES_H

/*
 * Message formats of the node plugins shipped with horusd (nodes/), for programs that
 * subscribe to their topics. Little-endian host layout, as everything on the bus.
 */

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * camera_sim: a frame is exactly width * height * 3 bytes of RGB, row-major, no padding and
 * no header. Pixel (x, y) of frame n is
 *	R = (x + n) & 0xff,  G = (y + 2n) & 0xff,  B = (x ^ y) & 0xff
 * except that the first 8 bytes carry n, the frame counter (0, 1, ...), as a little-endian
 * uint64. Frames that failed are skipped, so a gap in n is a frame that was never published.
 */
#define HORUS_CAMERA_SIM_STAMP_BYTES 8u

static inline uint64_t horus_camera_sim_frame_no(const void *frame)
{
	const unsigned char *p = (const unsigned char *)frame;
	uint64_t n = 0;

	for (unsigned i = 0; i < HORUS_CAMERA_SIM_STAMP_BYTES; i++) {
		n |= (uint64_t)p[i] << (8 * i);
	}
	return n;
}

static inline unsigned char horus_camera_sim_pixel(uint64_t n, uint32_t x, uint32_t y,
						   unsigned channel)
{
	switch (channel) {
	case 0:
		return (unsigned char)((x + n) & 0xff);
	case 1:
		return (unsigned char)((y + 2 * n) & 0xff);
	default:
		return (unsigned char)((x ^ y) & 0xff);
	}
}

/*
 * http_sensor and periodic_sensor publish one struct horus_reading per attempt, followed by
 * text_len bytes of text (http_sensor with format = text: the body, not NUL-terminated).
 *
 * A fresh reading has flags without HORUS_READING_STALE and error 0. When an attempt fails
 * (error, timeout, bad body), the node republishes the last good value and text, with
 * HORUS_READING_STALE set, error = the attempt's -errno and stamp_ns still the time that value
 * was read. Before any good reading, value is NaN and HORUS_READING_VALID is clear.
 */
#define HORUS_READING_STALE 0x1u /* this attempt failed; value is the last good one */
#define HORUS_READING_VALID 0x2u /* value / text hold a reading (else none yet) */
#define HORUS_READING_TEXT 0x4u	 /* the node keeps text (format = text) */

struct horus_reading {
	double value;	   /* the reading, scaled; NaN if none (or format = text) */
	uint64_t stamp_ns; /* CLOCK_MONOTONIC time the value was read; 0 if none */
	uint64_t attempt;  /* 1, 2, ...: the attempt this message reports */
	uint32_t flags;	   /* HORUS_READING_* */
	int32_t error;	   /* 0, or the -errno of this attempt's failure */
	uint32_t status;   /* http_sensor: this attempt's HTTP status, 0 if no answer */
	uint32_t text_len; /* bytes of text after the struct */
};

#ifdef __cplusplus
}
#endif

#endif /* HORUS_NODES_H */
