#!/bin/sh
# Writes /auth/auth.conf for deploy/compose's NATS nodes: deploy/nats/auth.conf
# (mounted at /src/auth.conf) with each user's placeholder bcrypt hash replaced
# by the hash of the password in $GORUN_<USER>_PASSWORD. Run by the nats-auth
# service of compose.yml, in gorun's image (gorun-mkpasswd).
set -eu
in=/src/auth.conf
out=/auth/auth.conf
cp "$in" "$out.tmp"
for user in admin dispatcher executor client readonly; do
	var=GORUN_$(echo "$user" | tr '[:lower:]' '[:upper:]')_PASSWORD
	eval "pw=\${$var:-}"
	if [ -z "$pw" ]; then
		echo "nats-auth: \$$var is empty" >&2
		exit 1
	fi
	hash=$(printf '%s\n' "$pw" | gorun-mkpasswd -stdin | awk '/^bcrypt:/ {print $2}')
	placeholder="\$2a\$11\$CHANGE-ME-bcrypt-of-$user-password"
	grep -qF "$placeholder" "$out.tmp" || { echo "nats-auth: no placeholder for $user in $in" >&2; exit 1; }
	# sed: escape the pattern's $; a bcrypt hash holds no |, & or \.
	sed -i "s|$(printf '%s' "$placeholder" | sed 's/\$/\\$/g')|$hash|" "$out.tmp"
done
chmod 644 "$out.tmp"
mv "$out.tmp" "$out"
echo "nats-auth: wrote $out" >&2
