//! What a client that cannot sign costs: a refusal before its body is read, a deadline on
//! bodies that trickle in, and a cap on the bytes of all bodies being read at once.
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::{fixture_with_id, sign, spawn_app, spawn_app_with, TestApp, SECRET};

/// Long enough for any answer the service owes at once; a client left waiting past it was not
/// answered.
const PROMPT: Duration = Duration::from_secs(5);

async fn connect(app: &TestApp) -> TcpStream {
    let addr = app.address.trim_start_matches("http://");
    TcpStream::connect(addr)
        .await
        .expect("the service accepts connections")
}

/// Sends the head of a POST /webhooks (and `body_part`, possibly less than declared).
async fn send_head(stream: &mut TcpStream, extra_headers: &str, body_part: &[u8]) {
    let head = format!(
        "POST /webhooks HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n{extra_headers}\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(body_part).await.unwrap();
    stream.flush().await.unwrap();
}

/// Everything the service sends until it closes the connection, or `None` if it did not close
/// it in time.
async fn read_until_closed(stream: &mut TcpStream) -> Option<String> {
    let mut answer = Vec::new();
    match tokio::time::timeout(PROMPT, stream.read_to_end(&mut answer)).await {
        Ok(Ok(_)) => Some(String::from_utf8_lossy(&answer).into_owned()),
        // A reset after the answer is a close too.
        Ok(Err(_)) if !answer.is_empty() => Some(String::from_utf8_lossy(&answer).into_owned()),
        _ => None,
    }
}

/// Whether the service has answered (or closed) this connection by now, without waiting.
async fn was_answered(stream: &TcpStream) -> bool {
    let mut buf = [0u8; 1];
    tokio::time::timeout(Duration::from_millis(1), stream.peek(&mut buf))
        .await
        .is_ok()
}

/// The status line of the first answer, read without waiting for the connection to close.
async fn read_status(stream: &mut TcpStream) -> Option<String> {
    let mut answer = Vec::new();
    let mut buf = [0u8; 1024];
    while !answer.windows(2).any(|w| w == b"\r\n") {
        match tokio::time::timeout(PROMPT, stream.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => answer.extend_from_slice(&buf[..n]),
            _ => return None,
        }
    }
    let text = String::from_utf8_lossy(&answer).into_owned();
    text.lines().next().map(str::to_owned)
}

#[tokio::test]
async fn a_request_without_a_well_formed_signature_is_refused_before_its_body_is_read() {
    let app = spawn_app().await;
    for signature_header in [
        "",
        "x-deepsource-signature: not-hex\r\n",
        "x-deepsource-signature: abcd\r\n",
    ] {
        let mut stream = connect(&app).await;
        // A megabyte declared, not a byte of it sent: the answer cannot depend on the body.
        send_head(
            &mut stream,
            &format!("{signature_header}Content-Length: 1000000\r\n"),
            b"",
        )
        .await;
        let answer = read_until_closed(&mut stream).await;
        let answer = answer.unwrap_or_else(|| panic!("no answer without the body ({signature_header:?})"));
        assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
        assert!(answer.contains("x-deepsource-signature"), "{answer}");
    }
    assert_eq!(app.count_rows().await, (0, 0, 0));
}

#[tokio::test]
async fn a_body_declared_larger_than_the_limit_is_413_before_it_is_read() {
    let app = spawn_app_with(|s| s.webhook.max_body_bytes = 2048).await;
    let mut stream = connect(&app).await;
    let signature = sign(SECRET, b"whatever");
    send_head(
        &mut stream,
        &format!("x-deepsource-signature: {signature}\r\nContent-Length: 5000\r\n"),
        b"",
    )
    .await;
    let answer = read_until_closed(&mut stream)
        .await
        .expect("answered without the body");
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("2048"), "{answer}");
}

#[tokio::test]
async fn a_body_that_does_not_arrive_in_time_is_408_and_the_connection_is_closed() {
    let app = spawn_app_with(|s| s.webhook.body_read_timeout = Duration::from_millis(300)).await;
    let mut stream = connect(&app).await;
    let signature = sign(SECRET, b"whatever");
    send_head(
        &mut stream,
        &format!("x-deepsource-signature: {signature}\r\nContent-Length: 1000\r\n"),
        b"{\"id\":\"1\",",
    )
    .await;
    let answer = read_until_closed(&mut stream)
        .await
        .expect("the service answers and closes a connection whose body stalls");
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert_eq!(app.count_rows().await, (0, 0, 0));

    // A body that arrives in pieces, each in time, is read whole.
    let body = fixture_with_id("repository_issue_introduced.json", "trickled");
    let mut stream = connect(&app).await;
    let head = format!(
        "x-deepsource-signature: {}\r\nContent-Length: {}\r\n",
        sign(SECRET, &body),
        body.len()
    );
    let (first, rest) = body.split_at(body.len() / 2);
    send_head(&mut stream, &head, first).await;
    tokio::task::yield_now().await;
    stream.write_all(rest).await.unwrap();
    let status = read_status(&mut stream).await.expect("an answer");
    assert!(status.starts_with("HTTP/1.1 200"), "{status}");
    assert!(app.stored_event("trickled").await.is_some());
}

#[tokio::test]
async fn a_chunked_body_without_a_length_is_read_within_the_limits() {
    let app = spawn_app().await;
    let body = fixture_with_id("repository_issue_introduced.json", "chunked");
    let mut stream = connect(&app).await;
    let (first, rest) = body.split_at(100);
    let mut chunked = Vec::new();
    for part in [first, rest] {
        chunked.extend_from_slice(format!("{:x}\r\n", part.len()).as_bytes());
        chunked.extend_from_slice(part);
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    let head = format!(
        "x-deepsource-signature: {}\r\nTransfer-Encoding: chunked\r\n",
        sign(SECRET, &body)
    );
    send_head(&mut stream, &head, &chunked).await;
    let status = read_status(&mut stream).await.expect("an answer");
    assert!(status.starts_with("HTTP/1.1 200"), "{status}");
    let stored = app.stored_event("chunked").await.expect("stored");
    assert_eq!(stored.body, body);
}

#[tokio::test]
async fn bodies_being_read_at_once_are_capped_and_the_rest_answered_503() {
    let app = spawn_app_with(|s| {
        s.webhook.max_body_bytes = 4096;
        s.webhook.max_inflight_body_bytes = 6000;
        // The slow client must not time out while the test works, however loaded the machine.
        s.webhook.body_read_timeout = Duration::from_secs(120);
    })
    .await;
    // One slow client holds 4,000 of the 6,000 bytes while its body trickles in.
    let signature = sign(SECRET, b"whatever");
    let slow_head = format!("x-deepsource-signature: {signature}\r\nContent-Length: 4000\r\n");
    let mut slow = connect(&app).await;
    send_head(&mut slow, &slow_head, b"{").await;

    // A delivery of over 2,000 bytes no longer fits: 503 and Retry-After, nothing stored. The
    // slow client's reservation is made once its head is parsed, so the first tries may still fit.
    let big = |n: usize| {
        let mut body = fixture_with_id("repository_issue_introduced.json", &format!("big-{n}"));
        let mut value: serde_json::Value = serde_json::from_slice(&body).unwrap();
        value["padding"] = "p".repeat(2500).into();
        body = serde_json::to_vec(&value).unwrap();
        body
    };
    // Tried until a deadline, not a count: on a loaded machine the server may take a while to
    // read the slow client's head (it gives no signal when it has).
    let mut refused = None;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    for n in 0.. {
        if std::time::Instant::now() > deadline {
            break;
        }
        let response = app.post_signed(&big(n)).await;
        if response.status() == 503 {
            refused = Some(response);
            break;
        }
        assert_eq!(response.status(), 200);
        // Its head may have been read while a big body held the budget: then it was the one
        // refused (answered and closed), and it tries again, as DeepSource would.
        if was_answered(&slow).await {
            slow = connect(&app).await;
            send_head(&mut slow, &slow_head, b"{").await;
        }
        tokio::task::yield_now().await;
    }
    let refused = refused.expect("a delivery beyond the cap is refused");
    assert!(refused.headers().get("retry-after").is_some());
    let json: serde_json::Value = refused.json().await.unwrap();
    assert!(json["message"].as_str().unwrap().contains("retry"), "{json}");

    // A small one still fits beside the slow client.
    let small = fixture_with_id("repository_issue_resolved.json", "small");
    assert!(small.len() < 2000);
    assert_eq!(app.post_signed(&small).await.status(), 200);

    // The slow client goes; its bytes are free again.
    drop(slow);
    let body = big(1000);
    let mut status = None;
    for _ in 0..1000 {
        let response = app.post_signed(&body).await;
        if response.status() != 503 {
            status = Some(response.status());
            break;
        }
        tokio::task::yield_now().await;
    }
    assert_eq!(status.expect("the freed bytes are used again"), 200);
}
