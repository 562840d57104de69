/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A library user's view: only <vfiod.h>, linked against the shared
 * library.  The header is self-contained, carries the contract's flag
 * values, and the exported functions link.
 */
#include <vfiod.h>

#include <stdio.h>
#include <stdlib.h>

_Static_assert(VFIOD_FLAG_GROUP == 0x1, "GROUP is 0x1 in the contract");
_Static_assert(VFIOD_FLAG_DRY_RUN == 0x2, "DRY_RUN is 0x2 in the contract");
_Static_assert(VFIOD_FLAG_FORCE == 0x4, "FORCE is 0x4 in the contract");
_Static_assert(VFIOD_CLIENT_ACTION_TIMEOUT_USEC == 600000000ULL, "ten minutes");

int main(void) {
        VfiodError error = VFIOD_ERROR_INIT;

        vfiod_error_clear(&error);
        vfiod_device_list_free(NULL);
        vfiod_plan_free(NULL);
        vfiod_client_free(NULL);
        if (vfiod_error_has_name(&error, VFIOD_ERROR_FAILED))
                return EXIT_FAILURE;
        if (vfiod_client_get_allow_interactive_authorization(NULL))
                return EXIT_FAILURE;
        /* Calls without a client fail cleanly with a message. */
        if (vfiod_client_list_devices(NULL, NULL, &error) >= 0 || !error.message)
                return EXIT_FAILURE;
        vfiod_error_clear(&error);
        /* The watch too. */
        VfiodWatch *watch = NULL;
        vfiod_watch_free(NULL);
        if (vfiod_watch_new(NULL, NULL, NULL, &watch, &error) >= 0 || !error.message || watch)
                return EXIT_FAILURE;
        vfiod_error_clear(&error);
        if (vfiod_watch_process(NULL, &error) >= 0 || !error.message)
                return EXIT_FAILURE;
        vfiod_error_clear(&error);
        if (vfiod_watch_get_fd(NULL) >= 0 || vfiod_watch_get_value(NULL, "/", "x") ||
            vfiod_watch_service_running(NULL))
                return EXIT_FAILURE;
        puts("ok");
        return EXIT_SUCCESS;
}
