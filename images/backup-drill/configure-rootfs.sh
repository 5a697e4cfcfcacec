#!/bin/sh
# Run inside the drill image's root filesystem after its packages are installed: by the Dockerfile
# (RUN) and by images/build-rootfs.sh, after backup-tools/configure-rootfs.sh.
set -eu

# The server packages' maintainer scripts create a default PostgreSQL cluster and a MariaDB system
# database (passwordless root over the socket). A drill initialises its own throwaway server, so
# these are only weight and a default account nobody set: the image ships without them.
rm -rf /var/lib/postgresql/*/main /etc/postgresql/*/main
find /var/lib/mysql -mindepth 1 -delete

rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/cache/apt/archives/*.deb
