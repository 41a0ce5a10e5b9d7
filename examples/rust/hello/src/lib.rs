//! hello: logs on init, registers `greet`, and answers it.
use plughost::{Plugin, UNHANDLED};

struct Hello;

fn greeting(data: &[u8]) -> String {
    format!("hello, {}!", String::from_utf8_lossy(data))
}

impl Plugin for Hello {
    fn init(api_version: &str, _config: &str) -> i32 {
        plughost::info!("hello-rust init (api {api_version})");
        match plughost::register_callback("greet") {
            Ok(()) => 0,
            Err(e) => {
                plughost::error!("cannot register greet: {e}");
                1
            }
        }
    }

    fn teardown() -> i32 {
        plughost::info!("goodbye from Rust");
        0
    }

    fn on_event(name: &str, data: &[u8]) -> i32 {
        if name != "greet" {
            return UNHANDLED;
        }
        plughost::info!("{}", greeting(data));
        0
    }

    // As a hook, `greet` answers with the greeting itself.
    fn on_hook(name: &str, data: Vec<u8>) -> Result<Vec<u8>, i32> {
        match name {
            "greet" => Ok(greeting(&data).into_bytes()),
            _ => Err(UNHANDLED),
        }
    }
}

plughost::export!(Hello);
