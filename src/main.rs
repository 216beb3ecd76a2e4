//! Entry point: argv → applet dispatch → exit code. Everything else lives in the library.
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args_os()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    habox::applets::dispatch(args)
}
