# bash completion for cce-register                           -*- shell-script -*-

_cce_register_nodes()
{
	cce-register list --all -o text 2>/dev/null | awk 'NR > 1 { print $1 }'
}

_cce_register()
{
	local cur prev words cword
	_init_completion || return

	local subs="init token revoke apply join heartbeat leave cordon uncordon list expire watch compact"
	local opts="--store --cacert --cert --key --secret --ttl --verbose --token --token-file
		--addr --region --zone --label --cpu --mem-mb --disk-mb --net-mbps --cost --service --load --tasks
		--force --print --alive --all --selector --output --help --version --quiet
		--unbuffered --rejects --strict --max-line"

	case $prev in
	--cacert | --cert | --key | --secret | --token-file | --tasks | --rejects)
		_filedir
		return
		;;
	-o | --output)
		COMPREPLY=($(compgen -W "json addr text" -- "$cur"))
		return
		;;
	--load)
		COMPREPLY=($(compgen -W "auto" -- "$cur"))
		return
		;;
	-s | --store)
		COMPREPLY=($(compgen -W "file: etcd:// etcds://" -- "$cur"))
		compopt -o nospace
		return
		;;
	--ttl | --token | --addr | --region | --zone | --label | --cpu | --mem-mb | --disk-mb | --net-mbps | \
		--cost | --service | --selector | --max-line)
		return
		;;
	esac

	if [[ $cur == -* ]]; then
		COMPREPLY=($(compgen -W "$opts" -- "$cur"))
		return
	fi

	# the subcommand is the first word, not an option's value, that is one
	local i sub=""
	for ((i = 1; i < cword; i++)); do
		case ${words[i]} in
		-s | --store | --cacert | --cert | --key | --secret | --ttl | --token | --token-file | \
			--addr | --region | --zone | --label | --cpu | --mem-mb | --disk-mb | --net-mbps | --cost | \
			--service | --load | --tasks | --selector | -o | --output | --rejects | --max-line)
			((i++))
			;;
		-*) ;;
		*)
			case " $subs " in *" ${words[i]} "*)
				sub=${words[i]}
				break
				;;
			esac
			;;
		esac
	done

	case $sub in
	"")
		COMPREPLY=($(compgen -W "$subs" -- "$cur"))
		;;
	heartbeat | leave | cordon | uncordon | revoke | token | join)
		COMPREPLY=($(compgen -W "$(_cce_register_nodes)" -- "$cur"))
		;;
	apply)
		_filedir
		;;
	esac
} &&
	complete -F _cce_register cce-register

# ex: filetype=sh
