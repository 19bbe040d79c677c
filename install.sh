#!/usr/bin/env bash
# Install, upgrade or remove assistant on Ubuntu 22.04 / 24.04 or Debian 12.
#
#   sudo ./install.sh [--telegram-token T] [--model-base-url URL --model NAME [--model-api-key K]]
#   sudo ./install.sh --uninstall        remove the service and the program; keep config and data
#   sudo ./install.sh --purge            remove everything, config, data and the user included
#   ./install.sh --root DIR              stage every file under DIR (no user, no systemd)
#
# Safe to run again: a second run changes nothing; a run from a newer checkout upgrades the
# program, keeps config and data, migrates the state and restarts the service.
set -euo pipefail
umask 022

usage() {
  cat <<'EOF'
Usage: sudo ./install.sh [OPTIONS]

Installs assistant from this checkout: the system user "assistant", the program in
/opt/assistant, /etc/assistant/config.toml (only if absent), the secrets file
/etc/assistant/assistant.env (mode 0600), the state in /var/lib/assistant, and the
systemd service, which it starts.

Secrets (written into /etc/assistant/assistant.env):
  --telegram-token TOKEN     Telegram bot token from @BotFather
  --feishu-app-id ID         Feishu / Lark app id
  --feishu-app-secret SECRET Feishu / Lark app secret
  --model-base-url URL       model API root, e.g. https://api.openai.com/v1
  --model-api-key KEY        model API key (leave out for a local server)
  --model NAME               model id, e.g. gpt-4o-mini
Other:
  --python PATH              Python >= 3.11 for the program (default: found or installed)
  --root DIR                 install every file under DIR: no user, no chown, no systemd
  --uninstall                remove the service and the program; keep config and data
  --purge                    remove the service, program, config, data and the user
  -h, --help                 this text
EOF
}

die() {
  printf 'install.sh: error: %s\n' "$*" >&2
  exit 1
}

ROOT=""
PYTHON=""
ACTION=install
declare -A SECRET=()
while (($#)); do
  option=$1
  value=""
  case $option in
  --*=*)
    value=${option#*=}
    option=${option%%=*}
    ;;
  esac
  case $option in
  --telegram-token | --feishu-app-id | --feishu-app-secret | --model-base-url | --model-api-key | --model | --root | --python)
    if [[ $1 != *=* ]]; then
      (($# >= 2)) || die "$option needs a value"
      value=$2
      shift
    fi
    ;;
  esac
  case $option in
  --telegram-token) SECRET[TELEGRAM_BOT_TOKEN]=$value ;;
  --feishu-app-id) SECRET[FEISHU_APP_ID]=$value ;;
  --feishu-app-secret) SECRET[FEISHU_APP_SECRET]=$value ;;
  --model-base-url) SECRET[ASSISTANT_MODEL_BASE_URL]=$value ;;
  --model-api-key) SECRET[ASSISTANT_MODEL_API_KEY]=$value ;;
  --model) SECRET[ASSISTANT_MODEL]=$value ;;
  --root) ROOT=$value ;;
  --python) PYTHON=$value ;;
  --uninstall) ACTION=uninstall ;;
  --purge) ACTION=purge ;;
  -h | --help)
    usage
    exit 0
    ;;
  *) die "unknown option $option (see ./install.sh --help)" ;;
  esac
  shift
done

if [[ -n ${SECRET[ASSISTANT_MODEL_BASE_URL]+x} || -n ${SECRET[ASSISTANT_MODEL]+x} ]]; then
  [[ -n ${SECRET[ASSISTANT_MODEL_BASE_URL]:-} && -n ${SECRET[ASSISTANT_MODEL]:-} ]] ||
    die "--model-base-url and --model go together"
  [[ ${SECRET[ASSISTANT_MODEL_BASE_URL]} =~ ^https?://[^[:space:]/]+ ]] ||
    die "--model-base-url must be an http(s) URL, e.g. https://api.openai.com/v1"
fi
for name in "${!SECRET[@]}"; do
  [[ ${SECRET[$name]} != *$'\n'* ]] || die "the value for $name has a line break"
done

SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
if [[ -n $ROOT ]]; then
  mkdir -p "$ROOT"
  ROOT=$(cd "$ROOT" && pwd)
fi
PREFIX=$ROOT/opt/assistant
ETC=$ROOT/etc/assistant
CONFIG=$ETC/config.toml
ENV_FILE=$ETC/assistant.env
STATE=$ROOT/var/lib/assistant
UNIT=$ROOT/etc/systemd/system/assistant.service
LINK=$ROOT/usr/local/bin/assistant
STAMP=$PREFIX/.install-stamp
SERVICE_USER=assistant
STARTED=$SECONDS
CHANGES=0
PROGRAM_CHANGED=0
UNIT_CHANGED=0
CONFIG_CREATED=0
BUILD_DIR=""
trap 'if [[ -n $BUILD_DIR ]]; then rm -rf "$BUILD_DIR"; fi' EXIT

step() { printf '==> %s\n' "$*"; }
changed() {
  printf '  changed  %s\n' "$*"
  CHANGES=$((CHANGES + 1))
}
unchanged() { printf '  ok       %s\n' "$*"; }
skipped() { printf '  skipped  %s\n' "$*"; }
warn() { printf '  warning  %s\n' "$*" >&2; }

staging() { [[ -n $ROOT ]]; }
systemd_running() { ! staging && [[ -d /run/systemd/system ]] && command -v systemctl >/dev/null; }

# The environment the installed command runs with: the secrets file, and in a staging
# root the staged state directory.
assistant_cmd() {
  local env=(ASSISTANT_ENV_FILE="$ENV_FILE")
  if staging; then env+=(ASSISTANT_STATE_DIR="$STATE"); fi
  env "${env[@]}" "$PREFIX/bin/assistant" "$@"
}

# --- checks --------------------------------------------------------------------------------

preflight() {
  if ! staging && ((EUID != 0)); then
    die "run as root: sudo ./install.sh (or --root DIR to stage the files somewhere)"
  fi
  if ! staging && [[ -r /etc/os-release ]]; then
    local ID="" VERSION_ID=""
    # shellcheck disable=SC1091
    . /etc/os-release
    case "$ID $VERSION_ID" in
    "ubuntu 22.04" | "ubuntu 24.04" | "debian 12") ;;
    *) warn "$ID $VERSION_ID is not one of the tested systems (Ubuntu 22.04/24.04, Debian 12)" ;;
    esac
  fi
}

python_ok() { "$1" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; }

apt_install() {
  command -v apt-get >/dev/null || die "cannot install $* without apt-get; install it yourself"
  printf '  installing %s from the distribution\n' "$*"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
  changed "installed $*"
}

find_python() {
  if [[ -n $PYTHON ]]; then
    python_ok "$PYTHON" || die "$PYTHON is not Python >= 3.11"
    return
  fi
  local candidate
  for candidate in python3 python3.13 python3.12 python3.11; do
    if command -v "$candidate" >/dev/null && python_ok "$candidate"; then
      PYTHON=$(command -v "$candidate")
      return
    fi
  done
  staging && die "no Python >= 3.11 found; pass --python PATH"
  # Ubuntu 22.04 ships 3.10; its repositories have 3.11
  apt_install python3.11 python3.11-venv
  PYTHON=$(command -v python3.11) || die "python3.11 did not install"
}

ensure_venv_support() {
  "$PYTHON" -c 'import ensurepip, venv' 2>/dev/null && return
  staging && die "$PYTHON cannot create virtual environments (install python3-venv)"
  local version
  version=$("$PYTHON" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
  apt_install "python$version-venv"
}

# The charts' Chinese labels (/status HOST, /graph, alerts) need a CJK font; the program finds
# it by path. Debian's and Ubuntu's fonts-wqy-microhei is a small one (5 MB).
ensure_chart_font() {
  local font=/usr/share/fonts/truetype/wqy/wqy-microhei.ttc
  if [[ -f $font ]]; then
    unchanged "chart font ($font)"
  elif staging; then
    skipped "chart font (staging root)"
  else
    apt_install fonts-wqy-microhei
  fi
}

# --- the program ---------------------------------------------------------------------------

# Everything that makes up the installed program: when this is unchanged, pip is skipped.
source_stamp() {
  (
    cd "$SRC"
    "$1" --version
    sha256sum constraints.txt pyproject.toml README.md
    find src docs -type f ! -name '*.pyc' ! -path '*/__pycache__/*' ! -path '*.egg-info/*' \
      -print0 | LC_ALL=C sort -z | xargs -0 sha256sum
  ) | sha256sum | cut -d' ' -f1
}

install_program() {
  step "program in $PREFIX"
  if [[ -x $PREFIX/bin/python ]] && python_ok "$PREFIX/bin/python"; then
    local want
    want=$(source_stamp "$PREFIX/bin/python")
    if [[ -f $STAMP && $(<"$STAMP") == "$want" ]]; then
      unchanged "$("$PREFIX/bin/assistant" --version 2>/dev/null || echo assistant) is up to date (pip skipped)"
      return
    fi
  else
    find_python
    ensure_venv_support
    rm -rf "$PREFIX"
    mkdir -p "$(dirname "$PREFIX")"
    "$PYTHON" -m venv "$PREFIX" || die "could not create the virtual environment $PREFIX"
    changed "created the virtual environment ($("$PREFIX/bin/python" --version))"
  fi
  # build from a clean copy: nothing is written into the checkout
  local log=$PREFIX/install.log
  BUILD_DIR=$(mktemp -d)
  cp -r "$SRC/pyproject.toml" "$SRC/README.md" "$SRC/constraints.txt" "$SRC/src" "$BUILD_DIR/"
  find "$BUILD_DIR/src" \( -name __pycache__ -o -name '*.egg-info' \) -prune -exec rm -rf {} +
  printf '  installing the package and its pinned dependencies (a few minutes the first time)\n'
  if ! "$PREFIX/bin/python" -m pip install --disable-pip-version-check --no-input \
    -c "$BUILD_DIR/constraints.txt" "$BUILD_DIR" >"$log" 2>&1; then
    tail -n 25 "$log" >&2
    die "pip failed (the whole log: $log)"
  fi
  rm -rf "$BUILD_DIR"
  rm -rf "$PREFIX/share/doc/assistant"
  mkdir -p "$PREFIX/share/doc/assistant"
  cp -r "$SRC/docs/." "$PREFIX/share/doc/assistant/"
  cp "$SRC/config/assistant.example.toml" "$PREFIX/share/doc/assistant/"  # the doctor's fixes
  source_stamp "$PREFIX/bin/python" >"$STAMP"
  PROGRAM_CHANGED=1
  changed "installed $("$PREFIX/bin/assistant" --version) from $SRC"
}

link_command() {
  local target=$PREFIX/bin/assistant
  if [[ -L $LINK && $(readlink "$LINK") == "$target" ]]; then
    unchanged "command $LINK"
  else
    mkdir -p "$(dirname "$LINK")"
    ln -sfn "$target" "$LINK"
    changed "command $LINK -> $target"
  fi
}

# --- the user, config, secrets and state ---------------------------------------------------

ensure_user() {
  step "service user"
  if staging; then
    skipped "user $SERVICE_USER (staging root)"
  elif id -u "$SERVICE_USER" >/dev/null 2>&1; then
    unchanged "user $SERVICE_USER"
  else
    useradd --system --user-group --home-dir /var/lib/assistant --no-create-home \
      --shell /usr/sbin/nologin --comment "assistant daemon" "$SERVICE_USER"
    changed "created the system user $SERVICE_USER (no login shell)"
  fi
}

owned() { staging || printf ', owned by %s' "$1"; }

# set_owner_mode PATH MODE OWNER:GROUP (the owner is left alone in a staging root)
set_owner_mode() {
  local path=$1 mode=$2 owner=$3 want
  want=$(printf '%o' "$((8#$mode))")
  if staging; then
    [[ $(stat -c '%a' "$path") == "$want" ]] && return 1
  else
    [[ $(stat -c '%a %U:%G' "$path") == "$want $owner" ]] && return 1
    chown "$owner" "$path"
  fi
  chmod "$mode" "$path"
}

install_config() {
  step "config in $ETC"
  mkdir -p "$ETC"
  if set_owner_mode "$ETC" 0750 "root:$SERVICE_USER"; then changed "$ETC is mode 0750$(owned "root:$SERVICE_USER")"; fi
  if [[ -e $CONFIG ]]; then
    unchanged "$CONFIG kept as it is (never overwritten)"
  else
    cp "$SRC/config/assistant.example.toml" "$CONFIG"
    set_owner_mode "$CONFIG" 0640 "root:$SERVICE_USER" || true
    CONFIG_CREATED=1
    changed "created $CONFIG from config/assistant.example.toml"
  fi
}

env_template() {
  cat <<'EOF'
# Secrets of assistant. Mode 0600, owned by root: systemd hands them to the service
# (EnvironmentFile=) and `sudo assistant ...` reads them too. The config file refers to
# them as ${NAME}. After a change: sudo systemctl restart assistant
#
# Telegram: the bot token @BotFather gave you (docs/telegram.md)
TELEGRAM_BOT_TOKEN=
# Feishu / Lark: the app credentials from the developer console (docs/feishu.md)
FEISHU_APP_ID=
FEISHU_APP_SECRET=
# The model: API root, key and model id (docs/models.md); used by the [[models]] entry
# that install.sh writes when given --model-base-url and --model
ASSISTANT_MODEL_BASE_URL=
ASSISTANT_MODEL_API_KEY=
ASSISTANT_MODEL=
# Bearer token for the gateway's admin endpoints (/status); empty: they are off
ASSISTANT_ADMIN_TOKEN=
# The owner's console token: `assistant chat` and the web console log in with it
# (install.sh generates one when it is empty; docs/console.md)
ASSISTANT_CONSOLE_TOKEN=
EOF
}

env_value() { # the raw value of NAME in the secrets file (empty when absent)
  NAME=$1 awk 'index($0, ENVIRON["NAME"] "=") == 1 { print substr($0, length(ENVIRON["NAME"]) + 2); exit }' "$ENV_FILE"
}

env_line_value() { # VALUE as systemd reads it back: quoted when it needs to be
  local value=$1
  if [[ $value =~ ^[A-Za-z0-9_.:/@+=,%~-]*$ ]]; then
    printf '%s' "$value"
  else
    value=${value//\\/\\\\}
    printf '"%s"' "${value//\"/\\\"}"
  fi
}

set_env() {
  local name=$1 line tmp
  line=$(env_line_value "$2")
  [[ $(env_value "$name") == "$line" ]] && return 1
  tmp=$(mktemp)
  NAME=$name LINE=$line awk '
    index($0, ENVIRON["NAME"] "=") == 1 { if (!done) print ENVIRON["NAME"] "=" ENVIRON["LINE"]; done = 1; next }
    { print }
    END { if (!done) print ENVIRON["NAME"] "=" ENVIRON["LINE"] }' "$ENV_FILE" >"$tmp"
  cat "$tmp" >"$ENV_FILE" # keeps the file's mode and owner
  rm -f "$tmp"
}

install_secrets() {
  step "secrets in $ENV_FILE"
  if [[ -e $ENV_FILE ]]; then
    unchanged "$ENV_FILE kept"
  else
    (
      umask 077
      env_template >"$ENV_FILE"
    )
    changed "created $ENV_FILE (mode 0600)"
  fi
  if set_owner_mode "$ENV_FILE" 0600 root:root; then changed "$ENV_FILE is mode 0600$(owned root:root)"; fi
  local name
  for name in TELEGRAM_BOT_TOKEN FEISHU_APP_ID FEISHU_APP_SECRET ASSISTANT_MODEL_BASE_URL ASSISTANT_MODEL_API_KEY ASSISTANT_MODEL; do
    [[ -n ${SECRET[$name]+x} ]] || continue
    if set_env "$name" "${SECRET[$name]}"; then
      changed "set $name"
    else
      unchanged "$name already has that value"
    fi
  done
  if [[ -z $(env_value ASSISTANT_CONSOLE_TOKEN) ]]; then
    set_env ASSISTANT_CONSOLE_TOKEN "$(new_token)" || true
    changed "generated ASSISTANT_CONSOLE_TOKEN (the console's login; read it with: sudo grep ^ASSISTANT_CONSOLE_TOKEN= $ENV_FILE)"
  else
    unchanged "ASSISTANT_CONSOLE_TOKEN kept (read it with: sudo grep ^ASSISTANT_CONSOLE_TOKEN= $ENV_FILE)"
  fi
}

new_token() { # 32 random bytes as hex
  if command -v openssl >/dev/null 2>&1; then
    openssl rand -hex 32
  else
    od -An -N32 -tx1 /dev/urandom | tr -d ' \n'
  fi
}

# Turn on a channel section of a config this run created, when its credentials were given.
enable_section() {
  local section=$1 tmp
  grep -q "^\[$section\]" "$CONFIG" || return 0
  tmp=$(mktemp)
  SECTION="[$section]" awk '
    /^\[/ { inside = ($0 == ENVIRON["SECTION"]) }
    inside && /^enabled = false/ { print "enabled = true"; changed = 1; next }
    { print }' "$CONFIG" >"$tmp"
  if ! cmp -s "$tmp" "$CONFIG"; then
    cat "$tmp" >"$CONFIG"
    changed "enabled [$section] in $CONFIG"
  fi
  rm -f "$tmp"
}

configure_model() {
  [[ -n ${SECRET[ASSISTANT_MODEL]:-} ]] || return 0
  # shellcheck disable=SC2016 # a literal ${...} reference in the config
  if grep -q '${ASSISTANT_MODEL_BASE_URL' "$CONFIG"; then
    unchanged "$CONFIG already has the [[models]] entry for ASSISTANT_MODEL_*"
    return
  fi
  if ((!CONFIG_CREATED)) && ! cmp -s "$CONFIG" "$SRC/config/assistant.example.toml"; then
    warn "$CONFIG is yours, so no [[models]] entry was added; add one using \${ASSISTANT_MODEL_BASE_URL}, \${ASSISTANT_MODEL_API_KEY:-} and \${ASSISTANT_MODEL} (docs/models.md)"
    return
  fi
  local api=openai
  [[ ${SECRET[ASSISTANT_MODEL_BASE_URL]} == *anthropic* ]] && api=anthropic
  cat >>"$CONFIG" <<EOF

# Written by install.sh from --model-base-url / --model / --model-api-key; the values are in
# $ENV_FILE. More providers and presets: see the [[models]] comments above.
[[models]]
name = "default"
api = "$api"
base_url = "\${ASSISTANT_MODEL_BASE_URL}"
api_key = "\${ASSISTANT_MODEL_API_KEY:-}"
model = "\${ASSISTANT_MODEL}"
EOF
  changed "added a [[models]] entry ($api) to $CONFIG"
}

configure() {
  if ((CONFIG_CREATED)); then
    [[ -n ${SECRET[TELEGRAM_BOT_TOKEN]:-} ]] && enable_section telegram
    [[ -n ${SECRET[FEISHU_APP_ID]:-} && -n ${SECRET[FEISHU_APP_SECRET]:-} ]] && enable_section feishu
  fi
  configure_model
}

install_state() {
  step "state in $STATE"
  if [[ -d $STATE ]]; then
    unchanged "$STATE kept"
  else
    mkdir -p "$STATE"
    changed "created $STATE"
  fi
  if set_owner_mode "$STATE" 0700 "$SERVICE_USER:$SERVICE_USER"; then
    changed "$STATE is mode 0700$(owned "$SERVICE_USER:$SERVICE_USER")"
  fi
}

check_config() {
  step "config check"
  local out
  if out=$(assistant_cmd check-config --config "$CONFIG" 2>&1); then
    unchanged "$out"
    return 0
  fi
  printf '%s\n' "$out" | sed 's/^/  /' >&2
  warn "fix $CONFIG (and $ENV_FILE), then: sudo systemctl restart assistant"
  return 1
}

migrate_state() {
  ((PROGRAM_CHANGED)) && [[ -f $STATE/state.db ]] || return 0
  systemd_running && return 0 # the service migrates when it restarts
  local out
  if out=$(assistant_cmd migrate --config "$CONFIG" 2>&1); then
    if [[ $out == *migrated* ]]; then changed "$out"; else unchanged "$out"; fi
  else
    warn "could not migrate the state now (the daemon will on start): $out"
  fi
}

# --- systemd -------------------------------------------------------------------------------

install_unit() {
  step "systemd unit $UNIT"
  mkdir -p "$(dirname "$UNIT")"
  if cmp -s "$SRC/systemd/assistant.service" "$UNIT"; then
    unchanged "unit up to date"
  else
    install -m 0644 "$SRC/systemd/assistant.service" "$UNIT"
    UNIT_CHANGED=1
    changed "installed the unit"
  fi
}

start_service() {
  local config_ok=$1
  step "service"
  if staging; then
    skipped "systemd steps (staging root)"
    return
  fi
  if ! systemd_running; then
    skipped "systemd is not running on this machine (a container?): the service was not enabled or started"
    return
  fi
  if ((UNIT_CHANGED)); then
    systemctl daemon-reload
    changed "systemd reloaded its units"
  fi
  if systemctl is-enabled -q assistant 2>/dev/null; then
    unchanged "service enabled"
  else
    systemctl enable -q assistant
    changed "service enabled (starts at boot)"
  fi
  if ((!config_ok)); then
    skipped "not (re)starting the service until the config is valid"
    return
  fi
  local verb=""
  if ! systemctl is-active -q assistant; then
    verb=start
  elif ((PROGRAM_CHANGED || UNIT_CHANGED)); then
    verb=restart
  fi
  if [[ -z $verb ]]; then
    unchanged "service running"
  else
    printf '  waiting for the service to report ready (%s)\n' "$verb"
    # Type=notify: systemctl returns once the daemon has sent READY=1
    if ! systemctl "$verb" assistant; then
      systemctl --no-pager --lines=0 status assistant || true
      journalctl -u assistant -n 30 --no-pager -o cat || true
      die "the service did not start; the log above says why"
    fi
    changed "service ${verb}ed and ready"
  fi
  systemctl --no-pager --lines=0 status assistant || true
  printf '\n'
  assistant_cmd doctor || warn "doctor found problems (above)"
}

# --- what is left to do --------------------------------------------------------------------

next_steps() {
  local todo=()
  if ! grep -q '^\[\[models\]\]' "$CONFIG"; then
    todo+=("a model: run  sudo ./install.sh --model-base-url https://api.openai.com/v1 --model-api-key sk-... --model gpt-4o-mini"
      "  (or fill in ASSISTANT_MODEL_BASE_URL=, ASSISTANT_MODEL_API_KEY=, ASSISTANT_MODEL= in $ENV_FILE and add a [[models]] entry to $CONFIG; docs/models.md)")
  fi
  if [[ -z $(env_value TELEGRAM_BOT_TOKEN) && -z $(env_value FEISHU_APP_ID) ]]; then
    todo+=("a chat channel: fill in TELEGRAM_BOT_TOKEN= (docs/telegram.md), or FEISHU_APP_ID= and FEISHU_APP_SECRET= (docs/feishu.md), in $ENV_FILE"
      "  (or run  sudo ./install.sh --telegram-token 123456:ABC...)")
  fi
  if grep -q '^owners = \[\]' "$CONFIG"; then
    todo+=("you as the owner: put \"telegram:YOUR_USER_ID\" (or \"feishu:OPEN_ID\") in [access] owners in $CONFIG")
  fi
  ((${#todo[@]})) || return 0
  printf '\nLeft to do:\n'
  printf '  - %s\n' "${todo[@]}" | sed 's/^  -   /    /'
  printf 'Then: sudo systemctl restart assistant && sudo assistant doctor\n'
}

# --- uninstall -----------------------------------------------------------------------------

uninstall() {
  local path
  step "removing assistant"
  if systemd_running && [[ -e $UNIT ]]; then
    systemctl disable --now -q assistant 2>/dev/null || true
    changed "service stopped and disabled"
  fi
  if [[ -e $UNIT ]]; then
    rm -f "$UNIT"
    changed "removed $UNIT"
    if systemd_running; then systemctl daemon-reload; fi
  fi
  if [[ -L $LINK ]]; then
    rm -f "$LINK"
    changed "removed $LINK"
  fi
  if [[ -e $PREFIX ]]; then
    rm -rf "$PREFIX"
    changed "removed $PREFIX"
  fi
  if [[ $ACTION == purge ]]; then
    for path in "$ETC" "$STATE"; do
      if [[ -e $path ]]; then
        rm -rf "$path"
        changed "removed $path"
      fi
    done
    if ! staging && id -u "$SERVICE_USER" >/dev/null 2>&1; then
      userdel "$SERVICE_USER"
      changed "removed the user $SERVICE_USER"
    fi
  else
    for path in "$ETC" "$STATE"; do
      if [[ -e $path ]]; then unchanged "kept $path (--purge removes it)"; fi
    done
  fi
}

# --- main ----------------------------------------------------------------------------------

preflight
if [[ $ACTION != install ]]; then
  uninstall
else
  ensure_user
  ensure_chart_font
  install_program
  link_command
  install_config
  install_secrets
  configure
  install_state
  install_unit
  config_ok=1
  check_config || config_ok=0
  if ((config_ok)); then migrate_state; fi
  start_service "$config_ok"
  next_steps
fi
if ((CHANGES)); then
  printf '\nDone in %ss: %s change(s).\n' "$((SECONDS - STARTED))" "$CHANGES"
else
  printf '\nDone in %ss: nothing to change.\n' "$((SECONDS - STARTED))"
fi
if [[ $ACTION == install ]] && ((!config_ok)); then exit 1; fi
exit 0
