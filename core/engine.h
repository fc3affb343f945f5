/*
 * The mapping engine: one mmap per backing inode, shared by every open handle,
 * reference-counted, kept after the last close in a bounded LRU of idle mappings.
 * Reads are served as slices of the mapping, writes land in it.
 */
#ifndef MMAPFS_ENGINE_H
#define MMAPFS_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>

#include "policy.h"
#include "residency.h"
#include "rules.h"

enum engine_access {
	ENGINE_ACCESS_RW,  /* MAP_SHARED read/write: changes reach the backing file */
	ENGINE_ACCESS_RO,  /* MAP_SHARED read-only */
	ENGINE_ACCESS_COW, /* MAP_PRIVATE: changes stay in the daemon */
};

struct engine_config {
	enum engine_access access;
	unsigned max_idle_maps;
	const struct rules *rules; /* not owned; must outlive the engine */
	uint64_t cow_limit_bytes;  /* cow: private bytes allowed in all; 0 = no limit */
	bool single_copy;	   /* drop the backing file's pages once a read is replied */
};

#define ENGINE_DEFAULT_MAX_IDLE_MAPS 1024

struct engine;
struct mapping;

/** struct engine_totals - whole-mount counters for .mmstat/summary. */
struct engine_totals {
	uint64_t files_known;	/* mappings the engine tracks, open or idle */
	uint64_t files_mapped;	/* of those, with a live mmap */
	uint64_t bytes_mapped;	/* file bytes covered by live mmaps */
	uint64_t idle_mappings; /* live mmaps with no open handle */
	uint64_t open_handles;
	uint64_t reads;
	uint64_t read_bytes;
	uint64_t writes;
	uint64_t write_bytes;
	uint64_t remaps;
	uint64_t idle_evictions;
	uint64_t resident_bytes; /* page-cache bytes of the files with a live mmap */
	uint64_t private_bytes;	 /* cow: bytes copied on write, all files */
};

/** struct mapping_stats - per-file counters for .mmstat/files/PATH/stats. */
struct mapping_stats {
	uint64_t opens;
	uint64_t open_handles;
	uint64_t reads;
	uint64_t read_bytes;
	uint64_t writes;
	uint64_t write_bytes;
	uint64_t remaps;
	uint64_t size_bytes;
	uint64_t map_len_bytes;
	bool mapped;
	bool fd_path;		/* served by pread/pwrite: the file cannot be mapped */
	uint64_t private_pages; /* cow: pages copied on write */
	bool cow_changed;	/* cow: the mount's view differs from the backing file */
	struct policy policy;
	struct policy_error policy_error;
	struct timespec last_access;
};

/** engine_new() - Return: 0 or -errno; @out owns the engine. */
int engine_new(const struct engine_config *cfg, struct engine **out);
/** engine_free() - unmap and close everything; no handle may be open. */
void engine_free(struct engine *e);

/**
 * engine_open() - take a reference on the mapping of the regular file behind
 * @path_fd (any fd of it, O_PATH is fine), creating it when absent. @relpath is the
 * path from the mount root, used for policy rules when the mapping is created.
 * @want_write: the handle may write; fails with the backing errno when the file
 * cannot be opened for writing, -EROFS in ro mode.
 * Return: 0 or -errno.
 */
int engine_open(struct engine *e, int path_fd, const char *relpath, bool want_write,
		struct mapping **out);

/** engine_close() - drop the reference engine_open() gave (one open handle). */
void engine_close(struct engine *e, struct mapping *m);

/**
 * engine_find() - a reference on the engine's record of (@dev, @ino), or NULL when
 * it has none. Counts no open and maps nothing. Drop it with engine_put().
 */
struct mapping *engine_find(struct engine *e, dev_t dev, ino_t ino);

/** engine_put() - drop a reference from engine_find(). */
void engine_put(struct engine *e, struct mapping *m);

/**
 * engine_forget_if_unlinked() - the name (@dev, @ino) had may be gone: if the file
 * has no links left and no handle, unmap and close it now so its space is freed.
 */
void engine_forget_if_unlinked(struct engine *e, dev_t dev, ino_t ino);

/** engine_totals() - snapshot of the whole-mount counters. */
void engine_totals(struct engine *e, struct engine_totals *out);

/** engine_access() - the mode the engine maps with. */
enum engine_access engine_access(const struct engine *e);

/**
 * engine_policy_for() - the policy (@dev, @ino) has or would get: a runtime
 * override if one was written, else the rules' match for @relpath.
 */
struct policy engine_policy_for(struct engine *e, dev_t dev, ino_t ino, const char *relpath);

/**
 * engine_set_policy() - replace the policy of (@dev, @ino) for the engine's life
 * and re-apply madvise now if it is mapped. @path_fd is opened when the engine has
 * no record yet. Return: 0 or -errno (a failed madvise is not an error; see stats).
 */
int engine_set_policy(struct engine *e, int path_fd, const struct policy *p);

/**
 * engine_fix_stat() - in cow mode, make @st (of a backing file) show the mount's
 * view: the size and mtime of its private changes. No-op otherwise.
 */
void engine_fix_stat(struct engine *e, struct stat *st);

/**
 * mapping_discard() - cow: drop the file's private changes; it shows the backing
 * content again. Return: 0, -EINVAL outside cow mode.
 */
int mapping_discard(struct mapping *m);

/**
 * mapping_cache_valid() - whether the kernel's cached pages of this file are still
 * right: the backing size and mtime are those the engine last saw. Records the
 * current ones. Used for keep_cache on open.
 */
bool mapping_cache_valid(struct mapping *m);

struct iovec;

/**
 * struct mapping_slice - bytes for a read reply. @data points into the mapping
 * (the mapping is read-locked until mapping_read_end()) or into @owned, a buffer
 * filled by the fd path for files that cannot be mapped.
 */
struct mapping_slice {
	const void *data;
	size_t len;
	void *owned;
	bool locked;
	uint64_t offset;   /* where @len starts in the file */
	bool held;	   /* a reference keeps the mapping alive until mapping_read_end() */
	struct iovec *iov; /* cow: pieces from the file and the overlay, @iov_count of */
	int iov_count;	   /* them, instead of @data (@len is still the total) */
};

/**
 * mapping_read_begin() - up to @size bytes at @offset: short at end of file,
 * empty past it. The true size is read from the backing file each time, so a
 * file that shrank underneath is never read past its end.
 * Return: 0 or -errno. Call mapping_read_end() after a 0 return.
 */
int mapping_read_begin(struct mapping *m, uint64_t offset, size_t size, struct mapping_slice *out);
/**
 * mapping_read_end() - after the reply: unlock and drop the reference. With
 * single_copy, the backing file's clean pages wholly inside the slice (or to EOF)
 * leave the page cache, and so does each 2 MiB block once every page of it was
 * replied (in any order): the kernel's copy of the mount file is the one kept.
 * The last engine_close() drops whatever of the file is still cached.
 */
void mapping_read_end(struct mapping *m, struct mapping_slice *slice);

/**
 * mapping_write() - copy @size bytes into the file at @offset (at its end if
 * @append). Space is allocated first, so a full disk gives -ENOSPC; a file
 * truncated underneath gives -EIO or a short count, never SIGBUS.
 * Return: bytes written or -errno.
 */
ssize_t mapping_write(struct mapping *m, const void *buf, size_t size, uint64_t offset,
		      bool append);

/** mapping_truncate() - set the file size, remapping as needed. Return: 0 or -errno. */
int mapping_truncate(struct mapping *m, uint64_t size);

/** mapping_fallocate() - fallocate(2) on the backing file, then track its new size. */
int mapping_fallocate(struct mapping *m, int mode, uint64_t offset, uint64_t len);

/** mapping_sync() - msync(MS_SYNC) the mapping, then f(data)sync the backing fd. */
int mapping_sync(struct mapping *m, bool datasync);

/** mapping_fd() - the backing fd the engine holds (valid while referenced). */
int mapping_fd(struct mapping *m);

/**
 * mapping_lseek() - lseek(2) on the file as the mount shows it (SEEK_DATA and
 * SEEK_HOLE see a cow file's private changes). Return: the offset or -errno.
 */
off_t mapping_lseek(struct mapping *m, off_t offset, int whence);

/** mapping_stats() - snapshot of the per-file counters and state. */
void mapping_stats(struct mapping *m, struct mapping_stats *out);

/** mapping_residency() - residency_count() of the whole file. */
int mapping_residency(struct mapping *m, struct residency_info *out);

/** mapping_extents() - residency_extents() of the whole file. */
int mapping_extents(struct mapping *m, residency_extent_fn fn, void *ctx);

/**
 * mapping_touch() - make [@offset, @offset+@len) resident (@len 0: to EOF) by
 * reading one byte of each non-hole page through the mapping. Return: 0 or -errno.
 */
int mapping_touch(struct mapping *m, uint64_t offset, uint64_t len);

/** mapping_evict() - residency_evict() of the range; @len 0: to EOF. */
int mapping_evict(struct mapping *m, uint64_t offset, uint64_t len);

/**
 * mapping_lock() - mlock (@lock) or munlock the range of the mapping; the lock
 * stays until unlock or until the mapping goes. Return: 0 or -errno (-ENOMEM,
 * -EPERM for RLIMIT_MEMLOCK, as mlock(2) says).
 */
int mapping_lock(struct mapping *m, uint64_t offset, uint64_t len, bool lock);

#endif
