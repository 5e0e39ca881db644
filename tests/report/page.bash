# shellcheck shell=bash
# Loading a cce-report page in real headless Chromium (Debian's chromium),
# for tests/90-report.bats and tests/63-demo.bats.

# run_page NAME WIDTH PAGE: load PAGE in headless Chromium, WIDTH px wide,
# with a probe that records the layout on <html> (the page's scroll width,
# and whether the node table fits its section); leaves NAME.dom (the DOM
# after load), NAME.console (console messages) in $BATS_FILE_TMPDIR and the
# screenshot $ART/NAME.png (ART: the caller's artifacts directory)
run_page() {
	local name=$1 width=$2 page=$3 dir=$BATS_FILE_TMPDIR
	mkdir -p "$ART"
	# Chromium's window is at least 500 px wide: a phone's width is an
	# iframe's, which the probe reads (file URLs made one origin for it)
	local probe="var d=document.documentElement,w=window,t;if(document.getElementById('f')){w=document.getElementById('f').contentWindow}t=w.document.getElementById('node-table');d.setAttribute('data-sw',w.document.documentElement.scrollWidth);d.setAttribute('data-vw',w.innerWidth);if(t){d.setAttribute('data-fit',t.scrollWidth<=t.parentNode.clientWidth?'yes':'no')}"
	if [ "$width" -ge 500 ]; then
		sed "s|</body>|<script>$probe</script></body>|" "$page" >"$dir/$name.html"
	else
		printf '<!DOCTYPE html><html><body style="margin:0"><iframe id="f" src="file://%s" width="%s" height="1600" style="border:0" onload="%s"></iframe></body></html>\n' \
			"$page" "$width" "$probe" >"$dir/$name.html"
		width=500
	fi
	timeout 120 chromium --headless --no-sandbox --disable-gpu --no-first-run \
		--user-data-dir="$dir/chromium-$name" --enable-logging=stderr --v=0 \
		--allow-file-access-from-files \
		--hide-scrollbars --window-size="$width,1600" --screenshot="$ART/$name.png" \
		--dump-dom "file://$dir/$name.html" >"$dir/$name.dom" 2>"$dir/$name.log" || {
		cat "$dir/$name.log" >&2
		return 1
	}
	grep -F ':CONSOLE' "$dir/$name.log" >"$dir/$name.console" || true
}
