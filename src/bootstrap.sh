# shellcheck shell=bash
# The body of xpart's EC2 bootstrap; src/bootstrap.rs puts `set -euo pipefail`, umask 077 and
# the inputs (ROOT, RUN_AS, KEY_SECRET_ARN, CERT_PEM, …) above it. For user RUN_AS it writes
#   ~/.aws/xpart/client.crt, client.key   (dir 0700, files 0600, owned by RUN_AS: the helper
#                                          runs as RUN_AS and must read the key)
#   ~/.aws/config [profile AWS_PROFILE_NAME] with credential_process on one line
# and installs the credential helper. The key comes from Secrets Manager (instance role),
# never from user data, and is never printed. Every path is under ROOT (tests set a scratch
# dir). Running it again rewrites the same files.

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

# download URL DEST MAX_SECONDS: DEST (mode 0755) replaced atomically by what URL serves.
download() {
  local tmp
  case $1 in -*) die "not a URL: $1" ;; esac
  newtmp tmp "$(dirname -- "$2")"
  say "downloading $1"
  curl --fail --silent --show-error --location --retry 5 --max-time "$3" --output "$tmp" "$1" ||
    die "could not download $1"
  [ -s "$tmp" ] || die "$1 is empty"
  # A wrong S3 path answers with an XML AccessDenied page, not a binary.
  if head -c 1 -- "$tmp" | grep -q '<'; then die "$1 served a page, not a binary"; fi
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
for v in RUN_AS KEY_SECRET_ARN CERT_PEM TRUST_ANCHOR_ARN PROFILE_ARN ROLE_ARN TARGET_REGION \
  AWS_PROFILE_NAME SECRETS_REGION HELPER; do
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
case $CERT_PEM in '-----BEGIN CERTIFICATE-----'*) ;; *) die "CERT_PEM is not a PEM certificate" ;; esac
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
cert_file=$dir/client.crt
key_file=$dir/client.key
config=$aws_dir/config
bindir=$ROOT/usr/local/bin

# ---- the aws CLI, to read the key (Ubuntu images come without it) ----
if aws_cli=$(command -v aws); then
  :
elif [ -x "$bindir/aws" ]; then
  aws_cli=$bindir/aws
else
  [ -n "$AWSCLI_URL" ] || die "the aws CLI is missing (and AWSCLI_URL is empty)"
  install -d -m 0755 -- "$bindir"
  scratch=$(mktemp -d)
  tmps+=("$scratch")
  download "$AWSCLI_URL" "$scratch/awscli.zip" 600
  if ! command -v unzip >/dev/null; then
    if command -v apt-get >/dev/null; then
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq unzip >/dev/null
    elif command -v dnf >/dev/null; then
      dnf install -y -q unzip
    fi
  fi
  unzip -q -- "$scratch/awscli.zip" -d "$scratch"
  "$scratch/aws/install" --update --bin-dir "$bindir" --install-dir "$ROOT/usr/local/aws-cli" >/dev/null
  aws_cli=$bindir/aws
fi

# ---- certificate and key ----
userdir "$aws_dir"
userdir "$dir"
sm_args=(--region "$SECRETS_REGION")
[ -z "$SECRETS_ENDPOINT_URL" ] || sm_args+=(--endpoint-url "$SECRETS_ENDPOINT_URL")
say "reading the client key from $KEY_SECRET_ARN"
# A new instance's role credentials can take a while to appear: retry for about 2 minutes.
key=
for attempt in 1 2 3 4 5 6 7 8; do
  key=$(AWS_PAGER='' "$aws_cli" secretsmanager get-secret-value "${sm_args[@]}" \
    --secret-id "$KEY_SECRET_ARN" --query SecretString --output text) && break
  [ "$attempt" -lt 8 ] || die "could not read $KEY_SECRET_ARN"
  sleep $((attempt < 5 ? 2 ** attempt : 30))
done
case $key in
  *ENCRYPTED*) die "the secret holds an encrypted key; the helper needs it unencrypted" ;;
  '-----BEGIN '*'PRIVATE KEY'*) ;;
  *) die "the secret $KEY_SECRET_ARN does not hold a PEM private key" ;;
esac
newtmp tmp "$dir"
printf '%s\n' "$key" >"$tmp"
key=
chown -- "$owner" "$tmp"
mv -f -T -- "$tmp" "$key_file"
newtmp tmp "$dir"
printf '%s\n' "${CERT_PEM%$'\n'}" >"$tmp"
chown -- "$owner" "$tmp"
mv -f -T -- "$tmp" "$cert_file"

# ---- the credential helper ----
install -d -m 0755 -- "$bindir"
if [ "$HELPER" = aws_signing_helper ]; then
  [ -n "$HELPER_URL" ] || die "HELPER_URL is empty"
  helper_path=$bindir/aws_signing_helper
  download "$HELPER_URL" "$helper_path" 60
elif [ -n "$XPART_URL" ]; then
  helper_path=$bindir/xpart
  download "$XPART_URL" "$helper_path" 60
else
  helper_path=$(command -v xpart) || die "xpart is not on PATH (set xpart_url to install it)"
fi
case $helper_path in /*) ;; *) die "the helper's path is not absolute: $helper_path" ;; esac
plain helper_path

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

say "done: $RUN_AS's profile $AWS_PROFILE_NAME ($TARGET_REGION) gets credentials from $helper_path"
say "check with: sudo -u $RUN_AS aws --profile $AWS_PROFILE_NAME sts get-caller-identity"
