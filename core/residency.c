/*
 * Residency is bit 0 of each mincore(2) byte; mincore needs a page-aligned
 * mapping, so a file that is not mapped gets read-only windows mapped for the
 * call. cachestat(2) (Linux 6.5+) counts without any mapping and lets the extent
 * walk skip uncached ranges by bisection, which keeps huge sparse files cheap.
 * Since Linux 5.2 both report page-cache residency only to a caller that owns
 * the file or may write it; anyone else would see only its own mapped pages.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "residency.h"

#ifndef __NR_cachestat
#define __NR_cachestat 451
#endif

struct cachestat_range {
	uint64_t off;
	uint64_t len;
};

struct cachestat_counts {
	uint64_t nr_cache;
	uint64_t nr_dirty;
	uint64_t nr_writeback;
	uint64_t nr_evicted;
	uint64_t nr_recently_evicted;
};

/* Pages per mincore window: 64 MiB of file, a 16 KiB vector on the stack's heap. */
#define WINDOW_PAGES 16384u

size_t residency_page_size(void)
{
	static size_t page_size;

	if (!page_size)
		page_size = (size_t)sysconf(_SC_PAGESIZE);
	return page_size;
}

static int cachestat_call(int fd, uint64_t offset, uint64_t len, struct cachestat_counts *out)
{
	struct cachestat_range range = { offset, len };

	if (syscall(__NR_cachestat, fd, &range, out, 0) == -1)
		return -errno;
	return 0;
}

bool residency_accurate(int fd)
{
	char path[64];
	struct stat st;

	if (geteuid() == 0)
		return true;
	if (fstat(fd, &st) == 0 && st.st_uid == geteuid())
		return true;
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	return faccessat(AT_FDCWD, path, W_OK, AT_EACCESS) == 0;
}

/*
 * mincore over [first_page, first_page + npages) of @fd through a temporary
 * read-only mapping; @vec receives one byte a page.
 */
static int mincore_window(int fd, uint64_t first_page, size_t npages, unsigned char *vec)
{
	size_t page_size = residency_page_size();
	void *addr;
	int err = 0;

	addr = mmap(NULL, npages * page_size, PROT_READ, MAP_SHARED, fd,
		    (off_t)(first_page * page_size));
	if (addr == MAP_FAILED)
		return -errno;
	if (mincore(addr, npages * page_size, vec) == -1)
		err = -errno;
	munmap(addr, npages * page_size);
	return err;
}

/*
 * Walk [start_page, end_page) in windows, calling @fn for each run of resident
 * pages (in page units). Holes are skipped with SEEK_DATA: a sparse file's holes
 * are rarely cached and scanning them page by page is what makes tools slow.
 */
static int mincore_walk(int fd, uint64_t start_page, uint64_t end_page,
			int (*fn)(void *ctx, uint64_t first, uint64_t last), void *ctx)
{
	size_t page_size = residency_page_size();
	unsigned char *vec;
	uint64_t page = start_page;
	int err = 0;

	vec = malloc(WINDOW_PAGES);
	if (!vec)
		return -ENOMEM;
	while (!err && page < end_page) {
		off_t data = lseek(fd, (off_t)(page * page_size), SEEK_DATA);
		size_t npages, i;

		if (data == -1)
			break; /* ENXIO: only a hole is left (or SEEK_DATA unsupported: done) */
		if ((uint64_t)data / page_size > page)
			page = (uint64_t)data / page_size;
		if (page >= end_page)
			break;
		npages = end_page - page < WINDOW_PAGES ? (size_t)(end_page - page) : WINDOW_PAGES;
		err = mincore_window(fd, page, npages, vec);
		for (i = 0; !err && i < npages; i++) {
			size_t run = i;

			if (!(vec[i] & 1))
				continue;
			while (run < npages && (vec[run] & 1))
				run++;
			err = fn(ctx, page + i, page + run);
			i = run;
		}
		page += npages;
	}
	free(vec);
	return err;
}

static int count_run(void *ctx, uint64_t first, uint64_t last)
{
	*(uint64_t *)ctx += last - first;
	return 0;
}

int residency_count(int fd, uint64_t size_bytes, struct residency_info *out)
{
	uint64_t page_size = residency_page_size();
	struct cachestat_counts cs;
	int err;

	memset(out, 0, sizeof(*out));
	out->size_bytes = size_bytes;
	out->page_size = page_size;
	out->pages = (size_bytes + page_size - 1) / page_size;
	out->method = "none";
	if (!out->pages) {
		out->accurate = true;
		out->method = "cachestat";
		return 0;
	}
	err = cachestat_call(fd, 0, out->pages * page_size, &cs);
	if (err == -EPERM)
		return 0;
	if (!err) {
		out->accurate = true;
		out->have_cachestat = true;
		out->method = "cachestat";
		out->resident_pages = cs.nr_cache < out->pages ? cs.nr_cache : out->pages;
		out->dirty_pages = cs.nr_dirty;
		out->writeback_pages = cs.nr_writeback;
		out->evicted_pages = cs.nr_evicted;
		out->recently_evicted_pages = cs.nr_recently_evicted;
		return 0;
	}
	if (!residency_accurate(fd))
		return 0;
	err = mincore_walk(fd, 0, out->pages, count_run, &out->resident_pages);
	if (err)
		return err;
	out->accurate = true;
	out->method = "mincore";
	return 0;
}

struct extent_walk {
	struct extent_merger merger;
	uint64_t size_bytes;
	int fd;
};

/* Convert a run of pages to bytes, clipping the last page at end of file. */
static int extent_pages(void *ctx, uint64_t first, uint64_t last)
{
	struct extent_walk *walk = ctx;
	uint64_t page_size = residency_page_size();
	uint64_t end = last * page_size;

	if (end > walk->size_bytes)
		end = walk->size_bytes;
	return residency_merger_add(&walk->merger, first * page_size, end);
}

static int bisect(struct extent_walk *walk, uint64_t first, uint64_t last)
{
	uint64_t page_size = residency_page_size();
	struct cachestat_counts cs;
	uint64_t mid;
	int err;

	err = cachestat_call(walk->fd, first * page_size, (last - first) * page_size, &cs);
	if (err)
		return err;
	if (!cs.nr_cache)
		return 0;
	if (cs.nr_cache >= last - first)
		return extent_pages(walk, first, last);
	if (last - first <= WINDOW_PAGES)
		return mincore_walk(walk->fd, first, last, extent_pages, walk);
	mid = first + (last - first) / 2;
	err = bisect(walk, first, mid);
	return err ? err : bisect(walk, mid, last);
}

int residency_extents(int fd, uint64_t size_bytes, residency_extent_fn fn, void *ctx)
{
	uint64_t page_size = residency_page_size();
	uint64_t pages = (size_bytes + page_size - 1) / page_size;
	struct extent_walk walk = { .size_bytes = size_bytes, .fd = fd };
	int err;

	residency_merger_init(&walk.merger, fn, ctx);
	if (!pages)
		return 0;
	err = bisect(&walk, 0, pages);
	if (err == -ENOSYS) {
		if (!residency_accurate(fd))
			return 0;
		err = mincore_walk(fd, 0, pages, extent_pages, &walk);
	} else if (err == -EPERM) {
		return 0;
	}
	if (err)
		return err;
	return residency_merger_flush(&walk.merger);
}

void residency_merger_init(struct extent_merger *m, residency_extent_fn fn, void *ctx)
{
	m->fn = fn;
	m->ctx = ctx;
	m->start = 0;
	m->end = 0;
	m->pending = false;
}

int residency_merger_add(struct extent_merger *m, uint64_t start, uint64_t end)
{
	int err;

	if (start >= end)
		return 0;
	if (m->pending && start <= m->end) {
		if (end > m->end)
			m->end = end;
		return 0;
	}
	if (m->pending) {
		err = m->fn(m->ctx, m->start, m->end);
		if (err)
			return err;
	}
	m->start = start;
	m->end = end;
	m->pending = true;
	return 0;
}

int residency_merger_flush(struct extent_merger *m)
{
	if (!m->pending)
		return 0;
	m->pending = false;
	return m->fn(m->ctx, m->start, m->end);
}

int residency_evict(int fd, uint64_t offset, uint64_t len)
{
	int err;

	/* DONTNEED skips dirty pages: write them first or they stay. */
	if (fdatasync(fd) == -1 && errno != EINVAL && errno != EROFS)
		return -errno;
	err = posix_fadvise(fd, (off_t)offset, (off_t)len, POSIX_FADV_DONTNEED);
	return -err;
}
