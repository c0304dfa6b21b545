//! Fakes for the backends' unit tests: a transport that records commands and answers from a
//! script, so each backend is a pure function of the tool's answers.

use std::collections::VecDeque;
use std::future::Future;
use std::sync::Mutex;

use crate::Failure;
use crate::exec::{Command, Exec, Output};

pub struct Recorder {
    answers: Mutex<VecDeque<Output>>,
    seen: Mutex<Vec<Command>>,
}

impl Recorder {
    pub fn new(answers: Vec<Output>) -> Self {
        Recorder {
            answers: Mutex::new(answers.into()),
            seen: Mutex::new(Vec::new()),
        }
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
