//! transform: a hook that uppercases ASCII letters and leaves every other byte alone.
use plughost::{Plugin, UNHANDLED};

struct Transform;

impl Plugin for Transform {
    fn init(_api_version: &str, _config: &str) -> i32 {
        match plughost::register_callback("transform") {
            Ok(()) => 0,
            Err(_) => 1,
        }
    }

    fn on_event(_name: &str, _data: &[u8]) -> i32 {
        0
    }

    // The host hands the bytes over, so this rewrites them in place: no copy.
    fn on_hook(name: &str, mut data: Vec<u8>) -> Result<Vec<u8>, i32> {
        if name != "transform" {
            return Err(UNHANDLED);
        }
        data.make_ascii_uppercase();
        Ok(data)
    }
}

plughost::export!(Transform);
