#!/bin/sh
# What an operator with access to Restate's admin API can do to the audit log: rewrite one entry
# in place through Restate's state API (the first capture.finished now says "failed"), hash and
# all left as they were. `podmortem audit verify` then names that entry. For trying verify on a
# demo, never on a log you need.
#
# usage: docs/tamper-audit-entry.sh [CLUSTER]   (default: dev; $RESTATE_ADMIN_URL, default
#        http://localhost:9070). Needs curl and node (any version).
set -eu
admin=${RESTATE_ADMIN_URL:-http://localhost:9070}
cluster=${1:-dev}
query="SELECT key, value_utf8 FROM state WHERE service_name = 'AuditLog' AND service_key = '$cluster'"
rows=$(curl -sSf "$admin/query" -H 'accept: application/json' -H 'content-type: application/json' \
  -d "{\"query\": \"$query\"}")
printf '%s' "$rows" |
  node -e '
    let input = "";
    process.stdin.on("data", (chunk) => (input += chunk)).on("end", () => {
      const { rows } = JSON.parse(input);
      const entries = rows.filter((row) => row.key.startsWith("entry:")).sort((a, b) => (a.key < b.key ? -1 : 1));
      const victim = entries.find((row) => JSON.parse(row.value_utf8).kind === "capture.finished");
      if (!victim) throw new Error("no capture.finished entry to rewrite");
      const entry = JSON.parse(victim.value_utf8);
      entry.detail.outcome = "failed";
      victim.value_utf8 = JSON.stringify(entry);
      const state = Object.fromEntries(rows.map((row) => [row.key, [...Buffer.from(row.value_utf8)]]));
      process.stdout.write(JSON.stringify({ object_key: process.argv[1], new_state: state }));
      process.stderr.write("rewrote " + victim.key + "\n");
    });
  ' "$cluster" |
  curl -sSf -X POST "$admin/services/AuditLog/state" -H 'content-type: application/json' -d @- >/dev/null
