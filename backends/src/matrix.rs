//! What a Matrix server's error answers look like: `{"errcode": "M_…", "error": "…"}`
//! (the spec's "Standard error response"), read off any HTTP answer.

use crate::port::http::Response;

pub trait MatrixAnswer {
    /// The Matrix error code and message of an error answer, when it has that shape.
    fn matrix_error(&self) -> (String, String);
    /// A one-line description of an unexpected answer, for error messages.
    fn describe(&self) -> String;
}

impl MatrixAnswer for Response {
    fn matrix_error(&self) -> (String, String) {
        let json = self.json();
        let field = |k: &str| {
            json.get(k)
                .and_then(|v| v.as_str())
                .unwrap_or("")
                .to_owned()
        };
        let mut error = field("error");
        if error.is_empty() {
            // Dendrite answers some internal errors with {"message": ...}.
            error = field("message");
        }
        (field("errcode"), error)
    }

    fn describe(&self) -> String {
        let (errcode, error) = self.matrix_error();
        match (errcode.is_empty(), error.is_empty()) {
            (true, true) => format!("HTTP {}", self.status),
            (true, false) => format!("HTTP {}: {error}", self.status),
            (false, _) => format!("HTTP {}: {errcode}: {error}", self.status),
        }
    }
}
