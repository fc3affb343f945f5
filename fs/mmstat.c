/*
 * The /.mmstat tree: virtual files rendered by core/ at open, served as slices
 * of that text (so a cat taking several reads never sees torn output), opened
 * direct_io with size 0 like sysfs. One table per directory kind drives lookup,
 * getattr, readdir, open and write.
 *
 * Mirror nodes copy the owner and mode bits of the backing file they describe,
 * so the kernel's permission checks (default_permissions) give a file's .mmstat
 * entries exactly the access the file itself gives.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mmapfs.h"
#include "render.h"

struct mmstat_entry {
	const char *name;
	mode_t mode; /* S_IFDIR, or the permission bits taken from the file */
	int (*render)(fuse_req_t req, struct node *target, struct strbuf *out);
	int (*write)(fuse_req_t req, struct node *target, const char *buf, size_t len);
};

/*
 * fi->fh of an open virtual file: its text, rendered once at open. Counted: a
 * read reply may still be in flight when the kernel sends the release.
 */
struct text_handle {
	struct strbuf text;
	unsigned refs;
};

static struct text_handle *text_get(struct text_handle *h)
{
	__atomic_add_fetch(&h->refs, 1, __ATOMIC_RELAXED);
	return h;
}

static void text_put(struct text_handle *h)
{
	if (__atomic_sub_fetch(&h->refs, 1, __ATOMIC_ACQ_REL))
		return;
	strbuf_release(&h->text);
	free(h);
}

static int render_summary_file(fuse_req_t req, struct node *target, struct strbuf *out);
static int render_rules_file(fuse_req_t req, struct node *target, struct strbuf *out);
static int render_policy_file(fuse_req_t req, struct node *target, struct strbuf *out);
static int render_residency_file(fuse_req_t req, struct node *target, struct strbuf *out);
static int render_map_file(fuse_req_t req, struct node *target, struct strbuf *out);
static int render_stats_file(fuse_req_t req, struct node *target, struct strbuf *out);
static int write_policy_file(fuse_req_t req, struct node *target, const char *buf, size_t len);
static int write_ctl_file(fuse_req_t req, struct node *target, const char *buf, size_t len);

enum {
	ROOT_SUMMARY,
	ROOT_RULES,
	ROOT_FILES
};

static const struct mmstat_entry root_entries[] = {
	[ROOT_SUMMARY] = { "summary", 0444, render_summary_file, NULL },
	[ROOT_RULES] = { "rules", 0444, render_rules_file, NULL },
	[ROOT_FILES] = { "files", S_IFDIR, NULL, NULL },
};

static const struct mmstat_entry file_entries[] = {
	{ "policy", 0666, render_policy_file, write_policy_file },
	{ "residency", 0444, render_residency_file, NULL },
	{ "map", 0444, render_map_file, NULL },
	{ "stats", 0444, render_stats_file, NULL },
	{ "ctl", 0222, NULL, write_ctl_file },
};

#define N_ROOT (sizeof(root_entries) / sizeof(root_entries[0]))
#define N_FILE (sizeof(file_entries) / sizeof(file_entries[0]))

bool mmstat_is_virtual(const struct node *node)
{
	return node->kind != NODE_BACKING;
}

static const struct mmstat_entry *entry_of(const struct node *node)
{
	if (node->kind == NODE_MMSTAT_FILE && node->entry < N_ROOT)
		return &root_entries[node->entry];
	if (node->kind == NODE_MIRROR_ENTRY && node->entry < N_FILE)
		return &file_entries[node->entry];
	return NULL;
}

/* Directory bits from a file's read bits: whoever may read it may list its entries. */
static mode_t dir_mode_from(mode_t file_mode)
{
	mode_t readable = file_mode & 0444;

	return S_IFDIR | readable | (readable >> 2);
}

static int virtual_stat(struct mmapfs *fs, struct node *node, struct stat *st)
{
	const struct mmstat_entry *entry = entry_of(node);
	struct stat backing;
	int err;

	err = node_stat(node->target, &backing);
	if (err)
		return err;
	memset(st, 0, sizeof(*st));
	st->st_ino = (ino_t)(uintptr_t)node;
	st->st_uid = backing.st_uid;
	st->st_gid = backing.st_gid;
	st->st_atim = st->st_mtim = st->st_ctim = backing.st_ctim;
	st->st_blksize = 4096;
	switch (node->kind) {
	case NODE_MMSTAT_ROOT:
		st->st_mode = S_IFDIR | 0555;
		st->st_ino = 1ull << 62; /* the root mirror gets its pointer, the tree a constant */
		break;
	case NODE_MIRROR_DIR:
		st->st_mode = S_IFDIR | (backing.st_mode & 0555);
		break;
	case NODE_MIRROR_FILE:
		st->st_mode = dir_mode_from(backing.st_mode);
		break;
	case NODE_MMSTAT_FILE:
		st->st_mode = S_IFREG | 0444;
		st->st_uid = st->st_gid = 0;
		break;
	case NODE_MIRROR_ENTRY:
		st->st_mode = S_IFREG | (backing.st_mode & entry->mode);
		break;
	default:
		return -EIO;
	}
	st->st_nlink = S_ISDIR(st->st_mode) ? 2 : 1;
	(void)fs;
	return 0;
}

static int fill_entry(fuse_req_t req, struct node *node, struct fuse_entry_param *e)
{
	struct mmapfs *fs = mmapfs_of(req);
	int err;

	memset(e, 0, sizeof(*e));
	err = virtual_stat(fs, node, &e->attr);
	if (err) {
		node_unref(fs, node, 1);
		return err;
	}
	e->ino = node_id(fs, node);
	e->attr_timeout = fs->attr_timeout;
	e->entry_timeout = fs->entry_timeout;
	return 0;
}

static int table_index(const struct mmstat_entry *table, size_t count, const char *name)
{
	size_t i;

	for (i = 0; i < count; i++)
		if (!strcmp(table[i].name, name))
			return (int)i;
	return -1;
}

/* A child of a mirror directory mirrors the backing child: a directory or a file. */
static int lookup_mirror_child(fuse_req_t req, struct node *dir, const char *name,
			       struct node **out)
{
	struct mmapfs *fs = mmapfs_of(req);
	struct fuse_entry_param child;
	struct node *target;
	int err;

	if (dir->target == &fs->root && !strcmp(name, MMSTAT_NAME))
		return -ENOENT;
	err = node_lookup_backing(fs, dir->target, name, &child);
	if (err)
		return err;
	target = node_of(fs, child.ino);
	if (S_ISDIR(child.attr.st_mode))
		*out = node_get_virtual(fs, NODE_MIRROR_DIR, target, 0);
	else if (S_ISREG(child.attr.st_mode))
		*out = node_get_virtual(fs, NODE_MIRROR_FILE, target, 0);
	else
		*out = NULL;
	node_unref(fs, target, 1); /* the mirror holds its own reference */
	if (!*out)
		return S_ISDIR(child.attr.st_mode) || S_ISREG(child.attr.st_mode) ? -ENOMEM :
										    -ENOENT;
	return 0;
}

int mmstat_lookup(fuse_req_t req, struct node *parent, const char *name, struct fuse_entry_param *e)
{
	struct mmapfs *fs = mmapfs_of(req);
	struct node *node = NULL;
	int index, err;

	switch (parent->kind) {
	case NODE_BACKING: /* the root's ".mmstat" */
		node = &fs->mmstat;
		break;
	case NODE_MMSTAT_ROOT:
		index = table_index(root_entries, N_ROOT, name);
		if (index < 0)
			return -ENOENT;
		if (index == ROOT_FILES)
			node = node_get_virtual(fs, NODE_MIRROR_DIR, &fs->root, 0);
		else
			node = node_get_virtual(fs, NODE_MMSTAT_FILE, &fs->root, (unsigned)index);
		break;
	case NODE_MIRROR_DIR:
		err = lookup_mirror_child(req, parent, name, &node);
		if (err)
			return err;
		break;
	case NODE_MIRROR_FILE:
		index = table_index(file_entries, N_FILE, name);
		if (index < 0)
			return -ENOENT;
		node = node_get_virtual(fs, NODE_MIRROR_ENTRY, parent->target, (unsigned)index);
		break;
	default:
		return -ENOTDIR;
	}
	if (!node)
		return -ENOMEM;
	return fill_entry(req, node, e);
}

void mmstat_getattr(fuse_req_t req, struct node *node)
{
	struct stat st;
	int err = virtual_stat(mmapfs_of(req), node, &st);

	if (err)
		fuse_reply_err(req, -err);
	else
		fuse_reply_attr(req, &st, mmapfs_of(req)->attr_timeout);
}

void mmstat_access(fuse_req_t req, struct node *node, int mask)
{
	struct stat st;
	int err = virtual_stat(mmapfs_of(req), node, &st);

	fuse_reply_err(req, err ? -err : -caller_may(req, &st, mask));
}

void mmstat_setattr(fuse_req_t req, struct node *node, struct stat *attr, int to_set)
{
	(void)attr;
	/* "echo x > policy" truncates first: a no-op for a virtual file. */
	if (to_set & ~(FUSE_SET_ATTR_SIZE | FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME |
		       FUSE_SET_ATTR_ATIME_NOW | FUSE_SET_ATTR_MTIME_NOW | FUSE_SET_ATTR_CTIME)) {
		fuse_reply_err(req, EPERM);
		return;
	}
	if (node->kind != NODE_MMSTAT_FILE && node->kind != NODE_MIRROR_ENTRY) {
		fuse_reply_err(req, EISDIR);
		return;
	}
	mmstat_getattr(req, node);
}

/* Names of a mirror directory: its backing subdirectories and regular files. */
static bool mirror_listed(struct mmapfs *fs, struct node *dir, DIR *dp, struct dirent *ent)
{
	struct stat st;

	if (ent->d_name[0] == '.' &&
	    (!ent->d_name[1] || (ent->d_name[1] == '.' && !ent->d_name[2])))
		return false;
	if (dir->target == &fs->root && !strcmp(ent->d_name, MMSTAT_NAME))
		return false;
	if (ent->d_type == DT_DIR || ent->d_type == DT_REG)
		return true;
	if (ent->d_type != DT_UNKNOWN)
		return false;
	if (fstatat(dirfd(dp), ent->d_name, &st, AT_SYMLINK_NOFOLLOW) == -1)
		return false;
	return S_ISDIR(st.st_mode) || S_ISREG(st.st_mode);
}

/*
 * Add the name at position @index (past "." and "..") to @buf. Offsets are
 * positions, so listing a mirror re-reads the backing directory each call:
 * cheap next to what a mirror is for, and stateless across handles.
 */
static size_t add_virtual_dirent(fuse_req_t req, char *buf, size_t room, const char *name,
				 mode_t type, off_t next, bool plus)
{
	struct stat st = { .st_mode = type, .st_ino = (ino_t)next };

	if (plus) {
		struct fuse_entry_param e;

		memset(&e, 0, sizeof(e));
		e.attr = st; /* ino 0: the kernel looks the name up itself */
		return fuse_add_direntry_plus(req, buf, room, name, &e, next);
	}
	return fuse_add_direntry(req, buf, room, name, &st, next);
}

static int list_table(fuse_req_t req, const struct mmstat_entry *table, size_t count, char *buf,
		      size_t size, off_t offset, bool plus, size_t *used)
{
	size_t i, added;

	for (i = (size_t)offset; i < count; i++) {
		mode_t type = table[i].mode == S_IFDIR ? S_IFDIR : S_IFREG;

		added = add_virtual_dirent(req, buf + *used, size - *used, table[i].name, type,
					   (off_t)i + 1, plus);
		if (added > size - *used)
			break;
		*used += added;
	}
	return 0;
}

static int list_mirror(fuse_req_t req, struct node *dir, char *buf, size_t size, off_t offset,
		       bool plus, size_t *used)
{
	struct mmapfs *fs = mmapfs_of(req);
	struct dirent *ent;
	off_t index = 0;
	size_t added;
	DIR *dp;
	int fd;

	fd = openat(node_fd(dir->target), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd == -1)
		return -errno;
	dp = fdopendir(fd);
	if (!dp) {
		close(fd);
		return -ENOMEM;
	}
	while ((ent = readdir(dp))) {
		if (!mirror_listed(fs, dir, dp, ent))
			continue;
		if (index++ < offset)
			continue;
		added = add_virtual_dirent(req, buf + *used, size - *used, ent->d_name, S_IFDIR,
					   index, plus);
		if (added > size - *used)
			break;
		*used += added;
	}
	closedir(dp);
	return 0;
}

void mmstat_readdir(fuse_req_t req, struct node *node, size_t size, off_t offset, bool plus)
{
	char *buf = calloc(1, size);
	size_t used = 0;
	int err = 0;

	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	switch (node->kind) {
	case NODE_MMSTAT_ROOT:
		err = list_table(req, root_entries, N_ROOT, buf, size, offset, plus, &used);
		break;
	case NODE_MIRROR_FILE:
		err = list_table(req, file_entries, N_FILE, buf, size, offset, plus, &used);
		break;
	case NODE_MIRROR_DIR:
		err = list_mirror(req, node, buf, size, offset, plus, &used);
		break;
	default:
		err = -ENOTDIR;
	}
	if (err)
		fuse_reply_err(req, -err);
	else
		fuse_reply_buf(req, buf, used);
	free(buf);
}

void mmstat_open(fuse_req_t req, struct node *node, struct fuse_file_info *fi)
{
	const struct mmstat_entry *entry = entry_of(node);
	int accmode = fi->flags & O_ACCMODE;
	struct text_handle *h;
	struct stat st;
	int err;

	if (!entry) {
		fuse_reply_err(req, EISDIR);
		return;
	}
	if ((accmode != O_WRONLY && !entry->render) || (accmode != O_RDONLY && !entry->write)) {
		fuse_reply_err(req, EACCES);
		return;
	}
	err = virtual_stat(mmapfs_of(req), node, &st);
	if (!err)
		err = caller_may(req, &st,
				 accmode == O_RDONLY ? R_OK :
				 accmode == O_WRONLY ? W_OK :
						       R_OK | W_OK);
	h = err ? NULL : calloc(1, sizeof(*h));
	if (!err && !h)
		err = -ENOMEM;
	if (h) {
		strbuf_init(&h->text);
		h->refs = 1;
	}
	if (!err && entry->render && accmode != O_WRONLY) {
		err = entry->render(req, node->target, &h->text);
		if (!err)
			err = h->text.error;
	}
	if (err) {
		if (h)
			strbuf_release(&h->text);
		free(h);
		fuse_reply_err(req, -err);
		return;
	}
	fi->fh = (uint64_t)(uintptr_t)h;
	fi->direct_io = 1;
	fi->nonseekable = 0;
	fuse_reply_open(req, fi);
}

void mmstat_read(fuse_req_t req, size_t size, off_t offset, struct fuse_file_info *fi)
{
	struct text_handle *h = text_get((struct text_handle *)(uintptr_t)fi->fh);

	if (offset < 0 || (size_t)offset >= h->text.len)
		size = 0;
	else if (size > h->text.len - (size_t)offset)
		size = h->text.len - (size_t)offset;
	fuse_reply_buf(req, size ? h->text.buf + offset : NULL, size);
	text_put(h);
}

void mmstat_write(fuse_req_t req, struct node *node, const char *buf, size_t size,
		  struct fuse_file_info *fi)
{
	const struct mmstat_entry *entry = entry_of(node);
	int err;

	(void)fi;
	if (!entry || !entry->write) {
		fuse_reply_err(req, EACCES);
		return;
	}
	err = entry->write(req, node->target, buf, size);
	if (err) {
		fuse_log(FUSE_LOG_NOTICE, "mmapfs: notice: write to .mmstat %s refused: %s\n",
			 entry->name, strerror(-err));
		fuse_reply_err(req, -err);
	} else {
		fuse_reply_write(req, size);
	}
}

void mmstat_release(fuse_req_t req, struct fuse_file_info *fi)
{
	struct text_handle *h = (struct text_handle *)(uintptr_t)fi->fh;

	if (h)
		text_put(h);
	fuse_reply_err(req, 0);
}

/* ---- renderers: each gathers facts from the engine and hands them to core/render.c */

static int render_summary_file(fuse_req_t req, struct node *target, struct strbuf *out)
{
	struct mmapfs *fs = mmapfs_of(req);
	struct render_summary_input in = { .access = fs->access_name };

	(void)target;
	in.page_size = residency_page_size();
	engine_totals(fs->engine, &in.totals);
	in.resident_bytes_mapped = in.totals.resident_bytes;
	(void)render_process_stats(&in.daemon_rss_bytes, &in.daemon_minor_faults,
				   &in.daemon_major_faults);
	in.uptime_seconds = (uint64_t)(time(NULL) - fs->start_time);
	render_summary(out, &in);
	return 0;
}

static int render_rules_file(fuse_req_t req, struct node *target, struct strbuf *out)
{
	(void)target;
	rules_render(mmapfs_of(req)->rules, out);
	return 0;
}

static int render_policy_file(fuse_req_t req, struct node *target, struct strbuf *out)
{
	struct mmapfs *fs = mmapfs_of(req);
	struct strbuf rel = STRBUF_INIT;
	struct policy p;

	(void)node_relpath(fs, target, &rel);
	p = engine_policy_for(fs->engine, target->dev, target->ino, rel.buf);
	strbuf_release(&rel);
	policy_format(&p, out);
	strbuf_addstr(out, "\n");
	return 0;
}

/*
 * Where a file's residency comes from: the engine's mapping when it holds the file
 * (cow-aware size), else an fd opened read-only for the call.
 */
struct residency_source {
	struct mapping *mapping; /* a reference, or NULL */
	int fd;			 /* opened for the call when there is no mapping, else -1 */
	uint64_t size;
};

static int source_open(struct mmapfs *fs, struct node *target, struct residency_source *src)
{
	char proc[64];
	struct stat st;

	src->fd = -1;
	src->size = 0;
	src->mapping = engine_find(fs->engine, target->dev, target->ino);
	if (src->mapping && mapping_fd(src->mapping) >= 0)
		return 0;
	if (src->mapping)
		engine_put(fs->engine, src->mapping);
	src->mapping = NULL;
	node_proc_path(target, proc, sizeof(proc));
	src->fd = open(proc, O_RDONLY | O_CLOEXEC);
	if (src->fd == -1)
		return -errno;
	if (fstat(src->fd, &st) == -1) {
		int err = -errno;

		close(src->fd);
		return err;
	}
	src->size = (uint64_t)st.st_size;
	return 0;
}

static void source_close(struct mmapfs *fs, struct residency_source *src)
{
	if (src->mapping)
		engine_put(fs->engine, src->mapping);
	if (src->fd >= 0)
		close(src->fd);
}

static int render_residency_file(fuse_req_t req, struct node *target, struct strbuf *out)
{
	struct mmapfs *fs = mmapfs_of(req);
	struct mapping_stats stats = { .mapped = false };
	struct residency_source src;
	struct residency_info info;
	int err;

	err = source_open(fs, target, &src);
	if (err)
		return err;
	if (src.mapping) {
		mapping_stats(src.mapping, &stats);
		err = mapping_residency(src.mapping, &info);
	} else {
		err = residency_count(src.fd, src.size, &info);
	}
	source_close(fs, &src);
	if (err)
		return err;
	info.have_private = fs->access == ENGINE_ACCESS_COW;
	info.private_pages = stats.private_pages;
	render_residency(out, &info, stats.mapped);
	return 0;
}

static int render_map_file(fuse_req_t req, struct node *target, struct strbuf *out)
{
	struct mmapfs *fs = mmapfs_of(req);
	struct residency_source src;
	int err;

	err = source_open(fs, target, &src);
	if (err)
		return err;
	if (src.mapping)
		err = mapping_extents(src.mapping, render_extent, out);
	else
		err = residency_extents(src.fd, src.size, render_extent, out);
	source_close(fs, &src);
	return err;
}

static int render_stats_file(fuse_req_t req, struct node *target, struct strbuf *out)
{
	struct mmapfs *fs = mmapfs_of(req);
	struct mapping *m = engine_find(fs->engine, target->dev, target->ino);
	struct strbuf rel = STRBUF_INIT;
	struct mapping_stats stats;
	struct stat st;

	if (m) {
		mapping_stats(m, &stats);
		engine_put(fs->engine, m);
	} else {
		memset(&stats, 0, sizeof(stats));
		(void)node_relpath(fs, target, &rel);
		stats.policy = engine_policy_for(fs->engine, target->dev, target->ino, rel.buf);
		strbuf_release(&rel);
		if (node_stat(target, &st) == 0)
			stats.size_bytes = (uint64_t)st.st_size;
	}
	render_stats(out, &stats);
	return 0;
}

/* Copy a write into a NUL-terminated string; control writes are short lines. */
static int copy_command(const char *buf, size_t len, char *out, size_t out_len)
{
	if (len >= out_len)
		return -EINVAL;
	memcpy(out, buf, len);
	out[len] = '\0';
	if (strlen(out) != len)
		return -EINVAL; /* an embedded NUL: binary garbage */
	return 0;
}

static int write_policy_file(fuse_req_t req, struct node *target, const char *buf, size_t len)
{
	char text[POLICY_MAX_TEXT];
	struct policy p;
	int err;

	err = copy_command(buf, len, text, sizeof(text));
	if (!err)
		err = policy_parse(text, &p, NULL, 0);
	if (!err)
		err = engine_set_policy(mmapfs_of(req)->engine, node_fd(target), &p);
	return err;
}

/* A byte count: decimal digits, optionally K, M, G or T (powers of 1024). */
static int parse_bytes(const char *word, uint64_t *out)
{
	char *end;
	unsigned long long value;
	unsigned shift = 0;

	if (!*word || *word == '-' || *word == '+')
		return -EINVAL;
	errno = 0;
	value = strtoull(word, &end, 10);
	if (errno || end == word)
		return -EINVAL;
	switch (*end) {
	case 'K':
	case 'k':
		shift = 10;
		end++;
		break;
	case 'M':
	case 'm':
		shift = 20;
		end++;
		break;
	case 'G':
	case 'g':
		shift = 30;
		end++;
		break;
	case 'T':
	case 't':
		shift = 40;
		end++;
		break;
	default:
		break;
	}
	if (*end || (shift && value > (UINT64_MAX >> shift)))
		return -EINVAL;
	*out = (uint64_t)value << shift;
	return 0;
}

enum ctl_op {
	CTL_TOUCH,
	CTL_EVICT,
	CTL_LOCK,
	CTL_UNLOCK,
	CTL_DISCARD
};

struct ctl_command {
	enum ctl_op op;
	uint64_t offset;
	uint64_t length; /* 0: to end of file */
};

static int parse_ctl(char *text, struct ctl_command *cmd)
{
	static const char *const names[] = { "touch", "evict", "lock", "unlock", "discard" };
	const size_t name_count = sizeof(names) / sizeof(names[0]);
	char *words[4], *save = NULL, *word;
	size_t count = 0, i;
	int err = 0;

	for (word = strtok_r(text, " \t\n", &save); word; word = strtok_r(NULL, " \t\n", &save)) {
		if (count == 3)
			return -EINVAL;
		words[count++] = word;
	}
	if (count != 1 && count != 3)
		return -EINVAL;
	for (i = 0; i < name_count && strcmp(words[0], names[i]); i++)
		;
	if (i == name_count || (i == CTL_DISCARD && count != 1))
		return -EINVAL;
	cmd->op = (enum ctl_op)i;
	cmd->offset = 0;
	cmd->length = 0;
	if (count == 3) {
		err = parse_bytes(words[1], &cmd->offset);
		if (!err)
			err = parse_bytes(words[2], &cmd->length);
		if (!err && !cmd->length)
			err = -EINVAL;
	}
	return err;
}

static int run_ctl(struct mapping *m, const struct ctl_command *cmd)
{
	struct mapping_stats stats;

	mapping_stats(m, &stats);
	if (cmd->offset && cmd->offset >= stats.size_bytes)
		return -EINVAL; /* a range starting past the end of the file */
	switch (cmd->op) {
	case CTL_TOUCH:
		return mapping_touch(m, cmd->offset, cmd->length);
	case CTL_EVICT:
		return mapping_evict(m, cmd->offset, cmd->length);
	case CTL_LOCK:
		return mapping_lock(m, cmd->offset, cmd->length, true);
	case CTL_UNLOCK:
		return mapping_lock(m, cmd->offset, cmd->length, false);
	case CTL_DISCARD:
		return mapping_discard(m);
	}
	return -EINVAL;
}

static int write_ctl_file(fuse_req_t req, struct node *target, const char *buf, size_t len)
{
	struct mmapfs *fs = mmapfs_of(req);
	struct strbuf rel = STRBUF_INIT;
	struct ctl_command cmd;
	struct mapping *m;
	char text[128];
	int err;

	err = copy_command(buf, len, text, sizeof(text));
	if (!err)
		err = parse_ctl(text, &cmd);
	if (err)
		return err;
	(void)node_relpath(fs, target, &rel);
	err = engine_open(fs->engine, node_fd(target), rel.buf, false, &m);
	strbuf_release(&rel);
	if (err)
		return err;
	err = run_ctl(m, &cmd);
	engine_close(fs->engine, m);
	/* The kernel's own copy of the mount file still holds the evicted or discarded bytes. */
	if (!err && (cmd.op == CTL_DISCARD || cmd.op == CTL_EVICT))
		notify_inval_wait(fs, target, 1000);
	return err;
}
