#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "render.h"

void render_summary(struct strbuf *sb, const struct render_summary_input *in)
{
	const struct engine_totals *t = &in->totals;

	strbuf_addf(sb, "access: %s\n", in->access);
	strbuf_addf(sb, "page_size: %" PRIu64 "\n", in->page_size);
	strbuf_addf(sb, "files_known: %" PRIu64 "\n", t->files_known);
	strbuf_addf(sb, "files_mapped: %" PRIu64 "\n", t->files_mapped);
	strbuf_addf(sb, "bytes_mapped: %" PRIu64 "\n", t->bytes_mapped);
	strbuf_addf(sb, "resident_bytes: %" PRIu64 "\n", in->resident_bytes_mapped);
	strbuf_addf(sb, "idle_mappings: %" PRIu64 "\n", t->idle_mappings);
	strbuf_addf(sb, "idle_evictions: %" PRIu64 "\n", t->idle_evictions);
	strbuf_addf(sb, "open_handles: %" PRIu64 "\n", t->open_handles);
	strbuf_addf(sb, "reads: %" PRIu64 "\n", t->reads);
	strbuf_addf(sb, "read_bytes: %" PRIu64 "\n", t->read_bytes);
	strbuf_addf(sb, "writes: %" PRIu64 "\n", t->writes);
	strbuf_addf(sb, "write_bytes: %" PRIu64 "\n", t->write_bytes);
	strbuf_addf(sb, "remaps: %" PRIu64 "\n", t->remaps);
	strbuf_addf(sb, "private_bytes: %" PRIu64 "\n", t->private_bytes);
	strbuf_addf(sb, "daemon_rss_bytes: %" PRIu64 "\n", in->daemon_rss_bytes);
	strbuf_addf(sb, "daemon_minor_faults: %" PRIu64 "\n", in->daemon_minor_faults);
	strbuf_addf(sb, "daemon_major_faults: %" PRIu64 "\n", in->daemon_major_faults);
	strbuf_addf(sb, "uptime_seconds: %" PRIu64 "\n", in->uptime_seconds);
}

void render_residency(struct strbuf *sb, const struct residency_info *info, int mapped)
{
	uint64_t resident_bytes = info->resident_pages * info->page_size;
	unsigned percent_x10 = 0;

	if (resident_bytes > info->size_bytes)
		resident_bytes = info->size_bytes;
	if (info->pages)
		percent_x10 = (unsigned)(info->resident_pages * 1000 / info->pages);
	strbuf_addf(sb, "size: %" PRIu64 "\n", info->size_bytes);
	strbuf_addf(sb, "page_size: %" PRIu64 "\n", info->page_size);
	strbuf_addf(sb, "pages: %" PRIu64 "\n", info->pages);
	strbuf_addf(sb, "resident_pages: %" PRIu64 "\n", info->resident_pages);
	strbuf_addf(sb, "resident_bytes: %" PRIu64 "\n", resident_bytes);
	strbuf_addf(sb, "resident_percent: %u.%u\n", percent_x10 / 10, percent_x10 % 10);
	if (info->have_cachestat) {
		strbuf_addf(sb, "dirty_pages: %" PRIu64 "\n", info->dirty_pages);
		strbuf_addf(sb, "writeback_pages: %" PRIu64 "\n", info->writeback_pages);
		strbuf_addf(sb, "evicted_pages: %" PRIu64 "\n", info->evicted_pages);
		strbuf_addf(sb, "recently_evicted_pages: %" PRIu64 "\n",
			    info->recently_evicted_pages);
	}
	if (info->have_private)
		strbuf_addf(sb, "private_pages: %" PRIu64 "\n", info->private_pages);
	strbuf_addf(sb, "mapped: %d\n", mapped ? 1 : 0);
	strbuf_addf(sb, "accurate: %d\n", info->accurate ? 1 : 0);
	strbuf_addf(sb, "method: %s\n", info->method ? info->method : "none");
}

void render_stats(struct strbuf *sb, const struct mapping_stats *stats)
{
	strbuf_addf(sb, "opens: %" PRIu64 "\n", stats->opens);
	strbuf_addf(sb, "open_handles: %" PRIu64 "\n", stats->open_handles);
	strbuf_addf(sb, "reads: %" PRIu64 "\n", stats->reads);
	strbuf_addf(sb, "read_bytes: %" PRIu64 "\n", stats->read_bytes);
	strbuf_addf(sb, "writes: %" PRIu64 "\n", stats->writes);
	strbuf_addf(sb, "write_bytes: %" PRIu64 "\n", stats->write_bytes);
	strbuf_addf(sb, "remaps: %" PRIu64 "\n", stats->remaps);
	strbuf_addf(sb, "mapped: %d\n", stats->mapped ? 1 : 0);
	strbuf_addf(sb, "map_len: %" PRIu64 "\n", stats->map_len_bytes);
	strbuf_addf(sb, "fd_path: %d\n", stats->fd_path ? 1 : 0);
	strbuf_addf(sb, "private_pages: %" PRIu64 "\n", stats->private_pages);
	strbuf_addstr(sb, "policy: ");
	policy_format(&stats->policy, sb);
	strbuf_addstr(sb, "\n");
	if (stats->policy_error.err)
		strbuf_addf(sb, "madvise_error: %s: %s\n", stats->policy_error.advice,
			    strerror(-stats->policy_error.err));
	else
		strbuf_addstr(sb, "madvise_error: none\n");
	strbuf_addf(sb, "last_access: %lld.%09ld\n", (long long)stats->last_access.tv_sec,
		    stats->last_access.tv_nsec);
}

int render_extent(void *ctx, uint64_t start, uint64_t end)
{
	struct strbuf *sb = ctx;

	strbuf_addf(sb, "%" PRIu64 "-%" PRIu64 "\n", start, end);
	return sb->error;
}

int render_process_stats(uint64_t *rss_bytes, uint64_t *minor_faults, uint64_t *major_faults)
{
	unsigned long long minflt = 0, majflt = 0, resident = 0;
	char buf[1024], *after_comm;
	FILE *file;
	size_t got;

	*rss_bytes = *minor_faults = *major_faults = 0;
	file = fopen("/proc/self/stat", "re");
	if (!file)
		return -errno;
	got = fread(buf, 1, sizeof(buf) - 1, file);
	fclose(file);
	buf[got] = '\0';
	/* comm may hold spaces and parentheses: fields start after the last ')' */
	after_comm = strrchr(buf, ')');
	if (!after_comm || sscanf(after_comm + 2, "%*c %*d %*d %*d %*d %*d %*u %llu %*u %llu",
				  &minflt, &majflt) != 2)
		return -EINVAL;
	file = fopen("/proc/self/statm", "re");
	if (!file)
		return -errno;
	if (fscanf(file, "%*u %llu", &resident) != 1)
		resident = 0;
	fclose(file);
	*rss_bytes = resident * (uint64_t)sysconf(_SC_PAGESIZE);
	*minor_faults = minflt;
	*major_faults = majflt;
	return 0;
}
