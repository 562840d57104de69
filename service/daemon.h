/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* daemon.h: the service's life: connect, export, own the name, serve
 * until SIGTERM/SIGINT or the bus goes away. */
#pragma once

/* Returns 0 on a clean exit, -errno when the service could not start or
 * lost its bus. */
int daemon_run (void);
