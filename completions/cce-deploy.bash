# bash completion for cce-deploy
_cce_deploy() {
	local cur prev words cword
	_init_completion || return
	case "$prev" in
	--nodes|--state|--sign)
		_filedir
		return ;;
	--remote-dir|--verify|--check|--store|-j|--jobs|--timeout|--ssh-opt|--remote-sync|--remote-task|--task-check|--max-restarts)
		return ;;
	--strategy)
		COMPREPLY=($(compgen -W 'spread binpack leastloaded roundrobin hash cost' -- "$cur"))
		return ;;
	--user)
		COMPREPLY=($(compgen -u -- "$cur"))
		return ;;
	--ssh)
		COMPREPLY=($(compgen -c -- "$cur"))
		return ;;
	esac
	if [[ "$cur" == -* ]]; then
		COMPREPLY=($(compgen -W '--nodes --store --strategy --state --max-restarts --remote-dir
			--check --task-check --sign --verify --rollback --dry-run --jobs --timeout --ssh-opt
			--user --ssh --remote-sync --remote-task --help --version' -- "$cur"))
	else
		_filedir
	fi
}
complete -F _cce_deploy cce-deploy
