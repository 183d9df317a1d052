//! `wxopen quota clear [APPID]`: resets an authorizer's (or, without APPID,
//! the component's) WeChat daily quotas through clear_quota/v2. Needs the
//! full configuration (the component secret), or `--sandbox`.

use crate::admin::{app, error_chain, TargetArgs};
use clap::{Args, Subcommand};

#[derive(Args, Debug)]
pub struct QuotaArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    #[command(subcommand)]
    pub action: QuotaAction,
}

#[derive(Subcommand, Debug)]
pub enum QuotaAction {
    /// Reset the daily quotas of an authorizer, or of the component without APPID
    /// (WeChat allows 10 resets a month per appid).
    Clear {
        /// The authorizer's appid; the component's quotas when absent.
        appid: Option<String>,
    },
}

/// Runs a `quota` command.
pub async fn run(args: QuotaArgs) -> Result<(), String> {
    let app = app(&args.target).await?;
    match args.action {
        QuotaAction::Clear { appid } => {
            wxopen::service::quota::clear(&app, appid.as_deref())
                .await
                .map_err(|e| error_chain(&e))?;
            println!(
                "cleared the daily quotas of {}",
                appid.as_deref().unwrap_or(&app.config.component_appid)
            );
        }
    }
    Ok(())
}
