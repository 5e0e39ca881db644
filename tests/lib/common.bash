# shellcheck disable=SC2154 # status, output, stderr come from bats' run
# Shared set-up for every bats file: load with `load lib/common`.
#
# - puts the build under test first on PATH (CCE_BUILD, default build/)
# - runs every test in its own $BATS_TEST_TMPDIR, with CCE_HOME under it
# - run_cce [-N|!] CMD ARGS...: run, log the command, check the exit code
#   (like podman's run_podman): -N expects exactly N, ! expects non-zero.

bats_require_minimum_version 1.5.0
bats_load_library bats-support
bats_load_library bats-assert
bats_load_library bats-file

CCE_ROOT="$(cd "$BATS_TEST_DIRNAME" && while [ ! -f Makefile ] && [ "$PWD" != / ]; do cd ..; done && pwd)"
CCE_BUILD="${CCE_BUILD:-$CCE_ROOT/build}"
case "$CCE_BUILD" in /*) ;; *) CCE_BUILD="$CCE_ROOT/$CCE_BUILD" ;; esac
export CCE_ROOT CCE_BUILD
export PATH="$CCE_BUILD/bin:$CCE_BUILD/tests:$CCE_ROOT/scripts:$PATH"
export LC_ALL=C.UTF-8

common_setup() {
	cd "$BATS_TEST_TMPDIR" || return 1
	export CCE_HOME="$BATS_TEST_TMPDIR/home"
	mkdir -p "$CCE_HOME"
	unset CCE_STORE CCE_LOG XDG_STATE_HOME
}

setup() {
	common_setup
}

# run_cce [-N | !] command args...
run_cce() {
	local expected=0
	case "$1" in
	-[0-9]*) expected="${1#-}"; shift ;;
	'!') expected='!'; shift ;;
	esac
	echo "\$ $*" >&3 2>/dev/null || true
	run --separate-stderr "$@"
	if [ "$expected" = '!' ]; then
		if [ "$status" -eq 0 ]; then
			echo "expected a non-zero exit from: $*" >&2
			echo "stdout: $output" >&2
			echo "stderr: $stderr" >&2
			return 1
		fi
	elif [ "$status" -ne "$expected" ]; then
		echo "exit code $status, expected $expected, from: $*" >&2
		echo "stdout: $output" >&2
		echo "stderr: $stderr" >&2
		return 1
	fi
}

# A free TCP port on 127.0.0.1 (the kernel picks one; races are unlikely
# within one test run and servers are started right after).
free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# wait_for TIMEOUT_SECONDS COMMAND...: poll until the command succeeds
wait_for() {
	local deadline=$((SECONDS + $1))
	shift
	until "$@" 2>/dev/null; do
		[ "$SECONDS" -lt "$deadline" ] || return 1
		sleep 0.1
	done
}
