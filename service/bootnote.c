/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "bootnote.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hexnum.h"
#include "names.h"

static const char *const states[BOOT_NOTE_N_STATES] = {
  [BOOT_NOTE_INITRAMFS] = "initramfs",   [BOOT_NOTE_ROOT] = "root", [BOOT_NOTE_KEPT] = "kept",
  [BOOT_NOTE_GIVEN_BACK] = "given-back", [BOOT_NOTE_HELD] = "held", [BOOT_NOTE_FAILED] = "failed",
};

const char *
boot_note_state_to_string (BootNoteState state)
{
  return (unsigned) state < BOOT_NOTE_N_STATES ? states[state] : NULL;
}

bool
boot_note_is_stale (const BootNote *note)
{
  return note->state == BOOT_NOTE_GIVEN_BACK || note->state == BOOT_NOTE_HELD ||
         note->state == BOOT_NOTE_FAILED;
}

__attribute__ ((format (printf, 3, 4))) static int
refuse (char *why, size_t why_size, const char *format, ...)
{
  va_list ap;

  if (why && why_size)
    {
      va_start (ap, format);
      vsnprintf (why, why_size, format, ap);
      va_end (ap);
    }
  return -EBADMSG;
}

enum {
  KEY_ADDRESS,
  KEY_STATE,
  KEY_VENDOR,
  KEY_DEVICE,
  KEY_SUBSYSTEM_VENDOR,
  KEY_SUBSYSTEM_DEVICE,
  KEY_CLASS,
  KEY_DRIVER,
  KEY_GROUP,
  N_KEYS
};

static const char *const keys[N_KEYS] = {
  [KEY_ADDRESS] = "address",
  [KEY_STATE] = "state",
  [KEY_VENDOR] = "vendor",
  [KEY_DEVICE] = "device",
  [KEY_SUBSYSTEM_VENDOR] = "subsystem_vendor",
  [KEY_SUBSYSTEM_DEVICE] = "subsystem_device",
  [KEY_CLASS] = "class",
  [KEY_DRIVER] = "driver",
  [KEY_GROUP] = "group",
};

/* A driver name as the kernel's are: letters, digits, '_', '-'. */
static bool
driver_name_valid (const char *name)
{
  size_t len = strlen (name);

  if (len > BOOT_NOTE_DRIVER_MAX)
    return false;
  for (size_t i = 0; i < len; i++)
    {
      char c = name[i];
      if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '_' || c == '-'))
        return false;
    }
  return true;
}

static int
parse_line (char *line, unsigned lineno, bool *seen, BootNote *n, char *why, size_t why_size)
{
  char *eq = strchr (line, '='), *value;
  char again[ADDRESS_STRLEN];
  uint32_t v = 0;
  int key = -1;

  if (eq == NULL)
    return refuse (why, why_size, "line %u: not key=value", lineno);
  *eq = '\0';
  value = eq + 1;
  for (int k = 0; k < N_KEYS; k++)
    if (strcmp (line, keys[k]) == 0)
      key = k;
  if (key < 0)
    return refuse (why, why_size, "line %u: unknown key '%.32s'", lineno, line);
  if (seen[key])
    return refuse (why, why_size, "line %u: '%s' given twice", lineno, keys[key]);
  seen[key] = true;
  switch (key)
    {
    case KEY_ADDRESS:
      if (!address_parse (value, &n->address) ||
          strcmp (address_format (&n->address, again), value) != 0)
        return refuse (why, why_size, "line %u: '%.32s' is not a PCI address", lineno, value);
      return 0;
    case KEY_STATE:
      for (int s = 0; s < BOOT_NOTE_N_STATES; s++)
        if (strcmp (value, states[s]) == 0)
          {
            n->state = (BootNoteState) s;
            return 0;
          }
      return refuse (why, why_size, "line %u: unknown state '%.32s'", lineno, value);
    case KEY_DRIVER:
      if (!driver_name_valid (value))
        return refuse (why, why_size, "line %u: '%.32s' is not a driver name", lineno, value);
      memcpy (n->driver, value, strlen (value) + 1);
      return 0;
    case KEY_GROUP:
      /* decimal, as the kernel names groups; no sign, no leading zero */
      if (value[0] < '0' || value[0] > '9' || (value[0] == '0' && value[1]) || strlen (value) > 9 ||
          strspn (value, "0123456789") != strlen (value))
        return refuse (why, why_size, "line %u: group '%.32s' is not a number", lineno, value);
      n->group = (uint32_t) strtoul (value, NULL, 10);
      n->has_group = true;
      return 0;
    case KEY_CLASS:
      if (!hexnum_parse_prefixed (value, 1, 6, &v))
        return refuse (why, why_size, "line %u: class '%.32s' is not 0x and 1-6 hex digits", lineno,
                       value);
      n->class_code = v;
      return 0;
    default:
      if (!hexnum_parse_prefixed (value, 1, 4, &v))
        return refuse (why, why_size, "line %u: %s '%.32s' is not 0x and 1-4 hex digits", lineno,
                       keys[key], value);
      if (key == KEY_VENDOR)
        n->vendor_id = (uint16_t) v;
      else if (key == KEY_DEVICE)
        n->device_id = (uint16_t) v;
      else if (key == KEY_SUBSYSTEM_VENDOR)
        n->subsystem_vendor_id = (uint16_t) v;
      else
        n->subsystem_device_id = (uint16_t) v;
      return 0;
    }
}

int
boot_note_parse (const char *text, size_t size, BootNote *out, char *why, size_t why_size)
{
  char copy[BOOT_NOTE_MAX_SIZE + 1], *line, *save = NULL;
  bool seen[N_KEYS] = { false };
  unsigned lineno = 0;
  BootNote n;
  int r = 0;

  memset (&n, 0, sizeof n);
  if (size > BOOT_NOTE_MAX_SIZE)
    return refuse (why, why_size, "larger than %d bytes", BOOT_NOTE_MAX_SIZE);
  if (memchr (text, '\0', size))
    return refuse (why, why_size, "contains a NUL byte");
  if (size == 0 || text[size - 1] != '\n')
    return refuse (why, why_size, "does not end with a newline (truncated?)");
  memcpy (copy, text, size);
  copy[size] = '\0';
  for (line = strtok_r (copy, "\n", &save); line && r == 0; line = strtok_r (NULL, "\n", &save))
    {
      lineno++;
      if (line[0] == '#')
        continue;
      r = parse_line (line, lineno, seen, &n, why, why_size);
    }
  if (r < 0)
    return r;
  for (int k = 0; k <= KEY_CLASS; k++)
    if (!seen[k])
      return refuse (why, why_size, "no '%s'", keys[k]);
  /* what each state carries, and only there */
  if (seen[KEY_DRIVER] != (n.state == BOOT_NOTE_GIVEN_BACK))
    return refuse (why, why_size, "'driver' belongs to state given-back, and only there");
  if (seen[KEY_GROUP] != (n.state == BOOT_NOTE_HELD))
    return refuse (why, why_size, "'group' belongs to state held, and only there");
  *out = n;
  return 0;
}

char *
boot_note_format (const BootNote *n)
{
  char name[ADDRESS_STRLEN];
  char *text = NULL;
  size_t len = 0;
  FILE *f;

  if (boot_note_state_to_string (n->state) == NULL)
    return NULL;
  f = open_memstream (&text, &len);
  if (f == NULL)
    return NULL;
  address_format (&n->address, name);
  fprintf (f,
           "# " VFIOD_BOOT_HELPER ": what it did with %s this boot (read by vfiod;\n"
           "# /run is empty again at the next boot).\n"
           "address=%s\n"
           "state=%s\n"
           "vendor=0x%04x\n"
           "device=0x%04x\n"
           "subsystem_vendor=0x%04x\n"
           "subsystem_device=0x%04x\n"
           "class=0x%06x\n",
           name, name, states[n->state], n->vendor_id, n->device_id, n->subsystem_vendor_id,
           n->subsystem_device_id, n->class_code);
  if (n->state == BOOT_NOTE_GIVEN_BACK)
    fprintf (f, "driver=%s\n", n->driver);
  if (n->state == BOOT_NOTE_HELD)
    fprintf (f, "group=%u\n", (unsigned) n->group);
  if (fclose (f) != 0)
    {
      free (text);
      return NULL;
    }
  return text;
}

const char *
boot_note_describe (const BootNote *n, char *buf, size_t size)
{
  switch (n->state)
    {
    case BOOT_NOTE_GIVEN_BACK:
      if (n->driver[0])
        snprintf (buf, size, VFIOD_PERSISTENT_STALE_INITRAMFS "given back to %s", n->driver);
      else
        snprintf (buf, size,
                  VFIOD_PERSISTENT_STALE_INITRAMFS "given back, but no host driver took it");
      return buf;
    case BOOT_NOTE_HELD:
      snprintf (buf, size,
                VFIOD_PERSISTENT_STALE_INITRAMFS "left on " VFIOD_DRIVER_VFIO_PCI
                                                 ": its group %u is in use",
                (unsigned) n->group);
      return buf;
    case BOOT_NOTE_FAILED:
      snprintf (buf, size,
                VFIOD_PERSISTENT_STALE_INITRAMFS "giving it back failed (see the kernel log)");
      return buf;
    default: return NULL;
    }
}
