#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# libvfiod exports exactly its public vfiod_* API: nothing internal leaks.
set -eu
lib="$1"
nm="${NM:-nm}"
symbols=$("$nm" -D --defined-only "$lib" | awk '$2 ~ /^[TDBRVW]$/ { print $3 }' | sed 's/@.*//')
[ -n "$symbols" ] || { echo "no exported symbols in $lib"; exit 1; }
bad=$(printf '%s\n' "$symbols" | grep -v '^vfiod_' || true)
if [ -n "$bad" ]; then
        echo "exported but not vfiod_*:"; printf '%s\n' "$bad"; exit 1
fi
for expected in vfiod_client_new vfiod_client_free vfiod_client_get_version \
                vfiod_client_get_group vfiod_client_list_devices \
                vfiod_client_detach_device vfiod_client_reattach_device \
                vfiod_client_set_allow_interactive_authorization \
                vfiod_error_clear vfiod_device_list_free vfiod_plan_free \
                vfiod_watch_new vfiod_watch_free vfiod_watch_get_fd vfiod_watch_get_events \
                vfiod_watch_get_timeout vfiod_watch_process vfiod_watch_service_running \
                vfiod_watch_get_value vfiod_client_open_group vfiod_client_open_device \
                vfiod_client_grant_access vfiod_client_revoke_access \
                vfiod_client_set_locked_memory_limit vfiod_node_list_free \
                vfiod_node_foreach_field vfiod_device_foreach_field; do
        printf '%s\n' "$symbols" | grep -qx "$expected" || { echo "missing: $expected"; exit 1; }
done
for internal in reply_read_device_list error_set_local json_write_string value_read \
                value_read_variant object_path_parse field_table_device field_tables; do
        if printf '%s\n' "$symbols" | grep -qx "$internal"; then
                echo "internal symbol exported: $internal"; exit 1
        fi
done
echo "ok: $(printf '%s\n' "$symbols" | wc -l) symbols, all vfiod_*"
