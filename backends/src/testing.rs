//! Fakes for the backends' unit tests: a transport that records commands and answers from a
//! script, so each backend is a pure function of the tool's answers.

use std::collections::VecDeque;
use std::future::Future;
use std::sync::{Arc, Mutex};

use crate::Failure;
use crate::port::exec::{Command, Exec, Output};
use crate::port::http::{Auth, Body, Http, Request, Response};

pub struct Recorder {
    answers: Mutex<VecDeque<Output>>,
    seen: Mutex<Vec<Command>>,
}

impl Recorder {
    /// Shared: the backend holds it as its port, the test reads what it recorded.
    pub fn new(answers: Vec<Output>) -> Arc<Self> {
        Arc::new(Recorder {
            answers: Mutex::new(answers.into()),
            seen: Mutex::new(Vec::new()),
        })
    }

    pub fn ok(stdout: &str) -> Output {
        Output {
            code: Some(0),
            stdout: stdout.into(),
            stderr: String::new(),
        }
    }

    pub fn failed(code: i32, stderr: &str) -> Output {
        Output {
            code: Some(code),
            stdout: String::new(),
            stderr: stderr.into(),
        }
    }

    pub fn commands(&self) -> Vec<Command> {
        self.seen.lock().unwrap().clone()
    }
}

impl Exec for Recorder {
    async fn run(&self, command: Command) -> Result<Output, Failure> {
        self.seen.lock().unwrap().push(command);
        Ok(self
            .answers
            .lock()
            .unwrap()
            .pop_front()
            .expect("a scripted answer"))
    }

    fn describe(&self) -> String {
        "recorder".into()
    }
}

pub fn block_on<F: Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap()
        .block_on(f)
}

/// Answers HTTP requests from a script and records what was asked: "METHOD path", the JSON
/// or form body, and the kind of authentication.
pub struct Scripted {
    answers: Mutex<VecDeque<(u16, serde_json::Value)>>,
    pub seen: Mutex<Vec<(String, Option<serde_json::Value>)>>,
    pub auth: Mutex<Vec<Option<String>>>,
}

impl Scripted {
    pub fn new(answers: Vec<(u16, serde_json::Value)>) -> Arc<Self> {
        Arc::new(Scripted {
            answers: Mutex::new(answers.into()),
            seen: Mutex::new(Vec::new()),
            auth: Mutex::new(Vec::new()),
        })
    }

    pub fn requests(&self) -> Vec<String> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .map(|(r, _)| r.clone())
            .collect()
    }
}

impl Http for Scripted {
    async fn send(&self, request: Request) -> Result<Response, Failure> {
        use secrecy::ExposeSecret;
        let body = match request.body {
            Some(Body::Json(v)) => Some(v),
            Some(Body::Form(f)) => Some(serde_json::Value::Object(
                f.into_iter()
                    .map(|(k, v)| (k, serde_json::Value::String(v)))
                    .collect(),
            )),
            None => None,
        };
        self.auth
            .lock()
            .unwrap()
            .push(request.auth.map(|a| match a {
                Auth::Bearer(t) => format!("Bearer {}", t.expose_secret()),
                Auth::Basic(id, _) => format!("Basic {id}"),
            }));
        self.seen
            .lock()
            .unwrap()
            .push((format!("{:?} {}", request.method, request.path), body));
        let (status, body) = self
            .answers
            .lock()
            .unwrap()
            .pop_front()
            .expect("a scripted answer");
        Ok(Response {
            status,
            body: serde_json::to_vec(&body).unwrap(),
        })
    }
}
