/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "inuse.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/sysmacros.h>

#include "util.h"
#include "names.h"

static void
mount_free (InUseMount *m)
{
  g_free (m->mountpoint);
  g_free (m->source);
  g_free (m->fstype);
  g_free (m);
}

static void
swap_free (InUseSwap *s)
{
  g_free (s->filename);
  g_free (s);
}

static void
interface_free (InUseInterface *i)
{
  g_free (i->name);
  g_free (i->address);
  g_free (i);
}

InUseFacts *
inuse_facts_new (void)
{
  InUseFacts *facts = g_new0 (InUseFacts, 1);

  facts->mounts = g_ptr_array_new_with_free_func ((GDestroyNotify) mount_free);
  facts->swaps = g_ptr_array_new_with_free_func ((GDestroyNotify) swap_free);
  facts->interfaces =
      g_hash_table_new_full (g_str_hash, g_str_equal, NULL, (GDestroyNotify) interface_free);
  return facts;
}

void
inuse_facts_free (InUseFacts *facts)
{
  if (facts == NULL)
    return;
  g_ptr_array_unref (facts->mounts);
  g_ptr_array_unref (facts->swaps);
  g_hash_table_unref (facts->interfaces);
  for (int i = 0; i < INUSE_N_SOURCES; i++)
    g_free (facts->unreadable[i]);
  g_free (facts);
}

static const char *const source_names[INUSE_N_SOURCES] = {
  [INUSE_SOURCE_MOUNTS] = VFIOD_PROC_MOUNTINFO,
  [INUSE_SOURCE_SWAPS] = VFIOD_PROC_SWAPS,
  [INUSE_SOURCE_INTERFACES] = "the network interfaces",
};

const char *
inuse_source_name (InUseSource source)
{
  return source_names[source];
}

char *
inuse_unreadable (const char *path, int errsv)
{
  return g_strdup_printf ("%s could not be read (%s)", path, g_strerror (errsv));
}

char *
inuse_doubt (const char *what)
{
  return g_strdup_printf ("cannot tell whether it is in use: %s", what);
}

void
inuse_facts_set_unreadable (InUseFacts *facts, InUseSource source, const char *what, int errsv)
{
  g_return_if_fail (source < INUSE_N_SOURCES);
  if (facts->unreadable[source])
    return;
  if (errsv != 0)
    facts->unreadable[source] = inuse_unreadable (what, errsv);
  else
    facts->unreadable[source] = g_strdup_printf ("%s has lines vfiod does not understand", what);
}

/* The doubt naming every unreadable source of @sources (a mask). */
static char *
doubt_of (const InUseFacts *facts, unsigned sources)
{
  g_autoptr (GString) what = g_string_new (NULL);

  for (int i = 0; i < INUSE_N_SOURCES; i++)
    if ((sources & (1u << i)) && facts->unreadable[i])
      g_string_append_printf (what, "%s%s", what->len ? ", " : "", facts->unreadable[i]);
  return what->len ? inuse_doubt (what->str) : NULL;
}

char *
inuse_block_doubt (const InUseFacts *facts)
{
  return doubt_of (facts, 1u << INUSE_SOURCE_MOUNTS | 1u << INUSE_SOURCE_SWAPS);
}

char *
inuse_net_doubt (const InUseFacts *facts)
{
  return doubt_of (facts, 1u << INUSE_SOURCE_INTERFACES);
}

char *
inuse_tag_doubt (const InUseFacts *facts)
{
  return doubt_of (facts, 1u << INUSE_SOURCE_MOUNTS);
}

/* The kernel escapes space, tab, newline and backslash as \ooo. */
static char *
unescape_octal (const char *s)
{
  GString *out = g_string_sized_new (strlen (s));

  for (const char *p = s; *p; p++)
    {
      if (p[0] == '\\' && p[1] >= '0' && p[1] <= '3' && p[2] >= '0' && p[2] <= '7' && p[3] >= '0' &&
          p[3] <= '7')
        {
          g_string_append_c (out,
                             (char) (((p[1] - '0') << 6) | ((p[2] - '0') << 3) | (p[3] - '0')));
          p += 3;
        }
      else
        g_string_append_c (out, *p);
    }
  return g_string_free (out, FALSE);
}

void
inuse_parse_mountinfo (InUseFacts *facts, const char *text)
{
  g_auto (GStrv) lines = g_strsplit (text, "\n", -1);

  for (char **l = lines; *l; l++)
    {
      g_auto (GStrv) f = NULL;
      unsigned major, minor, n, sep;
      InUseMount *m;

      if (**l == '\0')
        continue;
      f = g_strsplit (*l, " ", -1);
      n = g_strv_length (f);
      /* id parent major:minor root mountpoint options [optional...] - fstype source super */
      if (n < 10 || sscanf (f[2], "%u:%u", &major, &minor) != 2)
        {
          inuse_facts_set_unreadable (facts, INUSE_SOURCE_MOUNTS, source_names[INUSE_SOURCE_MOUNTS],
                                      0);
          continue;
        }
      for (sep = 6; sep < n && strcmp (f[sep], "-") != 0; sep++)
        ;
      if (sep + 2 >= n)
        {
          inuse_facts_set_unreadable (facts, INUSE_SOURCE_MOUNTS, source_names[INUSE_SOURCE_MOUNTS],
                                      0);
          continue;
        }

      m = g_new0 (InUseMount, 1);
      m->devnum = makedev (major, minor);
      m->mountpoint = unescape_octal (f[4]);
      m->source = unescape_octal (f[sep + 2]);
      m->fstype = unescape_octal (f[sep + 1]);
      g_ptr_array_add (facts->mounts, m);
    }
}

void
inuse_parse_swaps (InUseFacts *facts, const char *text)
{
  g_auto (GStrv) lines = g_strsplit (text, "\n", -1);

  /* first line is the header: Filename Type Size Used Priority */
  for (char **l = lines; *l && l[1]; l++)
    {
      const char *line = l[1];
      const char *end;
      g_autofree char *raw = NULL;
      InUseSwap *s;

      if (*line == '\0')
        continue;
      /* the kernel names swaps by absolute path */
      if (*line != '/')
        {
          inuse_facts_set_unreadable (facts, INUSE_SOURCE_SWAPS, source_names[INUSE_SOURCE_SWAPS],
                                      0);
          continue;
        }
      /* the file name is escaped, so the first blank ends it */
      end = line + strcspn (line, " \t");
      raw = g_strndup (line, (gsize) (end - line));
      s = g_new0 (InUseSwap, 1);
      s->filename = unescape_octal (raw);
      g_ptr_array_add (facts->swaps, s);
    }
}

void
inuse_add_interface (InUseFacts *facts, const char *name, bool up, const char *address)
{
  InUseInterface *i = g_hash_table_lookup (facts->interfaces, name);

  if (i == NULL)
    {
      i = g_new0 (InUseInterface, 1);
      i->name = g_strdup (name);
      g_hash_table_insert (facts->interfaces, i->name, i);
    }
  i->up = i->up || up;
  if (address != NULL && i->address == NULL)
    i->address = g_strdup (address);
}

static bool
source_names_block (const char *source, const char *name)
{
  return g_str_has_prefix (source, "/dev/") && strcmp (source + strlen ("/dev/"), name) == 0;
}

char *
inuse_block_reason (const InUseFacts *facts, const char *name, dev_t devnum,
                    const char *const *holders)
{
  g_autoptr (GString) reason = g_string_new (NULL);

  for (guint i = 0; i < facts->mounts->len; i++)
    {
      const InUseMount *m = g_ptr_array_index (facts->mounts, i);

      if ((devnum != 0 && m->devnum == devnum) || source_names_block (m->source, name))
        {
          g_string_append_printf (reason, "mounted: %s (%s)", m->mountpoint, name);
          break; /* the first mount names it well enough */
        }
    }

  for (guint i = 0; i < facts->swaps->len; i++)
    {
      const InUseSwap *s = g_ptr_array_index (facts->swaps, i);

      if ((devnum != 0 && s->devnum == devnum) || source_names_block (s->filename, name))
        {
          g_string_append_printf (reason, "%sswap: %s", reason->len ? "; " : "", s->filename);
          break;
        }
    }

  for (const char *const *h = holders; h && *h; h++)
    g_string_append_printf (reason, "%sheld by %s (%s)", reason->len ? "; " : "", *h, name);

  return reason->len ? g_string_free (g_steal_pointer (&reason), FALSE) : NULL;
}

char *
inuse_tag_reason (const InUseFacts *facts, const char *tag)
{
  for (guint i = 0; i < facts->mounts->len; i++)
    {
      const InUseMount *m = g_ptr_array_index (facts->mounts, i);

      if ((g_strcmp0 (m->fstype, "9p") == 0 || g_strcmp0 (m->fstype, "virtiofs") == 0) &&
          strcmp (m->source, tag) == 0)
        return g_strdup_printf ("mounted: %s (%s %s)", m->mountpoint, m->fstype, tag);
    }
  return NULL;
}

char *
inuse_net_reason (const InUseFacts *facts, const char *name, const char *master)
{
  const InUseInterface *i = g_hash_table_lookup (facts->interfaces, name);

  if (i == NULL || !i->up)
    return NULL;
  if (master != NULL)
    return g_strdup_printf ("network interface %s is up as a port of %s", name, master);
  if (i->address != NULL)
    return g_strdup_printf ("network interface %s is up with %s", name, i->address);
  return NULL;
}
