/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * polkit-agent.h: a text polkit agent (pkttyagent) for the lifetime of one
 * vfioctl command, so that a password prompt can appear on the terminal.
 */
#pragma once

#include <sys/types.h>

/* Starts pkttyagent for this process and waits until it has registered
 * (or has given up).  Returns the agent's pid (> 0), or a negative errno
 * when it could not be started; vfioctl then carries on without it. */
pid_t polkit_agent_start(const char *path);

/* Terminates and reaps the agent.  pid <= 0 is fine. */
void polkit_agent_stop(pid_t pid);
