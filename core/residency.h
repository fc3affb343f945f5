/* Page-cache residency of a file: counts via cachestat(2), maps via mincore(2). */
#ifndef MMAPFS_RESIDENCY_H
#define MMAPFS_RESIDENCY_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/**
 * struct residency_info - what the kernel says of one file's page cache.
 * @accurate: false when the kernel would not tell (mincore and cachestat report
 *            page-cache residency only to a caller that owns or may write the file);
 *            then the counts are 0, never a false 100%.
 * @have_cachestat: the dirty/writeback/evicted fields are valid.
 * @method: "cachestat", "mincore" or "none".
 */
struct residency_info {
	uint64_t size_bytes;
	uint64_t page_size;
	uint64_t pages;
	uint64_t resident_pages;
	bool accurate;
	bool have_cachestat;
	uint64_t dirty_pages;
	uint64_t writeback_pages;
	uint64_t evicted_pages;
	uint64_t recently_evicted_pages;
	const char *method;
	bool have_private;	/* cow mode: @private_pages is valid (filled by the caller) */
	uint64_t private_pages; /* pages the mount copied on write */
};

/** residency_page_size() - the run-time page size. */
size_t residency_page_size(void);

/**
 * residency_count() - fill @out for the first @size_bytes of @fd (a regular file
 * open for reading). Uses cachestat where the kernel has it, else mincore over
 * read-only windows mapped for the call (bounded memory for any size).
 * Return: 0 or -errno (the counts are then meaningless).
 */
int residency_count(int fd, uint64_t size_bytes, struct residency_info *out);

/** Called once per resident extent [start, end) in bytes; non-zero stops the walk. */
typedef int (*residency_extent_fn)(void *ctx, uint64_t start, uint64_t end);

/**
 * residency_extents() - report the resident extents of @fd's first @size_bytes,
 * merged and in increasing order. Ranges with nothing cached are skipped cheaply
 * (cachestat bisection), so a sparse 1 TiB file is fast.
 * Return: 0, the callback's non-zero value, or -errno.
 */
int residency_extents(int fd, uint64_t size_bytes, residency_extent_fn fn, void *ctx);

/**
 * residency_accurate() - whether the kernel reports @fd's page cache to this process:
 * owner, CAP_FOWNER, or write permission.
 */
bool residency_accurate(int fd);

/**
 * struct extent_merger - joins touching or overlapping extents handed to it in
 * increasing order before passing them on, for callers that find them piecewise.
 */
struct extent_merger {
	residency_extent_fn fn;
	void *ctx;
	uint64_t start;
	uint64_t end;
	bool pending;
};

void residency_merger_init(struct extent_merger *m, residency_extent_fn fn, void *ctx);
/** residency_merger_add() - Return: non-zero from the callback, else 0. */
int residency_merger_add(struct extent_merger *m, uint64_t start, uint64_t end);
/** residency_merger_flush() - pass on the last extent. */
int residency_merger_flush(struct extent_merger *m);

/**
 * residency_evict() - write back dirty pages of [@offset, @offset+@len) then drop
 * them from the page cache (fdatasync + POSIX_FADV_DONTNEED). @len 0 means to EOF.
 * Pages mapped by any process stay. Return: 0 or -errno.
 */
int residency_evict(int fd, uint64_t offset, uint64_t len);

#endif
