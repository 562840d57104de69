/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* authz.h: may the caller of a message do this?  Asks polkit about the
 * caller's system bus name (never a pid), interactively only when the
 * message allows it.  Root (euid 0, from the bus's own credentials)
 * skips polkit.  Any error, any doubt: denied. */
#pragma once

#include <gio/gio.h>
#include <glib.h>
#include <systemd/sd-bus.h>

typedef struct Authz Authz;

/* @allowed TRUE, or FALSE with @error set to AccessDenied,
 * InteractiveAuthorizationRequired, or AccessDenied for a polkit failure,
 * a check polkit did not answer in time, or a cancelled check. */
typedef void (*AuthzCallback) (gboolean allowed, const sd_bus_error *error, gpointer user_data);

/* Checks polkit has not answered after @timeout_ms (@interactive_timeout_ms
 * when an authentication dialog may be shown) are cancelled and denied. */
Authz *authz_new (guint timeout_ms, guint interactive_timeout_ms);
void authz_free (Authz *authz);

/* Checks @action for the sender of @message, with polkit @details
 * (NULL-terminated key, value pairs) and @what ("detach 0000:03:00.0",
 * for error messages).  @callback always runs later, on the main loop,
 * exactly once; cancelling @cancellable (nullable) withdraws the question
 * from polkit and denies. */
void authz_check_async (Authz *authz, sd_bus_message *message, const char *action,
                        const char *const *details, const char *what, GCancellable *cancellable,
                        AuthzCallback callback, gpointer user_data);
