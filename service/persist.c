/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "persist.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hexnum.h"
#include "names.h"

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

static bool
parse_address (const char *text, PciAddress *out)
{
  char again[ADDRESS_STRLEN];

  if (!address_parse (text, out))
    return false;
  return strcmp (address_format (out, again), text) == 0;
}

static int
compare_addresses (const void *a, const void *b)
{
  return address_compare (a, b);
}

enum {
  KEY_ADDRESS,
  KEY_VENDOR,
  KEY_DEVICE,
  KEY_SUBSYSTEM_VENDOR,
  KEY_SUBSYSTEM_DEVICE,
  KEY_CLASS,
  KEY_GROUP,
  N_KEYS
};

static const char *const keys[N_KEYS] = {
  [KEY_ADDRESS] = "address",
  [KEY_VENDOR] = "vendor",
  [KEY_DEVICE] = "device",
  [KEY_SUBSYSTEM_VENDOR] = "subsystem_vendor",
  [KEY_SUBSYSTEM_DEVICE] = "subsystem_device",
  [KEY_CLASS] = "class",
  [KEY_GROUP] = "group",
};

static int
parse_members (char *value, PersistRecord *r, unsigned line, char *why, size_t why_size)
{
  char *save = NULL;

  r->n_members = 0;
  for (char *word = strtok_r (value, " ", &save); word; word = strtok_r (NULL, " ", &save))
    {
      if (r->n_members == PERSIST_MAX_MEMBERS)
        return refuse (why, why_size, "line %u: more than %d group members", line,
                       PERSIST_MAX_MEMBERS);
      if (!parse_address (word, &r->members[r->n_members]))
        return refuse (why, why_size, "line %u: '%.32s' is not a PCI address", line, word);
      r->n_members++;
    }
  if (r->n_members == 0)
    return refuse (why, why_size, "line %u: no group members", line);
  qsort (r->members, r->n_members, sizeof r->members[0], compare_addresses);
  for (size_t i = 1; i < r->n_members; i++)
    if (address_equal (&r->members[i - 1], &r->members[i]))
      return refuse (why, why_size, "line %u: a group member is listed twice", line);
  return 0;
}

int
persist_record_parse (const char *text, size_t size, PersistRecord *out, char *why, size_t why_size)
{
  PersistRecord r;
  bool seen[N_KEYS] = { false };
  char *copy, *line, *save = NULL;
  unsigned lineno = 0;
  int ret = 0;

  memset (&r, 0, sizeof r);
  if (size > PERSIST_MAX_SIZE)
    return refuse (why, why_size, "larger than %d bytes", PERSIST_MAX_SIZE);
  if (memchr (text, '\0', size))
    return refuse (why, why_size, "contains a NUL byte");
  copy = malloc (size + 1);
  if (copy == NULL)
    return -ENOMEM;
  memcpy (copy, text, size);
  copy[size] = '\0';
  /* a file cut short ends without its newline: it may have lost a key,
   * or a part of the last value */
  if (size == 0 || copy[size - 1] != '\n')
    {
      free (copy);
      return refuse (why, why_size, "does not end with a newline (truncated?)");
    }

  for (line = strtok_r (copy, "\n", &save); line && ret == 0; line = strtok_r (NULL, "\n", &save))
    {
      char *eq, *value;
      uint32_t v = 0;
      int key = -1;

      lineno++;
      if (line[0] == '#' || line[0] == '\0')
        continue;
      eq = strchr (line, '=');
      if (eq == NULL)
        {
          ret = refuse (why, why_size, "line %u: not key=value", lineno);
          break;
        }
      *eq = '\0';
      value = eq + 1;
      for (int k = 0; k < N_KEYS; k++)
        if (strcmp (line, keys[k]) == 0)
          key = k;
      if (key < 0)
        {
          ret = refuse (why, why_size, "line %u: unknown key '%.32s'", lineno, line);
          break;
        }
      if (seen[key])
        {
          ret = refuse (why, why_size, "line %u: '%s' given twice", lineno, keys[key]);
          break;
        }
      seen[key] = true;
      switch (key)
        {
        case KEY_ADDRESS:
          if (!parse_address (value, &r.address))
            ret = refuse (why, why_size, "line %u: '%.32s' is not a PCI address", lineno, value);
          break;
        case KEY_CLASS:
          if (!hexnum_parse_prefixed (value, 1, 6, &v))
            ret = refuse (why, why_size, "line %u: class '%.32s' is not 0x and 1-6 hex digits",
                          lineno, value);
          r.class_code = v;
          break;
        case KEY_GROUP: ret = parse_members (value, &r, lineno, why, why_size); break;
        default:
          if (!hexnum_parse_prefixed (value, 1, 4, &v))
            ret = refuse (why, why_size, "line %u: %s '%.32s' is not 0x and 1-4 hex digits", lineno,
                          keys[key], value);
          if (key == KEY_VENDOR)
            r.vendor_id = (uint16_t) v;
          else if (key == KEY_DEVICE)
            r.device_id = (uint16_t) v;
          else if (key == KEY_SUBSYSTEM_VENDOR)
            r.subsystem_vendor_id = (uint16_t) v;
          else
            r.subsystem_device_id = (uint16_t) v;
          break;
        }
    }
  free (copy);
  if (ret < 0)
    return ret;
  for (int k = 0; k < N_KEYS; k++)
    if (!seen[k])
      return refuse (why, why_size, "no '%s'", keys[k]);
  if (!bsearch (&r.address, r.members, r.n_members, sizeof r.members[0], compare_addresses))
    return refuse (why, why_size, "its group does not list the device itself");
  *out = r;
  return 0;
}

const char *
persist_record_name (const PciAddress *address, char *buf)
{
  char name[ADDRESS_STRLEN];

  snprintf (buf, ADDRESS_STRLEN + 5, "%s.conf", address_format (address, name));
  return buf;
}

char *
persist_record_format (const PersistRecord *r)
{
  char name[ADDRESS_STRLEN], member[ADDRESS_STRLEN];
  char *text = NULL;
  size_t len = 0;
  FILE *f = open_memstream (&text, &len);

  if (f == NULL)
    return NULL;
  address_format (&r->address, name);
  fprintf (f,
           "# vfiod: PCI device %s is given to virtual machines at every boot:\n"
           "# it is bound to vfio-pci before any host driver can take it, as long\n"
           "# as the device at this address still has the ids below.\n"
           "# To give it back to the host: vfioctl reattach %s (or delete this\n"
           "# file; it then stays on vfio-pci until the next boot).  To skip all\n"
           "# of these for one boot: vfiod.persistent=0 on the kernel command line.\n"
           "# An initramfs carries a copy: after a change, update-initramfs -u\n"
           "# (or dracut -f).\n"
           "address=%s\n"
           "vendor=0x%04x\n"
           "device=0x%04x\n"
           "subsystem_vendor=0x%04x\n"
           "subsystem_device=0x%04x\n"
           "class=0x%06x\n"
           "group=",
           name, name, name, r->vendor_id, r->device_id, r->subsystem_vendor_id,
           r->subsystem_device_id, r->class_code);
  for (size_t i = 0; i < r->n_members; i++)
    fprintf (f, "%s%s", i ? " " : "", address_format (&r->members[i], member));
  fputc ('\n', f);
  if (fclose (f) != 0)
    {
      free (text);
      return NULL;
    }
  return text;
}

bool
persist_identity_matches (const PersistRecord *r, uint16_t vendor_id, uint16_t device_id,
                          uint16_t subsystem_vendor_id, uint16_t subsystem_device_id,
                          uint32_t class_code, char *why, size_t why_size)
{
  if (r->vendor_id == vendor_id && r->device_id == device_id &&
      r->subsystem_vendor_id == subsystem_vendor_id &&
      r->subsystem_device_id == subsystem_device_id && r->class_code == class_code)
    return true;
  if (why && why_size)
    snprintf (why, why_size,
              "%04x:%04x (subsystem %04x:%04x, class 0x%06x) recorded, "
              "%04x:%04x (subsystem %04x:%04x, class 0x%06x) found",
              r->vendor_id, r->device_id, r->subsystem_vendor_id, r->subsystem_device_id,
              r->class_code, vendor_id, device_id, subsystem_vendor_id, subsystem_device_id,
              class_code);
  return false;
}

static int
boolean_value (const char *value, size_t len)
{
  static const char *const yes[] = { "1", "yes", "true", "on" };
  static const char *const no[] = { "0", "no", "false", "off" };

  for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++)
    if (strlen (yes[i]) == len && strncmp (value, yes[i], len) == 0)
      return 1;
  for (size_t i = 0; i < sizeof no / sizeof no[0]; i++)
    if (strlen (no[i]) == len && strncmp (value, no[i], len) == 0)
      return 0;
  return -EINVAL;
}

int
persist_cmdline_enabled (const char *cmdline)
{
  const size_t keylen = strlen (VFIOD_CMDLINE_PERSISTENT);
  const char *p = cmdline;
  int enabled = 1;

  while (*p)
    {
      const char *word, *end;
      bool quoted = false;

      while (*p == ' ' || *p == '\t' || *p == '\n')
        p++;
      if (*p == '\0')
        break;
      /* a word ends at white space outside quotes */
      word = p;
      for (; *p && (quoted || (*p != ' ' && *p != '\t' && *p != '\n')); p++)
        if (*p == '"')
          quoted = !quoted;
      end = p;
      if (*word == '"')
        word++;
      if (end > word && end[-1] == '"')
        end--;
      if ((size_t) (end - word) < keylen || strncmp (word, VFIOD_CMDLINE_PERSISTENT, keylen) != 0)
        continue;
      if (word + keylen == end)
        enabled = 1;
      else if (word[keylen] == '=')
        enabled = boolean_value (word + keylen + 1, (size_t) (end - word - keylen - 1));
    }
  return enabled;
}
