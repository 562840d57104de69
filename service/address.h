/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* address.h: PCI addresses: parsing untrusted text, formatting, ordering. Pure. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
  uint32_t domain; /* 0 .. 0xffffffff: Intel VMD domains are 5 hex digits */
  uint8_t bus;
  uint8_t slot;     /* 0 .. 0x1f */
  uint8_t function; /* 0 .. 7 */
} PciAddress;

/* "dddddddd:bb:dd.f" and a NUL: the longest normalised form. */
#define ADDRESS_STRLEN 17

/* Parse "dddd:bb:dd.f" (domain of 4 to 8 hex digits) or "bb:dd.f" (domain
 * 0000), in any case.  Anything else — empty, overlong, a slot above 1f, a
 * function above 7, a sign, white space, trailing junk — is rejected.
 * Returns true and fills @out on success; @out is untouched on failure. */
bool address_parse (const char *text, PciAddress *out);

/* Normalised lower-case form: the domain as 4 digits, or more when it needs
 * them ("10000:00:02.0").  @buf holds at least ADDRESS_STRLEN bytes. */
const char *address_format (const PciAddress *address, char *buf);

/* Orders by domain, bus, slot, function: -1, 0 or 1. */
int address_compare (const PciAddress *a, const PciAddress *b);

static inline bool
address_equal (const PciAddress *a, const PciAddress *b)
{
  return address_compare (a, b) == 0;
}
