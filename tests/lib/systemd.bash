# shellcheck disable=SC2016,SC2034 # the namespace's script is in single quotes; variables for the tests
# A test host with a real systemd as PID 1 (load after lib/common): a
# cached Debian 12 root with systemd (lib/debroot), a throwaway overlay of
# it, run as `unshare --fork --pid --mount` with private /run and /tmp and
# `chroot ROOT /lib/systemd/systemd --system`. The build under test is
# bound at its own path inside, so $CCE_BUILD/bin works there too.
#
#   systemd_usable            0 when a host can be made; else SYSTEMD_UNUSABLE
#                             says why (not root, no unshare, no mirror)
#   systemd_start DIR         start (or start again on the same root) the
#                             host in DIR; sets SYSTEMD_PID (host's view)
#   systemd_exec CMD...       run CMD inside (all namespaces, the root, /)
#   systemd_stop              kill PID 1 of the host: everything inside dies
#   systemd_load DIR          in setup(): the state setup_file made
#   systemd_ssh FILE PIDFILE  write FILE, an "ssh" that runs its command
#                             line (as sshd would, by bash -c) in the host
#                             whose PID 1 PIDFILE holds ({host} in PIDFILE
#                             is the address ssh was given), or fails as
#                             ssh does when that host is down
#
# A file with one host in $SD_DIR ($BATS_FILE_TMPDIR/host) uses the three
# hooks: systemd_file_setup in setup_file (skips the file when no host can
# be made), systemd_file_teardown in teardown_file, systemd_test_setup in
# setup (common_setup, then the host's PID).
#
# Everything the host runs dies with its PID 1, and its mounts go with its
# mount namespace, so nothing outlives systemd_stop. The host holds no
# descriptor of bats (fd 3), which would wait for it otherwise.

# (by its own path, so that tests/e2e can load this file too)
load "${BASH_SOURCE[0]%/*}/debroot"

# the demo (tests/73) needs jq and curl, and cce-gateway its libraries
SYSTEMD_INCLUDE=systemd,dbus,procps,libjq1,libcurl4,libarchive13,libmosquitto1,libasan8,libubsan1,jq,curl,libmicrohttpd12,libsqlite3-0,libpq5
# bump when the recipe changes in a way the package list does not show
SYSTEMD_RECIPE=1
SYSTEMD_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

systemd_usable() {
	SYSTEMD_UNUSABLE=
	local p
	if [ "$(id -u)" -ne 0 ]; then
		SYSTEMD_UNUSABLE="not root (unshare, chroot and mounts need it)"
		return 1
	fi
	for p in debootstrap unshare chroot nsenter flock; do
		command -v "$p" >/dev/null || { SYSTEMD_UNUSABLE="$p is not installed"; return 1; }
	done
	SYSTEMD_MIRROR=$(debroot_mirror)
	[ -n "$SYSTEMD_MIRROR" ] || { SYSTEMD_UNUSABLE="no Debian mirror for $DEBROOT_SUITE in apt's sources"; return 1; }
}

# systemd_start DIR: DIR/upper keeps the host's changes, so a second start
# on the same DIR is the same machine booting again
systemd_start() {
	local d=$1 cache upid i
	# a test's own start (a reboot) does not see what setup_file's
	# systemd_usable set: without the mirror it would name another root
	SYSTEMD_MIRROR=${SYSTEMD_MIRROR:-$(debroot_mirror)}
	cache=$(debroot_cache "$SYSTEMD_RECIPE" "$SYSTEMD_INCLUDE" "$SYSTEMD_MIRROR") || return 1
	debroot_build "$cache" "$SYSTEMD_MIRROR" "$SYSTEMD_INCLUDE" || return 1
	mkdir -p "$d/upper" "$d/work" "$d/root"
	unshare --fork --pid --mount --propagation private bash -euo pipefail -c '
		cache=$1 d=$2 root=$2/root build=$3
		mount -t overlay overlay -o "lowerdir=$cache,upperdir=$d/upper,workdir=$d/work" "$root"
		mount -t tmpfs -o mode=0755 tmpfs "$root/run"
		mount -t tmpfs -o mode=1777 tmpfs "$root/tmp"
		mkdir -p "$root$build"
		mount --bind "$build" "$root$build"
		# systemd wants a machine id and a hostname; no getty or network
		[ -s "$root/etc/machine-id" ] || echo 0123456789abcdef0123456789abcdef >"$root/etc/machine-id"
		echo cce-test >"$root/etc/hostname"
		# gettys wait 90 s for a serial device this host does not have
		for u in getty.target serial-getty@.service console-getty.service; do
			ln -sfn /dev/null "$root/etc/systemd/system/$u"
		done
		ln -sfn /lib/systemd/system/multi-user.target "$root/etc/systemd/system/default.target"
		exec chroot "$root" /lib/systemd/systemd --system
	' _ "$cache" "$d" "$CCE_BUILD" </dev/null >"$d/systemd.log" 2>&1 3>&- &
	upid=$!
	SYSTEMD_PID=
	for ((i = 0; i < 100; i++)); do
		SYSTEMD_PID=$(cat "/proc/$upid/task/$upid/children" 2>/dev/null) && [ -n "$SYSTEMD_PID" ] && break
		sleep 0.1
	done
	SYSTEMD_PID=${SYSTEMD_PID// /}
	[ -n "$SYSTEMD_PID" ] || { echo "systemd did not start: $(cat "$d/systemd.log")" >&2; return 1; }
	echo "$SYSTEMD_PID" >"$d/pid"
	# ready when the boot finished (running, or degraded: some unit of the
	# root failed, which is not ours to care about)
	local deadline=$((SECONDS + 120)) st
	while :; do
		st=$(systemd_exec systemctl is-system-running 2>/dev/null) || true
		case "$st" in running | degraded) return 0 ;; esac
		if [ "$SECONDS" -ge "$deadline" ] || ! kill -0 "$SYSTEMD_PID" 2>/dev/null; then
			echo "systemd did not come up (state '$st'): $(tail -20 "$d/systemd.log")" >&2
			return 1
		fi
		sleep 0.2
	done
}

systemd_exec() {
	nsenter -t "$SYSTEMD_PID" -a -r -w /usr/bin/env -i PATH="$SYSTEMD_PATH" LANG=C.UTF-8 "$@"
}

systemd_stop() {
	[ -n "${SYSTEMD_PID:-}" ] || return 0
	kill -KILL "$SYSTEMD_PID" 2>/dev/null || true
	local i
	for ((i = 0; i < 100; i++)); do
		kill -0 "$SYSTEMD_PID" 2>/dev/null || break
		sleep 0.1
	done
	SYSTEMD_PID=
}

systemd_load() {
	SYSTEMD_PID=$(cat "$1/pid")
}

systemd_file_setup() {
	if ! systemd_usable; then
		skip "no systemd test host: $SYSTEMD_UNUSABLE"
	fi
	export SD_DIR="$BATS_FILE_TMPDIR/host"
	systemd_start "$SD_DIR"
}

systemd_file_teardown() {
	# a test may have started a new PID 1 on the same root
	[ -f "$SD_DIR/pid" ] && systemd_load "$SD_DIR"
	systemd_stop
}

systemd_test_setup() {
	common_setup
	[ -f "$SD_DIR/pid" ] || skip "no systemd test host"
	systemd_load "$SD_DIR"
}

systemd_ssh() {
	cat >"$1" <<SH
#!/bin/bash
# ssh [options] [user@]host [--] command...: options are ignored
while [ \$# -gt 0 ]; do
	case "\$1" in
	-o|-p|-i|-l|-F) shift 2 ;;
	--) shift ;;
	-*) shift ;;
	*) break ;;
	esac
done
host=\${1#*@}
shift
[ "\${1:-}" = -- ] && shift
pidfile='$2'
pid=\$(cat "\${pidfile//\{host\}/\$host}" 2>/dev/null) && kill -0 "\$pid" 2>/dev/null ||
	{ echo "ssh: connect to host \$host port 22: Connection refused" >&2; exit 255; }
exec nsenter -t "\$pid" -a -r -w /usr/bin/env -i PATH="$SYSTEMD_PATH" LANG=C.UTF-8 bash -c "\$*"
SH
	chmod +x "$1"
}
