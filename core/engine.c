/*
 * The mapping engine. Each backing inode the mount opens gets one struct mapping:
 * an fd, an mmap of the whole file, its policy and counters. Handles share it by
 * reference; at zero references a live mapping waits in an LRU of idle mappings so
 * a reopen costs nothing, and the oldest is unmapped past max_idle_maps.
 *
 * Locking: engine->lock guards the tree, the LRU and every refs/open_handles field.
 * mapping->size_lock serialises what changes a file's size or its fd. mapping->
 * map_lock is read-held by whoever touches the mapped bytes (including a read
 * reply the kernel copies from them) and write-held to mmap/mremap, so the
 * address never moves under a reader. Counters are relaxed atomics.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <search.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/vfs.h>
#include <linux/magic.h>
#include <unistd.h>

#include "engine-private.h"
#include "safecopy.h"

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22
#endif

size_t engine_page_round_up(uint64_t bytes)
{
	size_t page_size = residency_page_size();

	return (size_t)((bytes + page_size - 1) & ~((uint64_t)page_size - 1));
}

static int mapping_compare(const void *a, const void *b)
{
	const struct mapping *ma = a, *mb = b;

	if (ma->dev != mb->dev)
		return ma->dev < mb->dev ? -1 : 1;
	if (ma->ino != mb->ino)
		return ma->ino < mb->ino ? -1 : 1;
	return 0;
}

static void touch_clock(struct mapping *m)
{
	struct timespec now;

	clock_gettime(CLOCK_REALTIME_COARSE, &now);
	STORE(m->last_access_ns, (int64_t)now.tv_sec * 1000000000 + now.tv_nsec);
}

int engine_new(const struct engine_config *cfg, struct engine **out)
{
	struct engine *e = calloc(1, sizeof(*e));
	int err;

	if (!e)
		return -ENOMEM;
	err = safecopy_init();
	if (err) {
		free(e);
		return err;
	}
	e->cfg = *cfg;
	pthread_mutex_init(&e->lock, NULL);
	e->lru.lru_next = e->lru.lru_prev = &e->lru;
	*out = e;
	return 0;
}

enum engine_access engine_access(const struct engine *e)
{
	return e->cfg.access;
}

static void lru_remove(struct engine *e, struct mapping *m)
{
	if (!m->in_lru)
		return;
	m->lru_prev->lru_next = m->lru_next;
	m->lru_next->lru_prev = m->lru_prev;
	m->in_lru = false;
	e->idle_count--;
}

static void lru_append(struct engine *e, struct mapping *m)
{
	m->lru_prev = e->lru.lru_prev;
	m->lru_next = &e->lru;
	e->lru.lru_prev->lru_next = m;
	e->lru.lru_prev = m;
	m->in_lru = true;
	e->idle_count++;
}

/* Unmap and close; the record itself stays. Caller owns the mapping exclusively. */
static void mapping_unmap(struct mapping *m)
{
	if (m->engine->cfg.access == ENGINE_ACCESS_COW)
		cow_unmap(m);
	if (m->addr)
		munmap(m->addr, m->map_len);
	m->addr = NULL;
	m->map_len = 0;
	m->locked_bytes = 0;
	if (m->fd >= 0)
		close(m->fd);
	m->fd = -1;
	m->writable = false;
	m->fd_path = false;
	m->seen_valid = false;
	free(m->replied); /* single_copy's record of replied pages no longer holds */
	m->replied = NULL;
	m->replied_len = 0;
}

static void mapping_free(struct mapping *m)
{
	mapping_unmap(m);
	pthread_mutex_destroy(&m->size_lock);
	pthread_mutex_destroy(&m->replied_lock);
	pthread_rwlock_destroy(&m->map_lock);
	free(m->relpath);
	free(m);
}

/* Drop the record from the engine entirely (engine->lock held, refs == 0). */
static void engine_drop(struct engine *e, struct mapping *m)
{
	lru_remove(e, m);
	tdelete(m, &e->tree, mapping_compare);
	e->files_known--;
	mapping_free(m);
}

/* Unmap an idle mapping, keeping the record only if it carries a runtime policy. */
static void engine_retire(struct engine *e, struct mapping *m)
{
	lru_remove(e, m);
	if (m->policy_override) {
		mapping_unmap(m);
		return;
	}
	engine_drop(e, m);
}

static void engine_trim_idle(struct engine *e)
{
	while (e->idle_count > e->cfg.max_idle_maps) {
		engine_retire(e, e->lru.lru_next);
		e->idle_evictions++;
	}
}

static void free_node(void *node)
{
	mapping_free(node);
}

void engine_free(struct engine *e)
{
	if (!e)
		return;
	tdestroy(e->tree, free_node);
	pthread_mutex_destroy(&e->lock);
	free(e);
}

static struct mapping *mapping_new(struct engine *e, dev_t dev, ino_t ino, const char *relpath)
{
	struct mapping *m = calloc(1, sizeof(*m));

	if (!m)
		return NULL;
	m->relpath = strdup(relpath ? relpath : "");
	if (!m->relpath) {
		free(m);
		return NULL;
	}
	m->engine = e;
	m->dev = dev;
	m->ino = ino;
	m->fd = -1;
	pthread_mutex_init(&m->size_lock, NULL);
	pthread_mutex_init(&m->replied_lock, NULL);
	pthread_rwlock_init(&m->map_lock, NULL);
	m->policy = e->cfg.rules ? rules_match(e->cfg.rules, m->relpath) : POLICY_DEFAULT;
	return m;
}

/* Find or create the record for @st and take a reference (engine->lock held). */
static int engine_get_locked(struct engine *e, const struct stat *st, const char *relpath,
			     struct mapping **out)
{
	struct mapping key = { .dev = st->st_dev, .ino = st->st_ino };
	struct mapping *m, **found;

	found = tfind(&key, &e->tree, mapping_compare);
	if (found) {
		m = *found;
	} else {
		m = mapping_new(e, st->st_dev, st->st_ino, relpath);
		if (!m)
			return -ENOMEM;
		if (!tsearch(m, &e->tree, mapping_compare)) {
			mapping_free(m);
			return -ENOMEM;
		}
		e->files_known++;
	}
	lru_remove(e, m);
	m->refs++;
	*out = m;
	return 0;
}

static int open_flags(const struct engine *e, bool want_write)
{
	if (e->cfg.access == ENGINE_ACCESS_RW && want_write)
		return O_RDWR;
	return O_RDONLY;
}

/*
 * Map [0, len) of the file with the engine's protection and apply the policy to
 * the file's bytes. A file that cannot be mapped (a device, a filesystem without
 * mmap) falls back to the fd path instead of failing.
 */
static int mapping_map(struct mapping *m, size_t len)
{
	int prot = PROT_READ, flags = MAP_SHARED;
	void *addr;

	if (m->engine->cfg.access == ENGINE_ACCESS_COW)
		return cow_map(m, LOAD(m->size));
	if (m->writable) {
		prot |= PROT_WRITE;
	}
	addr = mmap(NULL, len, prot, flags, m->fd, 0);
	if (addr == MAP_FAILED) {
		if (errno == ENOMEM || errno == EAGAIN)
			return -errno;
		m->fd_path = true;
		return 0;
	}
	m->addr = addr;
	m->map_len = len;
	policy_apply(&m->policy, addr, engine_page_round_up(LOAD(m->size)), m->writable,
		     &m->policy_error);
	return 0;
}

static bool is_cow(const struct mapping *m)
{
	return m->engine->cfg.access == ENGINE_ACCESS_COW;
}

/* Apply the policy again after a runtime change. */
static void mapping_reapply_policy(struct mapping *m)
{
	size_t span = is_cow(m) ? m->map_len : engine_page_round_up(LOAD(m->size));

	if (m->addr)
		policy_apply(&m->policy, m->addr, span, m->writable, &m->policy_error);
}

/*
 * On tmpfs a read fault in a hole of a shared mapping allocates a page: reading a
 * sparse file would fill the filesystem (and RAM). Such files get their holes
 * replied from a zero area instead.
 */
static bool holes_allocate(int fd)
{
	struct statfs sfs;

	return fstatfs(fd, &sfs) == 0 && (sfs.f_type == TMPFS_MAGIC);
}

/* Open the backing file through its (possibly O_PATH) fd and map it. size_lock held. */
static int mapping_open_file(struct mapping *m, int path_fd, bool want_write)
{
	char proc_path[64];
	struct stat st;
	int fd, err;

	snprintf(proc_path, sizeof(proc_path), "/proc/self/fd/%d", path_fd);
	fd = open(proc_path, open_flags(m->engine, want_write) | O_CLOEXEC);
	if (fd == -1)
		return -errno;
	if (fstat(fd, &st) == -1) {
		err = -errno;
		close(fd);
		return err;
	}
	if (m->addr) {
		/* upgrading a read-only mapping to a writable one */
		pthread_rwlock_wrlock(&m->map_lock);
		munmap(m->addr, m->map_len);
		m->addr = NULL;
		m->map_len = 0;
		pthread_rwlock_unlock(&m->map_lock);
	}
	if (m->fd >= 0) {
		/*
		 * Readers use m->fd without size_lock (fstat for the size): switch the
		 * number over to the new file atomically rather than close it under them.
		 */
		if (dup3(fd, m->fd, O_CLOEXEC) == -1) {
			err = -errno;
			close(fd);
			return err;
		}
		close(fd);
	} else {
		m->fd = fd;
	}
	m->writable = (open_flags(m->engine, want_write) & O_ACCMODE) == O_RDWR;
	m->fd_path = !S_ISREG(st.st_mode);
	m->holes_allocate = holes_allocate(m->fd); /* fd may be closed: swapped in */
	STORE(m->size, (uint64_t)st.st_size);
	if (m->fd_path || (st.st_size == 0 && m->engine->cfg.access != ENGINE_ACCESS_COW))
		return 0;
	pthread_rwlock_wrlock(&m->map_lock);
	err = mapping_map(m, engine_page_round_up((uint64_t)st.st_size));
	pthread_rwlock_unlock(&m->map_lock);
	return err;
}

static int mapping_ensure_open(struct mapping *m, int path_fd, bool want_write)
{
	bool need_write = want_write && m->engine->cfg.access == ENGINE_ACCESS_RW;
	int err = 0;

	pthread_mutex_lock(&m->size_lock);
	if (m->fd < 0 || (need_write && !m->writable))
		err = mapping_open_file(m, path_fd, want_write);
	pthread_mutex_unlock(&m->size_lock);
	return err;
}

int engine_open(struct engine *e, int path_fd, const char *relpath, bool want_write,
		struct mapping **out)
{
	struct mapping *m;
	struct stat st;
	int err;

	if (fstat(path_fd, &st) == -1)
		return -errno;
	if (want_write && e->cfg.access == ENGINE_ACCESS_RO)
		return -EROFS;
	pthread_mutex_lock(&e->lock);
	err = engine_get_locked(e, &st, relpath, &m);
	if (!err)
		m->open_handles++;
	pthread_mutex_unlock(&e->lock);
	if (err)
		return err;
	err = mapping_ensure_open(m, path_fd, want_write);
	if (err) {
		engine_close(e, m);
		return err;
	}
	COUNT_ADD(m->opens, 1);
	touch_clock(m);
	*out = m;
	return 0;
}

static void engine_unref_locked(struct engine *e, struct mapping *m)
{
	if (--m->refs)
		return;
	if (m->cow_changed) {
		/* private changes live until unmount or discard: never evicted */
	} else if (m->fd >= 0 && !m->fd_path && m->addr && !m->locked_bytes) {
		lru_append(e, m);
		engine_trim_idle(e);
	} else if (m->fd >= 0 && m->locked_bytes) {
		/* locked pages stay locked until unlocked: keep the mapping, outside the LRU */
	} else if (!m->policy_override) {
		engine_drop(e, m);
	} else {
		mapping_unmap(m);
	}
}

static void drop_all_backing(struct mapping *m);

void engine_close(struct engine *e, struct mapping *m)
{
	bool last;

	pthread_mutex_lock(&e->lock);
	if (m->open_handles)
		m->open_handles--;
	last = !m->open_handles;
	pthread_mutex_unlock(&e->lock);
	if (last && e->cfg.single_copy)
		drop_all_backing(m);
	engine_put(e, m);
}

void engine_put(struct engine *e, struct mapping *m)
{
	pthread_mutex_lock(&e->lock);
	engine_unref_locked(e, m);
	pthread_mutex_unlock(&e->lock);
}

static void mapping_hold(struct mapping *m)
{
	pthread_mutex_lock(&m->engine->lock);
	m->refs++;
	pthread_mutex_unlock(&m->engine->lock);
}

struct mapping *engine_find(struct engine *e, dev_t dev, ino_t ino)
{
	struct mapping key = { .dev = dev, .ino = ino };
	struct mapping *m = NULL, **found;

	pthread_mutex_lock(&e->lock);
	found = tfind(&key, &e->tree, mapping_compare);
	if (found) {
		m = *found;
		lru_remove(e, m);
		m->refs++;
	}
	pthread_mutex_unlock(&e->lock);
	return m;
}

void engine_forget_if_unlinked(struct engine *e, dev_t dev, ino_t ino)
{
	struct mapping key = { .dev = dev, .ino = ino };
	struct mapping **found;
	struct stat st;

	pthread_mutex_lock(&e->lock);
	found = tfind(&key, &e->tree, mapping_compare);
	if (found && !(*found)->refs && (*found)->fd >= 0 && fstat((*found)->fd, &st) == 0 &&
	    st.st_nlink == 0)
		engine_drop(e, *found);
	pthread_mutex_unlock(&e->lock);
}

struct policy engine_policy_for(struct engine *e, dev_t dev, ino_t ino, const char *relpath)
{
	struct mapping *m = engine_find(e, dev, ino);
	struct policy p;

	if (m) {
		p = m->policy;
		engine_put(e, m);
		return p;
	}
	return e->cfg.rules ? rules_match(e->cfg.rules, relpath) : POLICY_DEFAULT;
}

int engine_set_policy(struct engine *e, int path_fd, const struct policy *p)
{
	struct mapping *m;
	struct stat st;
	int err;

	if (fstat(path_fd, &st) == -1)
		return -errno;
	pthread_mutex_lock(&e->lock);
	err = engine_get_locked(e, &st, NULL, &m);
	pthread_mutex_unlock(&e->lock);
	if (err)
		return err;
	pthread_mutex_lock(&m->size_lock);
	m->policy = *p;
	m->policy_override = true;
	pthread_rwlock_rdlock(&m->map_lock);
	mapping_reapply_policy(m);
	pthread_rwlock_unlock(&m->map_lock);
	pthread_mutex_unlock(&m->size_lock);
	engine_put(e, m);
	return 0;
}

/* twalk() has no context argument; totals are gathered one thread at a time. */
static __thread struct engine_totals *walk_totals;

static void totals_visit(const void *node, VISIT which, int depth)
{
	const struct mapping *m = *(const struct mapping *const *)node;
	struct residency_info info;

	(void)depth;
	if (which != postorder && which != leaf)
		return;
	walk_totals->open_handles += m->open_handles;
	if (!m->addr)
		return;
	walk_totals->files_mapped++;
	walk_totals->bytes_mapped += LOAD(m->size);
	if (!m->refs)
		walk_totals->idle_mappings++;
	if (residency_count(m->fd, LOAD(m->size), &info) == 0)
		walk_totals->resident_bytes += info.resident_pages * info.page_size;
}

void engine_totals(struct engine *e, struct engine_totals *out)
{
	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&e->lock);
	walk_totals = out;
	twalk(e->tree, totals_visit);
	walk_totals = NULL;
	out->files_known = e->files_known;
	out->idle_evictions = e->idle_evictions;
	pthread_mutex_unlock(&e->lock);
	out->private_bytes = LOAD(e->private_pages) * residency_page_size();
	out->reads = LOAD(e->reads);
	out->read_bytes = LOAD(e->read_bytes);
	out->writes = LOAD(e->writes);
	out->write_bytes = LOAD(e->write_bytes);
	out->remaps = LOAD(e->remaps);
}

static bool same_time(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec == b->tv_sec && a->tv_nsec == b->tv_nsec;
}

/* Remember the backing size and mtime the kernel's cache now matches. size_lock held. */
static void mapping_record_seen(struct mapping *m, const struct stat *st)
{
	m->seen_size = st->st_size;
	m->seen_mtime = st->st_mtim;
	m->seen_valid = true;
}

bool mapping_cache_valid(struct mapping *m)
{
	struct stat st;
	bool valid;

	pthread_mutex_lock(&m->size_lock);
	if (m->fd < 0 || fstat(m->fd, &st) == -1) {
		pthread_mutex_unlock(&m->size_lock);
		return false;
	}
	valid = m->seen_valid && m->seen_size == st.st_size &&
		same_time(&m->seen_mtime, &st.st_mtim);
	mapping_record_seen(m, &st);
	pthread_mutex_unlock(&m->size_lock);
	return valid;
}

/*
 * Make the mapping cover @size bytes (size_lock held). Growth leaves headroom so
 * a file written by appends is remapped a logarithmic number of times. The mode
 * and THP advice travel with the VMA through mremap; the one-shot extras
 * (willneed, populate, ...) are applied to the new bytes only.
 */
static int mapping_cover(struct mapping *m, uint64_t old_size, uint64_t size)
{
	size_t need = engine_page_round_up(size), new_len, headroom;
	struct policy one_shot = m->policy;
	void *addr;
	int err = 0;

	if (m->fd_path || need <= m->map_len)
		return 0;
	headroom = m->map_len < GROW_MIN_BYTES ? GROW_MIN_BYTES :
		   m->map_len > GROW_MAX_BYTES ? GROW_MAX_BYTES :
						 m->map_len;
	new_len = need + headroom;
	pthread_rwlock_wrlock(&m->map_lock);
	if (!m->addr) {
		err = mapping_map(m, new_len);
		goto out_unlock;
	}
	addr = mremap(m->addr, m->map_len, new_len, MREMAP_MAYMOVE);
	if (addr == MAP_FAILED) {
		err = -errno;
		goto out_unlock;
	}
	m->addr = addr;
	m->map_len = new_len;
	COUNT_ADD(m->remaps, 1);
	COUNT_ADD(m->engine->remaps, 1);
	old_size = old_size / residency_page_size() * residency_page_size();
	one_shot.mode = m->policy.mode;
	policy_apply(&one_shot, (char *)addr + old_size, engine_page_round_up(size) - old_size,
		     m->writable, &m->policy_error);
out_unlock:
	pthread_rwlock_unlock(&m->map_lock);
	return err;
}

/* The true size of the backing file now; another process may change it any time. */
static int mapping_refresh_size(struct mapping *m, uint64_t *size)
{
	struct stat st;

	if (is_cow(m) && m->cow_changed) {
		*size = LOAD(m->size); /* the mount's own view */
		return 0;
	}
	if (fstat(m->fd, &st) == -1)
		return -errno;
	*size = (uint64_t)st.st_size;
	if (!is_cow(m))
		STORE(m->size, *size);
	return 0;
}

/*
 * Reading through a mapping never updates atime (only mmap(2) itself does), so
 * do what a relatime read(2) would: touch atime when it is not newer than mtime
 * or is a day old. Only rw mounts change the backing inode.
 */
static void mapping_read_atime(struct mapping *m)
{
	static const struct timespec times[2] = { { 0, UTIME_NOW }, { 0, UTIME_OMIT } };
	struct timespec now;
	struct stat st;

	if (m->engine->cfg.access != ENGINE_ACCESS_RW)
		return;
	/* one look a second is plenty for a rule about days: reads stay one fstat each */
	clock_gettime(CLOCK_REALTIME_COARSE, &now);
	if (LOAD(m->atime_checked_sec) == (int64_t)now.tv_sec)
		return;
	STORE(m->atime_checked_sec, (int64_t)now.tv_sec);
	if (fstat(m->fd, &st) == -1)
		return;
	if (st.st_atim.tv_sec > st.st_mtim.tv_sec ||
	    (st.st_atim.tv_sec == st.st_mtim.tv_sec && st.st_atim.tv_nsec > st.st_mtim.tv_nsec))
		if (st.st_ctim.tv_sec <= st.st_atim.tv_sec &&
		    now.tv_sec - st.st_atim.tv_sec < 86400)
			return;
	(void)futimens(m->fd, times);
}

/* The size a cow reader sees: its own after a change, else the file's (remapping). */
static int cow_read_size(struct mapping *m, uint64_t *size)
{
	struct stat st;
	int err = 0;

	pthread_mutex_lock(&m->size_lock);
	if (!m->cow_changed) {
		if (fstat(m->fd, &st) == -1)
			err = -errno;
		else
			err = cow_refresh(m, (uint64_t)st.st_size);
	}
	*size = LOAD(m->size);
	pthread_mutex_unlock(&m->size_lock);
	return err;
}

static int read_fd_path(struct mapping *m, uint64_t offset, size_t size, struct mapping_slice *out)
{
	ssize_t got;

	out->owned = malloc(size ? size : 1);
	if (!out->owned)
		return -ENOMEM;
	got = pread(m->fd, out->owned, size, (off_t)offset);
	if (got == -1) {
		free(out->owned);
		out->owned = NULL;
		return -errno;
	}
	out->data = out->owned;
	out->len = (size_t)got;
	return 0;
}

static void count_read(struct mapping *m, size_t len)
{
	COUNT_ADD(m->reads, 1);
	COUNT_ADD(m->read_bytes, len);
	COUNT_ADD(m->engine->reads, 1);
	COUNT_ADD(m->engine->read_bytes, len);
	touch_clock(m);
}

/* Pages of zeros that take no memory: holes are replied from here. */
#define ZERO_AREA_BYTES (4u << 20)

static const char *zero_area(void)
{
	static const char *area;
	void *addr;

	const char *expected = NULL;

	if (!__atomic_load_n(&area, __ATOMIC_ACQUIRE)) {
		addr = mmap(NULL, ZERO_AREA_BYTES, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (addr == MAP_FAILED)
			return NULL;
		if (!__atomic_compare_exchange_n(&area, &expected, addr, false, __ATOMIC_ACQ_REL,
						 __ATOMIC_ACQUIRE))
			munmap(addr, ZERO_AREA_BYTES);
	}
	return __atomic_load_n(&area, __ATOMIC_ACQUIRE);
}

/* Append [src, src+len) to the slice's iovecs, zero-area pieces split to its size. */
static void add_piece(struct mapping_slice *out, const char *src, size_t len, bool zeros)
{
	while (len) {
		size_t piece = zeros && len > ZERO_AREA_BYTES ? ZERO_AREA_BYTES : len;

		out->iov[out->iov_count++] = (struct iovec){ (void *)src, piece };
		if (!zeros)
			src += piece;
		len -= piece;
	}
}

/* Replace the slice's single piece by data pieces from the mapping and zero holes. */
static int split_holes(struct mapping *m, uint64_t offset, size_t size, struct mapping_slice *out)
{
	const char *zeros = zero_area();
	uint64_t pos = offset, end = offset + size;

	out->iov = zeros ? calloc(size / residency_page_size() + size / ZERO_AREA_BYTES + 4,
				  sizeof(*out->iov)) :
			   NULL;
	if (!out->iov)
		return 0; /* fall back to the mapping: correct, only costlier on tmpfs */
	while (pos < end) {
		off_t data = lseek(m->fd, (off_t)pos, SEEK_DATA), hole;

		if (data == -1 || (uint64_t)data >= end) {
			add_piece(out, zeros, (size_t)(end - pos), true);
			break;
		}
		if ((uint64_t)data > pos)
			add_piece(out, zeros, (size_t)((uint64_t)data - pos), true);
		hole = lseek(m->fd, data, SEEK_HOLE);
		if (hole == -1 || (uint64_t)hole > end)
			hole = (off_t)end;
		add_piece(out, (const char *)m->addr + data, (size_t)(hole - data), false);
		pos = (uint64_t)hole;
	}
	return 0;
}

/*
 * Under MADV_RANDOM every page of a reply would fault in alone: one synchronous
 * 4 KiB disk read per page, 262,144 a GiB for a sequential reader. Ask for the
 * request's own range in one go instead: still nothing read around it.
 */
static void prefetch_request(struct mapping *m, uint64_t offset, size_t size)
{
	uint64_t page_size = residency_page_size();
	uint64_t start = offset / page_size * page_size;

	if (m->policy.mode == POLICY_RANDOM && size > page_size)
		(void)madvise((char *)m->addr + start, engine_page_round_up(offset + size) - start,
			      MADV_WILLNEED);
}

static int read_slice(struct mapping *m, uint64_t offset, size_t size, struct mapping_slice *out)
{
	uint64_t file_size;
	int err;

	err = is_cow(m) ? cow_read_size(m, &file_size) : mapping_refresh_size(m, &file_size);
	if (err)
		return err;
	/* Size 0 may still have content (procfs, sysfs): only read(2) can tell. */
	if (m->fd_path || (file_size == 0 && !m->cow_changed))
		return read_fd_path(m, offset, size, out);
	if (offset >= file_size)
		return 0;
	if (size > file_size - offset)
		size = (size_t)(file_size - offset);
	if (is_cow(m))
		return cow_read(m, offset, size, out);
	pthread_rwlock_rdlock(&m->map_lock);
	while (!m->addr || offset + size > m->map_len) {
		/* grown by someone else since we mapped it */
		pthread_rwlock_unlock(&m->map_lock);
		pthread_mutex_lock(&m->size_lock);
		err = mapping_cover(m, 0, file_size);
		pthread_mutex_unlock(&m->size_lock);
		if (err)
			return err;
		if (m->fd_path)
			return read_fd_path(m, offset, size, out);
		pthread_rwlock_rdlock(&m->map_lock);
	}
	out->data = (const char *)m->addr + offset;
	out->len = size;
	out->locked = true;
	prefetch_request(m, offset, size);
	if (m->holes_allocate)
		return split_holes(m, offset, size, out);
	return 0;
}

int mapping_read_begin(struct mapping *m, uint64_t offset, size_t size, struct mapping_slice *out)
{
	int err;

	memset(out, 0, sizeof(*out));
	/* The slice outlives the caller's handle: the reply may let it be released. */
	mapping_hold(m);
	err = read_slice(m, offset, size, out);
	if (err) {
		engine_put(m->engine, m);
		return err;
	}
	out->held = true;
	out->offset = offset;
	count_read(m, out->len);
	if (out->len)
		mapping_read_atime(m);
	return 0;
}

#define LARGE_FOLIO_BYTES (2ull << 20)

/* Drop [start, end) from our mapping's page tables (they would keep the pages), then the cache. */
static void drop_range(struct mapping *m, uint64_t start, uint64_t end)
{
	pthread_rwlock_rdlock(&m->map_lock);
	if (m->addr && end <= m->map_len)
		(void)madvise((char *)m->addr + start, end - start, MADV_DONTNEED);
	pthread_rwlock_unlock(&m->map_lock);
	(void)posix_fadvise(m->fd, (off_t)start, (off_t)(end - start), POSIX_FADV_DONTNEED);
}

/* Make the replied-pages bitmap cover @pages pages (replied_lock held). */
static bool replied_grow(struct mapping *m, uint64_t pages)
{
	size_t bytes = (size_t)((pages + 7) / 8), grown = 2 * m->replied_len;
	unsigned char *bits;

	if (bytes <= m->replied_len)
		return true;
	if (grown < bytes)
		grown = bytes;
	bits = realloc(m->replied, grown);
	if (!bits)
		return false;
	memset(bits + m->replied_len, 0, grown - m->replied_len);
	m->replied = bits;
	m->replied_len = grown;
	return true;
}

static bool replied_all(const unsigned char *bits, uint64_t first, uint64_t end)
{
	for (; first < end; first++)
		if (!(bits[first / 8] & (1u << (first % 8))))
			return false;
	return true;
}

static void replied_set(unsigned char *bits, uint64_t first, uint64_t end, bool on)
{
	for (; first < end; first++) {
		if (on)
			bits[first / 8] |= (unsigned char)(1u << (first % 8));
		else
			bits[first / 8] &= (unsigned char)~(1u << (first % 8));
	}
}

/*
 * A filesystem may cache in large folios (ext4: up to 2 MiB), and DONTNEED skips a
 * folio that sticks out of the range; the thread pool also replies neighbouring
 * requests out of order. So remember which pages of each 2 MiB block were replied,
 * and drop the whole block once every page of it was (then forget it: a later
 * re-read starts over). The bitmap covers the first REPLIED_MAX_BYTES of a file
 * (2 MiB of bits); past that only the replied pages and the last close's sweep drop.
 */
#define REPLIED_MAX_BYTES (64ull << 30)
#define DROPS_PER_REPLY	  8

static void drop_replied_blocks(struct mapping *m, uint64_t offset, uint64_t len, uint64_t size)
{
	uint64_t page_size = residency_page_size(), block_pages = LARGE_FOLIO_BYTES / page_size;
	uint64_t first = offset / page_size, end = (offset + len + page_size - 1) / page_size;
	uint64_t size_pages = (size + page_size - 1) / page_size, block;
	uint64_t last_block_end = (end + block_pages - 1) / block_pages * block_pages;
	uint64_t drops[DROPS_PER_REPLY][2];
	unsigned count = 0, i;

	if (last_block_end * page_size > REPLIED_MAX_BYTES)
		return;
	pthread_mutex_lock(&m->replied_lock);
	/* cover the whole last block: its pages past the reply are looked at too */
	if (!replied_grow(m, last_block_end)) {
		pthread_mutex_unlock(&m->replied_lock);
		return;
	}
	replied_set(m->replied, first, end, true);
	for (block = first / block_pages; block * block_pages < end && count < DROPS_PER_REPLY;
	     block++) {
		uint64_t bfirst = block * block_pages, bend = bfirst + block_pages;

		if (bend > size_pages)
			bend = size_pages;
		if (bend <= bfirst || !replied_all(m->replied, bfirst, bend))
			continue;
		replied_set(m->replied, bfirst, bend, false);
		drops[count][0] = bfirst * page_size;
		drops[count++][1] = bend * page_size;
	}
	pthread_mutex_unlock(&m->replied_lock);
	/* outside the lock: other replies of this file need not wait for the drops */
	for (i = 0; i < count; i++)
		drop_range(m, drops[i][0], drops[i][1]);
}

/* Forget which pages were replied (the last close; mapping_unmap() frees the record). */
static void replied_forget(struct mapping *m)
{
	pthread_mutex_lock(&m->replied_lock);
	if (m->replied)
		memset(m->replied, 0, m->replied_len);
	pthread_mutex_unlock(&m->replied_lock);
}

/*
 * At the last close under single_copy, drop whatever of the backing file is still
 * cached: read-around pages no reply covered, blocks a re-read brought back.
 */
#define SWEEP_RETRIES 3
#define SWEEP_WAIT_US 10000

static void drop_all_backing(struct mapping *m)
{
	uint64_t size = LOAD(m->size), left = UINT64_MAX;
	struct residency_info info;
	int retry;

	if (m->fd < 0 || m->fd_path || is_cow(m))
		return;
	replied_forget(m);
	/*
	 * Pages still being read in (the mapping's last readahead) are locked, and
	 * DONTNEED passes them by: look again a few times while the clean pages left
	 * keep going down (another process's mapping may keep some for good).
	 */
	for (retry = 0;; retry++) {
		drop_range(m, 0, engine_page_round_up(size));
		if (retry == SWEEP_RETRIES || m->locked_bytes ||
		    residency_count(m->fd, size, &info) ||
		    info.resident_pages <= info.dirty_pages + info.writeback_pages ||
		    info.resident_pages >= left)
			break;
		left = info.resident_pages;
		usleep(SWEEP_WAIT_US);
	}
}

static void mapping_drop_cache(struct mapping *m, uint64_t offset, uint64_t len)
{
	uint64_t page_size = residency_page_size(), size = LOAD(m->size);
	uint64_t start = (offset + page_size - 1) / page_size * page_size;
	uint64_t end = offset + len >= size ? engine_page_round_up(size) :
					      (offset + len) / page_size * page_size;

	if (m->fd_path)
		return;
	/* the replied pages at once: enough where the cache holds small folios */
	if (start < end)
		drop_range(m, start, end);
	drop_replied_blocks(m, offset, len, size);
}

void mapping_read_end(struct mapping *m, struct mapping_slice *slice)
{
	bool held = slice->held;
	uint64_t offset = slice->offset, len = slice->len;

	if (slice->locked)
		pthread_rwlock_unlock(&m->map_lock);
	free(slice->owned);
	free(slice->iov);
	memset(slice, 0, sizeof(*slice));
	if (held && len && m->engine->cfg.single_copy)
		mapping_drop_cache(m, offset, len);
	if (held)
		engine_put(m->engine, m);
}

/*
 * Reserve blocks for [offset, offset+len) before the copy: a page fault on a
 * write to a full disk is a SIGBUS, fallocate's answer is ENOSPC. It also extends
 * the file when the range ends past EOF.
 */
static int reserve_range(int fd, uint64_t offset, uint64_t len, uint64_t cur_size)
{
	if (!len)
		return 0;
	if (fallocate(fd, 0, (off_t)offset, (off_t)len) == 0)
		return 0;
	if (errno != EOPNOTSUPP)
		return -errno;
	if (offset + len > cur_size && ftruncate(fd, (off_t)(offset + len)) == -1)
		return -errno;
	return 0;
}

static ssize_t write_fd_path(struct mapping *m, const void *buf, size_t size, uint64_t offset,
			     bool append)
{
	ssize_t done;

	if (append) {
		uint64_t cur;
		int err = mapping_refresh_size(m, &cur);

		if (err)
			return err;
		offset = cur;
	}
	done = pwrite(m->fd, buf, size, (off_t)offset);
	return done == -1 ? -errno : done;
}

/* Grow the file and the mapping so [*offset, *offset+size) can be copied to. */
static int mapping_prepare_write(struct mapping *m, size_t size, uint64_t *offset, bool append)
{
	uint64_t cur_size;
	int err;

	pthread_mutex_lock(&m->size_lock);
	err = mapping_refresh_size(m, &cur_size);
	if (err)
		goto out_unlock;
	if (append)
		*offset = cur_size;
	err = reserve_range(m->fd, *offset, size, cur_size);
	if (err)
		goto out_unlock;
	if (*offset + size > cur_size)
		STORE(m->size, *offset + size);
	err = mapping_cover(m, cur_size, *offset + size);
out_unlock:
	pthread_mutex_unlock(&m->size_lock);
	return err;
}

static void count_write(struct mapping *m, size_t len)
{
	COUNT_ADD(m->writes, 1);
	COUNT_ADD(m->write_bytes, len);
	COUNT_ADD(m->engine->writes, 1);
	COUNT_ADD(m->engine->write_bytes, len);
	touch_clock(m);
}

/* Bytes stored through a mapping do not touch mtime/ctime the way write(2) does. */
static void mapping_mark_modified(struct mapping *m)
{
	static const struct timespec times[2] = { { 0, UTIME_OMIT }, { 0, UTIME_NOW } };
	struct stat st;

	(void)futimens(m->fd, times);
	pthread_mutex_lock(&m->size_lock);
	if (m->seen_valid && fstat(m->fd, &st) == 0)
		mapping_record_seen(m, &st);
	pthread_mutex_unlock(&m->size_lock);
}

ssize_t mapping_write(struct mapping *m, const void *buf, size_t size, uint64_t offset, bool append)
{
	ssize_t done;
	int err;

	if (m->engine->cfg.access == ENGINE_ACCESS_RO)
		return -EROFS;
	if (is_cow(m)) {
		pthread_mutex_lock(&m->size_lock);
		done = cow_write(m, buf, size, append ? LOAD(m->size) : offset);
		pthread_mutex_unlock(&m->size_lock);
		if (done > 0)
			count_write(m, (size_t)done);
		return done;
	}
	if (!m->writable)
		return -EBADF;
	if (m->fd_path) {
		done = write_fd_path(m, buf, size, offset, append);
		goto out_count;
	}
	err = mapping_prepare_write(m, size, &offset, append);
	if (err)
		return err;
	if (m->fd_path) {
		done = write_fd_path(m, buf, size, offset, false);
		goto out_count;
	}
	pthread_rwlock_rdlock(&m->map_lock);
	err = safecopy((char *)m->addr + offset, buf, size);
	pthread_rwlock_unlock(&m->map_lock);
	done = err ? err : (ssize_t)size;
out_count:
	if (done > 0) {
		count_write(m, (size_t)done);
		mapping_mark_modified(m);
	}
	return done;
}

int mapping_truncate(struct mapping *m, uint64_t size)
{
	uint64_t old_size;
	struct stat st;
	int err = 0;

	if (m->engine->cfg.access == ENGINE_ACCESS_RO)
		return -EROFS;
	pthread_mutex_lock(&m->size_lock);
	if (is_cow(m)) {
		err = cow_truncate(m, size);
		goto out_unlock;
	}
	old_size = LOAD(m->size);
	if (ftruncate(m->fd, (off_t)size) == -1) {
		err = -errno;
		goto out_unlock;
	}
	STORE(m->size, size);
	/* Pages past a shrunken end stay mapped but are never touched. */
	if (size > old_size)
		err = mapping_cover(m, old_size, size);
	if (m->seen_valid && fstat(m->fd, &st) == 0)
		mapping_record_seen(m, &st);
out_unlock:
	pthread_mutex_unlock(&m->size_lock);
	return err;
}

int mapping_fallocate(struct mapping *m, int mode, uint64_t offset, uint64_t len)
{
	uint64_t old_size, new_size;
	int err = 0;

	if (m->engine->cfg.access == ENGINE_ACCESS_RO)
		return -EROFS;
	pthread_mutex_lock(&m->size_lock);
	if (is_cow(m)) {
		/* only space reservation has a meaning for private memory: it may grow */
		if (mode & ~FALLOC_FL_KEEP_SIZE)
			err = -EOPNOTSUPP;
		else if (!(mode & FALLOC_FL_KEEP_SIZE) && offset + len > LOAD(m->size))
			err = cow_truncate(m, offset + len);
		goto out_unlock;
	}
	old_size = LOAD(m->size);
	if (fallocate(m->fd, mode, (off_t)offset, (off_t)len) == -1) {
		err = -errno;
		goto out_unlock;
	}
	err = mapping_refresh_size(m, &new_size);
	if (!err && new_size > old_size)
		err = mapping_cover(m, old_size, new_size);
out_unlock:
	pthread_mutex_unlock(&m->size_lock);
	return err;
}

int mapping_sync(struct mapping *m, bool datasync)
{
	size_t len;
	int err = 0;

	if (is_cow(m))
		return 0; /* nothing of a cow mount ever reaches the disk */
	pthread_rwlock_rdlock(&m->map_lock);
	len = engine_page_round_up(LOAD(m->size));
	if (len > m->map_len)
		len = m->map_len;
	if (m->addr && len && msync(m->addr, len, MS_SYNC) == -1)
		err = -errno;
	pthread_rwlock_unlock(&m->map_lock);
	if (err)
		return err;
	if ((datasync ? fdatasync(m->fd) : fsync(m->fd)) == -1)
		return -errno;
	return 0;
}

int mapping_fd(struct mapping *m)
{
	return m->fd;
}

off_t mapping_lseek(struct mapping *m, off_t offset, int whence)
{
	off_t result;

	pthread_mutex_lock(&m->size_lock);
	if (is_cow(m) && m->cow_changed && (whence == SEEK_DATA || whence == SEEK_HOLE))
		result = cow_lseek(m, offset, whence);
	else if ((result = lseek(m->fd, offset, whence)) == -1)
		result = -errno;
	pthread_mutex_unlock(&m->size_lock);
	return result;
}

void mapping_stats(struct mapping *m, struct mapping_stats *out)
{
	int64_t last_ns = LOAD(m->last_access_ns);

	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&m->engine->lock);
	out->open_handles = m->open_handles;
	pthread_mutex_unlock(&m->engine->lock);
	pthread_mutex_lock(&m->size_lock);
	out->policy = m->policy;
	out->policy_error = m->policy_error;
	out->fd_path = m->fd_path;
	out->private_pages = m->private_pages;
	out->cow_changed = m->cow_changed;
	pthread_rwlock_rdlock(&m->map_lock);
	out->mapped = m->addr != NULL;
	out->map_len_bytes = m->map_len;
	pthread_rwlock_unlock(&m->map_lock);
	pthread_mutex_unlock(&m->size_lock);
	out->opens = LOAD(m->opens);
	out->reads = LOAD(m->reads);
	out->read_bytes = LOAD(m->read_bytes);
	out->writes = LOAD(m->writes);
	out->write_bytes = LOAD(m->write_bytes);
	out->remaps = LOAD(m->remaps);
	out->size_bytes = LOAD(m->size);
	out->last_access.tv_sec = (time_t)(last_ns / 1000000000);
	out->last_access.tv_nsec = (long)(last_ns % 1000000000);
}

int mapping_residency(struct mapping *m, struct residency_info *out)
{
	uint64_t size;
	int err = mapping_refresh_size(m, &size);

	return err ? err : residency_count(m->fd, size, out);
}

int mapping_discard(struct mapping *m)
{
	int err;

	if (!is_cow(m))
		return -EINVAL;
	pthread_mutex_lock(&m->size_lock);
	err = m->fd_path ? 0 : cow_discard(m);
	m->seen_valid = false;
	pthread_mutex_unlock(&m->size_lock);
	return err;
}

void engine_fix_stat(struct engine *e, struct stat *st)
{
	struct mapping *m;

	if (e->cfg.access != ENGINE_ACCESS_COW || !S_ISREG(st->st_mode))
		return;
	m = engine_find(e, st->st_dev, st->st_ino);
	if (!m)
		return;
	pthread_mutex_lock(&m->size_lock);
	if (m->cow_changed) {
		st->st_size = (off_t)LOAD(m->size);
		st->st_mtim = st->st_ctim = m->cow_mtime;
	}
	pthread_mutex_unlock(&m->size_lock);
	engine_put(e, m);
}

int mapping_extents(struct mapping *m, residency_extent_fn fn, void *ctx)
{
	uint64_t size;
	int err = mapping_refresh_size(m, &size);

	return err ? err : residency_extents(m->fd, size, fn, ctx);
}

/* Clip [offset, offset+len) (len 0: to EOF) to the file and the mapping; start page-aligned. */
static bool clip_range(struct mapping *m, uint64_t offset, uint64_t len, uint64_t *start,
		       uint64_t *end)
{
	uint64_t page_size = residency_page_size();
	uint64_t size = LOAD(m->size);

	if (size > m->map_len)
		size = m->map_len;
	if (offset >= size)
		return false;
	*start = offset / page_size * page_size;
	*end = (!len || len > size - offset) ? size : offset + len;
	return true;
}

/*
 * Make the range resident. MADV_WILLNEED starts large readahead; populating the
 * page tables then waits for every page. Holes are skipped (SEEK_DATA): reading
 * them would only fill the cache with zeros.
 */
static int touch_range(struct mapping *m, uint64_t start, uint64_t end)
{
	char *addr = (char *)m->addr + start;
	size_t len = engine_page_round_up(end) - start;

	(void)madvise(addr, len, MADV_WILLNEED);
	if (madvise(addr, len, MADV_POPULATE_READ) == 0)
		return 0;
	if (errno != EINVAL)
		return errno == EFAULT ? -EIO : -errno;
	return safecopy_touch(addr, end - start, residency_page_size());
}

int mapping_touch(struct mapping *m, uint64_t offset, uint64_t len)
{
	uint64_t page_size = residency_page_size();
	uint64_t start, end, size, pos;
	int err;

	err = mapping_refresh_size(m, &size);
	if (err)
		return err;
	if (m->fd_path)
		return -ENODEV;
	pthread_rwlock_rdlock(&m->map_lock);
	if (!m->addr || !clip_range(m, offset, len, &start, &end))
		goto out_unlock;
	for (pos = start; !err && pos < end;) {
		off_t data = lseek(m->fd, (off_t)pos, SEEK_DATA);
		off_t hole;

		if (data == -1 && errno == ENXIO)
			break; /* only a hole is left */
		if (data == -1)
			data = (off_t)pos; /* no SEEK_DATA here: touch everything */
		if ((uint64_t)data >= end)
			break;
		hole = lseek(m->fd, data, SEEK_HOLE);
		if (hole == -1 || (uint64_t)hole > end)
			hole = (off_t)end;
		err = touch_range(m, (uint64_t)data / page_size * page_size, (uint64_t)hole);
		pos = (uint64_t)hole;
	}
out_unlock:
	pthread_rwlock_unlock(&m->map_lock);
	return err;
}

int mapping_evict(struct mapping *m, uint64_t offset, uint64_t len)
{
	uint64_t start, end;

	pthread_rwlock_rdlock(&m->map_lock);
	/* Our own page-table entries pin pages against FADV_DONTNEED: drop them first
	 * (in cow mode too: private pages live in the overlay, not in this mapping). */
	if (m->addr && clip_range(m, offset, len, &start, &end))
		(void)madvise((char *)m->addr + start, engine_page_round_up(end) - start,
			      MADV_DONTNEED);
	pthread_rwlock_unlock(&m->map_lock);
	return residency_evict(m->fd, offset, len);
}

int mapping_lock(struct mapping *m, uint64_t offset, uint64_t len, bool lock)
{
	uint64_t start, end;
	size_t span;
	int err = 0;

	pthread_mutex_lock(&m->size_lock);
	pthread_rwlock_rdlock(&m->map_lock);
	if (!m->addr || !clip_range(m, offset, len, &start, &end))
		goto out_unlock;
	span = engine_page_round_up(end) - start;
	/* the raw system calls: sanitizer runtimes turn mlock(3) into a no-op */
	if (syscall(lock ? SYS_mlock : SYS_munlock, (char *)m->addr + start, span))
		err = -errno;
	if (err)
		goto out_unlock;
	if (lock)
		m->locked_bytes += span;
	else
		m->locked_bytes = m->locked_bytes > span ? m->locked_bytes - span : 0;
out_unlock:
	pthread_rwlock_unlock(&m->map_lock);
	pthread_mutex_unlock(&m->size_lock);
	return err;
}
