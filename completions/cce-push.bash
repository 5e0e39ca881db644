# bash completion for cce-push                               -*- shell-script -*-

_cce_push()
{
	local cur prev words cword
	_init_completion || return

	local opts="--spool --no-spool --spool-max --when-full --drain --batch-records
		--batch-bytes --linger --method --gzip --header --header-file --bearer-file
		--user-file --cacert --cert --key --insecure --timeout --qos --mqtt-version
		--parallel --backoff --backoff-max --retry-for --dead-letter --receipts --stats --rate-limit
		--help --version --quiet --unbuffered --rejects --strict --max-line"

	case $prev in
	--spool)
		_filedir -d
		return
		;;
	--header-file | --bearer-file | --user-file | --cacert | --cert | --key | \
		--dead-letter | --rejects)
		_filedir
		return
		;;
	--when-full)
		COMPREPLY=($(compgen -W "block drop-oldest" -- "$cur"))
		return
		;;
	--method)
		COMPREPLY=($(compgen -W "POST PUT" -- "$cur"))
		return
		;;
	--qos)
		COMPREPLY=($(compgen -W "0 1 2" -- "$cur"))
		return
		;;
	--mqtt-version)
		COMPREPLY=($(compgen -W "5 3.1.1" -- "$cur"))
		return
		;;
	-H | --header | --spool-max | --batch-records | --batch-bytes | --linger | --timeout | \
		--parallel | --backoff | --backoff-max | --retry-for | --stats | --rate-limit | --max-line)
		return
		;;
	esac

	if [[ $cur == -* ]]; then
		COMPREPLY=($(compgen -W "$opts -H -h -V -q -u" -- "$cur"))
		return
	fi
	# the URL first, then input files
	local i n=0
	for ((i = 1; i < cword; i++)); do
		case ${words[i]} in
		--spool | --spool-max | --when-full | --batch-records | --batch-bytes | --linger | \
			--method | -H | --header | --header-file | --bearer-file | --user-file | \
			--cacert | --cert | --key | --timeout | --qos | --mqtt-version | --parallel | --backoff | \
			--backoff-max | --retry-for | --dead-letter | --stats | --rate-limit | --rejects | --max-line)
			((i++))
			;;
		-*) ;;
		*) ((n++)) ;;
		esac
	done
	if ((n == 0)); then
		COMPREPLY=($(compgen -W "http:// https:// mqtt:// mqtts:// file:" -- "$cur"))
		compopt -o nospace
	else
		_filedir
	fi
} &&
	complete -F _cce_push cce-push

# ex: filetype=sh
