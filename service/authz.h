/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* authz.h: may the caller of a message do this?  Asks polkit about the
 * caller's system bus name (never a pid), interactively only when the
 * message allows it.  Root (euid 0, from the bus's own credentials)
 * skips polkit.  Any error, any doubt: denied. */
#pragma once

#include <glib.h>
#include <systemd/sd-bus.h>

typedef struct Authz Authz;

/* @allowed TRUE, or FALSE with @error set to AccessDenied,
 * InteractiveAuthorizationRequired, or AccessDenied for a polkit failure. */
typedef void (*AuthzCallback) (gboolean allowed, const sd_bus_error *error, gpointer user_data);

Authz *authz_new (void);
void authz_free (Authz *authz);

/* Checks @action for the sender of @message, with polkit @details
 * (NULL-terminated key, value pairs) and @what ("detach 0000:03:00.0",
 * for error messages).  @callback always runs later, on the main loop. */
void authz_check_async (Authz *authz, sd_bus_message *message, const char *action,
                        const char *const *details, const char *what,
                        AuthzCallback callback, gpointer user_data);
