/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "hexnum.h"

#include <string.h>

bool
hexnum_parse (const char *text, size_t len, size_t min_digits, size_t max_digits, uint32_t *out)
{
  uint32_t v = 0;

  if (len < min_digits || len > max_digits || len > 8)
    return false;
  for (size_t i = 0; i < len; i++)
    {
      char c = text[i];
      uint32_t d;

      if (c >= '0' && c <= '9')
        d = (uint32_t) (c - '0');
      else if (c >= 'a' && c <= 'f')
        d = (uint32_t) (c - 'a' + 10);
      else if (c >= 'A' && c <= 'F')
        d = (uint32_t) (c - 'A' + 10);
      else
        return false;
      v = v << 4 | d;
    }
  *out = v;
  return true;
}

bool
hexnum_parse_prefixed (const char *text, size_t min_digits, size_t max_digits, uint32_t *out)
{
  if (text[0] != '0' || (text[1] != 'x' && text[1] != 'X'))
    return false;
  return hexnum_parse (text + 2, strlen (text + 2), min_digits, max_digits, out);
}
