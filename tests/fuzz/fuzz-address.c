/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* address_parse(): D-Bus callers and sysfs link names reach it. */
#include "fuzz.h"

#include <string.h>

#include "address.h"

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_autofree char *text = fuzz_text (data, size);
  PciAddress address, again;
  char buf[ADDRESS_STRLEN];
  const PciAddress untouched = { 0xdeadbeef, 0xaa, 0xbb, 0xcc };

  address = untouched;
  if (!address_parse (text, &address))
    {
      /* "@out is untouched on failure" */
      fuzz_check (memcmp (&address, &untouched, sizeof address) == 0);
      return 0;
    }

  /* the longest accepted form fits the normalised buffer */
  fuzz_check (strlen (text) < ADDRESS_STRLEN);
  fuzz_check (address.slot <= 0x1f && address.function <= 7);

  /* the normalised form parses back to the same address, and is a
   * fixed point of formatting */
  address_format (&address, buf);
  fuzz_check (strlen (buf) < ADDRESS_STRLEN);
  fuzz_check (address_parse (buf, &again));
  fuzz_check (address_equal (&address, &again));
  fuzz_check (address_compare (&address, &again) == 0);
  return 0;
}
