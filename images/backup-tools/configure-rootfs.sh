#!/bin/sh
# Run inside the image's root filesystem after its packages are installed: by the Dockerfile
# (RUN) and by images/build-rootfs.sh (mmdebstrap customize hook), so the image and the root
# filesystem the tests run are configured by the same lines.
set -eu

# The jobs run as uid 10001 (policy/engines.ts). Debian's base-passwd already has a "backup" user
# (uid 34, home /var/backups), hence a distinct name. No home directory: the root filesystem is
# read-only in the pod and the jobs write only to TMPDIR and the backup volume.
groupadd --gid 10001 backup-job
useradd --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin backup-job

# Package caches and lists are build-time only; the jobs never install anything at run time.
rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/cache/apt/archives/*.deb
