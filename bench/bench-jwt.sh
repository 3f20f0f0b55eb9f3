# Sourced by run.sh and ab.sh: makes the HS256 secret the bench gateway config reads (secretFile) and
# sets JWT_TOKEN, a token it accepts for a day. Usage: bench_jwt SECRET_FILE
bench_jwt() {
    head -c 48 /dev/urandom | base64 | tr -d '\n' >"$1"
    local head body sig
    head=$(printf '{"alg":"HS256","typ":"JWT"}' | _b64url)
    body=$(printf '{"iss":"meshgate-bench","aud":"meshgate-bench","sub":"bench","exp":%d}' $(( $(date +%s) + 86400 )) | _b64url)
    sig=$(printf '%s.%s' "$head" "$body" | openssl dgst -binary -sha256 -hmac "$(cat "$1")" | _b64url)
    JWT_TOKEN="$head.$body.$sig"
}
_b64url() { base64 | tr -d '\n=' | tr '+/' '-_'; }
