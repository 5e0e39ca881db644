# Hosts without a network for tests of the ssh layer (load after
# lib/common): an "ssh" that runs the command locally in a private mount
# namespace where /opt is the host's own directory under $HOSTS/ADDR, so
# that several "hosts" can hold the same /opt/APP path side by side.
# A host whose directory holds a file named "down" refuses the connection.
#
# fakehosts_setup: sets HOSTS and FAKE_SSH (the program for --ssh).

fakehosts_setup() {
	HOSTS="$BATS_TEST_TMPDIR/hosts"
	FAKE_SSH="$BATS_TEST_TMPDIR/fake-ssh"
	mkdir -p "$HOSTS"
	cat >"$FAKE_SSH" <<'SH'
#!/bin/bash
# fake-ssh [-o opt]... [-p port] [-i key] [user@]host [--] command...
while [ $# -gt 0 ]; do
	case "$1" in
	-o|-p|-i|-l|-F) shift 2 ;;
	--) shift ;;
	-*) shift ;;
	*) break ;;
	esac
done
host=${1#*@}
shift
[ "${1:-}" = -- ] && shift
root="$HOSTS/$host"
if [ -e "$root/down" ] || [ ! -d "$root" ]; then
	echo "ssh: connect to host $host port 22: Connection refused" >&2
	exit 255
fi
mkdir -p "$root/opt"
exec unshare -m bash -c 'mount --bind "$0" /opt && exec bash -c "$1"' "$root/opt" "$*"
SH
	chmod +x "$FAKE_SSH"
	export HOSTS FAKE_SSH
}

# fakehost_add ADDR: a host that answers
fakehost_add() {
	mkdir -p "$HOSTS/$1/opt"
}
