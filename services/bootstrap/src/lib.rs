//! # tars-bootstrap
//!
//! What the tars-rs services share to be hosted — `tars-registry`, the transaction
//! coordinator and `tarsd`:
//!
//! - [`Hosted`]: a service whose servants are served on one adapter, configured by
//!   [`Hosting`] (host, port, business and network threads); gives its adapter, its server
//!   configuration and a server with just that adapter.
//! - With the default feature `main`, the program glue: [`init_tracing`] (logs to stderr,
//!   `RUST_LOG`), [`load_config`] (a TOML file into the service's configuration),
//!   [`CommonArgs`] (`--config`, `--seconds`, `--data-dir`, `--host`) and [`run`], which loads the configuration,
//!   applies the command line, starts the [`Program`], prints its `READY ...` line and serves
//!   until SIGTERM / SIGINT (or `--seconds`), then shuts it down gracefully.
//!
//! ```no_run
//! # #[cfg(feature = "main")] {
//! use clap::Parser;
//! use tars::server::{Server, Servants};
//! use tars_bootstrap::{CommonArgs, Hosted, Hosting, Program};
//!
//! #[derive(Debug, Default, serde::Deserialize)]
//! struct Config {
//!     port: u16,
//! }
//!
//! struct Hello(Server);
//!
//! impl Program for Hello {
//!     const NAME: &'static str = "hello";
//!     type Config = Config;
//!     type Error = tars::server::ServerError;
//!
//!     fn start(config: Config) -> Result<Hello, Self::Error> {
//!         let hosting = Hosting::new("HelloAdapter", "127.0.0.1", config.port);
//!         hosting.start(Servants::new()).map(Hello)
//!     }
//!
//!     fn ready_line(&self) -> String {
//!         let port = self.0.local_addr("HelloAdapter").map(|a| a.port());
//!         format!("READY {}", port.unwrap_or_default())
//!     }
//!
//!     fn shutdown(self) {
//!         self.0.shutdown()
//!     }
//! }
//!
//! #[derive(Parser)]
//! struct Args {
//!     #[command(flatten)]
//!     common: CommonArgs,
//!     #[arg(long)]
//!     port: Option<u16>,
//! }
//!
//! fn main() -> Result<(), tars_bootstrap::BootstrapError> {
//!     let args = Args::parse();
//!     tars_bootstrap::run::<Hello>(&args.common, |config| {
//!         if let Some(p) = args.port {
//!             config.port = p;
//!         }
//!     })
//! }
//! # }
//! ```
#![deny(missing_docs)]

mod hosting;
#[cfg(feature = "main")]
mod program;

pub use hosting::{Hosted, Hosting};
#[cfg(feature = "main")]
pub use program::{
    init_tracing, load_config, parse_config, run, BootstrapError, CommonArgs, ConfigError, Program,
};
