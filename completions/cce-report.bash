# bash completion for cce-report
_cce_report() {
	local cur prev words cword
	_init_completion || return
	case "$prev" in
	-o|--out|-n|--nodes|--history|-p|--placements|-a|--alerts|-d|--deploys|--push|--gateway|--rejects)
		_filedir
		return ;;
	--title|--window|--max-line)
		return ;;
	esac
	if [[ "$cur" == -* ]]; then
		COMPREPLY=($(compgen -W '--out --nodes --history --placements --alerts --deploys
			--push --gateway --title --window --help --version --quiet --unbuffered
			--rejects --strict --max-line' -- "$cur"))
		return
	fi
	_filedir
}
complete -F _cce_report cce-report
