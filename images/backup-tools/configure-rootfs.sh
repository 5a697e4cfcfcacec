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

# The MariaDB client from 11.4 on verifies the server's certificate by default and so refuses every
# server without TLS ("SSL is required, but the server does not support it"), which is how in-cluster
# MariaDB and MySQL usually run and how the 10.11 client this image replaces connected. Keep that
# behaviour for the backup jobs (they read this file through --defaults-extra-file): TLS is still
# used when the server offers it, only unverified. A service that needs a verified connection
# needs its CA in the job's defaults file, which the policy does not render yet.
install -d /etc/mysql/mariadb.conf.d
cat >/etc/mysql/mariadb.conf.d/60-backup-tools.cnf <<'CNF'
[client]
ssl-verify-server-cert = off
CNF

# Package caches and lists are build-time only; the jobs never install anything at run time.
rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/cache/apt/archives/*.deb
