/*
 * FUSE node ids are pointers to struct node (the root is FUSE_ROOT_ID). Backing
 * nodes are keyed by (st_dev, st_ino) so hard links share a node, and hold an
 * O_PATH fd that follows the file through renames.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/resource.h>
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

/*
 * Descriptors. Every node would like an O_PATH fd (as in passthrough_ll), but a
 * find over 100,000 files would need 100,000 of them and RLIMIT_NOFILE cannot
 * always be raised (it takes CAP_SYS_RESOURCE). Nodes keep their fd while fewer
 * than fd_budget (a quarter of RLIMIT_NOFILE) are kept; past that, a node keeps
 * a file handle instead (name_to_handle_at) and node_fd() opens it again for the
 * call, into a small per-thread ring. No operation uses more than a few node fds at once, so a ring
 * entry is only reused long after the call that asked for it has finished.
 */
#define FD_RING 16

static int mount_fd = -1; /* the backing root, for open_by_handle_at */
static dev_t mount_dev;
static unsigned long kept_fds; /* nodes_lock */
static unsigned long fd_budget = 1000;
static __thread struct {
	const struct node *node;
	uint64_t serial; /* a freed node's address may come back for another file */
	int fd;
} fd_ring[FD_RING];
static uint64_t next_serial = 1; /* atomics */
static __thread unsigned fd_ring_next;

static void set_fd_budget(void)
{
	struct rlimit limit;

	/* a quarter: each open file also costs its mapping's fd, and 10,000 may be open */
	if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY)
		fd_budget = limit.rlim_cur / 4;
	else
		fd_budget = 1ul << 20;
}

int node_fd(const struct node *node)
{
	unsigned i, slot;
	int fd;

	if (node->fd >= 0 || !node->handle)
		return node->fd;
	for (i = 0; i < FD_RING; i++)
		if (fd_ring[i].node == node && fd_ring[i].serial == node->serial &&
		    fd_ring[i].fd >= 0)
			return fd_ring[i].fd;
	fd = open_by_handle_at(mount_fd, node->handle, O_PATH | O_CLOEXEC);
	if (fd == -1)
		return -1;
	slot = fd_ring_next++ % FD_RING;
	if (fd_ring[slot].fd > 0)
		close(fd_ring[slot].fd);
	fd_ring[slot].node = node;
	fd_ring[slot].serial = node->serial;
	fd_ring[slot].fd = fd;
	return fd;
}

/* Forget this thread's ring entries of a node about to be freed (others check serials). */
static void ring_forget(const struct node *node)
{
	unsigned i;

	for (i = 0; i < FD_RING; i++)
		if (fd_ring[i].node == node)
			fd_ring[i].node = NULL;
}

/* A handle for @fd's file, or NULL where the filesystem has none (keep the fd then). */
static struct file_handle *handle_of(int fd, dev_t dev)
{
	struct file_handle *handle;
	int mount_id;

	if (dev != mount_dev || mount_fd < 0)
		return NULL; /* another mount inside the tree: handles need its own mount fd */
	handle = malloc(sizeof(*handle) + MAX_HANDLE_SZ);
	if (!handle)
		return NULL;
	handle->handle_bytes = MAX_HANDLE_SZ;
	if (name_to_handle_at(fd, "", handle, &mount_id, AT_EMPTY_PATH) == -1) {
		free(handle);
		return NULL;
	}
	return handle;
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
	snprintf(buf, len, "/proc/self/fd/%d", node_fd(node));
}

int node_init_root(struct mmapfs *fs, const char *backing_dir)
{
	struct stat st;

	fs->root.fd = open(backing_dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fs->root.fd == -1)
		return -errno;
	if (fstat(fs->root.fd, &st) == -1)
		return -errno;
	/* open_by_handle_at wants a real descriptor of the mount, not an O_PATH one */
	mount_fd = open(backing_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	mount_dev = st.st_dev;
	set_fd_budget();
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

	ring_forget(node);
	if (node->fd >= 0)
		close(node->fd);
	free(node->handle);
	free(node);
}

void node_destroy_all(struct mmapfs *fs)
{
	tdestroy(fs->nodes, node_free);
	fs->nodes = NULL;
	if (fs->root.fd >= 0)
		close(fs->root.fd);
	fs->root.fd = -1;
	if (mount_fd >= 0)
		close(mount_fd);
	mount_fd = -1;
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

	uint64_t generation = watch_name_generation();

	memset(e, 0, sizeof(*e));
	fd = openat(node_fd(parent), name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
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
		fresh->serial = __atomic_fetch_add(&next_serial, 1, __ATOMIC_RELAXED);
	}
	pthread_mutex_lock(&fs->nodes_lock);
	node = node_find_or_insert(fs, &key, fresh);
	if (node == fresh && fresh) {
		if (kept_fds < fd_budget || !(fresh->handle = handle_of(fd, key.dev))) {
			kept_fds++;
		} else {
			close(fd);
			fresh->fd = -1;
		}
	}
	pthread_mutex_unlock(&fs->nodes_lock);
	if (node != fresh) {
		close(fd);
		free(fresh);
	}
	if (!node)
		return -ENOMEM;
	if (node == fresh && S_ISDIR(e->attr.st_mode))
		watch_dir_add(fs, node);
	/* a second name elsewhere could change it where no watch of ours sees */
	node->covered = S_ISDIR(e->attr.st_mode) ? node->dir_watched :
						   parent->dir_watched && e->attr.st_nlink == 1;
	e->ino = node_id(fs, node);
	e->attr_timeout = node_attr_timeout(fs, node);
	/* a name changed meanwhile: its expiry may have reached the kernel before this reply */
	e->entry_timeout = parent->dir_watched && watch_reliable() &&
					   generation == watch_name_generation() ?
				   fs->watched_entry_timeout :
				   fs->entry_timeout;
	engine_fix_stat(fs->engine, &e->attr);
	return 0;
}

double node_attr_timeout(const struct mmapfs *fs, const struct node *node)
{
	return node->covered && watch_reliable() ? fs->watched_attr_timeout : fs->attr_timeout;
}

/* node_invalidate_all()'s harvest of the node tree (nodes_lock held while it grows) */
static struct {
	struct node **nodes;
	size_t count, room;
} harvest;

static void harvest_visit(const void *nodep, VISIT which, int depth)
{
	struct node *node = *(struct node *const *)nodep, **grown;

	(void)depth;
	if ((which != postorder && which != leaf) || node->kind != NODE_BACKING)
		return;
	if (harvest.count == harvest.room) {
		size_t room = harvest.room ? 2 * harvest.room : 256;

		grown = realloc(harvest.nodes, room * sizeof(*grown));
		if (!grown)
			return; /* that node keeps its cache until it expires */
		harvest.nodes = grown;
		harvest.room = room;
	}
	node->refs++;
	harvest.nodes[harvest.count++] = node;
}

void node_invalidate_all(struct mmapfs *fs)
{
	size_t i;

	pthread_mutex_lock(&fs->nodes_lock);
	harvest.count = 0;
	twalk(fs->nodes, harvest_visit);
	pthread_mutex_unlock(&fs->nodes_lock);
	notify_inval(fs, &fs->root);
	for (i = 0; i < harvest.count; i++) {
		/* a directory's listing too; a file's pages go if its size or mtime moved */
		if (harvest.nodes[i]->dir_watched)
			notify_inval(fs, harvest.nodes[i]);
		else
			notify_inval_attr(fs, harvest.nodes[i]);
		node_unref(fs, harvest.nodes[i], 1);
	}
	free(harvest.nodes);
	harvest.nodes = NULL;
	harvest.count = harvest.room = 0;
}

struct node *node_find(struct mmapfs *fs, dev_t dev, ino_t ino)
{
	struct node key = { .kind = NODE_BACKING, .dev = dev, .ino = ino }, **found, *node = NULL;

	if (dev == fs->root.dev && ino == fs->root.ino)
		return &fs->root; /* never freed: no reference needed */
	pthread_mutex_lock(&fs->nodes_lock);
	found = tfind(&key, &fs->nodes, node_compare);
	if (found) {
		node = *found;
		node->refs++;
	}
	pthread_mutex_unlock(&fs->nodes_lock);
	return node;
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
	if (node->fd >= 0 && node->kind == NODE_BACKING)
		kept_fds--;
	if (node->kind != NODE_BACKING && node->target != &fs->root)
		target = node->target;
	pthread_mutex_unlock(&fs->nodes_lock);
	if (node->dir_watched)
		watch_dir_remove(node);
	node_free(node);
	if (target)
		node_unref(fs, target, 1);
}

int node_stat(struct node *node, struct stat *st)
{
	if (fstatat(node_fd(node), "", st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) == -1)
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
