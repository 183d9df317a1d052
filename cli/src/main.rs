//! `wxopen`: the whole system in one process (`serve`), the WeChat simulator
//! alone (`sim`), and admin commands (`status`, `doctor`, `keys`).

mod admin;
mod background;
mod doctor;
mod quota;
mod sandbox;
mod serve;
mod status;

use clap::{Parser, Subcommand, ValueEnum};
use std::process::ExitCode;
use wxopen::telemetry::LogFormat;

#[derive(Parser)]
#[command(
    name = "wxopen",
    version,
    about = "WeChat third-party platform backend"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Log lines as JSON objects on stdout, or readable on stderr [default:
    /// pretty when stderr is a terminal, else json].
    #[arg(long, global = true, value_enum)]
    log_format: Option<LogFormatArg>,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum LogFormatArg {
    Json,
    Pretty,
}

impl From<LogFormatArg> for LogFormat {
    fn from(arg: LogFormatArg) -> LogFormat {
        match arg {
            LogFormatArg::Json => LogFormat::Json,
            LogFormatArg::Pretty => LogFormat::Pretty,
        }
    }
}

#[derive(Subcommand)]
enum Command {
    /// Every HTTP route, the refresh timer and the send worker in one process.
    Serve(serve::ServeArgs),
    /// The WeChat simulator alone (arguments as for `wxopen-sim`; `wxopen sim --help`).
    #[command(disable_help_flag = true)]
    Sim {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Ticket age, component token expiry, authorizers by status, queued chunks; no secrets.
    Status(status::StatusArgs),
    /// Checks a deployed configuration end to end without changing anything; prints what to fix.
    Doctor(doctor::DoctorArgs),
    /// Create, list and revoke client API keys.
    Keys(admin::KeysArgs),
    /// Reset WeChat's daily API quotas of an authorizer or the component.
    Quota(quota::QuotaArgs),
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::Serve(args) => {
            // Chosen before `serve` starts; its own `telemetry::init` then keeps it.
            wxopen::telemetry::init_with(
                cli.log_format
                    .map(LogFormat::from)
                    .unwrap_or_else(LogFormat::detect),
            );
            serve::run(args).await
        }
        Command::Sim { args } => wxopen_sim::run_cli(args).await.map_err(|e| e.to_string()),
        Command::Status(args) => status::run(args).await,
        Command::Doctor(args) => doctor::run(args).await,
        Command::Keys(args) => admin::keys(args).await,
        Command::Quota(args) => quota::run(args).await,
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("wxopen: {message}");
            ExitCode::FAILURE
        }
    }
}
