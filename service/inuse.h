/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* inuse.h: does the host need a device?  The facts (mounts, swaps, network
 * interfaces) are parsed from text by pure functions and turned into
 * reasons naming the thing ("mounted: / (sda2)").  Pure: probe.c gathers
 * the facts. */
#pragma once

#include <glib.h>
#include <stdbool.h>
#include <sys/types.h>

typedef struct {
  dev_t devnum;     /* major:minor from mountinfo (0:N for btrfs & co) */
  char *mountpoint; /* unescaped */
  char *source;     /* unescaped, e.g. "/dev/sda2", or a 9p tag */
  char *fstype;
} InUseMount;

typedef struct {
  char *filename; /* as /proc/swaps names it, unescaped */
  dev_t devnum;   /* 0 unless the file is a block device node */
} InUseSwap;

typedef struct {
  char *name;
  bool up;
  char *address; /* the address to name: IPv4 first, else a non
                       * link-local IPv6; NULL when it has none */
} InUseInterface;

/* Where the facts come from.  Each is read whole or marked unreadable:
 * a reason that needs an unreadable source becomes a doubt, and a doubt
 * counts as in use (refuse on doubt). */
typedef enum {
  INUSE_SOURCE_MOUNTS,     /* /proc/self/mountinfo */
  INUSE_SOURCE_SWAPS,      /* /proc/swaps */
  INUSE_SOURCE_INTERFACES, /* getifaddrs() */
  INUSE_N_SOURCES
} InUseSource;

typedef struct {
  GPtrArray *mounts;      /* InUseMount* */
  GPtrArray *swaps;       /* InUseSwap* */
  GHashTable *interfaces; /* name → InUseInterface* */
  /* NULL: read whole; else what went wrong, e.g. "/proc/swaps could not
   * be read (Is a directory)" */
  char *unreadable[INUSE_N_SOURCES];
} InUseFacts;

InUseFacts *inuse_facts_new (void);
void inuse_facts_free (InUseFacts *facts);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (InUseFacts, inuse_facts_free)

/* Parse /proc/self/mountinfo text into @facts.  A line that cannot be
 * parsed is skipped and makes the source unreadable: it may have been the
 * mount that matters. */
void inuse_parse_mountinfo (InUseFacts *facts, const char *text);
/* Parse /proc/swaps text; devnum is left 0 (see probe_facts_load).  Lines
 * that cannot be parsed: as for mountinfo. */
void inuse_parse_swaps (InUseFacts *facts, const char *text);
void inuse_add_interface (InUseFacts *facts, const char *name, bool up, const char *address);

/* Marks @source unreadable: @what (a path, or what was asked) failed with
 * @errsv (an errno; 0: its contents were not understood).  The first
 * problem of a source is kept. */
void inuse_facts_set_unreadable (InUseFacts *facts, InUseSource source, const char *what,
                                 int errsv);

/* "cannot tell whether it is in use: " + @what: a doubt, as
 * device_add_in_use_doubt() takes it.  Newly allocated. */
char *inuse_doubt (const char *what);
/* "@path could not be read (strerror(@errsv))".  Newly allocated. */
char *inuse_unreadable (const char *path, int errsv);
/* What @source is called in those messages ("/proc/swaps"). */
const char *inuse_source_name (InUseSource source);

/* The doubt a block device / network interface / virtio transport with a
 * mount tag gets when a source its reason needs is unreadable (a block
 * device needs the mounts and the swaps, an interface the interfaces, a
 * tag the mounts): NULL when all were read.  Newly allocated. */
char *inuse_block_doubt (const InUseFacts *facts);
char *inuse_net_doubt (const InUseFacts *facts);
char *inuse_tag_doubt (const InUseFacts *facts);

/* Why the host needs block device @name (major:minor @devnum, with
 * @holders the names in its holders/ directory, may be NULL): NULL if it
 * does not.  Newly allocated. */
char *inuse_block_reason (const InUseFacts *facts, const char *name, dev_t devnum,
                          const char *const *holders);
/* Why the host needs the virtio transport whose mount tag is @tag (9p
 * or virtiofs, mounted by tag): NULL if nothing is mounted from it. */
char *inuse_tag_reason (const InUseFacts *facts, const char *tag);
/* Why the host needs network interface @name, a port of @master (or NULL). */
char *inuse_net_reason (const InUseFacts *facts, const char *name, const char *master);
