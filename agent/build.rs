//! Lays out the `vigil-agent` binary so the code it runs sits together.
//!
//! The kernel maps a binary's code into a process 64 KiB at a time around
//! each page it executes, and RSS counts every mapped page. In the default
//! layout the ~1.2 MiB of functions a running agent executes is spread over
//! nearly all of its ~4.9 MiB of code, so almost all of it becomes resident.
//! `link/symbol-order.txt` (written by `link/gen-symbol-order`) lists those
//! functions and the linker places them first, in that order.
//!
//! The list is a linker flag of rust-lld, which rustc uses by default on
//! x86_64-unknown-linux-gnu from Rust 1.90, so it is passed only there, only
//! for optimised builds (the names in the list are those of the `agent`
//! profile) and not when RUSTFLAGS choose a linker or pass link arguments
//! of their own.
//! `VIGIL_AGENT_SYMBOL_ORDER=off` leaves it out. Names that do not match
//! the build (another toolchain, dependency versions or profile) are
//! ignored: the binary is then laid out as it would be without the list.

use std::env;
use std::path::Path;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=link/symbol-order.txt");
    println!("cargo:rerun-if-env-changed=VIGIL_AGENT_SYMBOL_ORDER");
    if env::var("VIGIL_AGENT_SYMBOL_ORDER").as_deref() == Ok("off")
        || env::var("PROFILE").as_deref() != Ok("release")
        || env::var("TARGET").as_deref() != Ok("x86_64-unknown-linux-gnu")
        || env::var("CARGO_ENCODED_RUSTFLAGS").is_ok_and(|flags| flags.contains("link"))
        || !rustc_links_with_lld()
    {
        return;
    }
    let dir = env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let order = Path::new(&dir).join("link/symbol-order.txt");
    if !order.is_file() {
        return;
    }
    println!(
        "cargo:rustc-link-arg-bin=vigil-agent=-Wl,--symbol-ordering-file={}",
        order.display()
    );
    // The list also names functions of other scenarios' builds and of
    // start-up paths this build may not have; those are expected.
    println!("cargo:rustc-link-arg-bin=vigil-agent=-Wl,--no-warn-symbol-ordering");
}

/// Whether this rustc is 1.90 or newer, the first to link x86_64 Linux
/// binaries with its own rust-lld by default.
fn rustc_links_with_lld() -> bool {
    let rustc = env::var("RUSTC").unwrap_or_else(|_| "rustc".to_owned());
    let Ok(out) = Command::new(rustc).arg("--version").output() else {
        return false;
    };
    // "rustc 1.95.0 (59807616e 2026-04-14)"
    let text = String::from_utf8_lossy(&out.stdout);
    let mut version = text
        .split_whitespace()
        .nth(1)
        .unwrap_or("")
        .split(['.', '-'])
        .map(|part| part.parse::<u32>().unwrap_or(0));
    let (major, minor) = (version.next().unwrap_or(0), version.next().unwrap_or(0));
    (major, minor) >= (1, 90)
}
