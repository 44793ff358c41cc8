#!/bin/sh
# check-generate.sh reruns the avo generators (go generate ./internal/kernels)
# and fails if that changes any committed file under internal/kernels or
# leaves a new untracked generated file there, in the manner of gonum's
# check-generate.sh. Run from anywhere inside the repository.
set -eu
cd "$(git rev-parse --show-toplevel)"

before=$(git ls-files --others --exclude-standard -- internal/kernels | sort)
go generate ./internal/kernels
after=$(git ls-files --others --exclude-standard -- internal/kernels | sort)

status=0
if ! git diff --exit-code --stat -- internal/kernels; then
	echo "check-generate: go generate ./internal/kernels changed the files above; regenerate and commit them" >&2
	status=1
fi
new=$(printf '%s\n' "$after" | grep -vxF -e "$before" -e '' || true)
if [ -n "$new" ]; then
	echo "check-generate: go generate created untracked files:" >&2
	printf '  %s\n' $new >&2
	status=1
fi
exit $status
