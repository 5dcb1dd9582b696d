# shellcheck shell=bash
# The body of xpart's EC2 bootstrap; src/bootstrap/mod.rs puts `set -euo pipefail`, umask 077 and
# the inputs (ROOT, RUN_AS, KEY_SECRET_ARN, CERT_PEM, …) above it. For user RUN_AS it writes
#   ~/.aws/xpart/current/client.crt, client.key
#                    (`current` links to a directory per certificate and key pair: dirs 0700,
#                     files 0600, owned by RUN_AS, as the helper runs as RUN_AS)
#   ~/.aws/config [profile AWS_PROFILE_NAME] with credential_process on one line
#   /usr/local/lib/xpart/refresh, run every REFRESH_MINUTES by a systemd timer
# and installs the credential helper. Certificate and key come from Secrets Manager (instance
# role): the secret holds both as a PEM bundle (or, with CERT_PEM set, the key alone). A
# renewal changes the secret, never the user data: the refresher installs the new pair as a
# new directory and moves `current` to it in one rename, so the helper never reads a
# certificate beside a key of another pair, and the workload is not restarted. The key is
# never in user data and never printed. Every path is under ROOT (tests set a scratch dir).
# Running it again rewrites the same files.

say() { printf 'xpart-bootstrap: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

tmps=()
trap 'rm -rf -- "${tmps[@]}"' EXIT

# newtmp VAR DIR: VAR = a new 0600 file in DIR (renamed over its target later), removed on exit.
newtmp() {
  local t
  t=$(mktemp "$2/.xpart-tmp.XXXXXX")
  tmps+=("$t")
  printf -v "$1" '%s' "$t"
}

# plain NAME: the value can stand unquoted on the credential_process line and in the config.
plain() {
  case ${!1} in
    '' | -* | *[!A-Za-z0-9_./:@+=,-]*) die "$1 is empty or has characters it cannot have: '${!1}'" ;;
  esac
}

# fetch URL FILE MAX_SECONDS SHA256: FILE = what URL serves (https, or s3://bucket/key read with
# the instance role in this partition), refused unless it is a binary and, when SHA256 is
# given, unless its digest is that. Nothing is installed from here: install_bin does that.
fetch() {
  local got want=${4,,}
  case $1 in -*) die "not a URL: $1" ;; esac
  say "downloading $1"
  case $1 in
    s3://*)
      AWS_PAGER='' "$aws_cli" s3 cp "${s3_args[@]}" --only-show-errors "$1" "$2" ||
        die "could not download $1 (with the instance role, region $SECRETS_REGION)"
      ;;
    *)
      curl --fail --silent --show-error --location --retry 5 --max-time "$3" --output "$2" "$1" ||
        die "could not download $1"
      ;;
  esac
  [ -s "$2" ] || die "$1 is empty"
  # A wrong S3 path answers with an XML AccessDenied page, not a binary.
  if head -c 1 -- "$2" | grep -q '<'; then die "$1 served a page, not a binary"; fi
  if [ -n "$want" ]; then
    got=$(sha256sum -- "$2" | cut -d' ' -f1)
    [ "$got" = "$want" ] ||
      die "$1 has SHA-256 $got, but the plan expects $want: nothing was installed (check the URL and the plan's digest)"
    say "checked $1: SHA-256 $got"
  else
    say "warning: $1 is not checked: the plan gives no SHA-256 for it"
  fi
}

# install_bin FILE DEST: DEST (mode 0755) replaced atomically by FILE.
install_bin() {
  local tmp
  install -d -m 0755 -- "$(dirname -- "$2")"
  newtmp tmp "$(dirname -- "$2")"
  cat -- "$1" >"$tmp"
  chmod 0755 -- "$tmp"
  mv -f -T -- "$tmp" "$2"
}

# userdir DIR: DIR exists, is no symlink, mode 0700, owned by RUN_AS.
userdir() {
  [ ! -L "$1" ] || die "$1 is a symbolic link"
  [ -d "$1" ] || mkdir -- "$1"
  chmod 0700 -- "$1"
  chown -- "$owner" "$1"
}

# ---- inputs ----
for v in RUN_AS KEY_SECRET_ARN TRUST_ANCHOR_ARN PROFILE_ARN ROLE_ARN TARGET_REGION \
  AWS_PROFILE_NAME SECRETS_REGION HELPER REFRESH_MINUTES; do
  [ -n "${!v:-}" ] || die "$v is empty"
done
ROOT=${ROOT%/}
[ -z "$ROOT" ] || { plain ROOT && case $ROOT in /*) ;; *) die "ROOT must be absolute" ;; esac; }
for v in RUN_AS TRUST_ANCHOR_ARN PROFILE_ARN ROLE_ARN TARGET_REGION AWS_PROFILE_NAME SECRETS_REGION; do
  plain "$v"
done
read -r -a extra <<<"$CREDENTIAL_PROCESS_EXTRA"
for e in ${extra[@]+"${extra[@]}"}; do
  case $e in *[!A-Za-z0-9_./:@+=,-]*) die "CREDENTIAL_PROCESS_EXTRA has characters it cannot have: '$e'" ;; esac
done
case $CERT_PEM in '' | '-----BEGIN CERTIFICATE-----'*) ;; *) die "CERT_PEM is not a PEM certificate" ;; esac
case $REFRESH_MINUTES in '' | *[!0-9]* | 0*) die "REFRESH_MINUTES must be a whole number of minutes" ;; esac
case $HELPER in
  xpart | aws_signing_helper) ;;
  *) die "HELPER is '$HELPER'; it must be xpart or aws_signing_helper" ;;
esac

id -u -- "$RUN_AS" >/dev/null 2>&1 || die "there is no user $RUN_AS"
owner="$RUN_AS:$(id -gn -- "$RUN_AS")"
if [ -n "$ROOT" ]; then
  home=$ROOT/home/$RUN_AS
else
  home=$(getent passwd -- "$RUN_AS" | cut -d: -f6) || true
fi
[ -n "$home" ] || die "user $RUN_AS has no home directory"
plain home
if [ ! -d "$home" ]; then
  mkdir -p -- "$home"
  chown -- "$owner" "$home"
fi
aws_dir=$home/.aws
dir=$aws_dir/xpart
config=$aws_dir/config
bindir=$ROOT/usr/local/bin

# ---- downloads: every binary fetched and checked before anything is installed ----
scratch=$(mktemp -d)
tmps+=("$scratch")
s3_args=(--region "$SECRETS_REGION")
[ -z "$S3_ENDPOINT_URL" ] || s3_args+=(--endpoint-url "$S3_ENDPOINT_URL")
# The aws CLI, to read the key (Ubuntu images come without it): unpacked here, installed below.
cli_fetched=
if aws_cli=$(command -v aws); then
  :
elif [ -x "$bindir/aws" ]; then
  aws_cli=$bindir/aws
else
  [ -z "${XPART_REFRESH:-}" ] || die "the aws CLI is missing"
  [ -n "$AWSCLI_URL" ] || die "the aws CLI is missing (and AWSCLI_URL is empty)"
  fetch "$AWSCLI_URL" "$scratch/awscli.zip" 600 "$AWSCLI_SHA256"
  if ! command -v unzip >/dev/null; then
    if command -v apt-get >/dev/null; then
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq unzip >/dev/null
    elif command -v dnf >/dev/null; then
      dnf install -y -q unzip
    fi
  fi
  unzip -q -- "$scratch/awscli.zip" -d "$scratch"
  aws_cli=$scratch/aws/dist/aws
  cli_fetched=1
fi
# The credential helper.
helper_file=
if [ -z "${XPART_REFRESH:-}" ]; then
  if [ "$HELPER" = aws_signing_helper ]; then
    [ -n "$HELPER_URL" ] || die "HELPER_URL is empty"
    helper_path=$bindir/aws_signing_helper
    helper_file=$scratch/helper
    fetch "$HELPER_URL" "$helper_file" 60 "$HELPER_SHA256"
  elif [ -n "$XPART_URL" ]; then
    helper_path=$bindir/xpart
    helper_file=$scratch/helper
    fetch "$XPART_URL" "$helper_file" 60 "$XPART_SHA256"
  else
    helper_path=$(command -v xpart) || die "xpart is not on PATH (set xpart_url to install it)"
  fi
  case $helper_path in /*) ;; *) die "the helper's path is not absolute: $helper_path" ;; esac
  plain helper_path
fi

# ---- the aws CLI, installed ----
if [ -n "$cli_fetched" ]; then
  install -d -m 0755 -- "$bindir"
  "$scratch/aws/install" --update --bin-dir "$bindir" --install-dir "$ROOT/usr/local/aws-cli" >/dev/null
  aws_cli=$bindir/aws
fi

# ---- certificate and key ----
userdir "$aws_dir"
userdir "$dir"
sm_args=(--region "$SECRETS_REGION")
[ -z "$SECRETS_ENDPOINT_URL" ] || sm_args+=(--endpoint-url "$SECRETS_ENDPOINT_URL")

# install_pair [TRIES]: read the secret, and when it holds another pair than `current`, write the
# pair into a new directory and point `current` at it (one rename). The refresher runs this too.
install_pair() {
  local bundle='' cert key ver tmp attempt tries=${1:-8}
  for ((attempt = 1; ; attempt++)); do
    bundle=$(AWS_PAGER='' "$aws_cli" secretsmanager get-secret-value "${sm_args[@]}" \
      --secret-id "$KEY_SECRET_ARN" --query SecretString --output text) && break
    [ "$attempt" -lt "$tries" ] || die "could not read $KEY_SECRET_ARN"
    # A new instance's role credentials can take a while to appear: about 2 minutes in all.
    sleep $((attempt < 5 ? 2 ** attempt : 30))
  done
  case $bundle in *ENCRYPTED*) die "the secret holds an encrypted key; the helper needs it unencrypted" ;; esac
  key=$(printf '%s\n' "$bundle" | awk '/^-----BEGIN [A-Z ]*PRIVATE KEY/,/^-----END [A-Z ]*PRIVATE KEY/')
  [ -n "$key" ] || die "the secret $KEY_SECRET_ARN holds no PEM private key"
  if [ -n "$CERT_PEM" ]; then
    cert=${CERT_PEM%$'\n'}
  else
    cert=$(printf '%s\n' "$bundle" | awk '/^-----BEGIN CERTIFICATE-----/,/^-----END CERTIFICATE-----/')
    [ -n "$cert" ] || die "the secret $KEY_SECRET_ARN holds no certificate (and CERT_PEM is empty)"
  fi
  ver=v-$(printf '%s\n%s\n' "$cert" "$key" | sha256sum | cut -c1-16)
  bundle=
  if [ "$(readlink -- "$dir/current" 2>/dev/null)" = "$ver" ] && [ -s "$dir/$ver/client.key" ]; then
    say "certificate and key unchanged ($ver)"
    return 0
  fi
  local prev
  prev=$(readlink -- "$dir/current" 2>/dev/null || true)
  rm -rf -- "${dir:?}/$ver"
  userdir "$dir/$ver"
  printf '%s\n' "$key" >"$dir/$ver/client.key"
  key=
  printf '%s\n' "$cert" >"$dir/$ver/client.crt"
  chown -- "$owner" "$dir/$ver/client.key" "$dir/$ver/client.crt"
  # The switch: a new link renamed over `current`, atomic for every reader.
  tmp=$dir/.current.$$
  ln -sfn -- "$ver" "$tmp"
  mv -f -T -- "$tmp" "$dir/current"
  # Keep the pair just replaced (a helper may be reading it); remove older ones.
  local old
  for old in "$dir"/v-*; do
    [ -d "$old" ] || continue
    case ${old##*/} in "$ver" | "$prev") ;; *) rm -rf -- "$old" ;; esac
  done
  say "installed certificate and key $ver"
}

if [ -n "${XPART_REFRESH:-}" ]; then
  install_pair 3
  exit 0
fi
say "reading the certificate and key from $KEY_SECRET_ARN"
install_pair
cert_file=$dir/current/client.crt
key_file=$dir/current/client.key

# ---- the credential helper, installed ----
[ -z "$helper_file" ] || install_bin "$helper_file" "$helper_path"

# ---- ~/.aws/config: this profile replaced, every other section kept ----
section="[profile $AWS_PROFILE_NAME]"
[ "$AWS_PROFILE_NAME" != default ] || section="[default]"
# One line: the AWS CLI and SDKs do not continue credential_process on the next line.
line="credential_process = $helper_path credential-process --certificate $cert_file --private-key $key_file"
line+=" --trust-anchor-arn $TRUST_ANCHOR_ARN --profile-arn $PROFILE_ARN --role-arn $ROLE_ARN"
for e in ${extra[@]+"${extra[@]}"}; do line+=" $e"; done
[ ! -L "$config" ] || die "$config is a symbolic link"
newtmp tmp "$aws_dir"
{
  if [ -f "$config" ]; then
    # Drop the section's old lines (up to the next [section]); keep the rest, blank lines
    # at its end trimmed so that re-runs give the same file.
    awk -v want="$section" '
      function norm(s) { gsub(/[ \t\r]/, "", s); return s }
      /^[ \t]*\[/ { skip = (norm($0) == norm(want)) }
      skip { next }
      /^[ \t\r]*$/ { blank++; next }
      { for (; blank > 0; blank--) print ""; print; printed = 1 }
      END { if (printed) print "" }
    ' "$config"
  fi
  printf '%s\nregion = %s\n%s\n' "$section" "$TARGET_REGION" "$line"
} >"$tmp"
chown -- "$owner" "$tmp"
mv -f -T -- "$tmp" "$config"

# ---- the refresher: this very script, run every REFRESH_MINUTES with XPART_REFRESH=1 ----
libdir=$ROOT/usr/local/lib/xpart
unitdir=$ROOT/etc/systemd/system
if [ -f "$0" ] && [ -r "$0" ]; then
  install -d -m 0755 -- "$libdir" "$unitdir"
  newtmp tmp "$libdir"
  cat -- "$0" >"$tmp"
  chmod 0700 -- "$tmp"
  mv -f -T -- "$tmp" "$libdir/refresh"
  newtmp tmp "$unitdir"
  printf '%s\n' "[Unit]" "Description=xpart: install a renewed Roles Anywhere certificate and key" \
    "" "[Service]" "Type=oneshot" \
    "ExecStart=/usr/bin/env XPART_REFRESH=1 /bin/bash /usr/local/lib/xpart/refresh" >"$tmp"
  chmod 0644 -- "$tmp"
  mv -f -T -- "$tmp" "$unitdir/xpart-refresh.service"
  newtmp tmp "$unitdir"
  printf '%s\n' "[Unit]" "Description=xpart: check for a renewed certificate every $REFRESH_MINUTES minutes" \
    "" "[Timer]" "OnBootSec=5min" "OnUnitActiveSec=${REFRESH_MINUTES}min" "RandomizedDelaySec=60" \
    "" "[Install]" "WantedBy=timers.target" >"$tmp"
  chmod 0644 -- "$tmp"
  mv -f -T -- "$tmp" "$unitdir/xpart-refresh.timer"
  if [ -z "$ROOT" ] && command -v systemctl >/dev/null; then
    if ! { systemctl daemon-reload && systemctl enable --now xpart-refresh.timer; }; then
      say "warning: could not start xpart-refresh.timer: renewed certificates will not be installed"
    fi
  fi
else
  say "warning: not run from a file ($0): no refresher installed"
fi

say "done: $RUN_AS's profile $AWS_PROFILE_NAME ($TARGET_REGION) gets credentials from $helper_path"
say "check with: sudo -u $RUN_AS aws --profile $AWS_PROFILE_NAME sts get-caller-identity"
