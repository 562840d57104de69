/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* monitor.h: tells the model what changes on the machine, as it happens,
 * without polling:
 *  - device events (add, remove, bind, unbind, change, move) of PCI
 *    devices, block devices, interfaces and virtio transports, through
 *    libudev: from udevd when it runs (VFIOD_UDEV_CONTROL exists: its
 *    events come once its rules ran), else straight from the kernel;
 *  - the mount table and swaps (/proc/self/mountinfo and /proc/swaps
 *    signal POLLPRI when they change);
 *  - interfaces' links and addresses (rtnetlink).
 * Main thread; attached to the default main context. */
#pragma once

#include "model.h"

typedef struct Monitor Monitor;

/* Never NULL: a source that cannot be watched is logged and left out
 * (device events: what is kept of devices is then never kept, every read
 * reads everything). */
Monitor *monitor_new (Model *model);
void monitor_free (Monitor *monitor);

/* Whether news is waiting in what the monitor watches that the main loop
 * has not handed on yet: a device event, a link's change queued, the
 * mount table or swaps changed.  Polls without blocking; the tables'
 * change counts as seen once polled (the caller reads again: the model's
 * news probe, model_set_news_probe()). */
gboolean monitor_news_waiting (Monitor *monitor);

/* Whether a failure (@errsv) to receive a device event means events
 * were lost, so the model must forget everything it keeps: ENOBUFS (the
 * socket overflowed) does, as does any other failure but "nothing more
 * to read" (EAGAIN).  Exposed for tests. */
gboolean monitor_events_lost (int errsv);
