# shellcheck shell=bash
# Git repositories: bare repositories served over smart HTTP by Git's own
# `git http-backend` (CGI) behind lighttpd on a loopback port, and the same
# repositories as plain file:// URLs.
#
#   /git/private/fleet.git        basic auth (username + token); read and push
#   /git/public/tenant-core.git   anonymous read; push refused
#   /git/public/tenant-data.git   anonymous read; push refused
#
# Each is seeded with one commit on `main` holding a copy of a fixture repo;
# with --full, of the lab's repositories (lab/repos/NAME), the fleet's with
# the CRDs of the Flagger version the lab runs.

GIT_HTTP_BACKEND=${FERRY_ENV_GIT_HTTP_BACKEND:-$(git --exec-path 2>/dev/null)/git-http-backend}
GIT_USERNAME=ferry

# served repository name => fixture folder
declare -A GIT_SEEDS=(
	[fleet]=felipmiguel+gitops-demo-multitenant
	[tenant-core]=felipmiguel+gitops-demo-tenant-core
	[tenant-data]=mfamador+gitops-demo-tenant-data
)

fixtures_dir() {
	local dir
	for dir in "${FERRY_ENV_FIXTURES:-}" "$REPO_ROOT/tests/fixtures/upstream" "$REPO_ROOT/../shared/fixtures/upstream"; do
		if [[ -n $dir && -d $dir/${GIT_SEEDS[fleet]} ]]; then
			printf '%s\n' "$(cd "$dir" && pwd)"
			return
		fi
	done
	die "fixture repositories not found (set FERRY_ENV_FIXTURES to the folder holding ${GIT_SEEDS[fleet]}/)"
}

# git_seed SOURCE-DIR BARE-REPO: a bare repository whose `main` has one
# commit with SOURCE-DIR's files. Fixed identity and dates: the same
# fixtures always give the same commit id.
git_seed() {
	local src=$1 bare=$2 work
	# A chain, not a sequence: run_logged calls this where `set -e` is off.
	work=$(mktemp -d "$STATE_DIR/git/seed.XXXXXX") &&
		cp -R "$src/." "$work/" &&
		rm -rf "$work/.git" &&
		(
			cd "$work" &&
				export GIT_AUTHOR_NAME="ferry-env" GIT_AUTHOR_EMAIL="ferry-env@localhost" &&
				export GIT_COMMITTER_NAME="ferry-env" GIT_COMMITTER_EMAIL="ferry-env@localhost" &&
				export GIT_AUTHOR_DATE="2024-01-01T00:00:00Z" GIT_COMMITTER_DATE="2024-01-01T00:00:00Z" &&
				git -c init.defaultBranch=main init -q . &&
				git add -A &&
				git -c commit.gpgsign=false commit -q -m "Import $(basename "$src")" &&
				git -c init.defaultBranch=main init -q --bare "$bare" &&
				git push -q "$bare" HEAD:refs/heads/main
		) &&
		rm -rf "$work"
}

# git_seed_sources DIR: fills GIT_SEED_DIR (repository name => folder).
declare -A GIT_SEED_DIR=()
git_seed_sources() {
	local dir=$1 name fixtures
	if ((FULL)); then
		for name in "${!GIT_SEEDS[@]}"; do GIT_SEED_DIR[$name]=$ENV_ROOT/lab/repos/$name; done
		GIT_SEED_DIR[fleet]=$dir/seed-fleet
		rm -rf "$dir/seed-fleet"
		cp -R "$ENV_ROOT/lab/repos/fleet" "$dir/seed-fleet"
		cp "$(gitops_bin_dir)/crds/flagger.yaml" "$dir/seed-fleet/infrastructure/flagger/crds.yaml"
		return
	fi
	fixtures=$(fixtures_dir)
	for name in "${!GIT_SEEDS[@]}"; do GIT_SEED_DIR[$name]=$fixtures/${GIT_SEEDS[$name]}; done
}

git_start() {
	local dir=$STATE_DIR/git port token logfile=$STATE_DIR/logs/git-seed.log
	[[ -x $GIT_HTTP_BACKEND ]] || die "git http-backend not found at $GIT_HTTP_BACKEND"
	mkdir -p "$dir/http/private" "$dir/http/public" "$dir/file" "$dir/www" "$dir/tmp"
	git_seed_sources "$dir"
	run_logged "$logfile" git_seed "${GIT_SEED_DIR[fleet]}" "$dir/http/private/fleet.git"
	run_logged "$logfile" git_seed "${GIT_SEED_DIR[tenant-core]}" "$dir/http/public/tenant-core.git"
	run_logged "$logfile" git_seed "${GIT_SEED_DIR[tenant-data]}" "$dir/http/public/tenant-data.git"
	local name
	for name in "${!GIT_SEEDS[@]}"; do
		run_logged "$logfile" git_seed "${GIT_SEED_DIR[$name]}" "$dir/file/$name.git"
	done
	# The token is a password for lighttpd's "plain" user file (user:password).
	token=$(random_token)
	printf '%s:%s\n' "$GIT_USERNAME" "$token" >"$dir/users"
	chmod 600 "$dir/users"
	port=$(free_port)
	cat >"$STATE_DIR/git.env" <<EOF
GIT_BASE_URL=http://127.0.0.1:$port/git
GIT_USERNAME=$GIT_USERNAME
GIT_TOKEN=$token
EOF
	cat >"$dir/lighttpd.conf" <<EOF
server.modules = ("mod_access", "mod_alias", "mod_auth", "mod_authn_file", "mod_cgi", "mod_setenv")
server.bind = "127.0.0.1"
server.port = $port
server.document-root = "$dir/www"
server.upload-dirs = ("$dir/tmp")
server.errorlog = "$STATE_DIR/logs/lighttpd-error.log"
server.max-request-size = 1048576

alias.url = ("/git" => "$GIT_HTTP_BACKEND")
\$HTTP["url"] =~ "^/git" {
	cgi.assign = ("" => "")
	setenv.set-environment = (
		"GIT_PROJECT_ROOT" => "$dir/http",
		"GIT_HTTP_EXPORT_ALL" => "1",
		"PATH" => "$(dirname "$(command -v git)"):/usr/bin:/bin"
	)
}

auth.backend = "plain"
auth.backend.plain.userfile = "$dir/users"
\$HTTP["url"] =~ "^/git/private/" {
	auth.require = ("" => ("method" => "basic", "realm" => "ferry-env git", "require" => "valid-user"))
}
EOF
	start_daemon lighttpd "$STATE_DIR/logs/lighttpd.log" lighttpd -D -f "$dir/lighttpd.conf"
}

git_get() { sed -n "s/^$1=//p" "$STATE_DIR/git.env"; }

git_wait() {
	wait_until 30 "lighttpd (git over HTTP)" "$STATE_DIR/pids/lighttpd.pid" "$STATE_DIR/logs/lighttpd.log" \
		http_ok "$(git_get GIT_BASE_URL)/public/tenant-core.git/info/refs?service=git-upload-pack"
}
