# bash completion for cce-sim
_cce_sim() {
	local cur prev words cword
	_init_completion || return
	case "$prev" in
	-n|--devices|-c|--count|--seed|--site|--prefix|--start|--interval|--realtime|\
	--spike-rate|--stuck-rate|--silent-rate|--malformed-rate)
		return ;;
	esac
	if [[ "$cur" == -* ]]; then
		COMPREPLY=($(compgen -W '--devices --count --interval --start --seed --site
			--prefix --spike-rate --stuck-rate --silent-rate --malformed-rate
			--realtime --help --version' -- "$cur"))
	fi
}
complete -F _cce_sim cce-sim
