# bash completion for cce-sync
_cce_sync() {
	local cur prev words cword
	_init_completion || return
	local subs='manifest diff pack unpack rollback releases verify keygen'
	local common='--help --version --quiet --unbuffered --rejects --strict --max-line'
	case "$prev" in
	--cache|--against|--sign|--verify|--manifest|--out|--rejects)
		_filedir
		return ;;
	--dir)
		_filedir -d
		return ;;
	--mode)
		COMPREPLY=($(compgen -W 'release merge mirror' -- "$cur"))
		return ;;
	--check)
		COMPREPLY=($(compgen -c -- "$cur"))
		return ;;
	--level|--keep|--max-size|--max-files|--max-line|--to)
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
		manifest) opts='--cache' ;;
		diff) opts='--dir' ;;
		pack) opts='--against --sign --gzip --zstd --level --cache --progress --rate-limit' ;;
		unpack) opts='--mode --verify --keep --check --max-size --max-files --progress' ;;
		rollback) opts='--to' ;;
		verify) opts='--manifest' ;;
		keygen) opts='--out' ;;
		esac
		COMPREPLY=($(compgen -W "$opts $common" -- "$cur"))
		return
	fi
	case "$sub" in
	keygen) ;;
	*) _filedir -d ;;
	esac
	[ "$sub" = diff ] && _filedir
}
complete -F _cce_sync cce-sync
