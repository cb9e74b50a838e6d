//! Finds libeddy: EDDY_LIB_DIR (set by CMake to its build tree) first, else `pkg-config eddy`.
//! With EDDY_INCLUDE_DIR set, also checks that the headers' major version is the one these
//! declarations were written for. The library directory is passed on to dependents as
//! DEP_EDDY_LIB_DIR (`links = "eddy"`) so that their binaries can carry an rpath to it.
use std::env;
use std::fs;
use std::path::Path;
use std::process::Command;

const DECLARED_MAJOR: &str = "0";

fn main() {
    println!("cargo:rerun-if-env-changed=EDDY_LIB_DIR");
    println!("cargo:rerun-if-env-changed=EDDY_INCLUDE_DIR");
    println!("cargo:rerun-if-env-changed=PKG_CONFIG_PATH");

    if let Ok(include) = env::var("EDDY_INCLUDE_DIR") {
        check_header_version(Path::new(&include));
    }
    if let Ok(dir) = env::var("EDDY_LIB_DIR") {
        println!("cargo:rustc-link-search=native={}", dir);
        println!("cargo:rustc-link-lib=dylib=eddy");
        println!("cargo:lib_dir={}", dir);
        return;
    }
    match Command::new("pkg-config").args(["--libs", "eddy"]).output() {
        Ok(out) if out.status.success() => {
            let flags = String::from_utf8_lossy(&out.stdout).into_owned();
            for flag in flags.split_whitespace() {
                if let Some(dir) = flag.strip_prefix("-L") {
                    println!("cargo:rustc-link-search=native={}", dir);
                    println!("cargo:lib_dir={}", dir);
                } else if let Some(lib) = flag.strip_prefix("-l") {
                    println!("cargo:rustc-link-lib=dylib={}", lib);
                }
            }
        }
        _ => panic!(
            "eddy-sys: libeddy not found: set EDDY_LIB_DIR to the directory holding libeddy.so \
             (CMake does this for its build tree) or install eddy where `pkg-config eddy` finds it"
        ),
    }
}

fn check_header_version(include: &Path) {
    let header = include.join("eddy").join("common.h");
    println!("cargo:rerun-if-changed={}", header.display());
    let text = match fs::read_to_string(&header) {
        Ok(t) => t,
        Err(e) => panic!("eddy-sys: cannot read {}: {}", header.display(), e),
    };
    let major = text
        .lines()
        .find_map(|l| l.strip_prefix("#define EDDY_VERSION_MAJOR "))
        .map(str::trim);
    if major != Some(DECLARED_MAJOR) {
        panic!(
            "eddy-sys: {} declares major version {:?}; these bindings were written for {}",
            header.display(),
            major,
            DECLARED_MAJOR
        );
    }
}
