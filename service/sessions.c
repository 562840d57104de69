/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "sessions.h"

#include <gio/gio.h>

#include "inuse.h"
#include "names.h"

struct Sessions {
  GDBusConnection *bus; /* NULL: none, or logind stopped answering */
  gboolean tried;
  GHashTable *by_pid; /* pid -> text, "" for none */
};

Sessions *
sessions_new (void)
{
  Sessions *s = g_new0 (Sessions, 1);

  s->by_pid = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  return s;
}

void
sessions_free (Sessions *s)
{
  if (s == NULL)
    return;
  g_clear_object (&s->bus);
  g_hash_table_unref (s->by_pid);
  g_free (s);
}

/* The text for @pid, or NULL; clears s->bus when logind did not answer. */
static char *
ask (Sessions *s, guint32 pid)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) reply = NULL, props = NULL, seat = NULL;
  const char *path = NULL, *id = NULL, *name = NULL, *seat_id = NULL;

  reply = g_dbus_connection_call_sync (
      s->bus, VFIOD_LOGIN1_NAME, VFIOD_LOGIN1_PATH, VFIOD_LOGIN1_MANAGER_INTERFACE,
      VFIOD_LOGIN1_GET_SESSION_BY_PID, g_variant_new ("(u)", pid), G_VARIANT_TYPE ("(o)"),
      G_DBUS_CALL_FLAGS_NO_AUTO_START, VFIOD_LOGIN1_TIMEOUT_MS, NULL, &error);
  if (reply == NULL)
    {
      /* not in a session is the common answer; anything else (no logind,
       * no answer in time) is not worth asking again in this reading */
      g_autofree char *remote = g_dbus_error_get_remote_error (error);

      if (remote == NULL || !g_str_has_suffix (remote, "NoSessionForPID"))
        {
          g_debug ("logind did not say which session pid %u is in: %s", pid, error->message);
          g_clear_object (&s->bus);
        }
      return NULL;
    }
  g_variant_get (reply, "(&o)", &path);
  g_clear_error (&error);
  props = g_dbus_connection_call_sync (
      s->bus, VFIOD_LOGIN1_NAME, path, "org.freedesktop.DBus.Properties", "GetAll",
      g_variant_new ("(s)", VFIOD_LOGIN1_SESSION_INTERFACE), G_VARIANT_TYPE ("(a{sv})"),
      G_DBUS_CALL_FLAGS_NO_AUTO_START, VFIOD_LOGIN1_TIMEOUT_MS, NULL, &error);
  if (props == NULL)
    {
      g_debug ("logind did not describe session %s: %s", path, error->message);
      return NULL;
    }
  {
    g_autoptr (GVariant) dict = g_variant_get_child_value (props, 0);

    g_variant_lookup (dict, "Id", "&s", &id);
    g_variant_lookup (dict, "Name", "&s", &name);
    seat = g_variant_lookup_value (dict, "Seat", G_VARIANT_TYPE ("(so)"));
    if (seat)
      g_variant_get (seat, "(&s&o)", &seat_id, NULL);
    return inuse_session_text (id, name, seat_id);
  }
}

const char *
sessions_of_pid (Sessions *s, const char *pid)
{
  guint64 n;
  char *text;

  if (g_hash_table_contains (s->by_pid, pid))
    {
      const char *t = g_hash_table_lookup (s->by_pid, pid);
      return *t ? t : NULL;
    }
  if (!s->tried)
    {
      s->tried = TRUE;
      s->bus = g_bus_get_sync (G_BUS_TYPE_SYSTEM, NULL, NULL);
    }
  text = NULL;
  if (s->bus && g_ascii_string_to_unsigned (pid, 10, 1, G_MAXUINT32, &n, NULL))
    text = ask (s, (guint32) n);
  g_hash_table_insert (s->by_pid, g_strdup (pid), text ? text : g_strdup (""));
  return text;
}
