//! Panics caught at a boundary (a callback pool's thread, a storage engine's call): what they
//! said, for the log line or the error that takes their place.

use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// The message a panic carried (`"non-string panic payload"` when it carried something else).
pub fn message(panic: &(dyn Any + Send)) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_string()
    }
}

/// Runs `f`; a panic in it becomes `Err` with its message. Whatever `f` touched may be left
/// half-changed: use this where that state is dropped or refused afterwards (a storage engine
/// whose file is damaged, a user's callback).
pub fn catch<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|p| message(p.as_ref()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn messages_of_str_string_and_other_payloads() {
        assert_eq!(super::catch(|| 7), Ok(7));
        assert_eq!(
            super::catch(|| -> () { panic!("plain") }),
            Err("plain".into())
        );
        let n = 3;
        assert_eq!(
            super::catch(|| -> () { panic!("formatted {n}") }),
            Err("formatted 3".into())
        );
        assert_eq!(
            super::catch(|| -> () { std::panic::panic_any(5_u8) }),
            Err("non-string panic payload".into())
        );
    }
}
