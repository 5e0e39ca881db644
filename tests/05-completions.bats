#!/usr/bin/env bats
# Completions and man pages cannot drift from --help (ripgrep's and git's
# approach): for every tool and script that has --help, each long option it
# prints must be completed by bash and zsh and documented in its man page,
# and each subcommand on its usage lines must complete.

load lib/common

tools() {
	local t
	for t in "$CCE_BUILD"/bin/cce-* "$CCE_ROOT"/scripts/cce-*; do
		[ -x "$t" ] && basename "$t"
	done
}

# long options printed by --help: "  -x, --long ARG" or "      --long"
help_options() {
	"$1" --help | sed -nE 's/^ +(-[a-zA-Z0-9], )?(--[a-z0-9][a-z0-9-]*).*/\2/p' | sort -u
}

# subcommands from the usage lines: "usage: cce-x [opts] sub ..." and
# following lines indented under it
help_subcommands() {
	"$1" --help | sed -nE "s/^(usage: +| +)$1 +//p" |
		sed -E 's/^(\[[^]]*\] *)*//' | awk '{print $1}' |
		grep -E '^[a-z][a-z|-]*$' | tr '|' '\n' | sort -u
}

# what bash completes for the words given (the last is the one completed)
bash_complete() {
	local tool=$1
	shift
	bash -c '
		source /usr/share/bash-completion/bash_completion
		source "$1"; shift
		COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1))
		COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}
		fn=$(complete -p "$1" | sed -E "s/.*-F ([^ ]+) .*/\1/")
		"$fn" "$1" "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
		printf "%s\n" "${COMPREPLY[@]}"
	' _ "$CCE_ROOT/completions/$tool.bash" "$@"
}

# require PROGRAM:PACKAGE...: fail naming the programs that are missing
# (the man pages are read through mandoc and col: without them every option
# would look undocumented, which is not what is wrong)
require() {
	local p missing=()
	for p in "$@"; do
		command -v "${p%%:*}" >/dev/null || missing+=("${p%%:*} (Debian package ${p#*:})")
	done
	[ "${#missing[@]}" -eq 0 ] && return 0
	echo "missing: ${missing[*]}; scripts/install-deps --test installs what is missing" >&2
	return 1
}

@test "every tool with --help has bash and zsh completions and a man page" {
	local t missing=()
	for t in $(tools); do
		[ -f "$CCE_ROOT/completions/$t.bash" ] || missing+=("completions/$t.bash")
		[ -f "$CCE_ROOT/completions/_$t" ] || missing+=("completions/_$t")
		compgen -G "$CCE_ROOT/man/$t.[1-9]" >/dev/null || missing+=("man/$t.1")
	done
	[ "${#missing[@]}" -eq 0 ] || { printf 'missing: %s\n' "${missing[@]}"; false; }
}

@test "every --help option is in both completion files and in the man page" {
	require mandoc:mandoc col:bsdextrautils
	local t o bad=()
	for t in $(tools); do
		local man
		man=$(mandoc -Tascii "$CCE_ROOT"/man/"$t".[1-9] 2>/dev/null | col -b)
		for o in $(help_options "$t"); do
			grep -qe "$o\b" "$CCE_ROOT/completions/$t.bash" 2>/dev/null || bad+=("$t.bash lacks $o")
			grep -qe "$o\b" "$CCE_ROOT/completions/_$t" 2>/dev/null || bad+=("_$t lacks $o")
			grep -qe "$o\b" <<<"$man" || bad+=("man page of $t lacks $o")
		done
	done
	[ "${#bad[@]}" -eq 0 ] || { printf '%s\n' "${bad[@]}"; false; }
}

@test "bash completes every long option after '--' and every subcommand" {
	local t o bad=()
	for t in $(tools); do
		[ -f "$CCE_ROOT/completions/$t.bash" ] || continue
		local subs offered
		subs=$(help_subcommands "$t")
		if [ -n "$subs" ]; then
			offered=$(bash_complete "$t" "$t" "")
			for o in $subs; do
				grep -qx -- "$o" <<<"$offered" || bad+=("$t: subcommand $o not completed")
			done
		else
			offered=$(bash_complete "$t" "$t" "--")
			for o in $(help_options "$t"); do
				grep -qx -- "$o=\?" <<<"$offered" || bad+=("$t: $o not completed")
			done
		fi
	done
	[ "${#bad[@]}" -eq 0 ] || { printf '%s\n' "${bad[@]}"; false; }
}

@test "zsh completion files parse and declare their command" {
	command -v zsh >/dev/null || skip "zsh not installed"
	local f bad=()
	for f in "$CCE_ROOT"/completions/_*; do
		[ -f "$f" ] || continue
		zsh -n "$f" || bad+=("$f does not parse")
		head -n1 "$f" | grep -q "^#compdef ${f##*/_}\b" || bad+=("$f lacks '#compdef ${f##*/_}'")
	done
	[ "${#bad[@]}" -eq 0 ] || { printf '%s\n' "${bad[@]}"; false; }
}
