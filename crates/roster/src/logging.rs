//! Structured logs on stderr, text or JSON.

use tracing_subscriber::EnvFilter;

pub fn init(filter: &str, format: &str) -> anyhow::Result<()> {
    let filter = EnvFilter::try_new(filter).map_err(|e| anyhow::anyhow!("the log filter '{filter}' is not valid: {e}"))?;
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    // A second initialisation (tests) is harmless; ignore it.
    let _ = if format == "json" { builder.json().try_init() } else { builder.try_init() };
    Ok(())
}
