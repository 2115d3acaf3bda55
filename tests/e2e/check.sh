#!/usr/bin/env bash
# check.sh - offline validation: `wheelfarm check` on good and broken recipes, and wheelfarmd
# refusing a broken configuration, each error with file:line:column and a hint.
. "$(dirname "$0")/lib.sh"

"$WF" check "$WF_SOURCE_ROOT/recipes" >"$T/out" 2>&1 || fail "shipped recipes invalid: $(cat "$T/out")"
"$WF" check "$WF_SOURCE_ROOT/tests/fixtures/recipes/fixture-ext.yaml" >/dev/null 2>&1 ||
    fail "fixture recipe invalid"
ok "wheelfarm check accepts the shipped and fixture recipes (exit 0)"

cat >"$T/bad.yaml" <<'EOY'
- name: demo
  versions: ["1.0"]
  source: {sdist: upstream}
  pyhton: [cp311]
  platforms: [linux/amd64, linux/sparc]
EOY
rc=0
"$WF" check "$T/bad.yaml" >"$T/out" 2>&1 || rc=$?
[ $rc -eq 1 ] || fail "wheelfarm check on a broken recipe exited $rc, not 1"
grep -q "bad.yaml:4:3: .*unknown key 'pyhton'.*did you mean 'python'" "$T/out" ||
    fail "no file:line:column did-you-mean error: $(cat "$T/out")"
grep -q "bad.yaml:5:[0-9]*: .*linux/sparc" "$T/out" || fail "bad platform not reported: $(cat "$T/out")"
ok "wheelfarm check reports file:line:column with a hint and exits 1"

cat >"$T/bad-config.yaml" <<EOY
state_dir: $T/var
recipes: $WF_SOURCE_ROOT/recipes
workers:
  - {name: local, driver: docker, platforms: [linux/amd64], slotz: 2}
EOY
rc=0
"$WFD" --config "$T/bad-config.yaml" >"$T/out" 2>&1 || rc=$?
[ $rc -ne 0 ] || fail "wheelfarmd started on a broken config"
grep -q "bad-config.yaml:4:[0-9]*: .*unknown key 'slotz'.*did you mean 'slots'" "$T/out" ||
    fail "daemon's config error lacks position or hint: $(cat "$T/out")"
[ ! -e "$T/var/wheelfarm.db" ] || fail "daemon created state despite the broken config"
ok "wheelfarmd refuses a broken config with file:line:column and a hint (exit $rc)"

rc=0
"$WFD" --config "$T/bad-config.yaml" --check-config >/dev/null 2>&1 || rc=$?
[ $rc -ne 0 ] || fail "--check-config accepted a broken config"
ok "wheelfarmd --check-config rejects it too"
echo "1..4"
