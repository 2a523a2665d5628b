use clap::Parser;
use dockhand::cli::Cli;
use dockhand::exit::ExitCode;

fn main() -> std::process::ExitCode {
    // clap exits 2 on a usage error, which would read as "critical" to a monitor: parse with
    // try_parse and use the usage code instead.
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() {
                ExitCode::Usage
            } else {
                ExitCode::Ok
            };
            // A value clap refused is said in the house's words: the flag, the value, why and
            // what would work.
            match dockhand::cli::usage_sentence(&e) {
                Some(sentence) => eprintln!("dockhand: {sentence}"),
                None => {
                    let _ = e.print();
                }
            }
            return code.into();
        }
    };
    match dockhand::cli::resolve(cli) {
        Ok((settings, command)) => dockhand::app::run(settings, command).into(),
        Err(e) => {
            eprintln!("dockhand: {e}");
            ExitCode::Usage.into()
        }
    }
}
