//! Structured logs on stderr, text or JSON.

use tracing_subscriber::EnvFilter;

pub fn init(filter: &str, format: &str) {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    // A second initialisation (tests) is harmless; ignore it.
    let _ = if format == "json" { builder.json().try_init() } else { builder.try_init() };
}
