/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* settings_parse(): the configuration file is read at every start; it
 * must never crash the daemon, and whatever it says, the cap on locked
 * memory is never 0 and never above the machine's memory. */
#include "fuzz.h"

#include "settings.h"

#define MEMORY ((uint64_t) 16 << 30)

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_autofree char *text = fuzz_text (data, size);
  Settings settings;

  settings_parse (&settings, text, size, "vfiod.conf", MEMORY);
  fuzz_check (settings.max_locked_memory > 0 && settings.max_locked_memory <= MEMORY);
  fuzz_check (!settings.max_locked_memory_default ||
              settings.max_locked_memory == settings_default_max_locked_memory (MEMORY));
  return 0;
}
