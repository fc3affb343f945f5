/*
 * FUSE node ids are pointers to struct node (the root is FUSE_ROOT_ID). Backing
 * nodes are keyed by (st_dev, st_ino) so hard links share a node, and hold an
 * O_PATH fd that follows the file through renames.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <search.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mmapfs.h"

static int node_compare(const void *a, const void *b)
{
	const struct node *na = a, *nb = b;

	if (na->kind != nb->kind)
		return na->kind < nb->kind ? -1 : 1;
	if (na->kind == NODE_BACKING) {
		if (na->dev != nb->dev)
			return na->dev < nb->dev ? -1 : 1;
		if (na->ino != nb->ino)
			return na->ino < nb->ino ? -1 : 1;
		return 0;
	}
	if (na->target != nb->target)
		return na->target < nb->target ? -1 : 1;
	if (na->entry != nb->entry)
		return na->entry < nb->entry ? -1 : 1;
	return 0;
}

struct node *node_of(struct mmapfs *fs, fuse_ino_t ino)
{
	if (ino == FUSE_ROOT_ID)
		return &fs->root;
	return (struct node *)(uintptr_t)ino;
}

fuse_ino_t node_id(struct mmapfs *fs, struct node *node)
{
	if (node == &fs->root)
		return FUSE_ROOT_ID;
	return (fuse_ino_t)(uintptr_t)node;
}

void node_proc_path(const struct node *node, char *buf, size_t len)
{
	snprintf(buf, len, "/proc/self/fd/%d", node->fd);
}

int node_init_root(struct mmapfs *fs, const char *backing_dir)
{
	struct stat st;

	fs->root.fd = open(backing_dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fs->root.fd == -1)
		return -errno;
	if (fstat(fs->root.fd, &st) == -1)
		return -errno;
	fs->root.kind = NODE_BACKING;
	fs->root.dev = st.st_dev;
	fs->root.ino = st.st_ino;
	fs->root.refs = 2; /* never freed */
	fs->mmstat.kind = NODE_MMSTAT_ROOT;
	fs->mmstat.fd = -1;
	fs->mmstat.target = &fs->root;
	fs->mmstat.refs = 2;
	pthread_mutex_init(&fs->nodes_lock, NULL);
	return 0;
}

static void node_free(void *ptr)
{
	struct node *node = ptr;

	if (node->fd >= 0)
		close(node->fd);
	free(node);
}

void node_destroy_all(struct mmapfs *fs)
{
	tdestroy(fs->nodes, node_free);
	fs->nodes = NULL;
	if (fs->root.fd >= 0)
		close(fs->root.fd);
	fs->root.fd = -1;
}

/* Find @key's node and add a reference, or insert @fresh (nodes_lock held). */
static struct node *node_find_or_insert(struct mmapfs *fs, struct node *key, struct node *fresh)
{
	struct node **found = tfind(key, &fs->nodes, node_compare);

	if (found) {
		(*found)->refs++;
		return *found;
	}
	if (!fresh || !tsearch(fresh, &fs->nodes, node_compare))
		return NULL;
	fresh->refs = 1;
	return fresh;
}

int node_lookup_backing(struct mmapfs *fs, struct node *parent, const char *name,
			struct fuse_entry_param *e)
{
	struct node key = { .kind = NODE_BACKING }, *fresh, *node;
	int fd, err;

	memset(e, 0, sizeof(*e));
	e->attr_timeout = fs->attr_timeout;
	e->entry_timeout = fs->entry_timeout;
	fd = openat(parent->fd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (fd == -1)
		return -errno;
	if (fstatat(fd, "", &e->attr, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) == -1) {
		err = -errno;
		close(fd);
		return err;
	}
	key.dev = e->attr.st_dev;
	key.ino = e->attr.st_ino;
	fresh = calloc(1, sizeof(*fresh));
	if (fresh) {
		*fresh = key;
		fresh->fd = fd;
	}
	pthread_mutex_lock(&fs->nodes_lock);
	node = node_find_or_insert(fs, &key, fresh);
	pthread_mutex_unlock(&fs->nodes_lock);
	if (node != fresh) {
		close(fd);
		free(fresh);
	}
	if (!node)
		return -ENOMEM;
	e->ino = node_id(fs, node);
	engine_fix_stat(fs->engine, &e->attr);
	return 0;
}

struct node *node_get_virtual(struct mmapfs *fs, enum node_kind kind, struct node *target,
			      unsigned entry)
{
	struct node key = { .kind = kind, .target = target, .entry = entry, .fd = -1 };
	struct node *fresh, *node;

	if (kind == NODE_MMSTAT_ROOT)
		return &fs->mmstat;
	fresh = calloc(1, sizeof(*fresh));
	if (fresh)
		*fresh = key;
	pthread_mutex_lock(&fs->nodes_lock);
	node = node_find_or_insert(fs, &key, fresh);
	if (node == fresh && target != &fs->root)
		target->refs++; /* the mirror keeps what it describes alive */
	pthread_mutex_unlock(&fs->nodes_lock);
	if (node != fresh)
		free(fresh);
	return node;
}

void node_unref(struct mmapfs *fs, struct node *node, uint64_t count)
{
	struct node *target = NULL;

	if (node == &fs->root || node == &fs->mmstat)
		return;
	pthread_mutex_lock(&fs->nodes_lock);
	if (node->refs > count) {
		node->refs -= count;
		pthread_mutex_unlock(&fs->nodes_lock);
		return;
	}
	tdelete(node, &fs->nodes, node_compare);
	if (node->kind != NODE_BACKING && node->target != &fs->root)
		target = node->target;
	pthread_mutex_unlock(&fs->nodes_lock);
	node_free(node);
	if (target)
		node_unref(fs, target, 1);
}

int node_stat(struct node *node, struct stat *st)
{
	if (fstatat(node->fd, "", st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) == -1)
		return -errno;
	return 0;
}

/*
 * The path of @node relative to the mount root, from the kernel's name for its
 * fd. A file reached through another mount of the same tree, or already
 * unlinked, gets the name the kernel gives it, which is still useful for rules.
 */
int node_relpath(struct mmapfs *fs, struct node *node, struct strbuf *out)
{
	char proc[64], path[PATH_MAX + 1];
	const char *rel = path;
	ssize_t len;

	node_proc_path(node, proc, sizeof(proc));
	len = readlink(proc, path, sizeof(path) - 1);
	if (len == -1)
		return -errno;
	path[len] = '\0';
	if (!strncmp(path, fs->backing_path, fs->backing_path_len) &&
	    (path[fs->backing_path_len] == '/' || path[fs->backing_path_len] == '\0'))
		rel = path + fs->backing_path_len;
	while (*rel == '/')
		rel++;
	strbuf_addstr(out, rel);
	return out->error;
}
