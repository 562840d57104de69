/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* probe.h: does the host use a device?  The one place that gathers the
 * facts for inuse.c's pure rules: /proc/self/mountinfo, /proc/swaps and
 * the network interfaces, and which block devices, interfaces and virtio
 * transports live below which PCI device (the class and bus directories
 * of /sys, kept in the SysfsCache while it is enabled). */
#pragma once

#include <glib.h>

#include "inuse.h"
#include "sysfs.h"

/* Reads the facts: each source whole, or marked unreadable (logged). */
InUseFacts *probe_facts_load (void);

typedef enum {
  PROBE_OPENERS = 1 << 0, /* also: which processes hold its device nodes
                           * open (a walk of every process's open files:
                           * for the devices a plan or a group's read
                           * touches, never a whole machine's list) */
} ProbeFlags;

/* Sets device->in_use (and has_nodes) for each of @devices: block devices
 * below it (mounted, swap, held by dm/md), network interfaces below it
 * (up with an address, or a port of a bridge/bond), the boot display, a
 * keyboard or mouse below it, the framebuffer console on it, and with
 * PROBE_OPENERS the processes holding any of its device nodes open.
 * Reads the facts only when a block device or interface belongs to one
 * of @devices. */
void probe_mark_in_use (SysfsCache *cache, GPtrArray *devices, ProbeFlags flags);
