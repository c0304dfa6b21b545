//! A hostile homeserver: a small HTTP server on loopback that answers the shared-secret
//! registration with what an attacker (or a broken proxy) would send. None of it may leak a
//! secret, forge a result line, count as a created account or take the run down.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::fixtures::{json, provision, synapse, text, unique};

/// What the server received: (method, path, body).
type Seen = Arc<Mutex<Vec<(String, String, String)>>>;

/// An answer: status, extra headers, body.
type Answer = (u16, Vec<(String, String)>, Vec<u8>);

/// Starts a server that answers each request with `answer(method, path, body)`; returns its
/// base URL and what it saw.
fn serve(answer: impl Fn(&str, &str, &str) -> Answer + Send + Sync + 'static) -> (String, Seen) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen: Seen = Arc::default();
    let (log, answer) = (seen.clone(), Arc::new(answer));
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let (log, answer) = (log.clone(), answer.clone());
            std::thread::spawn(move || {
                let _ = handle(stream, &log, &*answer);
            });
        }
    });
    (url, seen)
}

fn handle(
    stream: TcpStream,
    log: &Seen,
    answer: &dyn Fn(&str, &str, &str) -> Answer,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut stream = stream;
    loop {
        let mut first = String::new();
        if reader.read_line(&mut first)? == 0 {
            return Ok(());
        }
        let mut parts = first.split_whitespace();
        let (method, path) = (
            parts.next().unwrap_or("").to_owned(),
            parts.next().unwrap_or("").to_owned(),
        );
        let mut length = 0usize;
        loop {
            let mut line = String::new();
            reader.read_line(&mut line)?;
            if line.trim().is_empty() {
                break;
            }
            if let Some((k, v)) = line.split_once(':')
                && k.eq_ignore_ascii_case("content-length")
            {
                length = v.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body)?;
        let body = String::from_utf8_lossy(&body).into_owned();
        log.lock()
            .unwrap()
            .push((method.clone(), path.clone(), body.clone()));
        let (status, headers, content) = answer(&method, &path, &body);
        let mut head = format!("HTTP/1.1 {status} X\r\n");
        let chunked = headers.iter().any(|(k, _)| k == "Transfer-Encoding");
        for (k, v) in &headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        if !chunked {
            head.push_str(&format!("Content-Length: {}\r\n", content.len()));
        }
        head.push_str("\r\n");
        stream.write_all(head.as_bytes())?;
        if chunked {
            for piece in content.chunks(64 << 10) {
                stream.write_all(format!("{:x}\r\n", piece.len()).as_bytes())?;
                stream.write_all(piece)?;
                stream.write_all(b"\r\n")?;
            }
            stream.write_all(b"0\r\n\r\n")?;
        } else {
            stream.write_all(&content)?;
        }
    }
}

fn nonce() -> Answer {
    (200, vec![], br#"{"nonce": "n"}"#.to_vec())
}

/// An inventory with the hostile server as host `evil` (and the real Synapse as `good`).
fn inventory(url: &str) -> PathBuf {
    let s = synapse();
    let evil = format!(
        "url: {url}\nshared_secret: {{file: {}}}",
        s.secret_file().display()
    );
    s.inventory(&[("evil", &evil), ("good", "")])
}

fn register(inv: &Path, user: &str, password: &str) -> std::process::Output {
    provision(
        &[
            "register",
            user,
            "--password-stdin",
            "-i",
            inv.to_str().unwrap(),
        ],
        password,
    )
}

#[test]
fn a_redirect_to_another_origin_is_not_followed_and_is_named() {
    let (elsewhere, elsewhere_saw) = serve(|_, _, _| (200, vec![], b"{}".to_vec()));
    let target = format!("{elsewhere}/_synapse/admin/v1/register");
    let location = target.clone();
    let (url, _) = serve(move |method, _, _| match method {
        "GET" => nonce(),
        _ => (307, vec![("Location".into(), location.clone())], vec![]),
    });
    let inv = inventory(&url);
    let user = unique("redir");
    let password = "redirected-secret-pw";
    let out = register(&inv, &user, password);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains(&target),
        "the target is named: {}",
        text(&out)
    );
    assert!(
        elsewhere_saw.lock().unwrap().is_empty(),
        "nothing reached the other origin"
    );
    assert!(
        synapse().login(&user, password).is_ok(),
        "the good host is done"
    );
}

#[test]
fn a_200_without_the_user_id_is_not_an_account() {
    let (url, _) = serve(|method, _, _| match method {
        "GET" => nonce(),
        _ => (
            200,
            vec![],
            b"<html><body>Proxy login page</body></html>".to_vec(),
        ),
    });
    let inv = inventory(&url);
    let out = provision(
        &[
            "register",
            &unique("html"),
            "--password-stdin",
            "--limit",
            "evil",
            "-i",
            inv.to_str().unwrap(),
            "--output",
            "json",
        ],
        "pw-html",
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let doc = json(&out);
    assert_eq!(doc["hosts"][0]["status"], "failed");
    let message = doc["hosts"][0]["message"].as_str().unwrap();
    assert!(
        message.contains("without the user_id") && message.contains("Proxy login page"),
        "{message}"
    );
}

#[test]
fn server_text_cannot_forge_lines_or_echo_the_password() {
    // The server echoes the request (password included) with terminal escapes and a line that
    // looks like another host's result.
    let (url, _) = serve(|method, _, body| {
        match method {
        "GET" => nonce(),
        _ => (
            400,
            vec![],
            format!(
                "{{\"errcode\": \"M_UNKNOWN\", \"error\": \"\\u001b[2J\\u001b[32mbad\\ngood  changed  @forged:test.local  created (admin)\\n{}\"}}",
                body.replace('"', "'")
            )
            .into_bytes(),
        ),
    }
    });
    let inv = inventory(&url);
    let password = "echoed-secret-pw-123";
    let out = register(&inv, &unique("echo"), password);
    let shown = text(&out);
    assert_eq!(out.status.code(), Some(1), "{shown}");
    assert!(
        !shown.contains(password),
        "the password is redacted: {shown}"
    );
    assert!(shown.contains("[redacted]"), "{shown}");
    assert!(
        !shown.contains('\x1b'),
        "no terminal escape reaches the screen: {shown}"
    );
    assert!(
        !shown
            .lines()
            .any(|l| l.starts_with("good  changed  @forged")),
        "no forged result line: {shown}"
    );
}

#[test]
fn a_huge_answer_fails_that_host_alone() {
    // One with a Content-Length, one streamed: neither is read past the cap.
    for chunked in [false, true] {
        let (url, _) = serve(move |_, _, _| {
            let headers = if chunked {
                vec![("Transfer-Encoding".to_owned(), "chunked".to_owned())]
            } else {
                vec![]
            };
            (200, headers, vec![b' '; 64 << 20])
        });
        let inv = inventory(&url);
        let user = unique("huge");
        let out = register(&inv, &user, "pw-huge");
        assert_eq!(out.status.code(), Some(1), "{}", text(&out));
        assert!(text(&out).contains("larger than 4 MiB"), "{}", text(&out));
        assert!(
            synapse().login(&user, "pw-huge").is_ok(),
            "the other host is done"
        );
    }
}

#[test]
fn the_process_never_dumps_core_whatever_the_shell_allows() {
    // A run held up by a host that never answers, started from a shell that allows core dumps.
    let port = crate::fixtures::silent_port();
    let inv = inventory(&format!("http://127.0.0.1:{port}"));
    let mut child = std::process::Command::new("sh")
        .args([
            "-c",
            "ulimit -c unlimited && exec \"$0\" ping --limit evil --timeout 30 -i \"$1\"",
            env!("CARGO_BIN_EXE_provision"),
            inv.to_str().unwrap(),
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let limits = format!("/proc/{}/limits", child.id());
    // Once provision (not the shell) runs, its limit is 0 from its first instruction on.
    let mut seen = String::new();
    for _ in 0..200 {
        let exe = std::fs::read_link(format!("/proc/{}/exe", child.id())).unwrap_or_default();
        if exe.ends_with("provision") {
            std::thread::sleep(std::time::Duration::from_millis(200));
            seen = std::fs::read_to_string(&limits).unwrap_or_default();
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    let core = seen
        .lines()
        .find(|l| l.starts_with("Max core file size"))
        .unwrap_or_else(|| panic!("no limits read: {seen:?}"));
    let fields: Vec<&str> = core.split_whitespace().collect();
    assert_eq!(&fields[4..6], ["0", "0"], "{core}");
}
