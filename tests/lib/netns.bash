# shellcheck disable=SC2034,SC2016 # arrays used by the tests; remote code in single quotes
# Edge hosts as network namespaces on this machine (load after lib/common
# and lib/sshd). Each host has its own network stack on a private bridge
# (10.77.N.0/24, the cloud at .1), its own /opt and /var/lib/cce (a mount
# namespace with directories of the test bound there), and its own sshd.
# Traffic stays on the bridge and in the namespaces this file creates.
#
#   netns_usable                    0 when namespaces can be made and
#                                   entered here; else NETNS_UNUSABLE says why
#   netns_setup                     the bridge; sets NETNS_CLOUD_IP
#   netns_host_add NAME             a host; sets HOST_IP[NAME]
#   netns_host_exec NAME CMD...     run inside the host (network + mounts)
#   netns_link_down NAME / _up      cut or restore the host's link
#   netns_host_stop NAME            stop the host's sshd and cut it off
#   netns_teardown                  remove everything made here
#   netns_load                      in setup(): the state setup_file made
#                                   (bats runs tests in other processes)

declare -gA HOST_IP HOST_DIR HOST_SSHD_PID HOST_VETH

# netns_usable: make a namespace, enter it (with a mount namespace of its
# own, as netns_host_add does) and delete it. When any step fails, return 1
# with the reason (the failing command and its stderr) in NETNS_UNUSABLE,
# also shown on stderr and in the TAP output.
netns_usable() {
	NETNS_UNUSABLE=
	if [ "$(id -u)" -ne 0 ]; then
		NETNS_UNUSABLE="not root (ip netns needs root)"
	elif ! command -v ip >/dev/null; then
		NETNS_UNUSABLE="ip is not installed (Debian package iproute2)"
	elif ! command -v unshare >/dev/null; then
		NETNS_UNUSABLE="unshare is not installed (Debian package util-linux)"
	else
		local probe="cce-probe-$$-$RANDOM" err
		if ! err=$(ip netns add "$probe" 2>&1); then
			NETNS_UNUSABLE="ip netns add failed: ${err:-no message}"
		else
			if ! err=$(ip netns exec "$probe" true 2>&1); then
				NETNS_UNUSABLE="ip netns exec failed: ${err:-no message}"
			elif ! err=$(ip netns exec "$probe" unshare -m --propagation private true 2>&1); then
				NETNS_UNUSABLE="unshare -m inside a namespace failed: ${err:-no message}"
			fi
			if ! err=$(ip netns del "$probe" 2>&1) && [ -z "$NETNS_UNUSABLE" ]; then
				NETNS_UNUSABLE="ip netns del failed: ${err:-no message}"
			fi
		fi
	fi
	export NETNS_UNUSABLE
	[ -z "$NETNS_UNUSABLE" ] && return 0
	echo "network namespaces are unusable here: $NETNS_UNUSABLE" >&2
	{ echo "# network namespaces are unusable here: $NETNS_UNUSABLE" >&3; } 2>/dev/null || true
	return 1
}

netns_setup() {
	# a /24 of our own per run, so that parallel runs do not collide
	NETNS_ID=$(( ($$ % 200) + 20 ))
	NETNS_BR="cce-br$NETNS_ID"
	NETNS_CLOUD_IP="10.77.$NETNS_ID.1"
	NETNS_N=0
	NETNS_HOSTS=()
	ip link add "$NETNS_BR" type bridge
	ip addr add "$NETNS_CLOUD_IP/24" dev "$NETNS_BR"
	ip link set "$NETNS_BR" up
	export NETNS_ID NETNS_BR NETNS_CLOUD_IP
	netns_save
}

netns_host_add() {
	local name=$1
	NETNS_N=$((NETNS_N + 1))
	local ns="cce-$NETNS_ID-$name" veth="cv$NETNS_ID-$NETNS_N"
	local ip="10.77.$NETNS_ID.$((10 + NETNS_N))"
	local dir="$BATS_FILE_TMPDIR/hosts/$name"
	mkdir -p "$dir/opt" "$dir/state" "$dir/sshd"
	ip netns add "$ns"
	ip link add "$veth" type veth peer name "$veth-in"
	ip link set "$veth-in" netns "$ns"
	ip link set "$veth" master "$NETNS_BR" up
	ip netns exec "$ns" ip link set lo up
	ip netns exec "$ns" ip link set "$veth-in" name eth0
	ip netns exec "$ns" ip addr add "$ip/24" dev eth0
	ip netns exec "$ns" ip link set eth0 up
	ip netns exec "$ns" ip route add default via "$NETNS_CLOUD_IP"
	HOST_IP[$name]=$ip
	HOST_DIR[$name]=$dir
	HOST_VETH[$name]=$veth
	NETNS_HOSTS+=("$name")
	netns_save

	# sshd inside the host, with the host's own /opt and /var/lib/cce
	ssh-keygen -q -t ed25519 -N '' -f "$dir/sshd/host_key" <<<y >/dev/null
	cat >"$dir/sshd/sshd_config" <<CONF
Port 22
ListenAddress $ip
HostKey $dir/sshd/host_key
AuthorizedKeysFile $NETNS_CLIENT_KEY.pub
PermitRootLogin yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
PidFile $dir/sshd/sshd.pid
LogLevel ERROR
SetEnv PATH=$PATH CCE_HOME=/var/lib/cce SHLVL=1
CONF
	mkdir -p /run/sshd /var/lib/cce
	ip netns exec "$ns" unshare -m --propagation private bash -c '
		mount --bind "$1/opt" /opt && mount --bind "$1/state" /var/lib/cce &&
		exec /usr/sbin/sshd -D -f "$1/sshd/sshd_config" -E "$1/sshd/log"' _ "$dir" &
	HOST_SSHD_PID[$name]=$!
	netns_save
	local i
	for i in $(seq 1 50); do
		netns_ssh "$name" true 2>/dev/null && return 0
		sleep 0.1
	done
	echo "sshd of $name did not come up:" >&2
	cat "$dir/sshd/log" >&2
	return 1
}

# the client key every host accepts; made once per file
netns_client_key() {
	NETNS_CLIENT_KEY="$BATS_FILE_TMPDIR/client_key"
	[ -f "$NETNS_CLIENT_KEY" ] || ssh-keygen -q -t ed25519 -N '' -f "$NETNS_CLIENT_KEY" <<<y >/dev/null
	NETNS_SSH_CONFIG="$BATS_FILE_TMPDIR/ssh_config"
	cat >"$NETNS_SSH_CONFIG" <<CONF
Host *
	User root
	IdentityFile $NETNS_CLIENT_KEY
	StrictHostKeyChecking no
	UserKnownHostsFile /dev/null
	LogLevel ERROR
	ConnectTimeout 3
	BatchMode yes
CONF
	NETNS_SSH="$BATS_FILE_TMPDIR/ssh"
	printf '#!/bin/sh\nexec ssh -F %s "$@"\n' "$NETNS_SSH_CONFIG" >"$NETNS_SSH"
	chmod +x "$NETNS_SSH"
	export NETNS_CLIENT_KEY NETNS_SSH_CONFIG NETNS_SSH
}

netns_save() {
	declare -p HOST_IP HOST_DIR HOST_SSHD_PID HOST_VETH NETNS_HOSTS NETNS_ID NETNS_BR \
		NETNS_CLOUD_IP NETNS_N NETNS_CLIENT_KEY NETNS_SSH_CONFIG NETNS_SSH 2>/dev/null |
		sed 's/^declare -/declare -g -/' >"$BATS_FILE_TMPDIR/netns.env"
}

netns_load() {
	# shellcheck disable=SC1091
	[ -f "$BATS_FILE_TMPDIR/netns.env" ] && source "$BATS_FILE_TMPDIR/netns.env"
	return 0
}

netns_ssh() {
	local name=$1
	shift
	"$NETNS_SSH" "${HOST_IP[$name]}" "$@"
}

netns_host_exec() {
	local name=$1
	shift
	ip netns exec "cce-$NETNS_ID-$name" "$@"
}

netns_link_down() { ip link set "${HOST_VETH[$1]}" down; }
netns_link_up() { ip link set "${HOST_VETH[$1]}" up; }

netns_host_stop() {
	local name=$1
	kill "${HOST_SSHD_PID[$name]}" 2>/dev/null || true
	# everything the host still runs (its sshd sessions) goes with it
	ip netns pids "cce-$NETNS_ID-$name" 2>/dev/null | xargs -r kill -9 2>/dev/null || true
	netns_link_down "$name"
	return 0
}

netns_teardown() {
	netns_load
	local name
	for name in "${NETNS_HOSTS[@]}"; do
		ip netns pids "cce-$NETNS_ID-$name" 2>/dev/null | xargs -r kill -9 2>/dev/null || true
		kill "${HOST_SSHD_PID[$name]}" 2>/dev/null
		ip link del "${HOST_VETH[$name]}" 2>/dev/null
		ip netns del "cce-$NETNS_ID-$name" 2>/dev/null
	done
	[ -n "${NETNS_BR:-}" ] && ip link del "$NETNS_BR" 2>/dev/null
	return 0
}
