#!/usr/bin/env bash
# Rotate idp's signing keys held in Secret idp-keys (monthly, like the cron line in README
# "Administration"): copy the Secret to a private folder, run `idp keys rotate` on it (it
# promotes the key published a rotation ago and publishes the next), apply it back. Pods see
# the new files when the kubelet refreshes the volume (about a minute) and reload them
# within 10 s; the promoted key has been in JWKS since the last rotation.
# Needs kubectl and the `idp` command (pip install ., or the image). Usage: rotate-keys.sh [NAMESPACE]
set -euo pipefail
namespace="${1:-idp}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
chmod 700 "$work"
kubectl -n "$namespace" get secret idp-keys -o json | python3 -c '
import base64, json, os, sys
for name, value in json.load(sys.stdin).get("data", {}).items():
    fd = os.open(os.path.join(sys.argv[1], name), os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, base64.b64decode(value)); os.close(fd)
' "$work"
IDP_KEYS_DIR="$work" idp keys rotate
IDP_KEYS_DIR="$work" idp keys prune
rm -f "$work/.lock"
kubectl -n "$namespace" create secret generic idp-keys --from-file="$work" \
  --dry-run=client -o yaml | kubectl apply -f -
