/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "authz.h"

#include <polkit/polkit.h>

#include "util.h"

struct Authz {
  PolkitAuthority *authority; /* NULL until the first check needs it */
  guint timeout_ms;
  guint interactive_timeout_ms;
};

typedef struct {
  Authz *authz;
  sd_bus_message *message;
  char *action;
  char *what;
  PolkitSubject *subject;
  PolkitDetails *details;
  PolkitCheckAuthorizationFlags flags;
  GCancellable *cancel; /* ours: the caller's cancellable and the timeout trip it */
  GCancellable *caller_cancel;
  gulong caller_handler;
  guint timeout; /* source id while polkit is being asked */
  gboolean timed_out;
  AuthzCallback callback;
  gpointer user_data;
} Check;

static void
check_free (Check *c)
{
  if (c->timeout)
    g_source_remove (c->timeout);
  if (c->caller_cancel)
    {
      g_cancellable_disconnect (c->caller_cancel, c->caller_handler);
      g_object_unref (c->caller_cancel);
    }
  g_clear_object (&c->cancel);
  sd_bus_message_unref (c->message);
  g_free (c->action);
  g_free (c->what);
  g_clear_object (&c->subject);
  g_clear_object (&c->details);
  g_free (c);
}

static void check_finish (Check *c, gboolean allowed, const char *error_name, const char *fmt, ...)
    G_GNUC_PRINTF (4, 5);

static void
check_finish (Check *c, gboolean allowed, const char *error_name, const char *fmt, ...)
{
  sd_bus_error error = SD_BUS_ERROR_NULL;

  if (!allowed)
    {
      va_list ap;
      va_start (ap, fmt);
      sd_bus_error_setfv (&error, error_name, fmt, ap);
      va_end (ap);
    }
  c->callback (allowed, &error, c->user_data);
  sd_bus_error_free (&error);
  check_free (c);
}

Authz *
authz_new (guint timeout_ms, guint interactive_timeout_ms)
{
  Authz *authz = g_new0 (Authz, 1);

  authz->timeout_ms = timeout_ms;
  authz->interactive_timeout_ms = interactive_timeout_ms;
  return authz;
}

void
authz_free (Authz *authz)
{
  if (authz == NULL)
    return;
  g_clear_object (&authz->authority);
  g_free (authz);
}

/* The check ran out of time (reaching polkit, or its answer). */
static void
check_timed_out (Check *c)
{
  guint ms = (c->flags & POLKIT_CHECK_AUTHORIZATION_FLAGS_ALLOW_USER_INTERACTION)
                 ? c->authz->interactive_timeout_ms
                 : c->authz->timeout_ms;

  g_warning ("polkit did not answer about %s within %u ms; denying", c->action, ms);
  check_finish (c, FALSE, SD_BUS_ERROR_ACCESS_DENIED,
                "Cannot %s: polkit did not answer within %u s, so nothing was done. "
                "Is polkitd running and responsive (systemctl status polkit)?",
                c->what, (ms + 999) / 1000);
}

static void
on_checked (GObject *source, GAsyncResult *res, gpointer user_data)
{
  Check *c = user_data;
  g_autoptr (GError) error = NULL;
  g_autoptr (PolkitAuthorizationResult) result =
      polkit_authority_check_authorization_finish (POLKIT_AUTHORITY (source), res, &error);

  if (result == NULL && c->timed_out)
    {
      check_timed_out (c);
      return;
    }
  if (result == NULL && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    {
      check_finish (c, FALSE, SD_BUS_ERROR_ACCESS_DENIED,
                    "Cannot %s: the authorization check was withdrawn", c->what);
      return;
    }
  if (result == NULL)
    {
      g_warning ("polkit could not check %s: %s; denying", c->action, error->message);
      check_finish (c, FALSE, SD_BUS_ERROR_ACCESS_DENIED,
                    "Cannot %s: the authorization check failed (%s). Is polkit running?", c->what,
                    error->message);
      return;
    }

  if (polkit_authorization_result_get_is_authorized (result))
    check_finish (c, TRUE, NULL, NULL);
  else if (polkit_authorization_result_get_is_challenge (result) &&
           !(c->flags & POLKIT_CHECK_AUTHORIZATION_FLAGS_ALLOW_USER_INTERACTION))
    check_finish (c, FALSE, SD_BUS_ERROR_INTERACTIVE_AUTHORIZATION_REQUIRED,
                  "Authentication is required to %s (polkit action %s): call with "
                  "interactive authorization allowed, with a polkit agent running "
                  "for the caller (a desktop session has one; pkttyagent on a terminal)",
                  c->what, c->action);
  else
    check_finish (c, FALSE, SD_BUS_ERROR_ACCESS_DENIED, "Not authorized to %s (polkit action %s)",
                  c->what, c->action);
}

static gboolean
on_timeout (gpointer user_data)
{
  Check *c = user_data;

  c->timeout = 0;
  c->timed_out = TRUE;
  g_cancellable_cancel (c->cancel);
  return G_SOURCE_REMOVE;
}

static void
check_run (Check *c)
{
  polkit_authority_check_authorization (c->authz->authority, c->subject, c->action, c->details,
                                        c->flags, c->cancel, on_checked, c);
}

static void
on_authority (GObject *source, GAsyncResult *res, gpointer user_data)
{
  Check *c = user_data;
  g_autoptr (GError) error = NULL;
  PolkitAuthority *authority = polkit_authority_get_finish (res, &error);

  if (authority == NULL && c->timed_out)
    {
      check_finish (c, FALSE, SD_BUS_ERROR_ACCESS_DENIED,
                    "Cannot %s: polkit could not be reached in time, so nothing was done. "
                    "Is polkitd running (systemctl status polkit)?",
                    c->what);
      return;
    }
  if (authority == NULL && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    {
      check_finish (c, FALSE, SD_BUS_ERROR_ACCESS_DENIED,
                    "Cannot %s: the authorization check was withdrawn", c->what);
      return;
    }
  if (authority == NULL)
    {
      g_warning ("Cannot reach polkit: %s; denying", error->message);
      check_finish (c, FALSE, SD_BUS_ERROR_ACCESS_DENIED,
                    "Cannot %s: polkit cannot be reached (%s)", c->what, error->message);
      return;
    }
  if (c->authz->authority == NULL)
    c->authz->authority = authority;
  else
    g_object_unref (authority);
  if (c->timed_out)
    {
      /* reaching polkit took all the time there was (a slow or loaded
       * machine): do not ask now, and say why */
      check_timed_out (c);
      return;
    }
  if (g_cancellable_is_cancelled (c->cancel))
    {
      /* withdrawn while polkit was being reached: do not ask */
      check_finish (c, FALSE, SD_BUS_ERROR_ACCESS_DENIED,
                    "Cannot %s: the authorization check was withdrawn", c->what);
      return;
    }
  check_run (c);
}

static gboolean
on_root (gpointer user_data)
{
  check_finish (user_data, TRUE, NULL, NULL);
  return G_SOURCE_REMOVE;
}

static gboolean
on_no_subject (gpointer user_data)
{
  Check *c = user_data;

  check_finish (c, FALSE, SD_BUS_ERROR_ACCESS_DENIED,
                "Cannot %s: the caller cannot be identified on the bus", c->what);
  return G_SOURCE_REMOVE;
}

static void
on_caller_cancelled (GCancellable *cancellable, gpointer user_data)
{
  /* may run in the thread that cancelled: only trip our own cancellable */
  g_cancellable_cancel (user_data);
}

void
authz_check_async (Authz *authz, sd_bus_message *message, const char *action,
                   const char *const *details, const char *what, GCancellable *cancellable,
                   AuthzCallback callback, gpointer user_data)
{
  _cleanup_ (sd_bus_creds_unrefp) sd_bus_creds *creds = NULL;
  Check *c = g_new0 (Check, 1);
  const char *sender = sd_bus_message_get_sender (message);
  uid_t uid;
  int r;

  c->authz = authz;
  c->message = sd_bus_message_ref (message);
  c->action = g_strdup (action);
  c->what = g_strdup (what);
  c->callback = callback;
  c->user_data = user_data;
  c->cancel = g_cancellable_new ();

  /* The bus daemon's word on who the caller is: never the caller's own. */
  r = sd_bus_query_sender_creds (message, SD_BUS_CREDS_EUID, &creds);
  if (r >= 0)
    r = sd_bus_creds_get_euid (creds, &uid);
  if (r >= 0 && uid == 0)
    {
      g_idle_add (on_root, c);
      return;
    }

  if (sender == NULL)
    {
      g_idle_add (on_no_subject, c);
      return;
    }

  c->subject = polkit_system_bus_name_new (sender);
  c->details = polkit_details_new ();
  for (const char *const *d = details; d && d[0] && d[1]; d += 2)
    polkit_details_insert (c->details, d[0], d[1]);
  if (sd_bus_message_get_allow_interactive_authorization (message))
    c->flags |= POLKIT_CHECK_AUTHORIZATION_FLAGS_ALLOW_USER_INTERACTION;

  /* polkit itself never gives up on a question: we do */
  c->timeout = g_timeout_add ((c->flags & POLKIT_CHECK_AUTHORIZATION_FLAGS_ALLOW_USER_INTERACTION)
                                  ? authz->interactive_timeout_ms
                                  : authz->timeout_ms,
                              on_timeout, c);
  if (cancellable)
    {
      c->caller_cancel = g_object_ref (cancellable);
      /* runs on_caller_cancelled at once if already cancelled */
      c->caller_handler = g_cancellable_connect (cancellable, G_CALLBACK (on_caller_cancelled),
                                                 g_object_ref (c->cancel), g_object_unref);
    }

  if (authz->authority)
    check_run (c);
  else
    polkit_authority_get_async (NULL, on_authority, c);
}
