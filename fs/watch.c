/*
 * Backing files changed by another process while open through the mount: the
 * kernel's cached pages of the mount file would go stale (a client that mmaps it
 * never asks again). Open regular files are watched with inotify; a change whose
 * size or mtime the engine did not make itself invalidates the kernel's cache of
 * that file through the notify thread.
 *
 * The engine's own writes raise events too, and record their result only after
 * the copy: events are gathered for a short quiet period before they are judged,
 * so our own writes are seldom taken for someone else's.
 */
#include <errno.h>
#include <poll.h>
#include <search.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "mmapfs.h"

#define WATCH_MASK (IN_MODIFY | IN_ATTRIB | IN_CLOSE_WRITE)
#define QUIET_MS   20

struct watch {
	int wd;
	struct node *node; /* a reference while watched */
	unsigned handles;
	bool pending;
};

static pthread_mutex_t watch_lock = PTHREAD_MUTEX_INITIALIZER;
static void *watches; /* tsearch tree by wd */
static int inotify_fd = -1, stop_fd = -1;
static pthread_t watch_thread;
static bool running;

static int watch_compare(const void *a, const void *b)
{
	const struct watch *wa = a, *wb = b;

	return (wa->wd > wb->wd) - (wa->wd < wb->wd);
}

int watch_add(struct mmapfs *fs, struct node *node)
{
	struct watch key, *fresh, **found;
	char proc[64];

	if (inotify_fd < 0)
		return -1;
	node_proc_path(node, proc, sizeof(proc));
	pthread_mutex_lock(&watch_lock);
	key.wd = inotify_add_watch(inotify_fd, proc, WATCH_MASK);
	if (key.wd < 0)
		goto out_unlock; /* out of watches: close-to-open still holds */
	found = tfind(&key, &watches, watch_compare);
	if (found) {
		(*found)->handles++;
		goto out_unlock;
	}
	fresh = calloc(1, sizeof(*fresh));
	if (!fresh || !tsearch(fresh, &watches, watch_compare)) {
		free(fresh);
		(void)inotify_rm_watch(inotify_fd, key.wd);
		key.wd = -1;
		goto out_unlock;
	}
	fresh->wd = key.wd;
	fresh->node = node;
	fresh->handles = 1;
	pthread_mutex_lock(&fs->nodes_lock);
	node->refs++;
	pthread_mutex_unlock(&fs->nodes_lock);
out_unlock:
	pthread_mutex_unlock(&watch_lock);
	return key.wd;
}

void watch_remove(struct mmapfs *fs, int wd)
{
	struct watch key = { .wd = wd }, *w = NULL, **found;

	if (inotify_fd < 0 || wd < 0)
		return;
	pthread_mutex_lock(&watch_lock);
	found = tfind(&key, &watches, watch_compare);
	if (found && --(*found)->handles == 0) {
		w = *found;
		tdelete(w, &watches, watch_compare);
		(void)inotify_rm_watch(inotify_fd, wd);
	}
	pthread_mutex_unlock(&watch_lock);
	if (w) {
		node_unref(fs, w->node, 1);
		free(w);
	}
}

/* Mark the watches named in a buffer of events; Return: how many were marked. */
static unsigned mark_events(const char *buf, ssize_t len)
{
	const struct inotify_event *event;
	unsigned marked = 0;
	ssize_t at;

	pthread_mutex_lock(&watch_lock);
	for (at = 0; at < len; at += (ssize_t)sizeof(*event) + event->len) {
		struct watch key, **found;

		event = (const struct inotify_event *)(buf + at);
		key.wd = event->wd;
		found = tfind(&key, &watches, watch_compare);
		if (found && !(*found)->pending) {
			(*found)->pending = true;
			marked++;
		}
	}
	pthread_mutex_unlock(&watch_lock);
	return marked;
}

static struct mmapfs *judge_fs;

/* Invalidate each pending watch whose file changed in a way the engine did not record. */
static void judge_visit(const void *nodep, VISIT which, int depth)
{
	struct watch *w = *(struct watch *const *)nodep;
	struct mapping *m;

	(void)depth;
	if ((which != postorder && which != leaf) || !w->pending)
		return;
	w->pending = false;
	m = engine_find(judge_fs->engine, w->node->dev, w->node->ino);
	if (!m)
		return;
	if (!mapping_cache_valid(m))
		notify_inval(judge_fs, w->node);
	engine_put(judge_fs->engine, m);
}

static void *watch_main(void *arg)
{
	struct pollfd fds[2] = { { .fd = -1, .events = POLLIN }, { .fd = -1, .events = POLLIN } };
	char buf[16384] __attribute__((aligned(__alignof__(struct inotify_event))));
	unsigned marked = 0;
	ssize_t len;

	fds[0].fd = inotify_fd;
	fds[1].fd = stop_fd;
	judge_fs = arg;
	for (;;) {
		/* wait for events; once some are marked, wait for a quiet period */
		int ready = poll(fds, 2, marked ? QUIET_MS : -1);

		if (ready < 0 && errno != EINTR)
			break;
		if (fds[1].revents)
			break;
		if (ready > 0 && (fds[0].revents & POLLIN)) {
			len = read(inotify_fd, buf, sizeof(buf));
			if (len > 0)
				marked += mark_events(buf, len);
			continue;
		}
		if (marked) {
			pthread_mutex_lock(&watch_lock);
			twalk(watches, judge_visit);
			pthread_mutex_unlock(&watch_lock);
			marked = 0;
		}
	}
	return NULL;
}

int watch_start(struct mmapfs *fs)
{
	int err;

	inotify_fd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
	stop_fd = eventfd(0, EFD_CLOEXEC);
	if (inotify_fd < 0 || stop_fd < 0) {
		err = -errno;
		goto out_close;
	}
	err = -pthread_create(&watch_thread, NULL, watch_main, fs);
	if (err)
		goto out_close;
	running = true;
	return 0;
out_close:
	if (inotify_fd >= 0)
		close(inotify_fd);
	if (stop_fd >= 0)
		close(stop_fd);
	inotify_fd = stop_fd = -1;
	return err;
}

static void free_watch(void *ptr)
{
	free(ptr);
}

void watch_stop(struct mmapfs *fs)
{
	uint64_t one = 1;

	(void)fs;
	if (!running)
		return;
	if (write(stop_fd, &one, sizeof(one)) != sizeof(one))
		return; /* cannot happen on an eventfd; the thread dies with the process */
	pthread_join(watch_thread, NULL);
	running = false;
	/* node references die with the node table; only the records are freed here */
	tdestroy(watches, free_watch);
	watches = NULL;
	close(inotify_fd);
	close(stop_fd);
	inotify_fd = stop_fd = -1;
}
