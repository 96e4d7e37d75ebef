#!/bin/sh
# Configures Postfix from the environment (configure.sh), checks the result
# and runs Postfix in the foreground, logging to stdout.
set -eu
postfix-configure /etc/postfix
postfix check
exec postfix start-fg
