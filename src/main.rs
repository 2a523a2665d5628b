use clap::Parser;
use dockhand::cli::{Cli, Settings};
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
            let _ = e.print();
            return code.into();
        }
    };
    match Settings::resolve(cli) {
        Ok(settings) => dockhand::app::run(settings).into(),
        Err(e) => {
            eprintln!("dockhand: {e}");
            ExitCode::Usage.into()
        }
    }
}
