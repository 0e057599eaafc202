#!/bin/sh
# Makes the Dockerfile's two base images without an image registry (none is
# reachable on the machine this is built on): a Debian bookworm root from
# Debian's own packages (debootstrap), imported as `debian:bookworm-slim`,
# and the same root with gcc, libc6-dev, this machine's CA certificates and
# this machine's Rust toolchain, imported as `rust:1-slim-bookworm`. Run as
# root, by hand; build-and-run.sh calls it when either image is missing.
# Needs: debootstrap, podman, runc (apt-get install podman runc debootstrap).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
export CONTAINERS_CONF="$here/containers.conf"
work=${D_BACK_BASE_WORK:-/var/tmp/d-back-base-images}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
toolchain=${RUST_TOOLCHAIN_DIR:-$(rustc --print sysroot)}

if ! podman image exists debian:bookworm-slim; then
  echo "== base: debootstrap bookworm (minbase) from $mirror"
  rm -rf "$work/slim"
  mkdir -p "$work"
  nice -n 19 debootstrap --variant=minbase bookworm "$work/slim" "$mirror" >"$work/slim.log" 2>&1 \
    || { tail -20 "$work/slim.log"; exit 1; }
  rm -rf "$work/slim/var/lib/apt/lists/"* "$work/slim/var/cache/apt/archives/"*.deb
  tar -C "$work/slim" -c . | podman import \
    --change 'CMD ["bash"]' - debian:bookworm-slim
  echo "== base: imported debian:bookworm-slim"
fi

if ! podman image exists rust:1-slim-bookworm; then
  echo "== base: debootstrap bookworm with gcc and libc6-dev"
  rm -rf "$work/rust"
  mkdir -p "$work"
  nice -n 19 debootstrap --variant=minbase --include=gcc,libc6-dev,ca-certificates \
    bookworm "$work/rust" "$mirror" >"$work/rust.log" 2>&1 \
    || { tail -20 "$work/rust.log"; exit 1; }
  rm -rf "$work/rust/var/lib/apt/lists/"* "$work/rust/var/cache/apt/archives/"*.deb
  # This machine's CA certificates, so cargo inside the build trusts the
  # same roots as cargo outside it does when it fetches crates.
  cp /etc/ssl/certs/ca-certificates.crt "$work/rust/etc/ssl/certs/ca-certificates.crt"
  echo "== base: copying the Rust toolchain from $toolchain ($(rustc --version))"
  mkdir -p "$work/rust/usr/local/rust" "$work/rust/usr/local/cargo/bin"
  cp -a "$toolchain/bin" "$toolchain/lib" "$toolchain/libexec" "$toolchain/etc" \
    "$work/rust/usr/local/rust/"
  for b in cargo rustc rustdoc; do
    ln -s "/usr/local/rust/bin/$b" "$work/rust/usr/local/cargo/bin/$b"
  done
  tar -C "$work/rust" -c . | podman import \
    --change 'ENV PATH=/usr/local/cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV CARGO_HOME=/usr/local/cargo' \
    --change 'CMD ["bash"]' - rust:1-slim-bookworm
  echo "== base: imported rust:1-slim-bookworm"
fi
podman images --format '{{.Repository}}:{{.Tag}} {{.Size}}' | grep -E 'debian:bookworm-slim|rust:1-slim-bookworm'
