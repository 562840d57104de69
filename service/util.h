/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* util.h: cleanup attributes shared by the service's modules. */
#pragma once

#include <unistd.h>

#define _cleanup_(f) __attribute__ ((cleanup (f)))

static inline void
util_close_fdp (int *fd)
{
  if (*fd >= 0)
    close (*fd);
}
#define _cleanup_fd_ _cleanup_ (util_close_fdp)
