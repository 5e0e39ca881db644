# bash completion for cce-rule
_cce_rule() {
	local cur prev words cword
	_init_completion || return
	case "$prev" in
	-r|--rules|--state|--status|--rejects)
		_filedir
		return ;;
	--time|--lateness|--checkpoint|--eval-timeout|--eval-memory|--max-overruns|--max-keys|--max-line)
		return ;;
	esac
	if [[ "$cur" == -* ]]; then
		COMPREPLY=($(compgen -W '--rules --check --time --lateness --state
			--checkpoint --status --pass --anomaly-score --emit-pending --eval-timeout --eval-memory
			--max-overruns --max-keys --help
			--version --quiet --unbuffered --rejects --strict --max-line' -- "$cur"))
		return
	fi
	_filedir
}
complete -F _cce_rule cce-rule
