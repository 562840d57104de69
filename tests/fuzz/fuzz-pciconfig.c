/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* pciconfig_parse(): a device's config space is whatever the device (or
 * a broken one) answers.  Any bytes parse without a crash or a read past
 * them; a malformed space never claims isolation; what parses keeps its
 * ACS fields consistent. */
#include "fuzz.h"

#include <stdlib.h>
#include <string.h>

#include "pciconfig.h"

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  uint8_t *copy = malloc (size ? size : 1);
  PciConfig c;
  int r;

  fuzz_check (copy != NULL);
  /* an exact-size heap copy: ASan sees any read past the end */
  memcpy (copy, data, size);
  r = pciconfig_parse (copy, size, &c);
  fuzz_check ((r < 0) == (c.malformed != NULL));
  if (c.malformed)
    fuzz_check (!pciconfig_acs_enabled (&c, PCICONFIG_ACS_REQUIRED) && !c.acs);
  if (!c.acs)
    fuzz_check (c.acs_capability == 0 && c.acs_control == 0);
  if (!c.caps_read)
    fuzz_check (!pciconfig_acs_enabled (&c, PCICONFIG_ACS_REQUIRED));
  free (copy);
  return 0;
}
