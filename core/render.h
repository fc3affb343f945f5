/* Text of the .mmstat files: "key: value" lines, one fact a line, stable keys. */
#ifndef MMAPFS_RENDER_H
#define MMAPFS_RENDER_H

#include <stdint.h>

#include "engine.h"
#include "residency.h"
#include "strbuf.h"

/** struct render_summary_input - everything .mmstat/summary shows. */
struct render_summary_input {
	const char *access; /* "rw", "ro" or "cow" */
	uint64_t page_size;
	struct engine_totals totals;
	uint64_t resident_bytes_mapped; /* resident bytes of the files with a live mmap */
	uint64_t daemon_rss_bytes;
	uint64_t daemon_minor_faults;
	uint64_t daemon_major_faults;
	uint64_t uptime_seconds;
};

/** render_summary() - the whole-mount view. */
void render_summary(struct strbuf *sb, const struct render_summary_input *in);

/** render_residency() - one file's residency; @mapped: the engine holds a mapping. */
void render_residency(struct strbuf *sb, const struct residency_info *info, int mapped);

/** render_stats() - one file's counters. */
void render_stats(struct strbuf *sb, const struct mapping_stats *stats);

/**
 * render_extent() - residency_extent_fn that appends "START-END\n" (END exclusive)
 * to the struct strbuf passed as @ctx. Return: the strbuf's sticky error.
 */
int render_extent(void *ctx, uint64_t start, uint64_t end);

/**
 * render_process_stats() - read this process's RSS and fault counts from /proc.
 * Return: 0 or -errno (fields left 0).
 */
int render_process_stats(uint64_t *rss_bytes, uint64_t *minor_faults, uint64_t *major_faults);

#endif
