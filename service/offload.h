/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* offload.h: the one way work leaves the main loop.  A job runs on a
 * pool's thread, then its done function runs on the main thread (the
 * thread that created the pool, iterating the default main context),
 * which alone may touch sd-bus and the main-thread state.
 *
 * Threads: a job's data belongs to the pool's thread while @work runs and
 * to the main thread before and after; the idle source that carries the
 * job back orders the two. */
#pragma once

#include <glib.h>

typedef struct Offload Offload;
typedef void (*OffloadFunc) (gpointer data);

/* @max_threads: at most that many jobs at once (more wait in the queue),
 * or -1: a thread for every job (work that may block for good, such as a
 * sysfs write into a stuck driver, must not hold up the others). */
Offload *offload_new (const char *name, int max_threads);
/* Waits for every job pushed to have run (their done functions do not
 * run any more: free a pool only once offload_pending() is 0). */
void offload_free (Offload *offload);

/* Runs @work (data) on a thread of @offload, then @done (data) on the
 * main thread.  Main thread only. */
void offload_push (Offload *offload, OffloadFunc work, OffloadFunc done, gpointer data);

/* Jobs pushed whose done has not run yet.  Main thread only. */
guint offload_pending (Offload *offload);
