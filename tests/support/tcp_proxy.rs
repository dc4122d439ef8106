//! A TCP proxy in front of Postgres for tests and benchmarks, to simulate outages without
//! touching the shared server: `stall()` keeps connections open but forwards nothing (as if
//! packets were silently dropped), `refuse()` closes every connection and stops listening (as
//! if the server had been stopped: connecting is refused), `resume()` forwards again. Bytes read while stalled are held
//! and sent on `resume()`, as TCP's retransmission would. `serve_only(db)` makes it act as a
//! pooler that serves one database (as PgBouncer and many managed offerings do): a connection
//! asking for any other is refused with Postgres's own error. `bytes_to_server()` counts what
//! clients sent, so a test can see how much work a request put on the database.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Forward,
    Stall,
    Refuse,
}

pub struct TcpProxy {
    pub addr: SocketAddr,
    mode: watch::Sender<Mode>,
    accepted: Arc<AtomicUsize>,
    shared: Arc<Shared>,
}

/// What every connection of the proxy reads or counts.
#[derive(Default)]
struct Shared {
    to_server: AtomicUsize,
    only_database: std::sync::Mutex<Option<String>>,
    refuse_new: AtomicBool,
    refuse_listen: AtomicBool,
}

impl TcpProxy {
    /// Listens on a free port of 127.0.0.1 and forwards to `upstream`; runs on the current
    /// Tokio runtime.
    pub async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (mode, _) = watch::channel(Mode::Forward);
        let accepted = Arc::new(AtomicUsize::new(0));
        let shared = Arc::new(Shared::default());
        tokio::spawn(accept_loop(
            listener,
            upstream,
            mode.subscribe(),
            accepted.clone(),
            shared.clone(),
        ));
        Self {
            addr,
            mode,
            accepted,
            shared,
        }
    }

    /// From now on, refuse connections to any database but `name`, as a pooler would.
    pub fn serve_only(&self, name: &str) {
        *self.shared.only_database.lock().unwrap() = Some(name.to_owned());
    }

    /// While `refuse`, a new connection is closed at once; the open ones go on.
    pub fn refuse_new_connections(&self, refuse: bool) {
        self.shared.refuse_new.store(refuse, Ordering::SeqCst);
    }

    /// From now on, new connections have `LISTEN` answered with an error.
    pub fn refuse_listen(&self) {
        self.shared.refuse_listen.store(true, Ordering::SeqCst);
    }

    /// Bytes clients have sent towards the server so far.
    pub fn bytes_to_server(&self) -> usize {
        self.shared.to_server.load(Ordering::SeqCst)
    }

    pub fn stall(&self) {
        self.mode.send_replace(Mode::Stall);
    }

    pub fn refuse(&self) {
        self.mode.send_replace(Mode::Refuse);
    }

    pub fn resume(&self) {
        self.mode.send_replace(Mode::Forward);
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        // Closes every connection; the tasks end with them.
        self.mode.send_replace(Mode::Refuse);
    }
}

async fn accept_loop(
    listener: TcpListener,
    upstream: SocketAddr,
    mut mode: watch::Receiver<Mode>,
    accepted: Arc<AtomicUsize>,
    shared: Arc<Shared>,
) {
    enum Next {
        Accepted(TcpStream),
        Refuse,
        Again,
    }
    let addr = listener.local_addr().unwrap();
    let mut listener = Some(listener);
    loop {
        let Some(open) = &listener else {
            // Nothing listens while refusing, so connecting fails at once (ECONNREFUSED), as
            // with a stopped server; the port is bound again on resume.
            if mode.wait_for(|m| *m != Mode::Refuse).await.is_err() {
                return; // the proxy was dropped
            }
            match TcpListener::bind(addr).await {
                Ok(l) => listener = Some(l),
                Err(_) => tokio::time::sleep(std::time::Duration::from_millis(5)).await,
            }
            continue;
        };
        let next = tokio::select! {
            conn = open.accept() => match conn {
                Ok((client, _)) => Next::Accepted(client),
                Err(_) => Next::Again,
            },
            _ = mode.wait_for(|m| *m == Mode::Refuse) => Next::Refuse,
        };
        match next {
            Next::Accepted(_) if shared.refuse_new.load(Ordering::SeqCst) => {} // dropped: closed
            Next::Accepted(client) => {
                accepted.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(connection(client, upstream, mode.clone(), shared.clone()));
            }
            Next::Refuse => listener = None,
            Next::Again => {}
        }
    }
}

async fn connection(
    mut client: TcpStream,
    upstream: SocketAddr,
    mut mode: watch::Receiver<Mode>,
    shared: Arc<Shared>,
) {
    // A new connection while stalled is accepted and then left waiting, like a SYN answered by
    // a server that never says anything more.
    if !matches!(
        mode.wait_for(|m| *m != Mode::Stall).await.as_deref(),
        Ok(Mode::Forward)
    ) {
        return;
    }
    let Ok(mut server) = TcpStream::connect(upstream).await else {
        return;
    };
    let only = shared.only_database.lock().unwrap().clone();
    if let Some(only) = only {
        if !startup_names_database(&mut client, &mut server, &only).await {
            return;
        }
    }
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    if shared.refuse_listen.load(Ordering::SeqCst) {
        return refusing_listen(client, server, mode).await;
    }
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();
    // Either direction ending (EOF, error, refuse) closes both sockets.
    tokio::select! {
        _ = pump(client_read, server_write, mode.clone(), Some(&shared.to_server)) => {}
        _ = pump(server_read, client_write, mode, None) => {}
    }
}

async fn pump(
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    mut mode: watch::Receiver<Mode>,
    counted: Option<&AtomicUsize>,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = tokio::select! {
            read = from.read(&mut buf) => match read {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            },
            _ = mode.wait_for(|m| *m == Mode::Refuse) => return,
        };
        if !matches!(
            mode.wait_for(|m| *m != Mode::Stall).await.as_deref(),
            Ok(Mode::Forward)
        ) {
            return;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
        if let Some(counted) = counted {
            counted.fetch_add(n, Ordering::SeqCst);
        }
    }
}

/// Reads the client's start-up (refusing TLS if it asks, so the rest can be read), and passes the start-up message on only if it asks for `only`; otherwise answers
/// as PgBouncer does for a database it does not serve, and says false.
async fn startup_names_database(client: &mut TcpStream, server: &mut TcpStream, only: &str) -> bool {
    let whole = loop {
        let Some(message) = read_untyped(client).await else {
            return false;
        };
        if !is_tls_request(&message) {
            break message;
        }
        // A pooler without TLS says no; the client goes on in plain text.
        if client.write_all(b"N").await.is_err() {
            return false;
        }
    };
    // key\0value\0 pairs after the protocol version; the database defaults to the user.
    let params: Vec<&[u8]> = whole[8..].split(|b| *b == 0).collect();
    let value = |key: &[u8]| {
        params
            .chunks(2)
            .find(|pair| pair[0] == key)
            .and_then(|pair| pair.get(1).copied())
    };
    let database = value(b"database").or_else(|| value(b"user")).unwrap_or_default();
    if database == only.as_bytes() {
        return server.write_all(&whole).await.is_ok();
    }
    let error = error_response(
        "FATAL",
        "08P01",
        &format!("no such database: {}", String::from_utf8_lossy(database)),
    );
    let _ = client.write_all(&error).await;
    false
}

/// A connection whose client messages are read one by one, so a `LISTEN` can be answered with
/// the error a transaction-mode pooler gives instead of reaching the server. Everything the
/// client is sent goes through one queue, so the server's answers and the refusal never mix.
async fn refusing_listen(client: TcpStream, server: TcpStream, mut mode: watch::Receiver<Mode>) {
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let (to_client, mut outbox) = tokio::sync::mpsc::unbounded_channel::<Vec<u8>>();
    let writer = async move {
        while let Some(bytes) = outbox.recv().await {
            if client_write.write_all(&bytes).await.is_err() {
                return;
            }
        }
    };
    let answers = {
        let to_client = to_client.clone();
        async move {
            let mut buf = vec![0u8; 16 * 1024];
            loop {
                match server_read.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => {
                        if to_client.send(buf[..n].to_vec()).is_err() {
                            return;
                        }
                    }
                }
            }
        }
    };
    let requests = async move {
        // The start-up messages carry no type byte; a TLS request is declined, as a pooler
        // without TLS does.
        loop {
            let Some(message) = read_untyped(&mut client_read).await else {
                return;
            };
            if is_tls_request(&message) {
                if to_client.send(b"N".to_vec()).is_err() {
                    return;
                }
                continue;
            }
            if server_write.write_all(&message).await.is_err() {
                return;
            }
            break;
        }
        loop {
            let mut head = [0u8; 5];
            if client_read.read_exact(&mut head).await.is_err() {
                return;
            }
            let len = u32::from_be_bytes(head[1..5].try_into().unwrap()) as usize;
            let mut body = vec![0u8; len.saturating_sub(4)];
            if client_read.read_exact(&mut body).await.is_err() {
                return;
            }
            let text = String::from_utf8_lossy(&body).trim_start().to_ascii_uppercase();
            if head[0] == b'Q' && text.starts_with("LISTEN") {
                let mut answer = error_response(
                    "ERROR",
                    "0A000",
                    "LISTEN is not supported in transaction pooling mode",
                );
                answer.extend_from_slice(&[b'Z', 0, 0, 0, 5, b'I']);
                if to_client.send(answer).is_err() {
                    return;
                }
                continue;
            }
            let mut whole = head.to_vec();
            whole.extend_from_slice(&body);
            if server_write.write_all(&whole).await.is_err() {
                return;
            }
        }
    };
    tokio::select! {
        _ = writer => {}
        _ = answers => {}
        _ = requests => {}
        _ = mode.wait_for(|m| *m == Mode::Refuse) => {}
    }
}

/// The client asks for TLS before its start-up message (an `SSLRequest`).
fn is_tls_request(message: &[u8]) -> bool {
    const SSL_REQUEST: u32 = 80_877_103;
    message.len() == 8 && u32::from_be_bytes(message[4..8].try_into().unwrap()) == SSL_REQUEST
}

/// A length-prefixed message without a type byte (the start-up phase), length included.
async fn read_untyped<R: AsyncRead + Unpin>(from: &mut R) -> Option<Vec<u8>> {
    let mut len = [0u8; 4];
    from.read_exact(&mut len).await.ok()?;
    let n = u32::from_be_bytes(len) as usize;
    if !(8..=10_000).contains(&n) {
        return None;
    }
    let mut message = len.to_vec();
    message.resize(n, 0);
    from.read_exact(&mut message[4..]).await.ok()?;
    Some(message)
}

/// Postgres's ErrorResponse message.
fn error_response(severity: &str, code: &str, text: &str) -> Vec<u8> {
    let mut fields = Vec::new();
    for (tag, value) in [(b'S', severity), (b'V', severity), (b'C', code), (b'M', text)] {
        fields.push(tag);
        fields.extend_from_slice(value.as_bytes());
        fields.push(0);
    }
    fields.push(0);
    let mut message = vec![b'E'];
    message.extend_from_slice(&((fields.len() + 4) as u32).to_be_bytes());
    message.extend_from_slice(&fields);
    message
}
