//! # nws-examples: the article's programs in Rust
//!
//! The programs of "Python NetWorkSpaces and Parallel Programs" (Dr. Dobb's,
//! 2007), written against the Rust client [`nws`]. Each binary in
//! `src/bin/` is a thin command line around a library function here, so the
//! integration tests (`tests/article_programs.rs`) run the very same logic
//! against an in-process server.
//!
//! Module map:
//! - [`cubes`]: the worker/master pair: the master stores `x` values in the
//!   workspace `table`, workers fetch them and store `r = x^3`.
//! - [`max_search`]: several workers share one maximum through a variable
//!   `max`, using the article's find / fetch / store pattern.
//! - [`Address`]: the `--host` / `--port` flags every binary takes
//!   (defaults `$NWS_HOST` / `$NWS_PORT`, then `localhost:8765`).
//!
//! Values travel as text where another language may read them (the cubes
//! table: a Python or R master can drive a Rust worker and the other way
//! round) and as `rust/cbor` blobs where only Rust programs share them
//! (the `max` record of the search).

pub mod cubes;
pub mod max_search;

/// The error type of the examples: any client error, or a value that is not
/// what the program expects.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Where the NWS server is: `--host` and `--port`, defaulting to `$NWS_HOST`
/// and `$NWS_PORT`, then `localhost:8765`.
///
/// ```
/// use clap::Parser;
/// #[derive(Parser)]
/// struct Cli {
///     #[command(flatten)]
///     server: nws_examples::Address,
/// }
/// let cli = Cli::parse_from(["prog", "--host", "10.0.0.5", "--port", "9000"]);
/// assert_eq!(cli.server.to_string(), "10.0.0.5:9000");
/// ```
#[derive(Debug, Clone, clap::Args)]
pub struct Address {
    /// Host of the NWS server.
    #[arg(long, env = "NWS_HOST", default_value = "localhost")]
    pub host: String,
    /// Port of the NWS server.
    #[arg(long, env = "NWS_PORT", default_value_t = 8765)]
    pub port: u16,
}

impl std::fmt::Display for Address {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.host.contains(':') && !self.host.starts_with('[') {
            // A bare IPv6 address.
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}
