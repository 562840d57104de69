/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* cleanup.h: cleanup attributes and a printf helper shared by the service,
 * libvfiod and vfioctl.  Not installed. */
#pragma once

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define _cleanup_(f) __attribute__ ((cleanup (f)))

static inline void
cleanup_freep (void *p)
{
  free (*(void **) p);
}
#define _cleanup_free_ _cleanup_ (cleanup_freep)

static inline void
cleanup_close_fdp (int *fd)
{
  if (*fd >= 0)
    close (*fd);
}
#define _cleanup_fd_ _cleanup_ (cleanup_close_fdp)

/* vasprintf() as a value: the formatted text, or NULL when out of memory. */
static inline char *
format_message_v (const char *format, va_list ap)
{
  char *message = NULL;

  if (vasprintf (&message, format, ap) < 0)
    return NULL;
  return message;
}
