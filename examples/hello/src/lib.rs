//! The hello example: `Demo::Hello` generated from `idl/Hello.tars`, and its implementation.

use std::sync::atomic::{AtomicI32, Ordering};
use tars::TarsString;

use tars::server::{Current, ServantError};

include!(concat!(env!("OUT_DIR"), "/tars_generated.rs"));

/// The object name the server hosts.
pub const OBJ: &str = "Demo.HelloServer.HelloObj";

/// `Demo::Hello` implementation. `hello` puts `greeted` = the name in the response context.
#[derive(Debug, Default)]
pub struct HelloImpl {
    logged: AtomicI32,
}

impl Demo::Hello for HelloImpl {
    fn hello(
        &self,
        current: &mut Current,
        name: TarsString,
    ) -> Result<Demo::Greeting, ServantError> {
        let from = current
            .context()
            .get("from")
            .map_or("someone", |from| from.as_str())
            .to_string();
        // Read by callers through `hello_reply` (the response context).
        current.set_response_context("greeted", name.clone());
        Ok(Demo::Greeting {
            text: format!("hello {name}, greetings to {from}").into(),
            count: name.len() as i32,
        })
    }

    fn divide(
        &self,
        _current: &mut Current,
        a: i32,
        b: i32,
    ) -> Result<(i32, i32, i32), ServantError> {
        if b == 0 {
            return Err(ServantError::new(1, "division by zero"));
        }
        Ok((0, a / b, a % b))
    }

    fn log(&self, _current: &mut Current, line: TarsString) -> Result<(), ServantError> {
        println!("log: {line}");
        self.logged.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    fn logged(&self, _current: &mut Current) -> Result<i32, ServantError> {
        Ok(self.logged.load(Ordering::SeqCst))
    }
}

/// The README's Rust blocks, compiled (and run unless `no_run`) as doctests of this crate:
/// `cargo test -p tars-example-hello --doc`.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;
