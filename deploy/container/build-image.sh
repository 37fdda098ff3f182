#!/usr/bin/env bash
# Builds Sentinel's OCI image with umoci: no daemon, no registry, no base image to pull.
# The image is distroless in style: the binary, the shared libraries it links (from this
# machine, found with ldd), CA certificates, the shipped configs, and a non-root user
# (65532, "nonroot"); no shell and no package manager.
#
#   deploy/container/build-image.sh BINARY LAYOUT_DIR [TAG]
#
# BINARY is a built `sentinel` (target/release/sentinel for a release image); LAYOUT_DIR is
# an OCI image layout (created if missing); TAG defaults to the workspace version. Push it
# with skopeo, for example:
#   skopeo copy oci:LAYOUT_DIR:0.1.0 docker://ghcr.io/sentinel-otel/sentinel:0.1.0
set -euo pipefail
cd "$(dirname "$0")/../.."
binary=$1
layout=$2
tag=${3:-$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
[ -d "$layout" ] || umoci init --layout "$layout"
umoci new --image "$layout:$tag"
umoci unpack --image "$layout:$tag" "$work/bundle" >/dev/null
root=$work/bundle/rootfs

install -D -m 0755 "$binary" "$root/usr/local/bin/sentinel"
# The dynamic loader and every library the binary links, at the same paths.
for lib in $(ldd "$binary" | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}'); do
  install -D -m 0755 "$(readlink -f "$lib")" "$root$lib"
done
if [ -f /etc/ssl/certs/ca-certificates.crt ]; then
  install -D -m 0644 /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
fi
install -d -m 0755 "$root/etc/sentinel"
cp -r config/. "$root/etc/sentinel/"
printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' >"$root/etc/passwd"
printf 'root:x:0:\nnonroot:x:65532:\n' >"$root/etc/group"
install -d -m 0700 -o 65532 -g 65532 "$root/var/lib/sentinel" "$root/home/nonroot"
install -d -m 1777 "$root/tmp"

umoci repack --image "$layout:$tag" "$work/bundle"
umoci config --image "$layout:$tag" \
  --config.user 65532:65532 \
  --config.workingdir /home/nonroot \
  --config.entrypoint /usr/local/bin/sentinel \
  --config.cmd run --config.cmd --config --config.cmd /etc/sentinel/default.yaml \
  --config.env SENTINEL_DATA_DIR=/var/lib/sentinel \
  --config.env SENTINEL_OTLP_GRPC_ENDPOINT=0.0.0.0:4317 \
  --config.env SENTINEL_OTLP_HTTP_ENDPOINT=0.0.0.0:4318 \
  --config.env SENTINEL_ADMIN_ADDRESS=0.0.0.0:8888 \
  --config.exposedports 4317/tcp --config.exposedports 4318/tcp --config.exposedports 8888/tcp \
  --config.label org.opencontainers.image.title=sentinel \
  --config.label "org.opencontainers.image.version=$tag"
umoci gc --layout "$layout"
echo "built $layout:$tag"
