#!/usr/bin/env bash
# Re-fetch the Swagger UI assets /docs serves (api/static/swagger-ui/) from the npm
# package swagger-ui-dist, so the docs page needs no CDN. Usage:
#   scripts/fetch_swagger_ui.sh [VERSION]     (default: the version in the README there)
set -euo pipefail
target="$(cd "$(dirname "$0")/.." && pwd)/api/static/swagger-ui"
version="${1:-$(sed -n 's/^Version: *//p' "$target/README.md")}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "swagger-ui-dist@$version" >/dev/null && tar xzf ./*.tgz)
for file in swagger-ui-bundle.js swagger-ui-standalone-preset.js swagger-ui.css \
    favicon-32x32.png LICENSE NOTICE; do
    cp "$work/package/$file" "$target/$file"
done
sed -i "s/^Version: .*/Version: $version/" "$target/README.md"
echo "Swagger UI $version in $target"
