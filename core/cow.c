/*
 * Copy-on-write mappings (-o access=cow, Python's ACCESS_COPY for a whole mount).
 *
 * The file is mapped MAP_PRIVATE and read-only from a read-only fd, beside an
 * anonymous MAP_NORESERVE overlay as long as the file may grow. A write copies
 * each page it touches into the overlay once (the page becomes private) and then
 * lands there; reads are assembled page by page from the overlay or the file.
 * Private pages therefore never live in the file mapping: a backing file truncated
 * or rewritten underneath cannot take them away (the kernel drops a MAP_PRIVATE
 * mapping's own copies past a new end of file). Past @cow_zero_from (the size when
 * the file first changed, or a later shrink) untouched pages read as zeros.
 *
 * Each private page is one bit in a chunked bitmap: the count is exact and cheap,
 * and cow_limit is claimed before copying, so a write past it fails with ENOSPC
 * instead of the daemon being OOM-killed.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "engine-private.h"
#include "safecopy.h"

#define CHUNK_PAGES 32768u /* one 4 KiB bitmap covers 128 MiB of file */

/* The reservation leaves this much room to grow: the file's size, within bounds. */
#define COW_HEADROOM_MIN (1ull << 30)
#define COW_HEADROOM_MAX (64ull << 30)

static size_t page_size(void)
{
	return residency_page_size();
}

static unsigned char *chunk_for(struct cow_pages *cow, uint64_t page, bool create)
{
	size_t index = (size_t)(page / CHUNK_PAGES);
	unsigned char **grown;

	if (index >= cow->chunk_count) {
		if (!create)
			return NULL;
		grown = realloc(cow->chunks, (index + 1) * sizeof(*grown));
		if (!grown)
			return NULL;
		memset(grown + cow->chunk_count, 0,
		       (index + 1 - cow->chunk_count) * sizeof(*grown));
		cow->chunks = grown;
		cow->chunk_count = index + 1;
	}
	if (!cow->chunks[index] && create)
		cow->chunks[index] = calloc(1, CHUNK_PAGES / 8);
	return cow->chunks[index];
}

static bool page_marked(struct cow_pages *cow, uint64_t page)
{
	unsigned char *chunk = chunk_for(cow, page, false);
	uint64_t bit = page % CHUNK_PAGES;

	return chunk && (chunk[bit / 8] & (1u << (bit % 8)));
}

static uint64_t count_unmarked(struct cow_pages *cow, uint64_t first, uint64_t last)
{
	uint64_t page, unmarked = 0;

	for (page = first; page < last; page++)
		unmarked += !page_marked(cow, page);
	return unmarked;
}

/* Mark [first, last); Return: pages newly marked, or -ENOMEM. */
static int64_t mark_pages(struct cow_pages *cow, uint64_t first, uint64_t last)
{
	uint64_t page, bit;
	int64_t added = 0;

	for (page = first; page < last; page++) {
		unsigned char *chunk = chunk_for(cow, page, true);

		if (!chunk)
			return -ENOMEM;
		bit = page % CHUNK_PAGES;
		if (!(chunk[bit / 8] & (1u << (bit % 8)))) {
			chunk[bit / 8] |= (unsigned char)(1u << (bit % 8));
			added++;
		}
	}
	return added;
}

static uint64_t unmark_pages(struct cow_pages *cow, uint64_t first, uint64_t last)
{
	uint64_t page, bit, removed = 0;

	for (page = first; page < last; page++) {
		unsigned char *chunk = chunk_for(cow, page, false);

		if (!chunk) {
			page = (page / CHUNK_PAGES + 1) * CHUNK_PAGES - 1;
			continue;
		}
		bit = page % CHUNK_PAGES;
		if (chunk[bit / 8] & (1u << (bit % 8))) {
			chunk[bit / 8] &= (unsigned char)~(1u << (bit % 8));
			removed++;
		}
	}
	return removed;
}

static void release_pages(struct mapping *m, uint64_t pages)
{
	m->private_pages -= pages;
	__atomic_sub_fetch(&m->engine->private_pages, pages, __ATOMIC_RELAXED);
}

/*
 * Claim @new_pages against cow_limit before copying, atomically: writers to
 * different files run at once, and a check followed by a later add would let
 * them all pass. Return: 0, or -ENOSPC with nothing claimed.
 */
static int claim_pages(struct mapping *m, uint64_t new_pages)
{
	uint64_t limit = m->engine->cfg.cow_limit_bytes, used;

	used = __atomic_add_fetch(&m->engine->private_pages, new_pages, __ATOMIC_RELAXED);
	if (limit && used * page_size() > limit) {
		__atomic_sub_fetch(&m->engine->private_pages, new_pages, __ATOMIC_RELAXED);
		return -ENOSPC;
	}
	return 0;
}

/* Settle a claim: @claimed were reserved, @added really became private. */
static void settle_pages(struct mapping *m, uint64_t claimed, uint64_t added)
{
	if (claimed > added)
		__atomic_sub_fetch(&m->engine->private_pages, claimed - added, __ATOMIC_RELAXED);
	m->private_pages += added;
}

int cow_map(struct mapping *m, uint64_t size)
{
	size_t file_len = engine_page_round_up(size);
	uint64_t headroom = size < COW_HEADROOM_MIN ? COW_HEADROOM_MIN :
			    size > COW_HEADROOM_MAX ? COW_HEADROOM_MAX :
						      size;
	size_t reserve = file_len + (size_t)headroom;
	void *file = NULL, *overlay;

	if (file_len) {
		file = mmap(NULL, file_len, PROT_READ, MAP_PRIVATE, m->fd, 0);
		if (file == MAP_FAILED) {
			if (errno == ENOMEM || errno == EAGAIN)
				return -errno;
			m->fd_path = true; /* not mappable: read through the fd, writes refused */
			return 0;
		}
	}
	overlay = mmap(NULL, reserve, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (overlay == MAP_FAILED) {
		int err = -errno;

		if (file)
			munmap(file, file_len);
		return err;
	}
	m->addr = file;
	m->map_len = file_len;
	m->cow_overlay = overlay;
	m->cow_overlay_len = reserve;
	m->cow_zero_from = UINT64_MAX;
	if (file)
		policy_apply(&m->policy, file, file_len, false, &m->policy_error);
	return 0;
}

/* Forget every private page and unmap the overlay (map_lock write-held or exclusive). */
void cow_unmap(struct mapping *m)
{
	size_t i;

	for (i = 0; i < m->cow.chunk_count; i++)
		free(m->cow.chunks[i]);
	free(m->cow.chunks);
	m->cow.chunks = NULL;
	m->cow.chunk_count = 0;
	release_pages(m, m->private_pages);
	if (m->cow_overlay)
		munmap(m->cow_overlay, m->cow_overlay_len);
	m->cow_overlay = NULL;
	m->cow_overlay_len = 0;
	m->cow_changed = false;
}

/* Map afresh at @file_size: file mapping and overlay (size_lock held, no changes). */
static int cow_remap(struct mapping *m, uint64_t file_size)
{
	int err;

	pthread_rwlock_wrlock(&m->map_lock);
	if (m->addr)
		munmap(m->addr, m->map_len);
	m->addr = NULL;
	m->map_len = 0;
	cow_unmap(m);
	err = cow_map(m, file_size);
	pthread_rwlock_unlock(&m->map_lock);
	STORE(m->size, file_size);
	return err;
}

int cow_refresh(struct mapping *m, uint64_t file_size)
{
	if (m->cow_changed || m->fd_path)
		return 0;
	if (engine_page_round_up(file_size) == m->map_len && m->cow_overlay) {
		STORE(m->size, file_size); /* grew or shrank within its last page */
		return 0;
	}
	COUNT_ADD(m->remaps, 1);
	return cow_remap(m, file_size);
}

/* Where page @page of the mount's view lives now (size_lock held). */
static const char *page_source(struct mapping *m, uint64_t page)
{
	uint64_t start = page * page_size();

	if (m->cow_changed && (page_marked(&m->cow, page) || start >= m->cow_zero_from))
		return (const char *)m->cow_overlay + start;
	if (start < m->map_len)
		return (const char *)m->addr + start;
	return (const char *)m->cow_overlay + start; /* past the file: zeros */
}

int cow_read(struct mapping *m, uint64_t offset, size_t size, struct mapping_slice *out)
{
	uint64_t pos = offset, end = offset + size;
	struct iovec *iov;
	int count = 0;

	iov = calloc(size / page_size() + 2, sizeof(*iov));
	if (!iov)
		return -ENOMEM;
	/* size_lock: the bitmap may be growing under a writer; always before map_lock */
	pthread_mutex_lock(&m->size_lock);
	pthread_rwlock_rdlock(&m->map_lock);
	while (pos < end) {
		uint64_t page_end = (pos / page_size() + 1) * page_size();
		size_t len = (size_t)((page_end < end ? page_end : end) - pos);
		const char *src = page_source(m, pos / page_size()) + pos % page_size();

		if (count && (const char *)iov[count - 1].iov_base + iov[count - 1].iov_len == src)
			iov[count - 1].iov_len += len;
		else
			iov[count++] = (struct iovec){ (void *)src, len };
		pos += len;
	}
	pthread_mutex_unlock(&m->size_lock);
	out->iov = iov;
	out->iov_count = count;
	out->len = size;
	out->locked = true;
	return 0;
}

/*
 * Make the pages [first, last) private: copy each one not yet private from the
 * file into the overlay (zeros past the file, past cow_zero_from, or where the
 * file has shrunk underneath and the copy faults). Return: pages made private.
 */
static int64_t make_private(struct mapping *m, uint64_t first, uint64_t last)
{
	uint64_t page;
	int64_t added = 0;

	for (page = first; page < last; page++) {
		uint64_t start = page * page_size();
		char *dst = (char *)m->cow_overlay + start;
		const char *src = page_source(m, page);

		if (page_marked(&m->cow, page))
			continue;
		if (src != dst && safecopy(dst, src, page_size()))
			memset(dst, 0, page_size());
		if (m->cow_zero_from > start && m->cow_zero_from < start + page_size())
			memset((char *)m->cow_overlay + m->cow_zero_from, 0,
			       start + page_size() - m->cow_zero_from);
		if (mark_pages(&m->cow, page, page + 1) < 0)
			return -ENOMEM;
		added++;
	}
	return added;
}

static void note_change(struct mapping *m)
{
	if (!m->cow_changed)
		m->cow_zero_from = LOAD(m->size);
	m->cow_changed = true;
	clock_gettime(CLOCK_REALTIME, &m->cow_mtime);
}

ssize_t cow_write(struct mapping *m, const void *buf, size_t size, uint64_t offset)
{
	uint64_t first, last, new_pages, end = offset + size;
	int64_t added;

	if (m->fd_path)
		return -EROFS;
	if (!size)
		return 0;
	if (end < offset || end > m->cow_overlay_len)
		return -EFBIG;
	first = offset / page_size();
	last = (end + page_size() - 1) / page_size();
	new_pages = count_unmarked(&m->cow, first, last);
	if (claim_pages(m, new_pages))
		return -ENOSPC;
	note_change(m);
	pthread_rwlock_rdlock(&m->map_lock);
	added = make_private(m, first, last);
	if (added >= 0)
		memcpy((char *)m->cow_overlay + offset, buf, size); /* anonymous: cannot fault */
	pthread_rwlock_unlock(&m->map_lock);
	settle_pages(m, new_pages, added < 0 ? 0 : (uint64_t)added);
	if (added < 0)
		return (ssize_t)added;
	if (end > LOAD(m->size))
		STORE(m->size, end);
	return (ssize_t)size;
}

/*
 * Shrinking hides the tail: the page holding the new end becomes private with its
 * tail zeroed, private pages past it are dropped, and everything past the new end
 * reads as zeros from now on, so growing again reads zeros as on a real file.
 */
static int cow_shrink(struct mapping *m, uint64_t old_size, uint64_t size)
{
	uint64_t from = engine_page_round_up(size), to = engine_page_round_up(old_size);
	uint64_t claimed = 0;
	int64_t added = 0;

	if (size % page_size()) {
		claimed = !page_marked(&m->cow, size / page_size());
		if (claim_pages(m, claimed))
			return -ENOSPC;
	}
	pthread_rwlock_rdlock(&m->map_lock);
	if (size % page_size()) {
		added = make_private(m, size / page_size(), size / page_size() + 1);
		if (added >= 0)
			memset((char *)m->cow_overlay + size, 0, from - size);
	}
	if (to > from) {
		/* the overlay's pages past the end go back to zeros, their memory freed */
		(void)madvise((char *)m->cow_overlay + from, to - from, MADV_DONTNEED);
		release_pages(m, unmark_pages(&m->cow, from / page_size(), to / page_size()));
	}
	if (size < m->cow_zero_from)
		m->cow_zero_from = size;
	pthread_rwlock_unlock(&m->map_lock);
	settle_pages(m, claimed, added < 0 ? 0 : (uint64_t)added);
	return added < 0 ? (int)added : 0;
}

int cow_truncate(struct mapping *m, uint64_t size)
{
	uint64_t old_size = LOAD(m->size);
	int err = 0;

	if (m->fd_path)
		return -EROFS;
	if (size > m->cow_overlay_len)
		return -EFBIG;
	if (size != old_size)
		note_change(m);
	if (size < old_size)
		err = cow_shrink(m, old_size, size);
	if (err)
		return err;
	STORE(m->size, size);
	return 0;
}

int cow_discard(struct mapping *m)
{
	struct stat st;

	if (fstat(m->fd, &st) == -1)
		return -errno;
	return cow_remap(m, (uint64_t)st.st_size);
}

/*
 * SEEK_DATA/SEEK_HOLE over the mount's view once it has private changes: the
 * backing file's holes no longer tell, so the whole file counts as data.
 */
off_t cow_lseek(struct mapping *m, off_t offset, int whence)
{
	off_t size = (off_t)LOAD(m->size);

	if (offset < 0)
		return -EINVAL;
	if (offset >= size)
		return -ENXIO;
	return whence == SEEK_DATA ? offset : size;
}
