/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* monitor.h: listens to the kernel's device announcements (hotplug of PCI
 * devices, block devices, interfaces, virtio transports) and drops what
 * sysfs.c keeps of them.  Straight from the kernel, not from udevd: it
 * works wherever the kernel runs, udevd or not. */
#pragma once

typedef struct Monitor Monitor;

/* Attached to the default main context.  NULL (logged) when the kernel's
 * uevent socket cannot be opened: the caches are then not kept at all. */
Monitor *monitor_new (void);
void monitor_free (Monitor *monitor);

/* What the monitor does when receiving an event failed with @errsv:
 * ENOBUFS (the socket overflowed: events were lost) drops every cache,
 * as does any other failure but "nothing more to read" (EAGAIN).
 * Exposed for tests. */
void monitor_receive_failed (int errsv);
