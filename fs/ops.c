/*
 * The fuse_lowlevel_ops table: each operation decodes its request, makes one
 * call into the backing filesystem or the engine, and replies. errno values are
 * the backing filesystem's own. Nodes under /.mmstat go to mmstat.c.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/vfs.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "mmapfs.h"

/* readdir offset of the virtual /.mmstat entry when -o mmstat_visible lists it */
#define MMSTAT_DIR_OFFSET ((off_t)(INT64_MAX - 7))

struct dir_handle {
	DIR *dir;
	off_t offset;
	struct dirent *entry;
	bool is_root;
};

static struct node *req_node(fuse_req_t req, fuse_ino_t ino)
{
	return node_of(mmapfs_of(req), ino);
}

/* ro and cow mounts leave the backing tree as it is: no namespace or metadata change */
static bool is_read_only(fuse_req_t req)
{
	return mmapfs_of(req)->access != ENGINE_ACCESS_RW;
}

/* Data changes: refused in ro mode only; cow keeps them in the daemon. */
static bool data_read_only(fuse_req_t req)
{
	return mmapfs_of(req)->access == ENGINE_ACCESS_RO;
}

static bool is_dot_or_dotdot(const char *name)
{
	return name[0] == '.' && (name[1] == '\0' || (name[1] == '.' && name[2] == '\0'));
}

static void reply_entry_or_err(fuse_req_t req, int err, struct fuse_entry_param *e)
{
	if (err)
		fuse_reply_err(req, -err);
	else
		fuse_reply_entry(req, e);
}

static int relpath_of(struct mmapfs *fs, struct node *node, struct strbuf *out)
{
	int err = node_relpath(fs, node, out);

	if (err) {
		strbuf_reset(out);
		err = 0; /* rules then see "": the default applies */
	}
	return err;
}

static void mm_init(void *userdata, struct fuse_conn_info *conn)
{
	struct mmapfs *fs = userdata;

	/* The kernel keeps min(this, the mount's bdi read_ahead_kb, set before INIT). */
	if (fs->read_ahead_kb)
		conn->max_readahead = fs->read_ahead_kb * 1024u;
	/* Replies come from mappings: splicing them can SIGBUS the daemon on truncation. */
	conn->want &= ~(FUSE_CAP_SPLICE_READ | FUSE_CAP_SPLICE_WRITE | FUSE_CAP_SPLICE_MOVE);
	if (conn->capable & FUSE_CAP_AUTO_INVAL_DATA)
		conn->want |= FUSE_CAP_AUTO_INVAL_DATA;
	if (conn->capable & FUSE_CAP_ATOMIC_O_TRUNC)
		conn->want |= FUSE_CAP_ATOMIC_O_TRUNC;
	conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
	/* Always readdirplus: a listing then carries the attributes find and ls -l need,
	 * instead of one LOOKUP round trip per name (auto mode falls back to those). */
	if (conn->capable & FUSE_CAP_READDIRPLUS)
		conn->want = (conn->want | FUSE_CAP_READDIRPLUS) & ~FUSE_CAP_READDIRPLUS_AUTO;
}

static void mm_lookup(fuse_req_t req, fuse_ino_t parent_ino, const char *name)
{
	struct mmapfs *fs = mmapfs_of(req);
	struct node *parent = node_of(fs, parent_ino);
	struct fuse_entry_param e;

	if (mmstat_is_virtual(parent) || (parent == &fs->root && !strcmp(name, MMSTAT_NAME))) {
		reply_entry_or_err(req, mmstat_lookup(req, parent, name, &e), &e);
		return;
	}
	reply_entry_or_err(req, node_lookup_backing(fs, parent, name, &e), &e);
}

static void mm_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	node_unref(mmapfs_of(req), req_node(req, ino), nlookup);
	fuse_reply_none(req);
}

static void mm_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
	size_t i;

	for (i = 0; i < count; i++)
		node_unref(mmapfs_of(req), req_node(req, forgets[i].ino), forgets[i].nlookup);
	fuse_reply_none(req);
}

static void mm_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct node *node = req_node(req, ino);
	struct stat st;
	int err;

	(void)fi;
	if (mmstat_is_virtual(node)) {
		mmstat_getattr(req, node);
		return;
	}
	err = node_stat(node, &st);
	if (err) {
		fuse_reply_err(req, -err);
		return;
	}
	if (!S_ISDIR(st.st_mode) && st.st_nlink > 1)
		node->covered = false; /* a link made where no watch of ours sees */
	engine_fix_stat(mmapfs_of(req)->engine, &st);
	fuse_reply_attr(req, &st, node_attr_timeout(mmapfs_of(req), node));
}

static int set_size(fuse_req_t req, struct node *node, off_t size, struct fuse_file_info *fi)
{
	struct mmapfs *fs = mmapfs_of(req);
	struct strbuf rel = STRBUF_INIT;
	struct mapping *m;
	int err;

	if (fi) {
		struct open_file *h = (struct open_file *)(uintptr_t)fi->fh;

		return mapping_truncate(h->mapping, (uint64_t)size);
	}
	relpath_of(fs, node, &rel);
	err = engine_open(fs->engine, node_fd(node), rel.buf, true, &m);
	strbuf_release(&rel);
	if (err)
		return err;
	err = mapping_truncate(m, (uint64_t)size);
	engine_close(fs->engine, m);
	return err;
}

static int set_times(struct node *node, const struct stat *attr, int to_set)
{
	struct timespec times[2] = { { 0, UTIME_OMIT }, { 0, UTIME_OMIT } };
	char proc[64];
	struct stat st;

	if (to_set & FUSE_SET_ATTR_ATIME_NOW)
		times[0].tv_nsec = UTIME_NOW;
	else if (to_set & FUSE_SET_ATTR_ATIME)
		times[0] = attr->st_atim;
	if (to_set & FUSE_SET_ATTR_MTIME_NOW)
		times[1].tv_nsec = UTIME_NOW;
	else if (to_set & FUSE_SET_ATTR_MTIME)
		times[1] = attr->st_mtim;
	if (node_stat(node, &st) == 0 && S_ISLNK(st.st_mode)) {
		if (utimensat(node_fd(node), "", times, AT_EMPTY_PATH) == -1)
			return -errno;
		return 0;
	}
	node_proc_path(node, proc, sizeof(proc));
	if (utimensat(AT_FDCWD, proc, times, 0) == -1)
		return -errno;
	return 0;
}

static int apply_setattr(fuse_req_t req, struct node *node, struct stat *attr, int to_set,
			 struct fuse_file_info *fi)
{
	char proc[64];
	int err;

	if (to_set & FUSE_SET_ATTR_MODE) {
		node_proc_path(node, proc, sizeof(proc));
		if (chmod(proc, attr->st_mode) == -1)
			return -errno;
	}
	if (to_set & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)) {
		uid_t uid = (to_set & FUSE_SET_ATTR_UID) ? attr->st_uid : (uid_t)-1;
		gid_t gid = (to_set & FUSE_SET_ATTR_GID) ? attr->st_gid : (gid_t)-1;

		if (fchownat(node_fd(node), "", uid, gid, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) ==
		    -1)
			return -errno;
	}
	if (to_set & FUSE_SET_ATTR_SIZE) {
		err = set_size(req, node, attr->st_size, fi);
		if (err)
			return err;
	}
	if (to_set & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_ATIME_NOW |
		      FUSE_SET_ATTR_MTIME_NOW))
		return set_times(node, attr, to_set);
	return 0;
}

static void mm_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
		       struct fuse_file_info *fi)
{
	struct node *node = req_node(req, ino);
	int err;

	if (mmstat_is_virtual(node)) {
		mmstat_setattr(req, node, attr, to_set);
		return;
	}
	if (data_read_only(req) || (is_read_only(req) && (to_set & ~FUSE_SET_ATTR_SIZE))) {
		fuse_reply_err(req, EROFS);
		return;
	}
	err = apply_setattr(req, node, attr, to_set, fi);
	if (err) {
		fuse_reply_err(req, -err);
		return;
	}
	mm_getattr(req, ino, fi);
}

static void mm_readlink(fuse_req_t req, fuse_ino_t ino)
{
	struct node *node = req_node(req, ino);
	char target[PATH_MAX + 1];
	ssize_t len;

	if (mmstat_is_virtual(node)) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	len = readlinkat(node_fd(node), "", target, sizeof(target));
	if (len == -1) {
		fuse_reply_err(req, errno);
		return;
	}
	if (len == (ssize_t)sizeof(target)) {
		fuse_reply_err(req, ENAMETOOLONG);
		return;
	}
	target[len] = '\0';
	fuse_reply_readlink(req, target);
}

/*
 * The daemon creates as root; a new entry must belong to the caller, as on a
 * local disk: its uid, and its gid unless the directory is set-group-ID.
 */
static int give_to_caller(fuse_req_t req, struct node *parent, const char *name)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	struct stat dir;
	gid_t gid;

	if (!mmapfs_of(req)->daemon_is_root || (ctx->uid == 0 && ctx->gid == 0))
		return 0;
	if (fstatat(node_fd(parent), "", &dir, AT_EMPTY_PATH) == -1)
		return -errno;
	gid = (dir.st_mode & S_ISGID) ? dir.st_gid : ctx->gid;
	if (fchownat(node_fd(parent), name, ctx->uid, gid, AT_SYMLINK_NOFOLLOW) == -1)
		return -errno;
	return 0;
}

/* Hand a just-made entry to the caller and look it up; undo the creation on failure. */
static void finish_create(fuse_req_t req, struct node *parent, const char *name, bool is_dir)
{
	struct fuse_entry_param e;
	int err;

	err = give_to_caller(req, parent, name);
	if (!err)
		err = node_lookup_backing(mmapfs_of(req), parent, name, &e);
	if (err) {
		(void)unlinkat(node_fd(parent), name, is_dir ? AT_REMOVEDIR : 0);
		fuse_reply_err(req, -err);
		return;
	}
	fuse_reply_entry(req, &e);
}

/* Namespace changes: none in ro/cow mode, none inside /.mmstat. */
static bool refuse_change(fuse_req_t req, struct node *node)
{
	if (mmstat_is_virtual(node)) {
		fuse_reply_err(req, EPERM);
		return true;
	}
	if (is_read_only(req)) {
		fuse_reply_err(req, EROFS);
		return true;
	}
	return false;
}

static bool is_mmstat_name(fuse_req_t req, struct node *parent, const char *name)
{
	if (parent == &mmapfs_of(req)->root && !strcmp(name, MMSTAT_NAME)) {
		fuse_reply_err(req, EPERM);
		return true;
	}
	return false;
}

static void mm_mknod(fuse_req_t req, fuse_ino_t parent_ino, const char *name, mode_t mode,
		     dev_t rdev)
{
	struct node *parent = req_node(req, parent_ino);

	if (refuse_change(req, parent) || is_mmstat_name(req, parent, name))
		return;
	if (mknodat(node_fd(parent), name, mode, rdev) == -1) {
		fuse_reply_err(req, errno);
		return;
	}
	finish_create(req, parent, name, false);
}

static void mm_mkdir(fuse_req_t req, fuse_ino_t parent_ino, const char *name, mode_t mode)
{
	struct node *parent = req_node(req, parent_ino);

	if (refuse_change(req, parent) || is_mmstat_name(req, parent, name))
		return;
	if (mkdirat(node_fd(parent), name, mode) == -1) {
		fuse_reply_err(req, errno);
		return;
	}
	finish_create(req, parent, name, true);
}

static void mm_symlink(fuse_req_t req, const char *link, fuse_ino_t parent_ino, const char *name)
{
	struct node *parent = req_node(req, parent_ino);

	if (refuse_change(req, parent) || is_mmstat_name(req, parent, name))
		return;
	if (symlinkat(link, node_fd(parent), name) == -1) {
		fuse_reply_err(req, errno);
		return;
	}
	finish_create(req, parent, name, false);
}

static void mm_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t parent_ino, const char *name)
{
	struct node *node = req_node(req, ino), *parent = req_node(req, parent_ino);
	struct fuse_entry_param e;
	char proc[64];

	if (refuse_change(req, parent) || refuse_change(req, node) ||
	    is_mmstat_name(req, parent, name))
		return;
	node_proc_path(node, proc, sizeof(proc));
	if (linkat(AT_FDCWD, proc, node_fd(parent), name, AT_SYMLINK_FOLLOW) == -1) {
		fuse_reply_err(req, errno);
		return;
	}
	reply_entry_or_err(req, node_lookup_backing(mmapfs_of(req), parent, name, &e), &e);
}

/* After a name went away, let the engine free an idle mapping of a file with no links. */
static void forget_if_unlinked(fuse_req_t req, const struct stat *gone)
{
	if (S_ISREG(gone->st_mode))
		engine_forget_if_unlinked(mmapfs_of(req)->engine, gone->st_dev, gone->st_ino);
}

static void mm_unlink(fuse_req_t req, fuse_ino_t parent_ino, const char *name)
{
	struct node *parent = req_node(req, parent_ino);
	struct stat st;
	bool known;

	if (refuse_change(req, parent) || is_mmstat_name(req, parent, name))
		return;
	known = fstatat(node_fd(parent), name, &st, AT_SYMLINK_NOFOLLOW) == 0;
	if (unlinkat(node_fd(parent), name, 0) == -1) {
		fuse_reply_err(req, errno);
		return;
	}
	if (known)
		forget_if_unlinked(req, &st);
	fuse_reply_err(req, 0);
}

static void mm_rmdir(fuse_req_t req, fuse_ino_t parent_ino, const char *name)
{
	struct node *parent = req_node(req, parent_ino);

	if (refuse_change(req, parent) || is_mmstat_name(req, parent, name))
		return;
	fuse_reply_err(req, unlinkat(node_fd(parent), name, AT_REMOVEDIR) == -1 ? errno : 0);
}

static void mm_rename(fuse_req_t req, fuse_ino_t parent_ino, const char *name,
		      fuse_ino_t newparent_ino, const char *newname, unsigned int flags)
{
	struct node *parent = req_node(req, parent_ino), *newparent = req_node(req, newparent_ino);
	struct stat replaced;
	bool known;

	if (refuse_change(req, parent) || refuse_change(req, newparent) ||
	    is_mmstat_name(req, parent, name) || is_mmstat_name(req, newparent, newname))
		return;
	known = !(flags & RENAME_EXCHANGE) &&
		fstatat(node_fd(newparent), newname, &replaced, AT_SYMLINK_NOFOLLOW) == 0;
	if (renameat2(node_fd(parent), name, node_fd(newparent), newname, flags) == -1) {
		fuse_reply_err(req, errno);
		return;
	}
	if (known)
		forget_if_unlinked(req, &replaced);
	fuse_reply_err(req, 0);
}

static struct open_file *handle_of(struct fuse_file_info *fi)
{
	return (struct open_file *)(uintptr_t)fi->fh;
}

/* Pseudo filesystems report size 0 for files with content: only direct I/O reads them. */
static bool is_pseudo_fs(int fd)
{
	static const long magics[] = {
		0x9fa0,	    /* proc */
		0x62656572, /* sysfs */
		0x64626720, /* debugfs */
		0x74726163, /* tracefs */
		0x73636673, /* securityfs */
		0x63677270, /* cgroup2 */
		0x27e0eb,   /* cgroup */
		0x62656570, /* configfs */
		0xcafe4a11, /* bpf */
		0x6e736673, /* nsfs */
	};
	struct statfs sfs;
	size_t i;

	if (fstatfs(fd, &sfs) == -1)
		return false;
	for (i = 0; i < sizeof(magics) / sizeof(magics[0]); i++)
		if ((long)sfs.f_type == magics[i])
			return true;
	return false;
}

/* Open @node's mapping for a handle and fill @fi; O_TRUNC truncates. */
static int open_handle(fuse_req_t req, struct node *node, struct fuse_file_info *fi)
{
	struct mmapfs *fs = mmapfs_of(req);
	bool want_write = (fi->flags & O_ACCMODE) != O_RDONLY;
	struct strbuf rel = STRBUF_INIT;
	struct open_file *h;
	int err;

	if (want_write && data_read_only(req))
		return -EROFS;
	h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	relpath_of(fs, node, &rel);
	err = engine_open(fs->engine, node_fd(node), rel.buf, want_write, &h->mapping);
	strbuf_release(&rel);
	if (err)
		goto out_free;
	if ((fi->flags & O_TRUNC) && want_write) {
		err = mapping_truncate(h->mapping, 0);
		if (err)
			goto out_close;
	}
	fi->fh = (uint64_t)(uintptr_t)h;
	fi->keep_cache = mapping_cache_valid(h->mapping);
	h->watch = watch_add(fs, node);
	if (is_pseudo_fs(mapping_fd(h->mapping))) {
		fi->direct_io = 1;
		fi->keep_cache = 0;
	}
	return 0;
out_close:
	engine_close(fs->engine, h->mapping);
out_free:
	free(h);
	return err;
}

static void mm_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct node *node = req_node(req, ino);
	int err;

	if (mmstat_is_virtual(node)) {
		mmstat_open(req, node, fi);
		return;
	}
	err = open_handle(req, node, fi);
	if (err)
		fuse_reply_err(req, -err);
	else
		fuse_reply_open(req, fi);
}

static void mm_create(fuse_req_t req, fuse_ino_t parent_ino, const char *name, mode_t mode,
		      struct fuse_file_info *fi)
{
	struct node *parent = req_node(req, parent_ino);
	struct fuse_entry_param e;
	int fd, err;

	if (refuse_change(req, parent) || is_mmstat_name(req, parent, name))
		return;
	fd = openat(node_fd(parent), name, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC | O_NOFOLLOW,
		    mode);
	if (fd == -1) {
		fuse_reply_err(req, errno);
		return;
	}
	close(fd);
	err = give_to_caller(req, parent, name);
	if (!err)
		err = node_lookup_backing(mmapfs_of(req), parent, name, &e);
	if (err) {
		(void)unlinkat(node_fd(parent), name, 0);
		fuse_reply_err(req, -err);
		return;
	}
	err = open_handle(req, node_of(mmapfs_of(req), e.ino), fi);
	if (err) {
		node_unref(mmapfs_of(req), node_of(mmapfs_of(req), e.ino), 1);
		(void)unlinkat(node_fd(parent), name, 0);
		fuse_reply_err(req, -err);
		return;
	}
	fuse_reply_create(req, &e, fi);
}

static void mm_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t offset,
		    struct fuse_file_info *fi)
{
	struct mapping *m;
	struct mapping_slice slice;
	int err;

	if (mmstat_is_virtual(req_node(req, ino))) {
		mmstat_read(req, size, offset, fi);
		return;
	}
	/* Once replied to, the kernel may release the handle: keep the mapping, not @fi. */
	m = handle_of(fi)->mapping;
	err = mapping_read_begin(m, (uint64_t)offset, size, &slice);
	if (err) {
		fuse_reply_err(req, -err);
		return;
	}
	/* The kernel copies straight from the mapping; a truncation race gives EFAULT → EIO. */
	if (slice.iov_count)
		fuse_reply_iov(req, slice.iov, slice.iov_count);
	else
		fuse_reply_buf(req, slice.data, slice.len);
	mapping_read_end(m, &slice);
}

static void mm_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t offset,
		     struct fuse_file_info *fi)
{
	struct node *node = req_node(req, ino);
	struct open_file *h;
	ssize_t done;

	if (mmstat_is_virtual(node)) {
		mmstat_write(req, node, buf, size, fi);
		return;
	}
	h = handle_of(fi);
	/* The kernel has already placed O_APPEND data at its offset in its cache: honour it. */
	done = mapping_write(h->mapping, buf, size, (uint64_t)offset, false);
	if (done < 0)
		fuse_reply_err(req, (int)-done);
	else
		fuse_reply_write(req, (size_t)done);
}

static void mm_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	(void)fi;
	fuse_reply_err(req, 0);
}

static void mm_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct open_file *h;

	if (mmstat_is_virtual(req_node(req, ino))) {
		mmstat_release(req, fi);
		return;
	}
	h = handle_of(fi);
	watch_remove(mmapfs_of(req), h->watch);
	engine_close(mmapfs_of(req)->engine, h->mapping);
	free(h);
	fuse_reply_err(req, 0);
}

static void mm_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	if (mmstat_is_virtual(req_node(req, ino))) {
		fuse_reply_err(req, 0);
		return;
	}
	fuse_reply_err(req, -mapping_sync(handle_of(fi)->mapping, datasync != 0));
}

static void mm_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct mmapfs *fs = mmapfs_of(req);
	struct node *node = node_of(fs, ino);
	struct dir_handle *d;
	int fd;

	if (mmstat_is_virtual(node)) {
		fi->fh = 0;
		fuse_reply_open(req, fi);
		return;
	}
	d = calloc(1, sizeof(*d));
	if (!d) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	fd = openat(node_fd(node), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd == -1 || !(d->dir = fdopendir(fd))) {
		int err = errno;

		if (fd != -1)
			close(fd);
		free(d);
		fuse_reply_err(req, err);
		return;
	}
	d->is_root = node == &fs->root;
	fi->fh = (uint64_t)(uintptr_t)d;
	/*
	 * Let the kernel keep the listing of a watched directory across opens: an
	 * outside change to its names invalidates it (watch.c), and so does a change
	 * through the mount (the kernel's own counter) or a new mtime at opendir.
	 * A warm walk then sends no READDIRPLUS at all.
	 */
	fi->cache_readdir = node->dir_watched && watch_reliable();
	fi->keep_cache = fi->cache_readdir;
	fuse_reply_open(req, fi);
}

/*
 * Add one backing entry to @buf; in plus mode look it up (a reference the kernel
 * takes over) unless the entry does not fit. Return: bytes added, 0 when full.
 */
static size_t add_entry(fuse_req_t req, struct node *dir, struct dirent *ent, char *buf,
			size_t room, off_t next, bool plus, int *err)
{
	struct fuse_entry_param e;
	struct stat st = { .st_ino = ent->d_ino, .st_mode = (mode_t)DTTOIF(ent->d_type) };
	size_t used;

	if (!plus)
		return fuse_add_direntry(req, buf, room, ent->d_name, &st, next);
	if (is_dot_or_dotdot(ent->d_name)) {
		memset(&e, 0, sizeof(e));
		e.attr = st;
	} else {
		*err = -node_lookup_backing(mmapfs_of(req), dir, ent->d_name, &e); /* errno */
		if (*err)
			return 0;
	}
	used = fuse_add_direntry_plus(req, buf, room, ent->d_name, &e, next);
	if (used > room && e.ino)
		node_unref(mmapfs_of(req), node_of(mmapfs_of(req), e.ino), 1);
	return used;
}

static size_t add_mmstat_entry(fuse_req_t req, char *buf, size_t room, bool plus)
{
	struct mmapfs *fs = mmapfs_of(req);
	struct fuse_entry_param e;
	size_t used;

	if (!plus) {
		struct stat st = { .st_mode = S_IFDIR | 0555 };

		return fuse_add_direntry(req, buf, room, MMSTAT_NAME, &st, MMSTAT_DIR_OFFSET);
	}
	if (mmstat_lookup(req, &fs->root, MMSTAT_NAME, &e))
		return 0;
	used = fuse_add_direntry_plus(req, buf, room, MMSTAT_NAME, &e, MMSTAT_DIR_OFFSET);
	if (used > room)
		node_unref(fs, node_of(fs, e.ino), 1);
	return used;
}

static void do_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t offset,
		       struct fuse_file_info *fi, bool plus)
{
	struct mmapfs *fs = mmapfs_of(req);
	struct node *node = node_of(fs, ino);
	struct dir_handle *d = (struct dir_handle *)(uintptr_t)fi->fh;
	size_t used = 0, added;
	char *buf;
	int err = 0;

	if (mmstat_is_virtual(node)) {
		mmstat_readdir(req, node, size, offset, plus);
		return;
	}
	buf = calloc(1, size);
	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	if (d->is_root && fs->mmstat_visible && offset == 0) {
		added = add_mmstat_entry(req, buf, size, plus);
		if (added > size)
			goto out_reply;
		used += added;
		offset = MMSTAT_DIR_OFFSET;
	}
	if (offset != d->offset) {
		if (offset == 0 || offset == MMSTAT_DIR_OFFSET)
			rewinddir(d->dir);
		else
			seekdir(d->dir, offset);
		d->entry = NULL;
		d->offset = offset;
	}
	for (;;) {
		off_t next;

		if (!d->entry) {
			errno = 0;
			d->entry = readdir(d->dir);
			if (!d->entry) {
				err = errno;
				break;
			}
		}
		next = telldir(d->dir);
		if (d->is_root && !strcmp(d->entry->d_name, MMSTAT_NAME)) {
			/* shadowed by the virtual tree */
			d->entry = NULL;
			d->offset = next;
			continue;
		}
		added = add_entry(req, node, d->entry, buf + used, size - used, next, plus, &err);
		if (err || added > size - used)
			break;
		used += added;
		d->entry = NULL;
		d->offset = next;
	}
out_reply:
	if (err && !used)
		fuse_reply_err(req, err);
	else
		fuse_reply_buf(req, buf, used);
	free(buf);
}

static void mm_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t offset,
		       struct fuse_file_info *fi)
{
	do_readdir(req, ino, size, offset, fi, false);
}

static void mm_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t offset,
			   struct fuse_file_info *fi)
{
	do_readdir(req, ino, size, offset, fi, true);
}

static void mm_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct dir_handle *d = (struct dir_handle *)(uintptr_t)fi->fh;

	(void)ino;
	if (d) {
		closedir(d->dir);
		free(d);
	}
	fuse_reply_err(req, 0);
}

static void mm_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	struct dir_handle *d = (struct dir_handle *)(uintptr_t)fi->fh;
	int fd;

	(void)ino;
	if (!d) {
		fuse_reply_err(req, 0);
		return;
	}
	fd = dirfd(d->dir);
	fuse_reply_err(req, (datasync ? fdatasync(fd) : fsync(fd)) == -1 ? errno : 0);
}

static void mm_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct node *node = req_node(req, ino);
	struct statvfs sv;

	if (mmstat_is_virtual(node))
		node = &mmapfs_of(req)->root;
	if (fstatvfs(node_fd(node), &sv) == -1) {
		fuse_reply_err(req, errno);
		return;
	}
	fuse_reply_statfs(req, &sv);
}

/* xattr calls need a real path: O_PATH fds do not take them, their /proc name does. */
static bool xattr_target(fuse_req_t req, struct node *node, char *proc, size_t len)
{
	struct stat st;

	if (mmstat_is_virtual(node)) {
		fuse_reply_err(req, ENOTSUP);
		return false;
	}
	if (node_stat(node, &st) == 0 && S_ISLNK(st.st_mode)) {
		fuse_reply_err(req, ENOTSUP);
		return false;
	}
	node_proc_path(node, proc, len);
	return true;
}

static void reply_xattr(fuse_req_t req, size_t size, ssize_t got, const char *buf)
{
	if (got == -1)
		fuse_reply_err(req, errno);
	else if (size == 0)
		fuse_reply_xattr(req, (size_t)got);
	else
		fuse_reply_buf(req, buf, (size_t)got);
}

/*
 * getxattr and listxattr share their shape: size 0 asks for the length, anything
 * else for the bytes. @name is NULL for listxattr.
 */
static void query_xattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	char proc[64], *buf = NULL;
	ssize_t got;

	if (!xattr_target(req, req_node(req, ino), proc, sizeof(proc)))
		return;
	if (size && !(buf = malloc(size))) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	got = name ? getxattr(proc, name, buf, size) : listxattr(proc, buf, size);
	reply_xattr(req, size, got, buf);
	free(buf);
}

static void mm_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	query_xattr(req, ino, name, size);
}

static void mm_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	query_xattr(req, ino, NULL, size);
}

static void mm_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value,
			size_t size, int flags)
{
	char proc[64];

	if (is_read_only(req)) {
		fuse_reply_err(req, EROFS);
		return;
	}
	if (!xattr_target(req, req_node(req, ino), proc, sizeof(proc)))
		return;
	fuse_reply_err(req, setxattr(proc, name, value, size, flags) == -1 ? errno : 0);
}

static void mm_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	char proc[64];

	if (is_read_only(req)) {
		fuse_reply_err(req, EROFS);
		return;
	}
	if (!xattr_target(req, req_node(req, ino), proc, sizeof(proc)))
		return;
	fuse_reply_err(req, removexattr(proc, name) == -1 ? errno : 0);
}

static bool caller_in_group(fuse_req_t req, gid_t gid)
{
	gid_t groups[64];
	int count, i;

	if (fuse_req_ctx(req)->gid == gid)
		return true;
	count = fuse_req_getgroups(req, 64, groups);
	for (i = 0; i < count && i < 64; i++)
		if (groups[i] == gid)
			return true;
	return false;
}

int caller_may(fuse_req_t req, const struct stat *st, int mask)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	mode_t bits;

	if (ctx->uid == 0) {
		bool exec_ok = S_ISDIR(st->st_mode) || (st->st_mode & 0111);

		return (mask & X_OK) && !exec_ok ? -EACCES : 0;
	}
	if (ctx->uid == st->st_uid)
		bits = (st->st_mode >> 6) & 7;
	else if (caller_in_group(req, st->st_gid))
		bits = (st->st_mode >> 3) & 7;
	else
		bits = st->st_mode & 7;
	return ((mode_t)mask & 7 & ~bits) ? -EACCES : 0;
}

/* access(2) for the caller: the mode bits that apply to it, root passing R and W. */
static void mm_access(fuse_req_t req, fuse_ino_t ino, int mask)
{
	struct node *node = req_node(req, ino);
	struct stat st;
	int err;

	if (mmstat_is_virtual(node)) {
		mmstat_access(req, node, mask);
		return;
	}
	err = node_stat(node, &st);
	if (err) {
		fuse_reply_err(req, -err);
		return;
	}
	if ((mask & W_OK) && (data_read_only(req) || (is_read_only(req) && !S_ISREG(st.st_mode)))) {
		fuse_reply_err(req, EROFS);
		return;
	}
	fuse_reply_err(req, -caller_may(req, &st, mask));
}

static void mm_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t offset, off_t length,
			 struct fuse_file_info *fi)
{
	if (mmstat_is_virtual(req_node(req, ino))) {
		fuse_reply_err(req, EOPNOTSUPP);
		return;
	}
	if (data_read_only(req)) {
		fuse_reply_err(req, EROFS);
		return;
	}
	fuse_reply_err(req, -mapping_fallocate(handle_of(fi)->mapping, mode, (uint64_t)offset,
					       (uint64_t)length));
}

static void mm_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence,
		     struct fuse_file_info *fi)
{
	off_t res;

	if (mmstat_is_virtual(req_node(req, ino))) {
		fuse_reply_err(req, ESPIPE);
		return;
	}
	res = mapping_lseek(handle_of(fi)->mapping, off, whence);
	if (res < 0)
		fuse_reply_err(req, (int)-res);
	else
		fuse_reply_lseek(req, res);
}

const struct fuse_lowlevel_ops mmapfs_ops = {
	.init = mm_init,
	.lookup = mm_lookup,
	.forget = mm_forget,
	.forget_multi = mm_forget_multi,
	.getattr = mm_getattr,
	.setattr = mm_setattr,
	.readlink = mm_readlink,
	.mknod = mm_mknod,
	.mkdir = mm_mkdir,
	.unlink = mm_unlink,
	.rmdir = mm_rmdir,
	.symlink = mm_symlink,
	.rename = mm_rename,
	.link = mm_link,
	.open = mm_open,
	.create = mm_create,
	.read = mm_read,
	.write = mm_write,
	.flush = mm_flush,
	.release = mm_release,
	.fsync = mm_fsync,
	.opendir = mm_opendir,
	.readdir = mm_readdir,
	.readdirplus = mm_readdirplus,
	.releasedir = mm_releasedir,
	.fsyncdir = mm_fsyncdir,
	.statfs = mm_statfs,
	.setxattr = mm_setxattr,
	.getxattr = mm_getxattr,
	.listxattr = mm_listxattr,
	.removexattr = mm_removexattr,
	.access = mm_access,
	.fallocate = mm_fallocate,
	.lseek = mm_lseek,
};
