/*
 * Invalidating the kernel's cache of a mount file (after ctl discard, or when the
 * backing file changed under an open handle) must not happen inside a request
 * handler: the kernel may hold page locks that the request is waiting on. A
 * thread of its own drains a queue of node ids instead.
 */
#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include "mmapfs.h"

struct notify_item {
	struct node *node; /* holds a reference until notified */
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
		/* -ENOENT: the kernel forgot the inode already, nothing is cached */
		(void)fuse_lowlevel_notify_inval_inode(fs->se, node_id(fs, item->node), 0, 0);
		node_unref(fs, item->node, 1);
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
		if (!item->waited || item->abandoned)
			free(item);
	}
	queue_tail = NULL;
}

static struct notify_item *notify_queue(struct mmapfs *fs, struct node *node, bool waited)
{
	struct notify_item *item = calloc(1, sizeof(*item));

	if (!item)
		return NULL; /* the cache then expires with the next changed attributes */
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
	(void)notify_queue(fs, node, false);
}

/*
 * Wait (bounded) for the invalidation, so the caller's next read sees the new
 * bytes. Bounded because the kernel may first need a reply only this request's
 * thread can give (in -s mode): then the invalidation simply lands a bit later.
 */
void notify_inval_wait(struct mmapfs *fs, struct node *node, unsigned timeout_ms)
{
	struct notify_item *item = notify_queue(fs, node, true);
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
