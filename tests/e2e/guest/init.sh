#!/bin/busybox sh
# Stage 1 of the e2e guest: the /init of a tiny busybox initramfs built by run-e2e.py.
#
# Loads the few modules needed to reach the host's root file system over virtio-9p, mounts it
# read-only with a tmpfs overlay on top, mounts the writable results share, and switch_roots
# into stage 2 (guest/stage2.sh, read from the host's tree at the same path as on the host).
# Any failure powers the machine off; the host harness then finds no exit code and reports it.

/bin/busybox mkdir -p /bin /proc /sys /dev /lower /rw /results /newroot
/bin/busybox --install -s /bin
export PATH=/bin

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev

fail() {
	echo "E2E-INIT-FAILED: $*"
	sync
	poweroff -f
	sleep 60
}

echo "e2e-init: loading modules (uptime $(cut -d' ' -f1 /proc/uptime))"
while read -r m; do
	insmod "/modules/$m" || fail "insmod $m"
done < /modules.order

# The results share first: it carries the run's configuration in.
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000 e2eresults /results \
	|| fail "mount results share"
[ -r /results/.e2e/config.sh ] || fail "no /results/.e2e/config.sh"
. /results/.e2e/config.sh

# The host's /, read-only. cache=loose: the host tree does not change under us during a run
# except the build dir, which is only read by the guest after the host finished building it.
mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=512000,cache=loose e2eroot /lower \
	|| fail "mount host root"
if [ -n "$E2E_PERSIST_DEV" ]; then
	# --persist-disk: the upper layer on a disk, so this boot sees what the last one wrote
	for i in $(seq 1 50); do
		[ -b "$E2E_PERSIST_DEV" ] && break
		sleep 0.1
	done
	mount -t ext4 "$E2E_PERSIST_DEV" /rw || fail "mount $E2E_PERSIST_DEV"
else
	mount -t tmpfs -o mode=0755 tmpfs /rw || fail "mount tmpfs"
fi
mkdir -p /rw/upper /rw/work
mount -t overlay -o lowerdir=/lower,upperdir=/rw/upper,workdir=/rw/work overlay /newroot \
	|| fail "mount overlay"

# Keep the 9p mounts visible in the guest's mount table (/proc/self/mountinfo only lists mounts
# under the process's root): / is the overlay; its lower layer shows as /e2e/hostroot (9p,
# tag e2eroot, device 00:10.0) and the results share as /e2e/results (tag e2eresults, 00:11.0).
mkdir -p /newroot/e2e/results /newroot/e2e/hostroot /newroot/e2e/rw
mount --move /results /newroot/e2e/results || fail "move results"
mount --move /lower /newroot/e2e/hostroot || fail "move lower"
mount --move /rw /newroot/e2e/rw || fail "move rw"
for d in proc sys dev; do
	mount --move /$d /newroot/$d || fail "move /$d"
done

[ -r "/newroot$E2E_STAGE2" ] || fail "stage 2 not found: $E2E_STAGE2"

# The kernel's modules, from the extracted package (the host's /lib/modules belongs to the
# host's kernel): a bind mount into the overlay, before anything of the real root runs, so
# modprobe just works there (systemd-modules-load and modprobe@ units included).
mkdir -p "/newroot/lib/modules/$E2E_KVER" || fail "mkdir modules"
mount --bind "/newroot$E2E_KTREE/lib/modules/$E2E_KVER" "/newroot/lib/modules/$E2E_KVER" \
	|| fail "bind modules"

if [ -n "$E2E_SYSTEMD" ]; then
	# --systemd: the host's systemd as PID 1 (README.md, "systemd as PID 1"). The boot's
	# own units go into the overlay's /etc: e2e.target, which starts e2e.service (stage 2 and
	# the guest script) after sysinit.target and basic.target, as any service of the system
	# would; a transient machine id; and masks for what a VM of this kind has no use for.
	S=/newroot/etc/systemd/system
	mkdir -p "$S" || fail "mkdir $S"
	cat > "$S/e2e.target" <<-EOF
		[Unit]
		Description=vfiod e2e: the guest script, then power off
		Requires=basic.target
		After=basic.target
		Wants=e2e.service
		AllowIsolate=yes
	EOF
	cat > "$S/e2e.service" <<-EOF
		[Unit]
		Description=vfiod e2e: stage 2 and $E2E_GUEST_SCRIPT
		After=dbus.socket systemd-udev-trigger.service
		[Service]
		Type=oneshot
		TimeoutStartSec=infinity
		ExecStart=/bin/bash $E2E_STAGE2
		StandardOutput=journal+console
		StandardError=inherit
	EOF
	MASK="systemd-logind.service systemd-timesyncd.service systemd-pstore.service
		systemd-firstboot.service systemd-repart.service systemd-pcrphase.service
		systemd-pcrphase-sysinit.service systemd-binfmt.service
		proc-sys-fs-binfmt_misc.automount systemd-remount-fs.service
		postgresql.service e2scrub_reap.service apt-daily.timer apt-daily-upgrade.timer
		dpkg-db-backup.timer e2scrub_all.timer fstrim.timer man-db.timer"
	if [ -z "$E2E_COLDPLUG" ]; then
		# no coldplug: stage 2 loads the drivers, and a guest script starts udevd itself
		MASK="$MASK systemd-udevd.service systemd-udev-trigger.service
			systemd-udevd-control.socket systemd-udevd-kernel.socket"
	fi
	for u in $MASK; do
		ln -sf /dev/null "$S/$u" || fail "mask $u"
	done
	# Not a container: the host's /.dockerenv (when the host is one) would make systemd
	# detect docker and skip what a VM runs (ConditionVirtualization=).
	rm -f /newroot/.dockerenv
	# /tmp is the overlay's and shows the host's /tmp, where a CI checkout may live:
	# tmpfiles' boot-time clean of /tmp (tmp.conf, "D /tmp") would hide it.
	mkdir -p /newroot/etc/tmpfiles.d && ln -sf /dev/null /newroot/etc/tmpfiles.d/tmp.conf \
		|| fail "mask tmp.conf"
	# an empty machine id: systemd makes a transient one for this boot
	rm -f /newroot/etc/machine-id && : > /newroot/etc/machine-id || fail "machine-id"
	echo "e2e-init: switching root to systemd (uptime $(cut -d' ' -f1 /newroot/proc/uptime))"
	exec switch_root /newroot /lib/systemd/systemd --unit=e2e.target --log-target=kmsg
fi
echo "e2e-init: switching root (uptime $(cut -d' ' -f1 /newroot/proc/uptime))"
exec switch_root /newroot /bin/bash "$E2E_STAGE2"
