//! markdown: a `markdown` hook that renders CommonMark to HTML with pulldown-cmark.
//!
//! Config (JSON, from plugin.toml's [config] and the host's overrides):
//! - `extensions`: any of "tables", "strikethrough", "tasklists", "footnotes".
//! - `safe`: when true, raw HTML in the input is dropped, not passed through.
use std::cell::Cell;

use pulldown_cmark::{html, Event, Options, Parser};
use plughost::{Plugin, UNHANDLED};

/// Status for input that is not UTF-8 (EINVAL, as the other SDKs' examples use).
const INVALID_INPUT: i32 = -22;

thread_local! {
    static OPTIONS: Cell<Options> = const { Cell::new(Options::empty()) };
    static SAFE: Cell<bool> = const { Cell::new(true) };
}

struct Markdown;

impl Plugin for Markdown {
    fn init(_api_version: &str, _config: &str) -> i32 {
        let mut options = Options::empty();
        // Config values arrive JSON-encoded; these two are simple enough to
        // read without a JSON parser in the plugin.
        if let Some(list) = plughost::config_value("extensions") {
            for (name, flag) in [
                ("\"tables\"", Options::ENABLE_TABLES),
                ("\"strikethrough\"", Options::ENABLE_STRIKETHROUGH),
                ("\"tasklists\"", Options::ENABLE_TASKLISTS),
                ("\"footnotes\"", Options::ENABLE_FOOTNOTES),
            ] {
                if list.contains(name) {
                    options.insert(flag);
                }
            }
        }
        OPTIONS.set(options);
        SAFE.set(plughost::config_value("safe").as_deref() != Some("false"));
        match plughost::register_callback("markdown") {
            Ok(()) => 0,
            Err(e) => {
                plughost::error!("cannot register markdown: {e}");
                1
            }
        }
    }

    fn on_event(_name: &str, _data: &[u8]) -> i32 {
        0
    }

    fn on_hook(name: &str, data: Vec<u8>) -> Result<Vec<u8>, i32> {
        if name != "markdown" {
            return Err(UNHANDLED);
        }
        let text = String::from_utf8(data).map_err(|_| INVALID_INPUT)?;
        Ok(render(&text, OPTIONS.get(), SAFE.get()).into_bytes())
    }
}

fn render(markdown: &str, options: Options, safe: bool) -> String {
    let mut out = String::with_capacity(markdown.len() * 3 / 2);
    let events = Parser::new_ext(markdown, options).filter(|e| !(safe && matches!(e, Event::Html(_) | Event::InlineHtml(_))));
    html::push_html(&mut out, events);
    out
}

plughost::export!(Markdown);
