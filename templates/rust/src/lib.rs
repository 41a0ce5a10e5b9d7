//! {{name}}: a plughost plugin in Rust.
//! Build: `plughost build .`, then test: `node test.mjs`.
use plughost::{Plugin, UNHANDLED};

struct MyPlugin;

impl Plugin for MyPlugin {
    fn init(_api_version: &str, _config: &str) -> i32 {
        plughost::info!("{{name}} ready");
        match plughost::register_callback("greet") {
            Ok(()) => 0,
            Err(e) => {
                plughost::error!("cannot register greet: {e}");
                1
            }
        }
    }

    fn on_event(name: &str, data: &[u8]) -> i32 {
        match name {
            "greet" => {
                plughost::info!("{}", greeting(data));
                0
            }
            _ => UNHANDLED,
        }
    }

    fn on_hook(name: &str, data: Vec<u8>) -> Result<Vec<u8>, i32> {
        match name {
            "greet" => Ok(greeting(&data).into_bytes()),
            _ => Err(UNHANDLED),
        }
    }
}

fn greeting(data: &[u8]) -> String {
    format!("hello, {}!", String::from_utf8_lossy(data))
}

plughost::export!(MyPlugin);

// `cargo test` runs these natively (the host imports are only called from the
// exported functions, which the tests do not reach).
#[cfg(test)]
mod tests {
    use super::greeting;

    #[test]
    fn greeting_wraps_the_input() {
        assert_eq!(greeting(b"world"), "hello, world!");
    }

    #[test]
    fn greeting_replaces_invalid_utf8() {
        assert_eq!(greeting(&[0xff]), "hello, \u{fffd}!");
    }
}
