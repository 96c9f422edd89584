# Sourced by the other scripts: makes sure the Debian packages relprop builds with are
# installed. As root it installs what is missing; otherwise it prints the apt-get line.

relprop_packages=(g++ cmake ninja-build pkg-config libeigen3-dev doctest-dev libbenchmark-dev
                  nlohmann-json3-dev libcli11-dev libstb-dev libxxhash-dev fonts-dejavu-core)

relprop_ensure_packages() {
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" -eq 0 ]; then
    echo "relprop: installing ${missing[*]}" >&2
    if [ -z "${RELPROP_APT_UPDATED:-}" ]; then
      apt-get update -qq
      export RELPROP_APT_UPDATED=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "relprop: missing packages; run as root:" >&2
    echo "  apt-get install -y ${missing[*]}" >&2
    return 1
  fi
}

relprop_ensure_deps() { relprop_ensure_packages "${relprop_packages[@]}"; }

relprop_jobs() { nproc 2>/dev/null || echo 2; }
