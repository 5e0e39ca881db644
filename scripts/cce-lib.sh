#!/bin/bash
# cce-lib.sh: what the cce shell scripts share. Sourced, never run: each
# script sets cce_prog to its name, then finds this file next to itself
# (scripts/ in the source tree) or in ../lib/cce once installed.
#
# Every script: die_usage and die (messages and exit codes of cce(7)),
# cce_options (the GNU-style option loop, -h and -V), the size and
# duration grammar below, json_str and cce_bytes. The ssh scripts
# (cce-fleet, cce-deploy): their shared options (cce_ssh_option), cce_ssh
# (ssh under timeout(1)), cce_timed_out and cce_ssh_stderr (why a run
# failed), cce_job_slot (the --jobs limit), cce_tmpdir and cce_emit (whole
# records from parallel jobs). Functions return values in REPLY, never by
# printing, so that a caller needs no subshell.
#
# Durations and sizes follow lib/cli.c's cli_duration and cli_size to the
# byte, so that an option means the same in a script as in a C tool:
#   durations: 250ms 30s 5m 2h 7d or bare seconds, fractions allowed
#   sizes: 512, 64KiB or 64K (or 64k), 10MiB or 10M, 1GiB or 1G, 1TiB or 1T
#          (binary); 1kB or 1KB, 1MB, 1GB, 1TB (decimal); 512B
# The number is digits with an optional fraction (5, 5., 5.25, .25), fewer
# than 64 characters, no sign, no exponent; the unit must follow it at once
# and end the string. Arithmetic is in doubles, as in C: a duration is
# rounded to the nearest millisecond (halves away from zero) and refused
# above 9.2e18 ms; a size must come to a whole number of bytes below
# 1.8e19.

# cce_duration OPT VALUE: REPLY is VALUE in milliseconds; or REPLY is the
# usage message and the status 1.
cce_duration() {
	local LC_ALL=C
	if [[ "$2" =~ ^([0-9]+(\.[0-9]*)?|\.[0-9]+)(ms|s|m|h|d)?$ ]] && [ "${#BASH_REMATCH[1]}" -lt 64 ] &&
		REPLY=$(LC_ALL=C awk -v n="${BASH_REMATCH[1]}" -v u="${BASH_REMATCH[3]}" 'BEGIN {
			m = (u == "ms") ? 1 : (u == "m") ? 60e3 : (u == "h") ? 3600e3 : (u == "d") ? 86400e3 : 1000
			r = (n + 0) * m
			if (r > 9.2e18) exit 1
			f = int(r)
			if (r - f >= 0.5) f++
			printf "%.0f\n", f
		}'); then
		return 0
	fi
	REPLY="$1: invalid duration '$2' (use e.g. 250ms, 30s, 5m, 2h, 7d)"
	return 1
}

# cce_size OPT VALUE: REPLY is VALUE in bytes (a decimal string, which may
# be past what shell arithmetic holds); or REPLY is the usage message and
# the status 1.
cce_size() {
	local LC_ALL=C
	if [[ "$2" =~ ^([0-9]+(\.[0-9]*)?|\.[0-9]+)(B|k|K|KiB|M|MiB|G|GiB|T|TiB|kB|KB|MB|GB|TB)?$ ]] &&
		[ "${#BASH_REMATCH[1]}" -lt 64 ] &&
		REPLY=$(LC_ALL=C awk -v n="${BASH_REMATCH[1]}" -v u="${BASH_REMATCH[3]}" 'BEGIN {
			m = 1
			if (u ~ /^[kK](iB)?$/) m = 1024
			else if (u ~ /^M(iB)?$/) m = 1048576
			else if (u ~ /^G(iB)?$/) m = 1073741824
			else if (u ~ /^T(iB)?$/) m = 1099511627776
			else if (u ~ /^[kK]B$/) m = 1e3
			else if (u == "MB") m = 1e6
			else if (u == "GB") m = 1e9
			else if (u == "TB") m = 1e12
			r = (n + 0) * m
			if (r >= 1.8e19 || r != int(r)) exit 1
			printf "%.0f\n", r
		}'); then
		return 0
	fi
	REPLY="$1: invalid size '$2' (use e.g. 512, 64KiB, 10MiB, 1GiB)"
	return 1
}

# cce_seconds MS: REPLY is MS milliseconds as seconds for timeout(1) and
# messages: 30000 -> 30, 1500 -> 1.5, 250 -> 0.25.
cce_seconds() {
	local s=$(($1 / 1000)) f
	printf -v f '%03d' $(($1 % 1000))
	while [ -n "$f" ] && [ "${f: -1}" = 0 ]; do f=${f%0}; done
	REPLY=$s${f:+.$f}
}

# cce_bytes TEXT: REPLY is the length of TEXT in bytes, whatever the locale.
cce_bytes() {
	local LC_ALL=C
	REPLY=${#1}
}

# The control characters JSON has no short escape for, and their escapes.
cce_ctl=() cce_ctl_esc=()
for cce_i in 1 2 3 4 5 6 7 11 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31; do
	printf -v 'cce_ctl_esc[cce_i]' '\\u%04x' "$cce_i"
	printf -v 'cce_ctl[cce_i]' '\\x%02x' "$cce_i"
	printf -v 'cce_ctl[cce_i]' '%b' "${cce_ctl[cce_i]}"
done
unset cce_i

# json_str TEXT: REPLY is TEXT as one JSON string, as jq writes it: ", \
# and the control characters U+0001 to U+001F escaped, \b \f \n \r \t by
# name and the others as \u00XX; everything else as is (DEL too, which jq
# escapes and JSON need not). Builtins only, so that a caller may run it
# once per line without a process per line. TEXT must be valid UTF-8.
json_str() {
	local s=$1 i
	s=${s//\\/\\\\}
	s=${s//\"/\\\"}
	if [[ "$s" == *[[:cntrl:]]* ]]; then
		s=${s//$'\t'/\\t}
		s=${s//$'\n'/\\n}
		s=${s//$'\r'/\\r}
		s=${s//$'\b'/\\b}
		s=${s//$'\f'/\\f}
		for i in "${!cce_ctl[@]}"; do
			s=${s//"${cce_ctl[i]}"/"${cce_ctl_esc[i]}"}
		done
	fi
	REPLY="\"$s\""
}

# ---- every script ----

# the name in messages: the script's, set before it sources this file
cce_prog=${cce_prog:-cce}

# die_usage MESSAGE: a usage error as cce(7) has it: the message and a
# hint to --help on stderr, exit 64.
die_usage() {
	echo "$cce_prog: $1" >&2
	echo "Try '$cce_prog --help' for more information." >&2
	exit 64
}

# die MESSAGE [STATUS]: the message on stderr, exit STATUS (default 1).
die() {
	echo "$cce_prog: $1" >&2
	exit "${2:-1}"
}

# cce_options VALUED HANDLER ARG...: the scripts' option loop, GNU style:
# --opt=value or --opt value; -- ends the options, and so does the first
# word that does not start with -; the words left are in cce_args.
# VALUED lists (space-separated) the options that take a value: one that
# comes without is a usage error before HANDLER sees it. HANDLER OPT
# [VALUE] sets what OPT means, and returns non-zero for an option it does
# not know (a usage error). -h/--help calls the script's usage and exits
# 0, -V/--version prints the version. Options are taken in order, so a bad
# value before --help still fails. HANDLER runs as the condition of ||:
# set -e does not stop it, so it reports its errors with die_usage.
cce_options() {
	local valued=" ${1//[[:space:]]/ } " handler=$2 opt
	shift 2
	while [ $# -gt 0 ]; do
		opt=$1
		case "$opt" in
		--) shift; break ;;
		--*=*) set -- "${opt%%=*}" "${opt#*=}" "${@:2}"; continue ;;
		-h|--help) usage; exit 0 ;;
		-V|--version) echo "$cce_prog $(cat "$(dirname "$0")/../VERSION" 2>/dev/null || echo 0.1.0)"; exit 0 ;;
		-*) ;;
		*) break ;;
		esac
		if [[ "$valued" == *" $opt "* ]]; then
			[ $# -ge 2 ] || die_usage "option '$opt' requires an argument"
			"$handler" "$opt" "$2" || die_usage "unknown option '$opt'"
			shift
		else
			"$handler" "$opt" || die_usage "unknown option '$opt'"
		fi
		shift
	done
	# shellcheck disable=SC2034 # the caller's
	cce_args=("$@")
}

# ---- the ssh scripts: cce-fleet and cce-deploy ----

# The options they share, with their defaults; cce_timeout_ms empty until
# --timeout or cce_timeout_default sets it.
cce_jobs=8 cce_timeout_ms='' cce_user='' cce_ssh_prog=ssh
cce_ssh_opts=()
# shellcheck disable=SC2034 # a VALUED list for cce_options
cce_ssh_valued='-j --jobs --timeout --ssh-opt --user --ssh'

# cce_ssh_option OPT [VALUE]: -j/--jobs N, --timeout DUR, --ssh-opt OPT,
# --user U, --ssh PROGRAM, a handler for cce_options; non-zero for any
# other option.
cce_ssh_option() {
	case "$1" in
	-j|--jobs) [[ "$2" =~ ^[1-9][0-9]*$ ]] || die_usage "$1: invalid number '$2'"; cce_jobs=$2 ;;
	--timeout) cce_duration "$1" "$2" || die_usage "$REPLY"; cce_timeout_ms=$REPLY ;;
	--ssh-opt) cce_ssh_opts+=(-o "$2") ;;
	--user) cce_user=$2 ;;
	--ssh) cce_ssh_prog=$2 ;;
	*) return 1 ;;
	esac
}

# cce_timeout_default MS: the timeout is MS unless --timeout gave one;
# cce_timeout_s is it in seconds, for timeout(1) and messages.
cce_timeout_default() {
	[ -n "$cce_timeout_ms" ] || cce_timeout_ms=$1
	cce_seconds "$cce_timeout_ms"
	cce_timeout_s=$REPLY
}

# cce_ssh GRACE ADDR COMMAND...: COMMAND on ADDR (as --user when given)
# through the --ssh program with the --ssh-opt options, in batch mode (no
# password prompt); after the timeout it gets SIGTERM, GRACE seconds later
# SIGKILL. Standard streams and exit status are ssh's, or timeout(1)'s.
cce_ssh() {
	local grace=$1 target=$2
	shift 2
	[ -z "$cce_user" ] || target="$cce_user@$target"
	timeout -k "$grace" "$cce_timeout_s" "$cce_ssh_prog" -o BatchMode=yes "${cce_ssh_opts[@]}" "$target" -- "$@"
}

# cce_timed_out STATUS: true when STATUS is that of a cce_ssh run that the
# timeout stopped (124, or 137 once killed); REPLY is then the message.
cce_timed_out() {
	REPLY="timed out after ${cce_timeout_s}s"
	[ "$1" -eq 124 ] || [ "$1" -eq 137 ]
}

# cce_ssh_stderr FILE: REPLY is the last line of an ssh run's stderr in
# FILE, ssh's notice about known hosts aside: the reason it failed.
cce_ssh_stderr() {
	REPLY=$(grep -v '^Warning: Permanently added' "$1" 2>/dev/null | tail -n1)
}

# cce_job_slot: waits until fewer than --jobs background jobs run, so that
# one more may start.
cce_job_slot() {
	while [ "$(jobs -rp | wc -l)" -ge "$cce_jobs" ]; do
		wait -n
	done
}

# cce_now_ms: REPLY is the time in epoch milliseconds, without a process.
cce_now_ms() {
	local us=${EPOCHREALTIME//[!0-9]/}
	REPLY=$((us / 1000))
}

# cce_tmpdir: tmp is a new private directory, removed when the script
# exits; SIGINT and SIGTERM exit 130 and 143 through that clean-up.
cce_tmpdir() {
	tmp=$(mktemp -d "${TMPDIR:-/tmp}/$cce_prog.XXXXXX")
	trap 'rm -rf "$tmp"' EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
}

# cce_emit FILE: FILE's records on stdout, whole: the parallel jobs of one
# run take turns under a lock in $tmp, so that records never interleave.
cce_emit() {
	{
		flock 9
		cat "$1"
	} 9>"$tmp/lock"
}
