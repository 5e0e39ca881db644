#!/bin/bash
# cce-lib.sh: what the cce shell scripts share. Sourced, never run: each
# script finds it next to itself (scripts/ in the source tree, the bin
# directory once installed).
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
