# Sourced by the bench scripts: install_standin builds bench/s3-standin into $TOOLS/bin when it
# is missing or its sources changed (its own target folder under $TOOLS, outside the repo).
install_standin() {
  local sum
  sum=$(cat bench/s3-standin/Cargo.toml bench/s3-standin/Cargo.lock bench/s3-standin/src/*.rs | sha256sum | cut -c1-16)
  if [ ! -x "$TOOLS/bin/s3-standin" ] || [ "$(cat "$TOOLS/s3-standin.sum" 2>/dev/null)" != "$sum" ]; then
    echo "installing bench/s3-standin into $TOOLS" >&2
    CARGO_TARGET_DIR="$TOOLS/s3-standin-target" cargo install --quiet --locked --force \
      --path bench/s3-standin --root "$TOOLS"
    echo "$sum" >"$TOOLS/s3-standin.sum"
  fi
}
