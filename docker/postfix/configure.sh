#!/bin/sh
# Writes Postfix's configuration into a folder (default /etc/postfix) from
# the environment plus the README's Lockpost lines. Expects there
# master.cf.package (the package's master.cf) and lockpost/*.lockpost.
#
# The README's lines name 127.0.0.1; in compose, Lockpost is another
# container, so three things change and nothing else:
#   LMTP to Lockpost:      127.0.0.1:10024 -> $LOCKPOST_LMTP_ADDRESS
#   the return listener:   127.0.0.1:10026 -> port 10026 on the container's
#                          interfaces (not published outside compose)
#   who may use it:        127.0.0.0/8     -> 127.0.0.0/8 and $LOCKPOST_NETWORK
set -eu

: "${MAIL_HOSTNAME:=mail.example.com}"
: "${RELAY_DOMAINS:=}"
: "${RELAY_TRANSPORT:=}"
: "${INTERNAL_NETWORKS:=}"
: "${RELAYHOST:=}"
: "${LOCKPOST_LMTP_ADDRESS:=lockpost-lmtp:10024}"
: "${LOCKPOST_NETWORK:=172.30.24.0/24}"

conf="${1:-/etc/postfix}"
transport_maps=""
if [ -n "$RELAY_DOMAINS" ] && [ -n "$RELAY_TRANSPORT" ]; then
  entries=""
  for domain in $(echo "$RELAY_DOMAINS" | tr ',' ' '); do
    entries="$entries $domain=$RELAY_TRANSPORT"
  done
  transport_maps="inline:{$entries }"
fi

cat > "$conf/main.cf" <<CONF
compatibility_level = 3.6
myhostname = $MAIL_HOSTNAME
mydestination =
local_recipient_maps =
inet_interfaces = all
inet_protocols = ipv4
mynetworks = 127.0.0.0/8 $(echo "$INTERNAL_NETWORKS" | tr ',' ' ')
relay_domains = $(echo "$RELAY_DOMAINS" | tr ',' ' ')
transport_maps = $transport_maps
relayhost = $RELAYHOST
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
smtp_tls_security_level = may
maillog_file = /dev/stdout

# From README.md, Behind Postfix
CONF
sed -e "s/127\.0\.0\.1:10024/$LOCKPOST_LMTP_ADDRESS/" \
  "$conf/lockpost/main.cf.lockpost" >> "$conf/main.cf"

cp "$conf/master.cf.package" "$conf/master.cf"
printf '\n# From README.md, Behind Postfix\n' >> "$conf/master.cf"
sed -e "s/^127\.0\.0\.1:10026 /10026 /" \
    -e "s#127\.0\.0\.0/8#127.0.0.0/8,$LOCKPOST_NETWORK#g" \
  "$conf/lockpost/master.cf.lockpost" >> "$conf/master.cf"
# Without chroot Postfix needs no copies of /etc files in its queue.
postconf -c "$conf" -F '*/*/chroot = n'
