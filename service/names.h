/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* names.h: every name the service uses: the bus contract (installed),
 * the kernel's files and the service's own. */
#pragma once

#include "vfiod-names.h"
#include "kernel-names.h"
#include "service-names.h"
