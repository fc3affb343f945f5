/*
 * Backing files changed by another process while open through the mount: the
 * kernel's cached pages of the mount file would go stale (a client that mmaps it
 * never asks again). Open regular files are watched with inotify; a change whose
 * size or mtime the engine did not make itself invalidates the kernel's cache of
 * that file through the notify thread.
 *
 * Directories the kernel has looked up are watched too: a name created, removed
 * or renamed in one, or a child's attributes changed, invalidates the kernel's
 * entry and attributes. Names and attributes the watches cover may then be cached
 * for long (watched_*_timeout) instead of a second.
 *
 * The engine's own writes raise events too, and record their result only after
 * the copy: events are gathered for a short quiet period (at most MAX_BATCH_MS)
 * before they are judged, so our own writes are seldom taken for someone else's.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <search.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>

#include "mmapfs.h"

#define WATCH_MASK   (IN_MODIFY | IN_ATTRIB | IN_CLOSE_WRITE)
#define NAME_EVENTS  (IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO)
#define DIR_MASK     (NAME_EVENTS | WATCH_MASK | IN_ONLYDIR | IN_EXCL_UNLINK)
#define QUIET_MS     20
#define MAX_BATCH_MS 200

struct watch {
	int wd;
	struct node *node; /* a reference while watched */
	unsigned handles;
	bool pending;
};

/* a watched directory: found by its (dev, ino), never by pointer (nodes come and go) */
struct dir_watch {
	int wd;
	dev_t dev;
	ino_t ino;
	unsigned nodes; /* a freed node and its successor may briefly share the wd */
};

/* a name of a watched directory that changed ("" for the directory itself) */
struct dir_event {
	int wd;
	uint32_t mask;
	char name[];
};

static pthread_mutex_t watch_lock = PTHREAD_MUTEX_INITIALIZER;
static void *watches;	  /* open files: tsearch tree by wd */
static void *dir_watches; /* directories: by wd */
static void *dir_events;  /* changed names awaiting judgement: by (wd, name) */
static int inotify_fd = -1, stop_fd = -1;
static pthread_t watch_thread;
static bool running;
static int64_t unreliable_until_ms; /* after lost events, until long timeouts ran out */
static bool lost_pending;	    /* events were lost: invalidate everything (watch_lock) */
static uint64_t name_generation;    /* bumped before each name's expiry is queued; atomics */
static unsigned dir_watch_count;    /* watch_lock */
static unsigned dir_watch_cap = 8192;

/* every record's first member is its wd */
static int watch_compare(const void *a, const void *b)
{
	int wa = *(const int *)a, wb = *(const int *)b;

	return (wa > wb) - (wa < wb);
}

static int dir_event_compare(const void *a, const void *b)
{
	const struct dir_event *ea = a, *eb = b;

	if (ea->wd != eb->wd)
		return ea->wd < eb->wd ? -1 : 1;
	return strcmp(ea->name, eb->name);
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

bool watch_reliable(void)
{
	int64_t until = __atomic_load_n(&unreliable_until_ms, __ATOMIC_RELAXED);

	return !until || now_ms() >= until;
}

uint64_t watch_name_generation(void)
{
	return __atomic_load_n(&name_generation, __ATOMIC_ACQUIRE);
}

/* Filesystems whose changes may come from elsewhere, where inotify never hears of them. */
static bool changes_unseen(const char *path)
{
	static const unsigned long remote[] = {
		0x6969,	    /* NFS */
		0x517b,	    /* SMB */
		0xff534d42, /* CIFS */
		0xfe534d42, /* SMB2 */
		0x65735546, /* FUSE */
		0x01021997, /* 9P */
		0x00c36400, /* Ceph */
		0x5346414f, /* AFS */
		0x73757245, /* Coda */
		0x7461636f, /* OCFS2 */
		0x01161970, /* GFS2 */
		0x0bd00bd0, /* Lustre */
	};
	struct statfs sfs;
	size_t i;

	if (statfs(path, &sfs) == -1)
		return true;
	for (i = 0; i < sizeof(remote) / sizeof(remote[0]); i++)
		if ((unsigned long)sfs.f_type == remote[i])
			return true;
	return false;
}

void watch_dir_add(struct mmapfs *fs, struct node *dir)
{
	struct dir_watch *fresh, **found;
	char proc[64];
	int wd;

	/* with nothing cached (timeouts 0) there is nothing to invalidate */
	if (inotify_fd < 0 || (fs->watched_attr_timeout <= 0 && fs->watched_entry_timeout <= 0))
		return;
	node_proc_path(dir, proc, sizeof(proc));
	if (changes_unseen(proc))
		return; /* short timeouts there */
	fresh = calloc(1, sizeof(*fresh));
	if (!fresh)
		return;
	pthread_mutex_lock(&watch_lock);
	/* leave the other half of the user's watches to open files and other programs */
	if (dir_watch_count >= dir_watch_cap) {
		free(fresh);
		goto out_unlock;
	}
	wd = inotify_add_watch(inotify_fd, proc, DIR_MASK);
	if (wd < 0) {
		/* out of watches (fs.inotify.max_user_watches): short timeouts here */
		free(fresh);
		goto out_unlock;
	}
	fresh->wd = wd;
	found = tsearch(fresh, &dir_watches, watch_compare);
	if (!found) {
		free(fresh);
		goto out_unlock;
	}
	if (*found != fresh)
		free(fresh);
	else
		dir_watch_count++;
	(*found)->dev = dir->dev;
	(*found)->ino = dir->ino;
	(*found)->nodes++;
	dir->dir_wd = wd;
	dir->dir_watched = true;
out_unlock:
	pthread_mutex_unlock(&watch_lock);
}

void watch_dir_remove(struct node *dir)
{
	struct dir_watch key = { .wd = dir->dir_wd }, *w = NULL, **found;

	pthread_mutex_lock(&watch_lock);
	found = tfind(&key, &dir_watches, watch_compare);
	if (found && --(*found)->nodes == 0) {
		w = *found;
		tdelete(w, &dir_watches, watch_compare);
		(void)inotify_rm_watch(inotify_fd, w->wd);
		dir_watch_count--;
	}
	dir->dir_watched = false;
	pthread_mutex_unlock(&watch_lock);
	free(w);
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

static struct mmapfs *judge_fs;

/* Remember a change in a watched directory (watch_lock held). Return: 1 if new. */
static unsigned add_dir_event(const struct inotify_event *event)
{
	const char *name = event->len ? event->name : "";
	struct dir_event *fresh = malloc(sizeof(*fresh) + strlen(name) + 1), **found;

	if (!fresh)
		return 0;
	fresh->wd = event->wd;
	fresh->mask = event->mask;
	strcpy(fresh->name, name);
	found = tsearch(fresh, &dir_events, dir_event_compare);
	if (found && *found != fresh)
		(*found)->mask |= event->mask;
	if (!found || *found != fresh) {
		free(fresh);
		return 0;
	}
	return 1;
}

/* The kernel dropped events: trust no long timeout until the ones given ran out. */
/*
 * The kernel dropped events (watch_lock held): hand out no long timeout until the
 * longest one given has run out, and have everything the kernel holds invalidated.
 */
static void events_lost(void)
{
	double longest = judge_fs->watched_attr_timeout > judge_fs->watched_entry_timeout ?
				 judge_fs->watched_attr_timeout :
				 judge_fs->watched_entry_timeout;

	if (longest > 86400.0 * 365)
		longest = 86400.0 * 365;
	__atomic_store_n(&unreliable_until_ms, now_ms() + (int64_t)(longest * 1000) + 1,
			 __ATOMIC_RELAXED);
	lost_pending = true;
	fuse_log(FUSE_LOG_WARNING,
		 "mmapfs: inotify queue overflowed: everything cached is invalidated, and "
		 "names and attributes are cached %g s at most for the next %g s\n",
		 judge_fs->attr_timeout < judge_fs->entry_timeout ? judge_fs->attr_timeout :
								    judge_fs->entry_timeout,
		 longest);
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
		if (event->mask & IN_Q_OVERFLOW) {
			events_lost();
			marked++;
			continue;
		}
		key.wd = event->wd;
		found = tfind(&key, &watches, watch_compare);
		if (found && !(*found)->pending) {
			(*found)->pending = true;
			marked++;
		}
		if (!(event->mask & IN_IGNORED) && tfind(&key, &dir_watches, watch_compare))
			marked += add_dir_event(event);
	}
	pthread_mutex_unlock(&watch_lock);
	return marked;
}

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

/* The child @name of @dir changed: drop its cached attributes, if the kernel has any. */
static void judge_child(struct node *dir, const char *name)
{
	struct node *child;
	struct stat st;

	if (fstatat(node_fd(dir), name, &st, AT_SYMLINK_NOFOLLOW) == -1)
		return; /* gone: the entry's invalidation is enough */
	child = node_find(judge_fs, st.st_dev, st.st_ino);
	if (!child)
		return;
	if (!S_ISDIR(st.st_mode) && st.st_nlink > 1)
		child->covered = false; /* a new link could change it unseen */
	/* an invalidation racing with a GETATTR makes the kernel drop that answer */
	if (node_attr_timeout(judge_fs, child) > 0)
		notify_inval_attr(judge_fs, child);
	node_unref(judge_fs, child, 1);
}

static void judge_dir_visit(const void *nodep, VISIT which, int depth)
{
	const struct dir_event *ev = *(struct dir_event *const *)nodep;
	struct dir_watch key = { .wd = ev->wd }, **found;
	struct node *dir = NULL;

	(void)depth;
	if (which != postorder && which != leaf)
		return;
	pthread_mutex_lock(&watch_lock);
	found = tfind(&key, &dir_watches, watch_compare);
	if (found)
		dir = node_find(judge_fs, (*found)->dev, (*found)->ino);
	pthread_mutex_unlock(&watch_lock);
	if (!dir)
		return; /* the kernel forgot the directory: nothing of it is cached */
	if (ev->name[0] && (ev->mask & NAME_EVENTS)) {
		/* a lookup running now must not hand out a long timeout: see node.c */
		__atomic_fetch_add(&name_generation, 1, __ATOMIC_RELEASE);
		if (judge_fs->watched_entry_timeout > 0)
			notify_inval_entry(judge_fs, dir, ev->name);
		/* the cached listing and attributes: mtime alone may not move (coarse clocks) */
		notify_inval(judge_fs, dir);
	} else if (!ev->name[0] && node_attr_timeout(judge_fs, dir) > 0) {
		notify_inval_attr(judge_fs, dir);
	}
	if (ev->name[0])
		judge_child(dir, ev->name);
	node_unref(judge_fs, dir, 1);
}

static void free_record(void *ptr)
{
	free(ptr);
}

static void judge_all(void)
{
	void *events;

	bool lost;

	pthread_mutex_lock(&watch_lock);
	twalk(watches, judge_visit);
	events = dir_events;
	dir_events = NULL;
	lost = lost_pending;
	lost_pending = false;
	pthread_mutex_unlock(&watch_lock);
	twalk(events, judge_dir_visit);
	tdestroy(events, free_record);
	if (lost)
		node_invalidate_all(judge_fs);
}

static void *watch_main(void *arg)
{
	struct pollfd fds[2] = { { .fd = -1, .events = POLLIN }, { .fd = -1, .events = POLLIN } };
	char buf[16384] __attribute__((aligned(__alignof__(struct inotify_event))));
	unsigned marked = 0;
	int64_t batch_start = 0;
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
			unsigned fresh = 0;

			len = read(inotify_fd, buf, sizeof(buf));
			if (len > 0)
				fresh = mark_events(buf, len);
			if (fresh && !marked)
				batch_start = now_ms();
			marked += fresh;
			/* a steady stream of events must not postpone judgement for ever */
			if (!marked || now_ms() - batch_start < MAX_BATCH_MS)
				continue;
		}
		if (marked) {
			judge_all();
			marked = 0;
		}
	}
	return NULL;
}

/* Directories may take half of fs.inotify.max_user_watches. */
static void set_dir_watch_cap(void)
{
	FILE *f = fopen("/proc/sys/fs/inotify/max_user_watches", "re");
	unsigned long limit;

	if (f && fscanf(f, "%lu", &limit) == 1 && limit >= 2)
		dir_watch_cap = limit / 2 > UINT_MAX ? UINT_MAX : (unsigned)(limit / 2);
	if (f)
		fclose(f);
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
	judge_fs = fs;
	set_dir_watch_cap();
	watch_dir_add(fs, &fs->root);
	fs->root.covered = fs->root.dir_watched;
	err = -pthread_create(&watch_thread, NULL, watch_main, fs);
	if (err)
		goto out_close;
	running = true;
	return 0;
out_close:
	if (fs->root.dir_watched)
		watch_dir_remove(&fs->root);
	fs->root.covered = false;
	if (inotify_fd >= 0)
		close(inotify_fd);
	if (stop_fd >= 0)
		close(stop_fd);
	inotify_fd = stop_fd = -1;
	return err;
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
	tdestroy(watches, free_record);
	tdestroy(dir_watches, free_record);
	tdestroy(dir_events, free_record);
	watches = dir_watches = dir_events = NULL;
	close(inotify_fd);
	close(stop_fd);
	inotify_fd = stop_fd = -1;
}
