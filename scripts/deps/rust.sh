# Rust for bindings/rust (sourced by scripts/install-deps.sh with PACKAGES in scope): a cargo
# already on PATH or from rustup (~/.cargo/bin) is used as it is; otherwise Debian's.
if ! command -v cargo >/dev/null 2>&1 && [ ! -x "${HOME:-/root}/.cargo/bin/cargo" ]; then
    PACKAGES+=(cargo rustc)
fi
