//! `handoff serve`: the command-line flags, and a blocking entry point with its own runtime,
//! logging, SIGINT/SIGTERM handling and SIGHUP reloads.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;

use crate::config::{GatewayConfig, LogFormat};
use crate::gateway::Gateway;

/// The flags of `handoff serve`. Each overrides the config file; without a config file every
/// setting has its default (docs/gateway.md).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ServeArgs {
    /// The gateway config file (TOML); relative paths in it are relative to its folder.
    #[arg(long, value_name = "FILE", env = "HANDOFF_CONFIG")]
    pub config: Option<PathBuf>,
    /// The address to listen on [default: 127.0.0.1:8080].
    #[arg(long, value_name = "ADDR", env = "HANDOFF_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// A rule file or folder to serve; repeat for several [default: rules/].
    #[arg(long = "rules", value_name = "PATH")]
    pub rules: Vec<PathBuf>,
    /// A file holding the webhook secret(s), one per line, the newest first; takes precedence
    /// over HANDOFF_WEBHOOK_SECRET and is read again on SIGHUP and when it changes. Without
    /// either, signatures are off (loopback only).
    #[arg(long, value_name = "FILE")]
    pub webhook_secret_file: Option<PathBuf>,
    /// The dead-letter file of failed deliveries [default: handoff-dead-letter.jsonl].
    #[arg(long, value_name = "FILE", env = "HANDOFF_DEAD_LETTER")]
    pub dead_letter: Option<PathBuf>,
    /// Do not reload the rules when their files change.
    #[arg(long)]
    pub no_watch: bool,
    /// Serve unsigned webhooks even on a non-loopback address (tests and demos only).
    #[arg(long)]
    pub allow_unsigned: bool,
    /// The log's format on stderr: text or json (one JSON object a line) [default: text, or
    /// `[log] format`].
    #[arg(
        long,
        value_enum,
        value_name = "FORMAT",
        env = "HANDOFF_LOG_FORMAT",
        hide_possible_values = true
    )]
    pub log_format: Option<LogFormat>,
}

impl ServeArgs {
    /// The configuration these flags describe: the config file (or the defaults) with the
    /// flags applied on top.
    pub fn to_config(&self) -> anyhow::Result<GatewayConfig> {
        let mut config = match &self.config {
            Some(path) => GatewayConfig::load(path)?,
            None => GatewayConfig::default(),
        };
        if let Some(listen) = self.listen {
            config.listen = listen;
        }
        if !self.rules.is_empty() {
            config.rules.clone_from(&self.rules);
        }
        if let Some(file) = &self.webhook_secret_file {
            config.signature.secret_file = Some(file.clone());
            config.signature.prefer_file = true;
        }
        if let Some(dl) = &self.dead_letter {
            config.dead_letter.path.clone_from(dl);
        }
        config.watch &= !self.no_watch;
        config.allow_unsigned |= self.allow_unsigned;
        if let Some(format) = self.log_format {
            config.log.format = format;
        }
        Ok(config)
    }
}

/// Runs the gateway until SIGINT or SIGTERM, on a runtime of its own, reloading on SIGHUP;
/// logs to stderr as text or JSON (`RUST_LOG` filters, default `info`).
pub fn serve_blocking(args: ServeArgs) -> anyhow::Result<()> {
    let config = args.to_config()?;
    init_logging(config.log.format);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let listen = config.listen;
        let gateway = Gateway::with_source(config, move || args.to_config())?;
        reload_on_sighup(&gateway)?;
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("cannot listen on {listen}"))?;
        gateway.serve(listener, shutdown_signal()).await
    })
}

/// A stderr logger, unless the embedding program installed one already. In JSON, each event
/// is one object a line with its fields at the top level (`timestamp`, `level`, `target`,
/// `message`, then the event's fields).
fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .try_init(),
    };
}

/// Reloads the config and the rules on each SIGHUP, off the async threads (a reload reads
/// files and compiles). Installed before the gateway listens, so that a SIGHUP never ends it.
fn reload_on_sighup(gateway: &Gateway) -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut hup = signal(SignalKind::hangup()).context("cannot handle SIGHUP")?;
        let gateway = gateway.clone();
        tokio::spawn(async move {
            while hup.recv().await.is_some() {
                tracing::info!("SIGHUP: reloading the config and the rules");
                let g = gateway.clone();
                // The outcome is logged and shown in /health by the reload itself.
                let _ = tokio::task::spawn_blocking(move || g.reload()).await;
            }
        });
    }
    #[cfg(not(unix))]
    let _ = gateway;
    Ok(())
}

/// Completes on the first SIGINT (Ctrl-C) or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        serve: ServeArgs,
    }

    #[test]
    fn flags_override_the_config_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("gateway.toml");
        std::fs::write(
            &file,
            "listen = \"127.0.0.1:9000\"\nrules = [\"r\"]\nwatch = true\n",
        )
        .unwrap();
        let args = Cli::parse_from([
            "serve",
            "--config",
            file.to_str().unwrap(),
            "--listen",
            "127.0.0.1:9100",
            "--no-watch",
        ])
        .serve;
        let c = args.to_config().unwrap();
        assert_eq!(c.listen.port(), 9100);
        assert!(!c.watch);
        assert_eq!(
            c.rules,
            [dir.path().join("r")],
            "relative to the config file"
        );
        let c = Cli::parse_from(["serve"]).serve.to_config().unwrap();
        assert_eq!(c.rules, [PathBuf::from("rules")]);
    }
}
