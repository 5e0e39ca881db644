# A throwaway sshd on a loopback port for tests (load after lib/common).
#
# sshd_start DIR: generates host and client keys in DIR, starts
# /usr/sbin/sshd on a free 127.0.0.1 port as the current user (root),
# waits until it answers. Sets SSHD_PORT, SSHD_PID, SSH_KEY and
# SSH_OPTS (an array of -o options and -i KEY for ssh). sshd_stop DIR.
#
# SHLVL=1 in the sessions' environment keeps bash from sourcing the
# user's ~/.bashrc, which Debian's bash does for commands run by sshd:
# the tests must not depend on what root's shell set-up does (a pyenv
# init there once held every ssh command 60 s on a stale lock).

sshd_start() {
	local dir=$1
	mkdir -p "$dir" /run/sshd
	ssh-keygen -q -t ed25519 -N '' -f "$dir/host_key" <<<y >/dev/null
	ssh-keygen -q -t ed25519 -N '' -f "$dir/client_key" <<<y >/dev/null
	cp "$dir/client_key.pub" "$dir/authorized_keys"
	chmod 600 "$dir/authorized_keys"
	SSHD_PORT=$(free_port)
	cat >"$dir/sshd_config" <<CONF
Port $SSHD_PORT
ListenAddress 127.0.0.1
HostKey $dir/host_key
AuthorizedKeysFile $dir/authorized_keys
PermitRootLogin yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
PidFile $dir/sshd.pid
LogLevel ERROR
AcceptEnv CCE_*
SetEnv SHLVL=1
CONF
	/usr/sbin/sshd -D -f "$dir/sshd_config" -E "$dir/sshd.log" &
	SSHD_PID=$!
	SSH_KEY="$dir/client_key"
	SSH_OPTS=(-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR
		-o BatchMode=yes -o ConnectTimeout=5 -p "$SSHD_PORT" -i "$SSH_KEY")
	export SSHD_PORT SSHD_PID SSH_KEY
	for _ in $(seq 1 50); do
		ssh "${SSH_OPTS[@]}" 127.0.0.1 true 2>/dev/null && return 0
		sleep 0.1
	done
	echo "sshd did not come up on port $SSHD_PORT:" >&2
	cat "$dir/sshd.log" >&2
	return 1
}

sshd_stop() {
	[ -n "${SSHD_PID:-}" ] && kill "$SSHD_PID" 2>/dev/null
	wait "$SSHD_PID" 2>/dev/null
	return 0
}
