#!/usr/bin/env bash
# File a request for an endpoint service through the portal's API, submit it, wait until it is
# approved and Active, and print its ServiceName. Needs curl and jq; see docs/pipeline.md.
#
#   PORTAL_URL=https://portal.example.com PORTAL_TOKEN=plp_... scripts/pipeline-example.sh request.json
#
# PORTAL_TEAM names the team that will own the service (one of the token's user's teams; the
# portal requires one from whoever is in a team), unless the file names it (`team`).
#
# Exits 0 with the ServiceName on stdout; non-zero, saying why on stderr, when the request is
# refused, sent back, rejected, cancelled, failed, or not Active within TIMEOUT_SECONDS.
set -euo pipefail

: "${PORTAL_TOKEN:?set PORTAL_TOKEN to a write token (make one on /account/tokens/)}"
request_file=${1:?usage: $0 request.json}
api="${PORTAL_URL:-http://127.0.0.1:8000}/api/v1"
poll=${POLL_SECONDS:-5}
deadline=$(($(date +%s) + ${TIMEOUT_SECONDS:-3600}))

# portal METHOD PATH [curl arguments...]: the answer's JSON on stdout, or why not on stderr.
# The token goes to curl on its standard input, not on its command line, where `ps` shows it.
portal() {
    local method=$1 path=$2 answer
    shift 2
    if ! answer=$(curl --silent --show-error --fail-with-body --config - \
        --request "$method" --header "Content-Type: application/json" "$@" "$api$path" \
        <<<"header = \"Authorization: Bearer $PORTAL_TOKEN\""); then
        echo "$method $path: $(jq -r '[.detail] + [.errors[]? | "\(.field): \(.message)"]
            | join("; ")' <<<"$answer" 2>/dev/null || echo "$answer")" >&2
        return 1
    fi
    printf '%s\n' "$answer"
}

body=$(jq --arg team "${PORTAL_TEAM:-}" \
    'if $team != "" and (has("team") | not) then . + {team: $team} else . end' "$request_file")
created=$(portal POST /requests --data "$body")
id=$(jq -r .id <<<"$created")
echo "Filed request #$id: $(jq -r .url <<<"$created")" >&2

portal POST "/requests/$id/submit" >/dev/null
echo "Submitted; waiting for approval." >&2

seen=""
while :; do
    request=$(portal GET "/requests/$id")
    state=$(jq -r .state <<<"$request")
    if [ "$state" != "$seen" ]; then
        echo "Request #$id is $state." >&2
        seen=$state
    fi
    case $state in
        active)
            jq -r .service_name <<<"$request"
            exit 0
            ;;
        changes_requested | rejected)
            echo "The approver says: $(jq -r '[.approvals[] | select(.decision != "approve")]
                | last | .comment // "nothing"' <<<"$request")" >&2
            exit 1
            ;;
        failed)
            echo "Provisioning failed: $(jq -r .error_message <<<"$request")" >&2
            exit 1
            ;;
        cancelled)
            exit 1
            ;;
    esac
    if [ "$(date +%s)" -ge "$deadline" ]; then
        echo "Request #$id is still $state after ${TIMEOUT_SECONDS:-3600} s." >&2
        exit 1
    fi
    sleep "$poll"
done
