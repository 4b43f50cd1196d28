//! Calls the hello server three ways: synchronously, asynchronously (a plain Future) and
//! one-way.
//!
//! `cargo run -p tars-example-hello --bin hello-client -- --port 18601`

use std::time::Duration;

use anyhow::{ensure, Context};
use clap::Parser;
use tars::client::{block_on, CallError, Communicator};
use tars_example_hello::{Demo, OBJ};

#[derive(Parser)]
struct Args {
    /// Server port.
    #[arg(long, default_value_t = 18601)]
    port: u16,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let proxy = Communicator::new()
        .string_to_proxy(&format!("{OBJ}@tcp -h 127.0.0.1 -p {} -t 3000", args.port))
        .context("proxy")?;
    let hello = Demo::HelloProxy::new(proxy).with_context("from", "hello-client");

    // 1. Synchronous: blocks until the reply (default timeout 3 s).
    let g = hello.hello("tars")?;
    println!("sync:    {} (count {})", g.text, g.count);
    ensure!(g.text == "hello tars, greetings to hello-client" && g.count == 4);
    let (ret, q, r) = hello.divide(17, 5)?;
    println!("sync:    17 / 5 = {q} remainder {r} (ret {ret})");
    ensure!((q, r) == (3, 2));
    match hello.divide(1, 0) {
        Err(CallError::Server { code, desc }) => {
            println!("sync:    1 / 0 -> server error {code}: {desc}")
        }
        other => anyhow::bail!("expected a server error, got {other:?}"),
    }

    // 2. Asynchronous: a plain Future, here driven by block_on; any executor works.
    let pending: Vec<_> = ["a", "bb", "ccc"]
        .iter()
        .map(|n| hello.with_timeout(Duration::from_secs(5)).hello_async(n))
        .collect();
    for p in pending {
        let g = block_on(p)?;
        println!("async:   {}", g.text);
    }

    // 3. One-way: no reply is awaited.
    for i in 0..3 {
        hello.log_oneway(format!("line {i}"))?;
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(3);
    let mut logged = hello.logged()?;
    while logged < 3 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
        logged = hello.logged()?;
    }
    println!("one-way: server logged {logged} line(s)");
    ensure!(logged >= 3, "one-way calls did not arrive");
    println!("ok");
    Ok(())
}
