/*
 * Internals shared by engine.c and cow.c; nothing outside core/engine*.c and
 * core/cow.c includes this.
 */
#ifndef MMAPFS_ENGINE_PRIVATE_H
#define MMAPFS_ENGINE_PRIVATE_H

#include <pthread.h>

#include "engine.h"

/* Mappings grow by at least this much past a write, so appends rarely remap. */
#define GROW_MIN_BYTES (64ull << 20)
#define GROW_MAX_BYTES (1ull << 30)

/* Private pages of a cow mapping, one bit a page, in chunks allocated on first write. */
struct cow_pages {
	unsigned char **chunks;
	size_t chunk_count;
};

struct mapping {
	struct engine *engine;
	dev_t dev;
	ino_t ino;
	char *relpath;

	pthread_mutex_t size_lock;
	int fd;		     /* -1 while the record is kept without a file (policy override) */
	bool writable;	     /* fd open for writing and mapping PROT_WRITE */
	bool fd_path;	     /* cannot be mapped: served with pread/pwrite */
	bool holes_allocate; /* tmpfs: reading a hole through the mapping allocates */

	pthread_rwlock_t map_lock;
	void *addr;
	size_t map_len;
	uint64_t size; /* last size seen; atomics */

	struct policy policy;
	bool policy_override;
	struct policy_error policy_error;
	uint64_t locked_bytes;

	/* single_copy: pages replied since their 2 MiB block was last dropped, a bit each */
	pthread_mutex_t replied_lock;
	unsigned char *replied;
	size_t replied_len;

	/* what the kernel's cache of the mount file was last known to match */
	bool seen_valid;
	off_t seen_size;
	struct timespec seen_mtime;

	unsigned refs;	       /* engine->lock */
	unsigned open_handles; /* engine->lock */
	struct mapping *lru_prev, *lru_next;
	bool in_lru;

	uint64_t opens, reads, read_bytes, writes, write_bytes, remaps;
	int64_t last_access_ns;
	int64_t atime_checked_sec; /* when reads last considered updating atime */

	/* cow mode (size_lock): addr maps the file read-only; private pages live in the
	 * anonymous overlay at the same offsets */
	bool cow_changed; /* private changes exist: size is ours, not the file's */
	void *cow_overlay;
	size_t cow_overlay_len;	   /* how far the file may grow */
	uint64_t cow_zero_from;	   /* untouched bytes from here on read as zeros */
	struct cow_pages cow;	   /* pages copied on write */
	uint64_t private_pages;	   /* bits set in cow */
	struct timespec cow_mtime; /* time of the last private change */
};

struct engine {
	struct engine_config cfg;
	pthread_mutex_t lock;
	void *tree;
	struct mapping lru; /* sentinel: lru.lru_next is the oldest idle mapping */
	unsigned idle_count;
	uint64_t files_known;
	uint64_t reads, read_bytes, writes, write_bytes, remaps, idle_evictions;
	uint64_t private_pages; /* cow pages of every mapping, against cfg.cow_limit_bytes */
};

#define COUNT_ADD(field, value) __atomic_fetch_add(&(field), (value), __ATOMIC_RELAXED)
#define LOAD(field)		__atomic_load_n(&(field), __ATOMIC_RELAXED)
#define STORE(field, value)	__atomic_store_n(&(field), (value), __ATOMIC_RELAXED)

size_t engine_page_round_up(uint64_t bytes);

/* cow.c: the ACCESS_COPY side of the engine; size_lock held unless noted */
/** cow_map() - map @size bytes of the file and an overlay to grow into (map_lock write-held). */
int cow_map(struct mapping *m, uint64_t size);
/** cow_unmap() - forget every private page (the caller unmaps). */
void cow_unmap(struct mapping *m);
ssize_t cow_write(struct mapping *m, const void *buf, size_t size, uint64_t offset);
int cow_truncate(struct mapping *m, uint64_t size);
int cow_discard(struct mapping *m);
/** cow_refresh() - an unchanged mapping follows the file: remap when its size changed. */
int cow_refresh(struct mapping *m, uint64_t file_size);
/** cow_lseek() - SEEK_DATA/SEEK_HOLE on a changed file. Return: offset or -errno. */
off_t cow_lseek(struct mapping *m, off_t offset, int whence);
/**
 * cow_read() - the mount's view of [@offset, @offset+@size) (clipped by the caller)
 * as iovecs into the file mapping and the overlay; map_lock stays read-held.
 */
int cow_read(struct mapping *m, uint64_t offset, size_t size, struct mapping_slice *out);

#endif
