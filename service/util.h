/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* util.h: cleanup attributes shared by the service's modules
 * (common/cleanup.h, shared with the client). */
#pragma once

#include "cleanup.h"
