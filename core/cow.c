/*
 * Copy-on-write mappings (-o access=cow, Python's ACCESS_COPY for a whole mount).
 *
 * A cow mapping is an anonymous MAP_NORESERVE reservation with the file mapped
 * MAP_PRIVATE over its start. Writes land in private copies of the pages and
 * never reach the file (its fd is read-only); growth past the file's end lands in
 * the anonymous tail; a shrink replaces the pages past the new end with fresh
 * anonymous zeros, so a later regrow reads zeros as on a real file.
 *
 * Each page copied on write is one bit in a chunked bitmap: the count is exact,
 * cheap, and lets cow_limit refuse a write with ENOSPC before the copy happens
 * instead of the daemon being OOM-killed.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "engine-private.h"
#include "safecopy.h"

#define CHUNK_PAGES 32768u
#define ZERO_BYTES  65536u /* at least one page on every Linux architecture */

static const unsigned char zero_bytes[ZERO_BYTES]; /* one 4 KiB bitmap covers 128 MiB of file */

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

static void account(struct mapping *m, int64_t pages)
{
	m->private_pages = (uint64_t)((int64_t)m->private_pages + pages);
	__atomic_fetch_add(&m->engine->private_pages, (uint64_t)pages, __ATOMIC_RELAXED);
}

/* Would @new_pages more private pages pass cow_limit? */
static bool over_limit(struct mapping *m, uint64_t new_pages)
{
	uint64_t limit = m->engine->cfg.cow_limit_bytes;
	uint64_t used = LOAD(m->engine->private_pages);

	return limit && (used + new_pages) * page_size() > limit;
}

static void note_change(struct mapping *m)
{
	m->cow_changed = true;
	clock_gettime(CLOCK_REALTIME, &m->cow_mtime);
}

int cow_map(struct mapping *m, uint64_t size)
{
	size_t file_len = engine_page_round_up(size);
	uint64_t headroom = size < COW_HEADROOM_MIN ? COW_HEADROOM_MIN :
			    size > COW_HEADROOM_MAX ? COW_HEADROOM_MAX :
						      size;
	size_t reserve = file_len + (size_t)headroom;
	void *addr;

	addr = mmap(NULL, reserve, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (addr == MAP_FAILED)
		return -errno;
	if (file_len && mmap(addr, file_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED, m->fd,
			     0) == MAP_FAILED) {
		int err = -errno;

		munmap(addr, reserve);
		if (err == -ENOMEM || err == -EAGAIN)
			return err;
		m->fd_path = true; /* not mappable: read through the fd, writes refused */
		return 0;
	}
	m->addr = addr;
	m->map_len = reserve;
	m->cow_file_len = file_len;
	policy_apply(&m->policy, addr, file_len, false, &m->policy_error);
	return 0;
}

void cow_unmap(struct mapping *m)
{
	size_t i;

	for (i = 0; i < m->cow.chunk_count; i++)
		free(m->cow.chunks[i]);
	free(m->cow.chunks);
	m->cow.chunks = NULL;
	m->cow.chunk_count = 0;
	account(m, -(int64_t)m->private_pages);
	m->cow_changed = false;
	m->cow_file_len = 0;
}

int cow_refresh(struct mapping *m, uint64_t file_size)
{
	int err;

	if (m->cow_changed || m->fd_path || engine_page_round_up(file_size) == m->cow_file_len)
		return 0;
	pthread_rwlock_wrlock(&m->map_lock);
	if (m->addr)
		munmap(m->addr, m->map_len);
	m->addr = NULL;
	m->map_len = 0;
	err = cow_map(m, file_size);
	pthread_rwlock_unlock(&m->map_lock);
	STORE(m->size, file_size);
	COUNT_ADD(m->remaps, 1);
	return err;
}

ssize_t cow_write(struct mapping *m, const void *buf, size_t size, uint64_t offset)
{
	uint64_t first, last, new_pages, end = offset + size;
	int64_t added;
	int err;

	if (m->fd_path)
		return -EROFS;
	if (!size)
		return 0;
	if (end < offset || end > m->map_len)
		return -EFBIG;
	first = offset / page_size();
	last = (end + page_size() - 1) / page_size();
	new_pages = count_unmarked(&m->cow, first, last);
	if (over_limit(m, new_pages))
		return -ENOSPC;
	pthread_rwlock_rdlock(&m->map_lock);
	err = safecopy((char *)m->addr + offset, buf, size);
	pthread_rwlock_unlock(&m->map_lock);
	if (err)
		return err;
	added = mark_pages(&m->cow, first, last);
	if (added < 0)
		return (ssize_t)added;
	account(m, added);
	if (end > LOAD(m->size))
		STORE(m->size, end);
	note_change(m);
	return (ssize_t)size;
}

/*
 * Shrinking hides the tail: the partial last page is zeroed past the new end and
 * whole pages past it become fresh anonymous zeros, so growing again reads zeros.
 */
static int cow_shrink(struct mapping *m, uint64_t old_size, uint64_t size)
{
	size_t from = engine_page_round_up(size), to = engine_page_round_up(old_size);
	int err = 0;

	if (size % page_size()) {
		int64_t added;

		if (over_limit(m, !page_marked(&m->cow, size / page_size())))
			return -ENOSPC;
		pthread_rwlock_rdlock(&m->map_lock);
		err = safecopy((char *)m->addr + size, zero_bytes, from - size);
		pthread_rwlock_unlock(&m->map_lock);
		added = mark_pages(&m->cow, size / page_size(), size / page_size() + 1);
		if (added > 0)
			account(m, added);
	}
	if (to <= from)
		return err;
	pthread_rwlock_wrlock(&m->map_lock);
	if (mmap((char *)m->addr + from, to - from, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0) == MAP_FAILED)
		err = -errno;
	pthread_rwlock_unlock(&m->map_lock);
	if (!err)
		account(m, -(int64_t)unmark_pages(&m->cow, from / page_size(), to / page_size()));
	return err;
}

int cow_truncate(struct mapping *m, uint64_t size)
{
	uint64_t old_size = LOAD(m->size);
	int err = 0;

	if (m->fd_path)
		return -EROFS;
	if (size > m->map_len)
		return -EFBIG;
	if (size < old_size)
		err = cow_shrink(m, old_size, size);
	if (err)
		return err;
	STORE(m->size, size);
	if (size != old_size)
		note_change(m);
	return 0;
}

int cow_discard(struct mapping *m)
{
	struct stat st;
	int err;

	if (fstat(m->fd, &st) == -1)
		return -errno;
	pthread_rwlock_wrlock(&m->map_lock);
	if (m->addr)
		munmap(m->addr, m->map_len);
	m->addr = NULL;
	m->map_len = 0;
	cow_unmap(m);
	err = cow_map(m, (uint64_t)st.st_size);
	pthread_rwlock_unlock(&m->map_lock);
	STORE(m->size, (uint64_t)st.st_size);
	return err;
}
