//! The proxy without the CLI, for measuring its parts:
//!
//! ```text
//! cargo run --release -p querycomb-proxy --example proxy -- LISTEN UPSTREAM [THREADS] [detect|nodetect]
//! ```
//!
//! `THREADS` connection threads (default: one per core); `nodetect` forwards and observes
//! without the detection stage.
//! Stops on SIGINT/SIGTERM.

use std::io;

use querycomb_proxy::{pipeline_detector, shutdown_signal, Proxy, ProxyConfig};

fn main() -> io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize, default: &str| args.get(i).cloned().unwrap_or_else(|| default.to_owned());
    let listen = arg(0, "127.0.0.1:6432")
        .parse()
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("listen: {e}")))?;
    let mut config = ProxyConfig::new(listen, arg(1, "127.0.0.1:5432"));
    config.threads = arg(2, "").parse().ok();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let detect = arg(3, "detect") == "detect";
    let report = runtime.block_on(async {
        let mut proxy = Proxy::bind(config).await?;
        if detect {
            proxy.detector(pipeline_detector(querycomb_detect::Config::default()));
        }
        proxy.serve(shutdown_signal()).await
    })?;
    eprintln!("{:?}", report.stats);
    Ok(())
}
