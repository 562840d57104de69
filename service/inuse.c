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
inuse_btrfs_reason (const InUseFacts *facts, const char *name, const char *label, const char *uuid,
                    const char *const *members)
{
  g_autofree char *fs = inuse_sanitize (label && *label ? label : uuid, 64);
  g_autofree char *what = inuse_sanitize (name, 32);

  for (guint i = 0; i < facts->mounts->len; i++)
    {
      const InUseMount *m = g_ptr_array_index (facts->mounts, i);

      if (g_strcmp0 (m->fstype, "btrfs") != 0)
        continue;
      for (const char *const *d = members; d && *d; d++)
        if (source_names_block (m->source, *d))
          {
            if (strcmp (*d, name) == 0)
              return NULL; /* "mounted: ..." names it */
            return g_strdup_printf ("member of btrfs %s mounted at %s (%s)", fs, m->mountpoint,
                                    what);
          }
    }
  /* mounted (the kernel lists it), but not where this mount table sees it:
   * another mount namespace */
  return g_strdup_printf ("member of a mounted btrfs %s (%s)", fs, what);
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
inuse_net_reason (const InUseFacts *facts, const char *name, const char *master,
                  const char *const *uppers)
{
  const InUseInterface *i = g_hash_table_lookup (facts->interfaces, name);

  if (i == NULL || !i->up)
    return NULL;
  if (master != NULL)
    return g_strdup_printf ("network interface %s is up as a port of %s", name, master);
  if (i->address != NULL)
    return g_strdup_printf ("network interface %s is up with %s", name, i->address);
  /* the lower device of a VLAN or macvlan: the link the upper one needs,
   * with no address of its own */
  if (uppers && uppers[0])
    {
      g_autofree char *list = g_strjoinv (", ", (char **) uppers);
      return g_strdup_printf ("network interface %s is up and carries %s", name, list);
    }
  return NULL;
}

/* ---- device nodes ------------------------------------------------------- */

char *
inuse_sanitize (const char *text, gsize max)
{
  GString *out = g_string_new (NULL);

  for (const char *p = text; p && *p && out->len < max; p++)
    g_string_append_c (out, (*p >= 0x20 && *p < 0x7f && *p != ';') ? *p : '?');
  if (out->len == 0)
    g_string_append_c (out, '?');
  return g_string_free (out, FALSE);
}

/* The words of @bitmap, least significant first, or NULL. */
static GArray *
bitmap_words (const char *bitmap)
{
  g_auto (GStrv) parts = NULL;
  g_autofree char *copy = NULL;
  GArray *words;
  guint n;

  if (bitmap == NULL)
    return NULL;
  copy = g_strstrip (g_strdup (bitmap));
  if (*copy == '\0')
    return NULL;
  parts = g_strsplit (copy, " ", -1);
  n = g_strv_length (parts);
  words = g_array_sized_new (FALSE, FALSE, sizeof (guint64), n);
  for (guint i = n; i > 0; i--)
    {
      guint64 w;

      if (!g_ascii_string_to_unsigned (parts[i - 1], 16, 0, G_MAXUINT64, &w, NULL) ||
          strlen (parts[i - 1]) > 16)
        {
          g_array_unref (words);
          words = NULL;
          break;
        }
      g_array_append_val (words, w);
    }
  return words;
}

bool
inuse_bitmap_valid (const char *bitmap)
{
  GArray *w = bitmap_words (bitmap);

  if (w == NULL)
    return false;
  g_array_unref (w);
  return true;
}

bool
inuse_bitmap_test (const char *bitmap, unsigned bit, unsigned word_bits)
{
  g_autoptr (GArray) w = bitmap_words (bitmap);

  if (w == NULL || (word_bits != 32 && word_bits != 64) || bit / word_bits >= w->len)
    return false;
  return (g_array_index (w, guint64, bit / word_bits) >> (bit % word_bits)) & 1;
}

/* "E:KEY=1" in udev's database text. */
static bool
udev_flag (const char *udev_data, const char *key)
{
  g_autofree char *line = g_strdup_printf ("E:%s=1", key);
  size_t n = strlen (line);

  for (const char *p = udev_data; p && *p;)
    {
      const char *end = strchr (p, '\n');
      size_t len = end ? (size_t) (end - p) : strlen (p);

      if (len == n && memcmp (p, line, n) == 0)
        return true;
      p = end ? end + 1 : p + len;
    }
  return false;
}

#define EV_KEY_BIT    1
#define EV_REL_BIT    2
#define REL_X_BIT     0
#define REL_Y_BIT     1
#define BTN_MOUSE_BIT 0x110

InUseInputKind
inuse_input_kind (const char *udev_data, const char *ev, const char *key, const char *rel,
                  unsigned word_bits)
{
  if (udev_data)
    {
      if (udev_flag (udev_data, "ID_INPUT_KEYBOARD"))
        return INUSE_INPUT_KEYBOARD;
      if (udev_flag (udev_data, "ID_INPUT_MOUSE") || udev_flag (udev_data, "ID_INPUT_TOUCHPAD") ||
          udev_flag (udev_data, "ID_INPUT_TABLET") || udev_flag (udev_data, "ID_INPUT_TOUCHSCREEN"))
        return INUSE_INPUT_POINTER;
      return INUSE_INPUT_OTHER;
    }
  if (inuse_bitmap_test (ev, EV_KEY_BIT, word_bits))
    {
      bool all = true;

      /* KEY_ESC (1) to KEY_D (31): a full keyboard */
      for (unsigned k = 1; k < 32 && all; k++)
        all = inuse_bitmap_test (key, k, word_bits);
      if (all)
        return INUSE_INPUT_KEYBOARD;
    }
  if (inuse_bitmap_test (ev, EV_REL_BIT, word_bits) &&
      inuse_bitmap_test (rel, REL_X_BIT, word_bits) &&
      inuse_bitmap_test (rel, REL_Y_BIT, word_bits) &&
      inuse_bitmap_test (key, BTN_MOUSE_BIT, word_bits))
    return INUSE_INPUT_POINTER;
  return INUSE_INPUT_OTHER;
}

char *
inuse_input_reason (InUseInputKind kind, const char *name, const char *node)
{
  g_autofree char *safe = inuse_sanitize (name, 64);
  g_autofree char *where = inuse_sanitize (node, 32);

  switch (kind)
    {
    case INUSE_INPUT_KEYBOARD: return g_strdup_printf ("keyboard %s (input %s)", safe, where);
    case INUSE_INPUT_POINTER: return g_strdup_printf ("mouse %s (input %s)", safe, where);
    case INUSE_INPUT_OTHER: break;
    }
  return NULL;
}

char *
inuse_session_text (const char *id, const char *user, const char *seat)
{
  g_autoptr (GString) out = NULL;
  g_autofree char *safe_id = NULL;

  if (id == NULL || *id == '\0')
    return NULL;
  safe_id = inuse_sanitize (id, 32);
  out = g_string_new (NULL);
  g_string_append_printf (out, "session %s", safe_id);
  if (user && *user)
    {
      g_autofree char *u = inuse_sanitize (user, 32);
      g_string_append_printf (out, " of %s", u);
    }
  if (seat && *seat)
    {
      g_autofree char *t = inuse_sanitize (seat, 32);
      g_string_append_printf (out, " on %s", t);
    }
  return g_string_free (g_steal_pointer (&out), FALSE);
}

char *
inuse_opener_reason (const char *subsystem, const char *node, const char *comm, const char *pid,
                     const char *session)
{
  g_autofree char *who = inuse_sanitize (comm, 15);
  g_autofree char *what = inuse_sanitize (node, 32);
  const char *kind = "open by";

  if (g_strcmp0 (subsystem, "drm") == 0)
    kind = g_str_has_prefix (node, "render") ? "GPU:" : "display:";
  else if (g_strcmp0 (subsystem, "graphics") == 0)
    kind = "display:";
  else if (g_strcmp0 (subsystem, "sound") == 0)
    kind = "sound:";
  else if (g_strcmp0 (subsystem, "input") == 0 || g_strcmp0 (subsystem, "hidraw") == 0)
    kind = "input:";
  if (session && *session)
    return g_strdup_printf ("%s %s pid %s, %s (%s)", kind, who, pid, session, what);
  return g_strdup_printf ("%s %s pid %s (%s)", kind, who, pid, what);
}

bool
inuse_fbcon_bound (const char *const *names, const char *const *binds)
{
  for (guint i = 0; names && names[i] && binds && binds[i]; i++)
    if (strstr (names[i], "frame buffer") && g_str_has_prefix (binds[i], "1"))
      return true;
  return false;
}

bool
inuse_fbcon_uses (const char *cmdline, unsigned fb, unsigned first_fb)
{
  g_auto (GStrv) words = g_strsplit_set (cmdline ? cmdline : "", " \t\n", -1);
  const char *map = NULL;

  /* the last "fbcon=...map:" wins, as with the kernel's parameters; an
   * fbcon= word's options are comma-separated */
  for (char **w = words; *w; w++)
    if (g_str_has_prefix (*w, "fbcon="))
      for (const char *o = *w + strlen ("fbcon="); o;
           o = strchr (o, ',') ? strchr (o, ',') + 1 : NULL)
        if (g_str_has_prefix (o, "map:"))
          map = o + strlen ("map:");
  if (map == NULL)
    return fb == first_fb;
  for (const char *p = map; *p && *p != ','; p++)
    if (g_ascii_isdigit (*p) && (unsigned) (*p - '0') == fb)
      return true;
  return false;
}

char *
inuse_fbcon_reason (const char *node)
{
  g_autofree char *what = inuse_sanitize (node, 32);

  return g_strdup_printf ("framebuffer console (%s)", what);
}
