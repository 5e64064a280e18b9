# Sourced by the terminal installers: sets $mirror to the Debian mirror this machine's apt
# already uses (deb822 .sources first, then sources.list), so no host is named here.
mirror=$(awk '/^URIs:/ {u=$2} /^Suites:/ && u ~ /debian\/?$/ {print u; exit}' \
         /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
if [ -z "$mirror" ]; then
  mirror=$(awk '$1=="deb" && $2 ~ /debian\/?$/ {print $2; exit}' \
           /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null || true)
fi
mirror=${mirror:-http://deb.debian.org/debian}
