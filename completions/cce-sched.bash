# bash completion for cce-sched
_cce_sched() {
	local cur prev words cword
	_init_completion || return
	case "$prev" in
	-n|--nodes|--state|--state-out|--rejects)
		_filedir
		return ;;
	-s|--strategy)
		COMPREPLY=($(compgen -W 'spread binpack leastloaded roundrobin hash cost' -- "$cur"))
		return ;;
	--balance|--seed|--max-line|--max-restarts)
		return ;;
	esac
	if [[ "$cur" == -* ]]; then
		COMPREPLY=($(compgen -W '--nodes --strategy --balance --batch --state --state-out
			--reschedule --max-restarts --preempt --explain --seed --exhaustive --help
			--version --quiet --unbuffered --rejects --strict --max-line' -- "$cur"))
		return
	fi
	_filedir
}
complete -F _cce_sched cce-sched
