//! The `rna-lens` command line: a thin layer over the engine in the library crate.

mod cli;

use clap::Parser;

fn main() {
    quiet_graphics_drivers();
    exit_quietly_on_closed_pipe();
    let args = cli::Cli::parse();
    if let Err(e) = cli::run(args) {
        // One line, non-zero exit: errors are for people and for scripts.
        let msg = format!("{e:#}").replace('\n', " ");
        eprintln!("error: {msg}");
        std::process::exit(1);
    }
}

/// Rust ignores SIGPIPE, so printing into a closed pipe (`rna-lens info --json | head`) would
/// panic; the default action ends the process quietly, as command-line tools do.
fn exit_quietly_on_closed_pipe() {
    #[cfg(unix)]
    // SAFETY: called first thing in main, before any other thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// Vulkan drivers print warnings to stderr when `XDG_RUNTIME_DIR` is unset (common in
/// containers and CI), which would garble our one-line errors. Give them a private directory.
fn quiet_graphics_drivers() {
    if std::env::var_os("XDG_RUNTIME_DIR").is_some() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("rna-lens-runtime-{}", std::process::id()));
    if std::fs::create_dir_all(&dir).is_ok() {
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700));
        }
        // SAFETY: called first thing in main, before any other thread exists.
        unsafe { std::env::set_var("XDG_RUNTIME_DIR", &dir) };
    }
}
