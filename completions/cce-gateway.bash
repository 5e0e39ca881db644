# bash completion for cce-gateway
_cce_gateway() {
	local cur prev words cword
	_init_completion || return
	case "$prev" in
	--token-file|--rejects|--cert|--key|--cacert|--registry-secret)
		_filedir
		return ;;
	-s|--store|--registry)
		_filedir -d
		return ;;
	-l|--listen|--max-body|--max-connections|--idle-timeout|--request-timeout|--rate|\
	--retain|--retain-size|--idempotency-window|--eval-timeout|--eval-memory|\
	--stdout-from|--max-line)
		return ;;
	esac
	COMPREPLY=($(compgen -W '--listen --store --token-file --registry --registry-secret --cert --key --cacert --auto-connect --max-body
		--max-connections --idle-timeout --request-timeout --rate --retain
		--retain-size --idempotency-window --eval-timeout --eval-memory
		--stdout-from --help --version --quiet --unbuffered --rejects --strict
		--max-line' -- "$cur"))
}
complete -F _cce_gateway cce-gateway
