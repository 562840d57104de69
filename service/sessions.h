/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* sessions.h: the logind session a process belongs to, asked of
 * org.freedesktop.login1 over the system bus.  GDBus, whose synchronous
 * calls are safe from any thread: called from readers only, never on the
 * main loop (it waits up to VFIOD_LOGIN1_TIMEOUT_MS per question). */
#pragma once

#include <glib.h>
#include <sys/types.h>

typedef struct Sessions Sessions;

/* One reading's questions: answers are kept per pid, and once logind
 * failed to answer in time it is not asked again. */
Sessions *sessions_new (void);
void sessions_free (Sessions *s);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (Sessions, sessions_free)

/* "session 2 of alice on seat0" for process @pid, or NULL (no logind, not
 * in a session, no answer).  Owned by @s. */
const char *sessions_of_pid (Sessions *s, const char *pid);
