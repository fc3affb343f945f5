/* State shared by the FUSE glue: the mount, its nodes and the engine behind them. */
#ifndef MMAPFS_FS_H
#define MMAPFS_FS_H

#define FUSE_USE_VERSION 312

#include <fuse_lowlevel.h>
#include <pthread.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <time.h>

#include "engine.h"
#include "rules.h"
#include "strbuf.h"

#define MMSTAT_NAME ".mmstat"

enum node_kind {
	NODE_BACKING,	   /* a file, directory, symlink... of the backing tree */
	NODE_MMSTAT_ROOT,  /* /.mmstat */
	NODE_MMSTAT_FILE,  /* /.mmstat/summary, /.mmstat/rules */
	NODE_MIRROR_DIR,   /* /.mmstat/files/DIR: mirrors a backing directory */
	NODE_MIRROR_FILE,  /* /.mmstat/files/PATH: a directory for a backing regular file */
	NODE_MIRROR_ENTRY, /* /.mmstat/files/PATH/policy, residency, map, stats, ctl */
};

/*
 * struct node - what a FUSE node id points at. Backing nodes hold an O_PATH fd;
 * virtual nodes hold a reference on the backing node they describe (@target).
 * @refs counts the kernel's lookups plus those references; the node goes at 0.
 */
struct node {
	enum node_kind kind;
	dev_t dev;
	ino_t ino;
	int fd;			    /* O_PATH, or -1: then @handle reopens it (node_fd()) */
	struct file_handle *handle; /* NULL while @fd is kept */
	uint64_t serial;	    /* unique per backing node, for node_fd()'s ring */
	struct node *target;
	unsigned entry;
	uint64_t refs;
	/*
	 * Outside changes the watcher reports (watch.c): @dir_watched when this
	 * directory has an inotify watch (@dir_wd); @covered when changes to this
	 * node's attributes reach us, so the kernel may keep them longer.
	 */
	bool dir_watched;
	bool covered;
	int dir_wd;
};

struct mmapfs {
	struct engine *engine;
	struct rules *rules;
	enum engine_access access;
	const char *access_name;
	char *backing_path; /* realpath of BACKING_DIR, for relative paths */
	size_t backing_path_len;
	double attr_timeout; /* nodes the watcher does not cover */
	double entry_timeout;
	double watched_attr_timeout; /* covered nodes: outside changes invalidate them */
	double watched_entry_timeout;
	bool mmstat_visible;
	unsigned read_ahead_kb; /* 0: leave the kernel's default */
	char *mountpoint;	/* canonical, resolved before mounting */
	bool daemon_is_root;
	struct fuse_session *se;
	time_t start_time;

	pthread_mutex_t nodes_lock;
	void *nodes;	    /* tsearch tree of every node but the root */
	struct node root;   /* the backing root; FUSE_ROOT_ID */
	struct node mmstat; /* /.mmstat; lives as long as the mount */
};

/** struct open_file - fi->fh of a regular file opened through the mount. */
struct open_file {
	struct mapping *mapping;
	int watch; /* inotify watch descriptor, -1 for none */
};

static inline struct mmapfs *mmapfs_of(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

/* node.c */
struct node *node_of(struct mmapfs *fs, fuse_ino_t ino);
fuse_ino_t node_id(struct mmapfs *fs, struct node *node);
int node_init_root(struct mmapfs *fs, const char *backing_dir);
void node_destroy_all(struct mmapfs *fs);
int node_lookup_backing(struct mmapfs *fs, struct node *parent, const char *name,
			struct fuse_entry_param *e);
struct node *node_get_virtual(struct mmapfs *fs, enum node_kind kind, struct node *target,
			      unsigned entry);
void node_unref(struct mmapfs *fs, struct node *node, uint64_t count);
int node_stat(struct node *node, struct stat *st);
/** node_find() - the backing node of (@dev, @ino) with one more reference, or NULL. */
struct node *node_find(struct mmapfs *fs, dev_t dev, ino_t ino);
/** node_invalidate_all() - have the kernel drop every backing node's attributes, and listings. */
void node_invalidate_all(struct mmapfs *fs);
/** node_attr_timeout() - how long the kernel may keep @node's attributes. */
double node_attr_timeout(const struct mmapfs *fs, const struct node *node);
/**
 * node_fd() - an O_PATH fd of a backing node for the current call: its own, or one
 * reopened from its file handle that stays valid until this thread has asked for
 * FD_RING more. Return: the fd, or -1 with errno set (ESTALE: the file is gone).
 */
int node_fd(const struct node *node);
int node_relpath(struct mmapfs *fs, struct node *node, struct strbuf *out);
void node_proc_path(const struct node *node, char *buf, size_t len);

/* ops.c */
extern const struct fuse_lowlevel_ops mmapfs_ops;
/** caller_may() - 0 if the request's caller has @mask (R_OK|W_OK|X_OK) on @st, else -EACCES. */
int caller_may(fuse_req_t req, const struct stat *st, int mask);

/* notify.c: kernel cache invalidation from a thread of its own */
int notify_start(struct mmapfs *fs);
void notify_stop(struct mmapfs *fs);
/** notify_inval() - queue an invalidation of @node's cached data (takes a reference). */
void notify_inval(struct mmapfs *fs, struct node *node);
/** notify_inval_wait() - the same, waiting up to @timeout_ms for it to be done. */
void notify_inval_wait(struct mmapfs *fs, struct node *node, unsigned timeout_ms);
/** notify_inval_attr() - queue an invalidation of @node's cached attributes only. */
void notify_inval_attr(struct mmapfs *fs, struct node *node);
/** notify_inval_entry() - queue an invalidation of the kernel's entry @name in @dir. */
void notify_inval_entry(struct mmapfs *fs, struct node *dir, const char *name);

/* watch.c: backing files changed by others while open */
int watch_start(struct mmapfs *fs);
void watch_stop(struct mmapfs *fs);
/** watch_add() - watch @node's backing file for one more handle. Return: its wd or -1. */
int watch_add(struct mmapfs *fs, struct node *node);
/** watch_remove() - one handle fewer on watch @wd. */
void watch_remove(struct mmapfs *fs, int wd);
/** watch_dir_add() - watch directory @dir's entries; sets dir_watched on success. */
void watch_dir_add(struct mmapfs *fs, struct node *dir);
/** watch_dir_remove() - stop watching @dir (about to be freed). */
void watch_dir_remove(struct node *dir);
/** watch_reliable() - false once the kernel dropped events (queue overflow). */
bool watch_reliable(void);
/** watch_name_generation() - moves whenever a name change is about to be invalidated. */
uint64_t watch_name_generation(void);

/* mmstat.c: the /.mmstat tree */
bool mmstat_is_virtual(const struct node *node);
int mmstat_lookup(fuse_req_t req, struct node *parent, const char *name,
		  struct fuse_entry_param *e);
void mmstat_getattr(fuse_req_t req, struct node *node);
void mmstat_readdir(fuse_req_t req, struct node *node, size_t size, off_t offset, bool plus);
void mmstat_open(fuse_req_t req, struct node *node, struct fuse_file_info *fi);
void mmstat_read(fuse_req_t req, size_t size, off_t offset, struct fuse_file_info *fi);
void mmstat_write(fuse_req_t req, struct node *node, const char *buf, size_t size,
		  struct fuse_file_info *fi);
void mmstat_release(fuse_req_t req, struct fuse_file_info *fi);
void mmstat_setattr(fuse_req_t req, struct node *node, struct stat *attr, int to_set);
void mmstat_access(fuse_req_t req, struct node *node, int mask);

#endif
