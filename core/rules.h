/* Per-file policy rules: GLOB=POLICY, first match wins, a default last. */
#ifndef MMAPFS_RULES_H
#define MMAPFS_RULES_H

#include <stdbool.h>
#include <stddef.h>

#include "policy.h"
#include "strbuf.h"

struct rules;

/** rules_new() - empty rule list with default @def. Return: NULL on ENOMEM. */
struct rules *rules_new(const struct policy *def);
void rules_free(struct rules *r);

/** rules_set_default() - replace the default; @source names where it came from. */
int rules_set_default(struct rules *r, const struct policy *def, const char *source);

/**
 * rules_add_option() - append rules from "GLOB=POLICY[:GLOB=POLICY...]".
 * On error nothing is added and @errmsg gets one line (no newline) naming the bad
 * token, the source ("-o advise") and the valid words.
 * Return: 0, -EINVAL or -ENOMEM.
 */
int rules_add_option(struct rules *r, const char *spec, char *errmsg, size_t errlen);

/**
 * rules_add_file() - append rules from @path: one "GLOB POLICY" a line, blank lines
 * and '#' comments ignored. Errors name "@path:LINE". Nothing is added on error.
 * Return: 0, -EINVAL, -ENOMEM, or the -errno of opening/reading @path.
 */
int rules_add_file(struct rules *r, const char *path, char *errmsg, size_t errlen);

/**
 * rules_match() - the policy for @relpath (relative to the mount root, no leading
 * '/'). A glob without '/' matches the last path component; with '/' it matches
 * the whole relative path, '*' and '?' never crossing '/', '**' crossing it.
 */
struct policy rules_match(const struct rules *r, const char *relpath);

/** glob_match() - the matcher rules_match() uses, exposed for tests. */
bool rules_glob_match(const char *glob, const char *path);

/** rules_render() - the rules in match order, the default last, with sources. */
void rules_render(const struct rules *r, struct strbuf *sb);

#endif
