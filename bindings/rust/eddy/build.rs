//! Gives this crate's binaries (examples, tests) an rpath to the libeddy that eddy-sys linked,
//! so they run from the build tree without LD_LIBRARY_PATH. (A `rustc-link-arg` of eddy-sys's
//! own build script would only reach eddy-sys's targets; `links` metadata reaches us.)
fn main() {
    println!("cargo:rerun-if-env-changed=DEP_EDDY_LIB_DIR");
    if let Ok(dir) = std::env::var("DEP_EDDY_LIB_DIR") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{}", dir);
    }
}
