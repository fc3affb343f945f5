/*
 * Invalidating the kernel's cache of a mount file (after ctl discard, or when the
 * backing file changed under an open handle) must not happen inside a request
 * handler: the kernel may hold page locks that the request is waiting on. A
 * thread of its own drains a queue of node ids instead.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mmapfs.h"

enum notify_kind {
	INVAL_DATA,  /* the file's cached pages and attributes */
	INVAL_ATTR,  /* attributes only */
	INVAL_ENTRY, /* the name @name in directory @node */
};

struct notify_item {
	enum notify_kind kind;
	struct node *node; /* holds a reference until notified */
	char *name;	   /* INVAL_ENTRY */
	struct notify_item *next;
	bool waited; /* a caller waits for it: it frees the item once done */
	bool done;
	bool abandoned; /* the caller stopped waiting: the thread frees it */
};

static pthread_mutex_t queue_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t queue_cond = PTHREAD_COND_INITIALIZER;
static pthread_cond_t done_cond = PTHREAD_COND_INITIALIZER;
static struct notify_item *queue_head, *queue_tail;
static bool stopping;
static pthread_t notify_thread;
static bool started;

static void notify_one(struct mmapfs *fs, const struct notify_item *item)
{
	fuse_ino_t ino = node_id(fs, item->node);

	/* -ENOENT: the kernel forgot the inode or name already, nothing is cached */
	switch (item->kind) {
	case INVAL_DATA:
		(void)fuse_lowlevel_notify_inval_inode(fs->se, ino, 0, 0);
		break;
	case INVAL_ATTR: /* a negative offset: attributes, no pages */
		(void)fuse_lowlevel_notify_inval_inode(fs->se, ino, -1, 0);
		break;
	case INVAL_ENTRY:
		/*
		 * Expire rather than invalidate: invalidating a dentry detaches whatever
		 * is mounted on it, and the event may be about a directory someone has
		 * since mounted over. Kernels before 6.2 only know invalidation.
		 */
		if (fuse_lowlevel_notify_expire_entry(fs->se, ino, item->name, strlen(item->name),
						      FUSE_LL_EXPIRE_ONLY) == -ENOSYS)
			(void)fuse_lowlevel_notify_inval_entry(fs->se, ino, item->name,
							       strlen(item->name));
		break;
	}
}

static void *notify_main(void *arg)
{
	struct mmapfs *fs = arg;
	struct notify_item *item;

	pthread_mutex_lock(&queue_lock);
	for (;;) {
		while (!queue_head && !stopping)
			pthread_cond_wait(&queue_cond, &queue_lock);
		if (!queue_head)
			break;
		item = queue_head;
		queue_head = item->next;
		if (!queue_head)
			queue_tail = NULL;
		pthread_mutex_unlock(&queue_lock);
		notify_one(fs, item);
		node_unref(fs, item->node, 1);
		free(item->name);
		item->name = NULL;
		pthread_mutex_lock(&queue_lock);
		if (item->waited && !item->abandoned) {
			item->done = true;
			pthread_cond_broadcast(&done_cond);
		} else {
			free(item);
		}
	}
	pthread_mutex_unlock(&queue_lock);
	return NULL;
}

int notify_start(struct mmapfs *fs)
{
	int err = pthread_create(&notify_thread, NULL, notify_main, fs);

	if (err)
		return -err;
	started = true;
	return 0;
}

void notify_stop(struct mmapfs *fs)
{
	struct notify_item *item;

	if (!started)
		return;
	pthread_mutex_lock(&queue_lock);
	stopping = true;
	pthread_cond_signal(&queue_cond);
	pthread_mutex_unlock(&queue_lock);
	pthread_join(notify_thread, NULL);
	started = false;
	while ((item = queue_head)) {
		queue_head = item->next;
		node_unref(fs, item->node, 1);
		free(item->name);
		if (!item->waited || item->abandoned)
			free(item);
	}
	queue_tail = NULL;
}

static struct notify_item *notify_queue(struct mmapfs *fs, struct node *node, bool waited,
					enum notify_kind kind, const char *name)
{
	struct notify_item *item = calloc(1, sizeof(*item));

	if (item && name && !(item->name = strdup(name))) {
		free(item);
		item = NULL;
	}
	if (!item)
		return NULL; /* the cache then expires with its timeout */
	item->kind = kind;
	item->waited = waited;
	pthread_mutex_lock(&fs->nodes_lock);
	node->refs++;
	pthread_mutex_unlock(&fs->nodes_lock);
	item->node = node;
	pthread_mutex_lock(&queue_lock);
	if (queue_tail)
		queue_tail->next = item;
	else
		queue_head = item;
	queue_tail = item;
	pthread_cond_signal(&queue_cond);
	pthread_mutex_unlock(&queue_lock);
	return item;
}

void notify_inval(struct mmapfs *fs, struct node *node)
{
	(void)notify_queue(fs, node, false, INVAL_DATA, NULL);
}

void notify_inval_attr(struct mmapfs *fs, struct node *node)
{
	(void)notify_queue(fs, node, false, INVAL_ATTR, NULL);
}

void notify_inval_entry(struct mmapfs *fs, struct node *dir, const char *name)
{
	(void)notify_queue(fs, dir, false, INVAL_ENTRY, name);
}

/*
 * Wait (bounded) for the invalidation, so the caller's next read sees the new
 * bytes. Bounded because the kernel may first need a reply only this request's
 * thread can give (in -s mode): then the invalidation simply lands a bit later.
 */
void notify_inval_wait(struct mmapfs *fs, struct node *node, unsigned timeout_ms)
{
	struct notify_item *item = notify_queue(fs, node, true, INVAL_DATA, NULL);
	struct timespec deadline;

	if (!item)
		return;
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += timeout_ms / 1000;
	deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
	if (deadline.tv_nsec >= 1000000000) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&queue_lock);
	while (!item->done && !stopping)
		if (pthread_cond_timedwait(&done_cond, &queue_lock, &deadline) == ETIMEDOUT)
			break;
	if (item->done)
		free(item);
	else
		item->abandoned = true;
	pthread_mutex_unlock(&queue_lock);
}
