# bash completion for cce-task
_cce_task() {
	local cur prev words cword
	_init_completion || return
	local subs='apply status run logs stop restart'
	local common='--help --version --quiet --unbuffered --rejects --strict --max-line'
	case "$prev" in
	--unit-dir|--dir)
		_filedir -d
		return ;;
	--rejects)
		_filedir
		return ;;
	--user)
		COMPREPLY=($(compgen -u -- "$cur"))
		return ;;
	--wait|--task|--cpu|--mem-mb|--pids|--timeout|--env|--output-max|--since|--max-line)
		return ;;
	esac
	local sub='' w
	for w in "${words[@]:1:cword-1}"; do
		case " $subs " in *" $w "*) sub=$w; break ;; esac
	done
	if [ -z "$sub" ]; then
		if [[ "$cur" == -* ]]; then
			COMPREPLY=($(compgen -W "$common" -- "$cur"))
		else
			COMPREPLY=($(compgen -W "$subs" -- "$cur"))
		fi
		return
	fi
	if [[ "$cur" == -* ]]; then
		local opts
		case "$sub" in
		apply) opts='--unit-dir --wait' ;;
		status) opts='--unit-dir' ;;
		run) opts='--task --cpu --mem-mb --pids --timeout --user --dir --env --output-max --wait' ;;
		logs) opts='--since --follow -f' ;;
		stop|restart) opts='--unit-dir --wait' ;;
		esac
		COMPREPLY=($(compgen -W "$opts $common" -- "$cur"))
		return
	fi
	case "$sub" in
	apply) _filedir ;;
	run) COMPREPLY=($(compgen -c -- "$cur")) ;;
	esac
}
complete -F _cce_task cce-task
