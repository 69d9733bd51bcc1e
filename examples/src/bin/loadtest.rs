//! `loadtest`: N concurrent real-time voice sessions with background tools against the
//! Live API emulator in a separate process, and a table of what it cost. The flags and
//! what they do: `examples::load::cli` and BENCHMARKS.md.

fn main() -> std::process::ExitCode {
    examples::load::cli::main(None)
}
