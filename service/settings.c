/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "settings.h"

#include <errno.h>
#include <string.h>

#include "config.h"
#include "names.h"

#define GIB ((uint64_t) 1 << 30)

uint64_t
settings_default_max_locked_memory (uint64_t memory)
{
  uint64_t reserve;

  if (memory == 0)
    return G_MAXUINT64;
  /* what the host keeps for itself: 1 GiB, or a tenth on larger
   * machines, but never more than half (a small machine still runs a
   * small guest) */
  reserve = MAX (GIB, memory / 10);
  reserve = MIN (reserve, memory / 2);
  return memory - reserve;
}

gboolean
settings_parse_size (const char *text, uint64_t memory, uint64_t *bytes, const char **why)
{
  static const char units[] = "KMGT";
  const char *unit;
  guint64 number = 0;
  gsize digits;
  int shift = 0;

  *why = NULL;
  if (text == NULL || !g_ascii_isdigit (text[0]))
    {
      *why = "it does not start with a number";
      return FALSE;
    }
  digits = strspn (text, "0123456789");
  if (digits > 20)
    {
      *why = "the number is too large";
      return FALSE;
    }
  {
    g_autofree char *head = g_strndup (text, digits);
    if (!g_ascii_string_to_unsigned (head, 10, 0, G_MAXUINT64, &number, NULL))
      {
        *why = "the number is too large";
        return FALSE;
      }
  }
  unit = text + digits;
  if (strcmp (unit, "%") == 0)
    {
      if (number < 1 || number > 100)
        {
          *why = "a percentage is 1% to 100% of the machine's memory";
          return FALSE;
        }
      if (memory == 0)
        {
          *why = "the machine's memory is not known, so a percentage means nothing";
          return FALSE;
        }
      /* no overflow: memory / 100 * number <= memory */
      *bytes = memory / 100 * number + memory % 100 * number / 100;
      if (*bytes == 0)
        {
          *why = "that is 0 bytes";
          return FALSE;
        }
      return TRUE;
    }
  if (*unit != '\0')
    {
      const char *at = unit[1] == '\0' ? strchr (units, unit[0]) : NULL;
      if (at == NULL || unit[0] == '\0')
        {
          *why = "the unit is not one of K, M, G, T (1024-based) or %";
          return FALSE;
        }
      shift = 10 * (int) (at - units + 1);
    }
  if (number == 0)
    {
      *why = "0 bytes locks nothing";
      return FALSE;
    }
  if (number > (G_MAXUINT64 >> shift))
    {
      *why = "the size is too large";
      return FALSE;
    }
  *bytes = number << shift;
  return TRUE;
}

static void
set_default (Settings *settings, uint64_t memory)
{
  settings->max_locked_memory = settings_default_max_locked_memory (memory);
  settings->max_locked_memory_default = TRUE;
}

void
settings_parse (Settings *settings, const char *text, gsize length, const char *path,
                uint64_t memory)
{
  g_autoptr (GKeyFile) kf = g_key_file_new ();
  g_autoptr (GError) error = NULL;
  g_auto (GStrv) groups = NULL;

  set_default (settings, memory);
  if (!g_key_file_load_from_data (kf, text, length, G_KEY_FILE_NONE, &error))
    {
      g_warning ("Ignoring %s: it does not parse (%s); using the defaults", path, error->message);
      return;
    }

  groups = g_key_file_get_groups (kf, NULL);
  for (char **g = groups; *g; g++)
    {
      g_auto (GStrv) keys = NULL;

      if (strcmp (*g, VFIOD_CONFIG_GROUP_LIMITS) != 0)
        {
          g_autofree char *quoted = g_strescape (*g, NULL);
          g_warning ("Ignoring section [%s] of %s: vfiod knows only [" VFIOD_CONFIG_GROUP_LIMITS
                     "]",
                     quoted, path);
          continue;
        }
      keys = g_key_file_get_keys (kf, *g, NULL, NULL);
      for (char **k = keys; keys && *k; k++)
        if (strcmp (*k, VFIOD_CONFIG_MAX_LOCKED_MEMORY) != 0)
          {
            g_autofree char *quoted = g_strescape (*k, NULL);
            g_warning ("Ignoring %s= in %s: vfiod knows only " VFIOD_CONFIG_MAX_LOCKED_MEMORY
                       "= there",
                       quoted, path);
          }
    }

  if (g_key_file_has_key (kf, VFIOD_CONFIG_GROUP_LIMITS, VFIOD_CONFIG_MAX_LOCKED_MEMORY, NULL))
    {
      /* raw: no escapes, no lists, exactly what the file says */
      g_autofree char *value = g_key_file_get_value (kf, VFIOD_CONFIG_GROUP_LIMITS,
                                                     VFIOD_CONFIG_MAX_LOCKED_MEMORY, NULL);
      const char *why = NULL;
      uint64_t bytes;

      if (!settings_parse_size (value, memory, &bytes, &why))
        {
          g_autofree char *quoted = g_strescape (value ? value : "", NULL);
          g_autofree char *fallback =
              g_format_size_full (settings->max_locked_memory, G_FORMAT_SIZE_IEC_UNITS);
          g_warning ("Ignoring " VFIOD_CONFIG_MAX_LOCKED_MEMORY "=%s in %s: %s; using the "
                     "default, %s (write e.g. 16G, or 50%%)",
                     quoted, path, why, fallback);
          return;
        }
      if (memory > 0 && bytes > memory)
        {
          g_message (VFIOD_CONFIG_MAX_LOCKED_MEMORY
                     "= in %s is more than this machine's "
                     "memory: the cap is the machine's memory, %" G_GUINT64_FORMAT " bytes",
                     path, memory);
          bytes = memory;
        }
      settings->max_locked_memory = bytes;
      settings->max_locked_memory_default = FALSE;
    }
}

void
settings_load (Settings *settings, const char *path, uint64_t memory)
{
  g_autofree char *text = NULL;
  g_autoptr (GError) error = NULL;
  gsize length = 0;

  set_default (settings, memory);
  if (!g_file_get_contents (path, &text, &length, &error))
    {
      if (!g_error_matches (error, G_FILE_ERROR, G_FILE_ERROR_NOENT))
        g_warning ("Cannot read %s (%s): using the defaults", path, error->message);
      return;
    }
  settings_parse (settings, text, length, path, memory);
}

const char *
settings_default_path (void)
{
  const char *env = g_getenv (VFIOD_ENV_CONFIG_FILE);

  return env && *env ? env : VFIOD_CONFIG_FILE;
}
