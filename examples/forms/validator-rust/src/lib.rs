//! validator-rust: world `acme:forms/validator` (examples/forms/wit/forms.wit). Exports `validate.check`, which other
//! plugins import through the host's wiring (`[interfaces.from]`); consults the host's `store` for the form's count.

wit_bindgen::generate!({
    path: "../wit",
    world: "validator",
});

use acme::forms::store;
use exports::acme::forms::validate::{Guest, Problem, Submission};

/// Used when the configuration has no `max-per-form`.
const DEFAULT_MAX_PER_FORM: u32 = 1000;

struct Validator;

impl plughost::Plugin for Validator {
    fn init(_api_version: &str, _config: &str) -> i32 {
        0
    }
}

fn problem(field: &str, message: &str) -> Problem {
    Problem { field: field.into(), message: message.into() }
}

/// The configured limit: read on each check, so a live configuration change applies at once.
fn max_per_form() -> u32 {
    plughost::config_value("max-per-form")
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(DEFAULT_MAX_PER_FORM)
}

impl Guest for Validator {
    fn check(s: Submission) -> Vec<Problem> {
        let mut problems = Vec::new();
        let value = |name: &str| s.fields.iter().find(|f| f.name == name).map(|f| f.value.trim());
        for required in ["name", "email"] {
            if value(required).map_or(true, str::is_empty) {
                problems.push(problem(required, "is required"));
            }
        }
        if let Some(email) = value("email").filter(|e| !e.is_empty()) {
            if email.matches('@').count() != 1 {
                problems.push(problem("email", "must contain exactly one @"));
            }
        }
        // The host's store knows how many submissions this form already has.
        let limit = max_per_form();
        if store::count(&s.form) >= limit {
            problems.push(problem("form", &format!("{} is full ({} submissions)", s.form, limit)));
        }
        problems
    }
}

plughost::export!(Validator);
export!(Validator);
