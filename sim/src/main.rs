//! `wxopen-sim [--listen 127.0.0.1:9090] [--config sim.toml]`: the WeChat simulator alone.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match wxopen_sim::run_cli(std::env::args().skip(1)).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("wxopen-sim: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
