//! A TCP proxy in front of Postgres for tests and benchmarks, to simulate outages without
//! touching the shared server: `stall()` keeps connections open but forwards nothing (as if
//! packets were silently dropped), `refuse()` closes every connection and stops listening (as
//! if the server had been stopped: connecting is refused), `resume()` forwards again. Bytes read while stalled are held
//! and sent on `resume()`, as TCP's retransmission would.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
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
}

impl TcpProxy {
    /// Listens on a free port of 127.0.0.1 and forwards to `upstream`; runs on the current
    /// Tokio runtime.
    pub async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (mode, _) = watch::channel(Mode::Forward);
        let accepted = Arc::new(AtomicUsize::new(0));
        tokio::spawn(accept_loop(
            listener,
            upstream,
            mode.subscribe(),
            accepted.clone(),
        ));
        Self { addr, mode, accepted }
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
            Next::Accepted(client) => {
                accepted.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(connection(client, upstream, mode.clone()));
            }
            Next::Refuse => listener = None,
            Next::Again => {}
        }
    }
}

async fn connection(client: TcpStream, upstream: SocketAddr, mut mode: watch::Receiver<Mode>) {
    // A new connection while stalled is accepted and then left waiting, like a SYN answered by
    // a server that never says anything more.
    if !matches!(
        mode.wait_for(|m| *m != Mode::Stall).await.as_deref(),
        Ok(Mode::Forward)
    ) {
        return;
    }
    let Ok(server) = TcpStream::connect(upstream).await else {
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();
    // Either direction ending (EOF, error, refuse) closes both sockets.
    tokio::select! {
        _ = pump(client_read, server_write, mode.clone()) => {}
        _ = pump(server_read, client_write, mode) => {}
    }
}

async fn pump(mut from: OwnedReadHalf, mut to: OwnedWriteHalf, mut mode: watch::Receiver<Mode>) {
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
    }
}
