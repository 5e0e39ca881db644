# bash completion for cce-fleet
_cce_fleet() {
	local cur prev words cword
	_init_completion || return
	case "$prev" in
	-j|--jobs|--timeout|--max-output|--ssh-opt)
		return ;;
	--user)
		COMPREPLY=($(compgen -u -- "$cur"))
		return ;;
	--ssh)
		COMPREPLY=($(compgen -c -- "$cur"))
		return ;;
	esac
	if [[ "$cur" == -* ]]; then
		COMPREPLY=($(compgen -W '--jobs --timeout --ssh-opt --user --max-output
			--lines --ssh --help --version' -- "$cur"))
	else
		COMPREPLY=($(compgen -c -- "$cur"))
	fi
}
complete -F _cce_fleet cce-fleet
