use tracing_subscriber::{fmt, EnvFilter};

use crate::configuration::LogFormat;

/// Installs the global subscriber: `RUST_LOG` filters (default `info`), `LOG_FORMAT` picks the shape.
/// Safe to call more than once (tests do); later calls change nothing.
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = fmt().with_env_filter(filter);
    let _ = match format {
        LogFormat::Json => builder
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
        LogFormat::Pretty => builder.try_init(),
    };
}
