# bash completion for tend: commands, their options, and the thread IDs in the review queue.
# Installed as share/bash-completion/completions/tend; or source it from ~/.bashrc.

_tend_threads()
{
	# The conversations waiting for review: the IDs agents type most.
	"${1:-tend}" "${@:2}" queue --json --limit 0 2>/dev/null |
		grep -o '"thread": *[0-9]*' | grep -o '[0-9]*$'
}

_tend_done()
{
	# The conversations that can be reopened: resolved or answered.
	"${1:-tend}" "${@:2}" threads --json --state resolved 2>/dev/null |
		grep -o '"id": *[0-9]*' | grep -o '[0-9]*$'
	"${1:-tend}" "${@:2}" threads --json --state answered 2>/dev/null |
		grep -o '"id": *[0-9]*' | grep -o '[0-9]*$'
}

_tend_undoable()
{
	# The approved replies still in their undo window.
	"${1:-tend}" "${@:2}" outbox --json 2>/dev/null | tr '{' '\n' |
		grep '"undo_left": *[1-9]' | grep -o '"thread": *[0-9]*' | grep -o '[0-9]*$'
}

_tend()
{
	local cur prev cmd i conf=()
	cur=${COMP_WORDS[COMP_CWORD]}
	prev=${COMP_WORDS[COMP_CWORD - 1]}
	for ((i = 1; i < COMP_CWORD; i++)); do
		case ${COMP_WORDS[i]} in
		-c) conf=(-c "${COMP_WORDS[i + 1]}"); ((i++)) ;;
		--as) ((i++)) ;;
		-*) ;;
		*) cmd=${COMP_WORDS[i]}; break ;;
		esac
	done
	case $prev in
	-c | -o | --output) COMPREPLY=($(compgen -f -- "$cur")); return ;;
	--as | --reason | --since | --until | --limit | --add | --remove) return ;;
	--by) COMPREPLY=($(compgen -W "tag priority agent" -- "$cur")); return ;;
	--state) COMPREPLY=($(compgen -W "open answered resolved ignored" -- "$cur")); return ;;
	--priority) COMPREPLY=($(compgen -W "urgent high normal low" -- "$cur")); return ;;
	esac
	local cmds="import threads customer queue review show edit approve release undo reject
		resolve reopen redraft draft snooze assign note attach detach attachment outbox stats log
		search rules raw status help"
	if [[ -z $cmd ]]; then
		COMPREPLY=($(compgen -W "-c --as $cmds" -- "$cur"))
		return
	fi
	if [[ $cmd == help ]]; then
		COMPREPLY=($(compgen -W "$cmds" -- "$cur"))
		return
	fi
	local opts
	case $cmd in
	import) opts="--json --sent" ;;
	customer) opts="--json" ;;
	threads) opts="--json --quarantined --state" ;;
	queue) opts="--json --all --limit --mine --assignee --tag --priority --as" ;;
	review) opts="--mine --assignee --tag --priority --as" ;;
	show) opts="--json --as --take --force" ;;
	edit | release) opts="--as --force" ;;
	approve) opts="--as --force --yes --bounced-ok" ;;
	snooze | assign | note | attach | detach | undo) opts="--as" ;;
	attachment) opts="--output --force" ;;
	reject) opts="--as --reason --resolve" ;;
	resolve) opts="--as --reason" ;;
	reopen) opts="--as" ;;
	redraft) opts="--as --all" ;;
	draft) opts="--as --add --remove" ;;
	outbox) opts="--json --all retry mark-sent" ;;
	stats) opts="--json --since --until --by" ;;
	log | status) opts="--json" ;;
	search) opts="--json --limit --reindex" ;;
	rules) opts="check test replay --json" ;;
	esac
	case $cmd in
	reopen)
		if [[ $cur != -* ]]; then
			COMPREPLY=($(compgen -W "$(_tend_done "${COMP_WORDS[0]}" "${conf[@]}")" -- "$cur"))
			return
		fi
		;;
	undo)
		if [[ $cur != -* ]]; then
			COMPREPLY=($(compgen -W "$(_tend_undoable "${COMP_WORDS[0]}" "${conf[@]}")" -- "$cur"))
			return
		fi
		;;
	show | edit | approve | release | reject | resolve | redraft | draft | snooze | assign | log | detach)
		if [[ $cur != -* ]]; then
			COMPREPLY=($(compgen -W "$(_tend_threads "${COMP_WORDS[0]}" "${conf[@]}")" -- "$cur"))
			return
		fi
		;;
	note | attach)
		# the ID first; then the note's words, which are the agent's own, or files
		local n=0
		for ((i = i + 1; i < COMP_CWORD; i++)); do
			case ${COMP_WORDS[i]} in
			--as) ((i++)) ;;
			-*) ;;
			*) ((n++)) ;;
			esac
		done
		if [[ $cur != -* && $n -eq 0 ]]; then
			COMPREPLY=($(compgen -W "$(_tend_threads "${COMP_WORDS[0]}" "${conf[@]}")" -- "$cur"))
		elif [[ $cur == -* && $n -eq 0 ]]; then
			COMPREPLY=($(compgen -W "$opts" -- "$cur"))
		elif [[ $cmd == attach && $cur != -* ]]; then
			COMPREPLY=($(compgen -f -- "$cur"))
		fi
		return
		;;
	import | rules)
		if [[ $cur != -* ]]; then
			COMPREPLY=($(compgen -W "$opts" -- "$cur") $(compgen -f -- "$cur"))
			return
		fi
		;;
	esac
	COMPREPLY=($(compgen -W "$opts" -- "$cur"))
}

complete -o default -F _tend tend
