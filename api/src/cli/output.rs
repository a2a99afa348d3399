//! What a command prints on stdout, written so that a closed pipe ends the command quietly.
//!
//! `println!` panics when stdout is gone (`colometer inventory export | head` printed a panic and
//! a backtrace). The commands print through `outln!` and `out!`
//! instead, which return the write's error; `main` recognises a broken pipe anywhere in a
//! command's error chain ([`is_broken_pipe`]) and exits with status 0 and nothing on stderr, as
//! `head`'s reader expects. Any other failure is one line on stderr (see [`crate::cli`]).

use std::fmt;
use std::io::Write;

/// Writes `args` to stdout.
pub fn write(args: fmt::Arguments<'_>) -> std::io::Result<()> {
    std::io::stdout().lock().write_fmt(args)
}

/// Writes `args` and a newline to stdout.
pub fn write_line(args: fmt::Arguments<'_>) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_fmt(args)?;
    out.write_all(b"\n")
}

/// Whether `e` (or anything in its chain) is stdout's reader having gone away.
pub fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| c.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe))
}

/// `println!` that returns the write's error instead of panicking.
macro_rules! outln {
    () => {
        $crate::cli::output::write_line(format_args!(""))
    };
    ($($arg:tt)*) => {
        $crate::cli::output::write_line(format_args!($($arg)*))
    };
}

/// `print!` that returns the write's error instead of panicking.
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::cli::output::write(format_args!($($arg)*))
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_broken_pipe_is_found_under_context() {
        let e = anyhow::Error::new(std::io::Error::from(std::io::ErrorKind::BrokenPipe)).context("exporting");
        assert!(is_broken_pipe(&e));
        assert!(!is_broken_pipe(&anyhow::anyhow!("no such file")));
    }
}
