/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "address.h"

#include <stdio.h>

static int
hex_digit (char c)
{
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

/* Reads between @min and @max hex digits from *@p; advances *@p. */
static bool
read_hex (const char **p, unsigned min, unsigned max, uint32_t *out)
{
  uint32_t v = 0;
  unsigned n = 0;
  int d;

  while (n < max && (d = hex_digit ((*p)[n])) >= 0)
    {
      v = (v << 4) | (uint32_t) d;
      n++;
    }
  /* more digits than allowed is not a shorter valid field */
  if (n < min || hex_digit ((*p)[n]) >= 0)
    return false;

  *p += n;
  *out = v;
  return true;
}

static bool
expect (const char **p, char c)
{
  if (**p != c)
    return false;
  (*p)++;
  return true;
}

bool
address_parse (const char *text, PciAddress *out)
{
  const char *p = text;
  const char *colon;
  uint32_t domain = 0, bus, slot, function;
  unsigned colons = 0;

  if (text == NULL)
    return false;

  for (colon = text; *colon && colons < 3; colon++)
    if (*colon == ':')
      colons++;

  if (colons == 2)
    {
      if (!read_hex (&p, 4, 8, &domain) || !expect (&p, ':'))
        return false;
    }
  else if (colons != 1)
    return false;

  if (!read_hex (&p, 2, 2, &bus) || !expect (&p, ':') || !read_hex (&p, 2, 2, &slot) ||
      !expect (&p, '.') || !read_hex (&p, 1, 1, &function) || *p != '\0')
    return false;

  if (slot > 0x1f || function > 7)
    return false;

  out->domain = domain;
  out->bus = (uint8_t) bus;
  out->slot = (uint8_t) slot;
  out->function = (uint8_t) function;
  return true;
}

const char *
address_format (const PciAddress *address, char *buf)
{
  snprintf (buf, ADDRESS_STRLEN, "%04x:%02x:%02x.%x", address->domain, address->bus, address->slot,
            address->function);
  return buf;
}

int
address_compare (const PciAddress *a, const PciAddress *b)
{
#define CMP(f)      \
  if (a->f != b->f) \
  return a->f < b->f ? -1 : 1
  CMP (domain);
  CMP (bus);
  CMP (slot);
  CMP (function);
#undef CMP
  return 0;
}
