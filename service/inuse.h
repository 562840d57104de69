/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* inuse.h: does the host need a device?  The facts (mounts, swaps, network
 * interfaces) are parsed from text by pure functions and turned into
 * reasons naming the thing ("mounted: / (sda2)").  inuse_facts_load() is
 * the only function here that does I/O (procfs and getifaddrs). */
#pragma once

#include <glib.h>
#include <stdbool.h>
#include <sys/types.h>

typedef struct {
  dev_t devnum;       /* major:minor from mountinfo (0:N for btrfs & co) */
  char *mountpoint;   /* unescaped */
  char *source;       /* unescaped, e.g. "/dev/sda2", or a 9p tag */
  char *fstype;
} InUseMount;

typedef struct {
  char *filename;     /* as /proc/swaps names it, unescaped */
  dev_t devnum;       /* 0 unless the file is a block device node */
} InUseSwap;

typedef struct {
  char *name;
  bool up;
  char *address;      /* the address to name: IPv4 first, else a non
                       * link-local IPv6; NULL when it has none */
} InUseInterface;

typedef struct {
  GPtrArray *mounts;      /* InUseMount* */
  GPtrArray *swaps;       /* InUseSwap* */
  GHashTable *interfaces; /* name → InUseInterface* */
} InUseFacts;

InUseFacts *inuse_facts_new (void);
void inuse_facts_free (InUseFacts *facts);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (InUseFacts, inuse_facts_free)

/* Parse /proc/self/mountinfo text into @facts; malformed lines are skipped. */
void inuse_parse_mountinfo (InUseFacts *facts, const char *text);
/* Parse /proc/swaps text; devnum is left 0 (see inuse_facts_load). */
void inuse_parse_swaps (InUseFacts *facts, const char *text);
void inuse_add_interface (InUseFacts *facts, const char *name, bool up, const char *address);

/* Reads mountinfo, swaps (stat()ing block device swaps for their number)
 * and the interfaces' state and addresses.  Unreadable sources are logged
 * and left empty: a device then looks free, so callers that move devices
 * must not rely on this alone (they also refuse on doubt, see group.c). */
InUseFacts *inuse_facts_load (void);

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
