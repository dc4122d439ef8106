use tracing_subscriber::{fmt, EnvFilter};

use crate::configuration::LogFormat;

/// Installs the global subscriber: `filter` is `RUST_LOG` as checked by the settings (default
/// `info`), `LOG_FORMAT` picks the shape. Safe to call more than once (tests do); later calls
/// change nothing.
pub fn init(format: LogFormat, filter: &str) {
    init_with(format, filter, std::io::stdout)
}

/// As `init`, with log lines on stderr: for the operator commands, whose stdout is their answer
/// (a table, JSON) and may be piped.
pub fn init_on_stderr(format: LogFormat, filter: &str) {
    init_with(format, filter, std::io::stderr)
}

fn init_with<W>(format: LogFormat, filter: &str, writer: W)
where
    W: for<'w> fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    let filter = EnvFilter::builder()
        .parse(filter)
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = fmt().with_env_filter(filter).with_writer(writer);
    let _ = match format {
        LogFormat::Json => builder
            .json()
            .with_current_span(true)
            // Every enclosing span, so a line carries its request's peer and client address.
            .with_span_list(true)
            .try_init(),
        LogFormat::Pretty => builder.try_init(),
    };
}
