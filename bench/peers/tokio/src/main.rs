//! Tokio peer of weft-bench's w1..w4 workloads and of its echo workload,
//! w5 (see bench/peers/README.md).
//!
//! Usage: weft-peer-tokio w1|w2|w3|w4 [-w WORKERS] [-n N]
//!        weft-peer-tokio w5 [-w WORKERS] [-n MSGS_PER_CONN] [-c CONNS]
//!
//! The runtime is a multi-thread runtime with WORKERS worker threads; the
//! benchmark body runs in a task spawned onto it (block_on only awaits that
//! task's JoinHandle), as weft's body runs in a spawned task.  One line of
//! `key=value` pairs per run goes to stdout; a failed check goes to stderr
//! and the exit status is 1.
//!
//! w5 starts a copy of this program as its server (the hidden subcommand
//! `w5-server -w WORKERS -c CONNS`, a runtime of its own), reads the port
//! it listens on from its stdout, runs the client, then reaps the server.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::process::{exit, Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const USAGE: &str = "usage: weft-peer-tokio w1|w2|w3|w4 [-w WORKERS] [-n N]
       weft-peer-tokio w5 [-w WORKERS] [-n MSGS_PER_CONN] [-c CONNS]";

/// W2: yields per task.
const YIELDS: u64 = 100;

struct Args {
    workload: String,
    workers: usize,
    n: u64,
    /// w5: connections
    conns: usize,
}

fn die(msg: &str) -> ! {
    eprintln!("weft-peer-tokio: {msg}");
    exit(1);
}

fn parse_args() -> Args {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let workload = match argv.first() {
        Some(w) => w.clone(),
        None => {
            eprintln!("{USAGE}");
            exit(2);
        }
    };
    let default_n = match workload.as_str() {
        "w1" => 1_000_000,
        "w2" => 10_000,
        "w3" => 1_000_000,
        "w4" => 100_000,
        "w5" => 10_000,
        "w5-server" => 0,
        _ => {
            eprintln!("weft-peer-tokio: unknown workload '{workload}'\n{USAGE}");
            exit(2);
        }
    };
    let echo = workload.starts_with("w5");
    let mut args = Args { workload, workers: 2, n: default_n, conns: 100 };
    let mut i = 1;
    while i < argv.len() {
        let opt = argv[i].as_str();
        let val = match argv.get(i + 1) {
            Some(v) => v,
            None => {
                eprintln!("weft-peer-tokio: option '{opt}' needs a value\n{USAGE}");
                exit(2);
            }
        };
        match opt {
            "-w" => match val.parse::<usize>() {
                Ok(w) if w >= 1 => args.workers = w,
                _ => {
                    eprintln!("weft-peer-tokio: bad worker count '{val}'");
                    exit(2);
                }
            },
            "-n" => match val.parse::<u64>() {
                Ok(n) => args.n = n,
                Err(_) => {
                    eprintln!("weft-peer-tokio: bad count '{val}'");
                    exit(2);
                }
            },
            "-c" if echo => match val.parse::<usize>() {
                Ok(c) if c >= 1 => args.conns = c,
                _ => {
                    eprintln!("weft-peer-tokio: bad connection count '{val}'");
                    exit(2);
                }
            },
            _ => {
                eprintln!("weft-peer-tokio: unknown option '{opt}'\n{USAGE}");
                exit(2);
            }
        }
        i += 2;
    }
    if args.n == 0 && args.workload != "w4" && args.workload != "w5-server" {
        eprintln!("weft-peer-tokio: -n 0 is only meaningful for w4 (baseline)");
        exit(2);
    }
    args
}

/// Peak resident set size of this process in KiB (getrusage ru_maxrss).
fn peak_rss_kib() -> i64 {
    // SAFETY: getrusage only writes the struct it is handed.
    unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        if libc::getrusage(libc::RUSAGE_SELF, &mut ru) != 0 {
            die("getrusage failed");
        }
        ru.ru_maxrss as i64
    }
}

/// Sum of (i & 7) for i in 0..n.
fn expected_sum(n: u64) -> u64 {
    let r = n % 8;
    (n / 8) * 28 + r * (r.saturating_sub(1)) / 2
}

/// W1: spawn n tasks (task i returns i & 7), await each in spawn order, sum.
async fn w1(workers: usize, n: u64) -> Result<String, String> {
    let mut handles = Vec::with_capacity(n as usize);
    let t0 = Instant::now();
    for i in 0..n {
        handles.push(tokio::spawn(async move { i & 7 }));
    }
    let spawn = t0.elapsed().as_secs_f64();
    let mut sum: u64 = 0;
    for h in handles {
        sum += h.await.map_err(|e| format!("w1: task failed: {e}"))?;
    }
    let wall = t0.elapsed().as_secs_f64();
    let want = expected_sum(n);
    if sum != want {
        return Err(format!("w1: sum is {sum}, expected {want}"));
    }
    Ok(format!(
        "w1 runtime=tokio workers={workers} tasks={n} sum={sum} seconds={wall:.4} \
         tasks_per_s={:.0} spawn_seconds={spawn:.4}",
        n as f64 / wall
    ))
}

/// W2: n tasks, each yields YIELDS times; await all.
async fn w2(workers: usize, n: u64) -> Result<String, String> {
    let mut handles = Vec::with_capacity(n as usize);
    let t0 = Instant::now();
    for _ in 0..n {
        handles.push(tokio::spawn(async {
            for _ in 0..YIELDS {
                tokio::task::yield_now().await;
            }
        }));
    }
    for h in handles {
        h.await.map_err(|e| format!("w2: task failed: {e}"))?;
    }
    let wall = t0.elapsed().as_secs_f64();
    Ok(format!(
        "w2 runtime=tokio workers={workers} tasks={n} yields={YIELDS} seconds={wall:.4} \
         yields_per_s={:.0}",
        (n * YIELDS) as f64 / wall
    ))
}

/// W3: ping sends i over a capacity-1 channel and waits for pong's i + 1
/// on a second capacity-1 channel, for i in 0..rounds.
async fn w3(workers: usize, rounds: u64) -> Result<String, String> {
    let t0 = Instant::now();
    let (to_pong, mut from_ping) = tokio::sync::mpsc::channel::<u64>(1);
    let (to_ping, mut from_pong) = tokio::sync::mpsc::channel::<u64>(1);
    let ping = tokio::spawn(async move {
        for i in 0..rounds {
            to_pong.send(i).await.map_err(|_| "w3: pong went away".to_string())?;
            match from_pong.recv().await {
                Some(r) if r == i + 1 => {}
                Some(r) => return Err(format!("w3: reply {r} to {i}, expected {}", i + 1)),
                None => return Err("w3: pong closed its channel".to_string()),
            }
        }
        Ok(())
    });
    let pong = tokio::spawn(async move {
        while let Some(v) = from_ping.recv().await {
            if to_ping.send(v + 1).await.is_err() {
                break;
            }
        }
    });
    let (a, b) = tokio::join!(ping, pong);
    let wall = t0.elapsed().as_secs_f64();
    a.map_err(|e| format!("w3: ping failed: {e}"))??;
    b.map_err(|e| format!("w3: pong failed: {e}"))?;
    Ok(format!(
        "w3 runtime=tokio workers={workers} rounds={rounds} capacity=1 seconds={wall:.4} \
         ns_per_round_trip={:.1}\n\
         w3 runtime=tokio workers={workers} rounds={rounds} capacity=0 seconds=n/a \
         ns_per_round_trip=n/a",
        wall * 1e9 / rounds as f64
    ))
}

/// W4: n tasks each sleep 1 s; spawn all, then await all.  The peak RSS is
/// read by main once the runtime is done with the body.
async fn w4(workers: usize, n: u64) -> Result<String, String> {
    let mut handles = Vec::with_capacity(n as usize);
    let t0 = Instant::now();
    for _ in 0..n {
        handles.push(tokio::spawn(async {
            tokio::time::sleep(Duration::from_secs(1)).await;
        }));
    }
    let spawn = t0.elapsed().as_secs_f64();
    for h in handles {
        h.await.map_err(|e| format!("w4: task failed: {e}"))?;
    }
    let wall = t0.elapsed().as_secs_f64();
    Ok(format!(
        "w4 runtime=tokio workers={workers} tasks={n} seconds={wall:.4} spawn_seconds={spawn:.4}"
    ))
}

// ------------------------------------------------------------------- w5 --
//
// W5, echo over TCP on 127.0.0.1, as `weft-bench echo`: a server process
// and a client process, WORKERS workers each; the client opens CONNS
// connections, all before the first message, then each sends MSGS 64-byte
// messages one at a time (write 64 bytes, read exactly the 64 that come
// back, compare).  The clock runs from the start signal, given once every
// connection is open, to the end of the last connection's task (its last
// reply read and its socket closed); a round trip is timed from before
// the write to after the read.  TCP_NODELAY is on at both ends.

/// W5: bytes per message.
const MSG_SIZE: usize = 64;
/// W5: the server's read buffer (weft's echo handler reads up to 4096).
const SERVER_BUF: usize = 4096;
/// W5: the longest wait for the server's port line and for its exit.
const SERVER_WAIT: Duration = Duration::from_secs(30);

/// W5: how long the client's body may take before the run is given up: a
/// minute plus a second per 2,000 messages (weft-bench echo's watchdog).
fn w5_limit(conns: usize, msgs: u64) -> Duration {
    let s = 60.0 + conns as f64 * msgs as f64 / 2000.0;
    Duration::from_secs_f64(s.min(3600.0))
}

/// The hidden `w5-server -w WORKERS -c CONNS`: listens on 127.0.0.1 on a
/// port the kernel picks, prints that port on stdout, accepts CONNS
/// connections, echoes each in a task of its own until its end of stream,
/// and exits 0 when all are done.  It exits 1 on an error, and when its
/// stdin reaches its end: the client that started it (and holds the pipe)
/// is gone, so no server outlives its client.
fn w5_server(workers: usize, conns: usize) -> ! {
    std::thread::spawn(|| {
        let mut stdin = std::io::stdin();
        let mut b = [0u8; 64];
        loop {
            match stdin.read(&mut b) {
                Ok(0) => die("w5 server: the client went away"),
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => die(&format!("w5 server: stdin: {e}")),
            }
        }
    });
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_io()
        .build()
        .unwrap_or_else(|e| die(&format!("w5 server: cannot build the runtime: {e}")));
    let result = rt.block_on(async move {
        let body = tokio::spawn(w5_serve(conns));
        body.await.map_err(|e| format!("w5 server: body task failed: {e}"))?
    });
    match result {
        Ok(()) => exit(0),
        Err(msg) => die(&msg),
    }
}

/// The server's body: the accept loop, then awaits every connection's task.
async fn w5_serve(conns: usize) -> Result<(), String> {
    let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .map_err(|e| format!("w5 server: listen: {e}"))?;
    let port = listener
        .local_addr()
        .map_err(|e| format!("w5 server: local address: {e}"))?
        .port();
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "{port}")
            .and_then(|_| out.flush())
            .map_err(|e| format!("w5 server: writing the port: {e}"))?;
    }
    let mut handles = Vec::with_capacity(conns);
    for _ in 0..conns {
        let (s, _) = listener
            .accept()
            .await
            .map_err(|e| format!("w5 server: accept: {e}"))?;
        s.set_nodelay(true)
            .map_err(|e| format!("w5 server: TCP_NODELAY: {e}"))?;
        handles.push(tokio::spawn(w5_echo(s)));
    }
    drop(listener);
    let mut result = Ok(());
    for h in handles {
        let r = h
            .await
            .map_err(|e| format!("w5 server: a connection task failed: {e}"))
            .and_then(|r| r);
        if result.is_ok() {
            result = r;
        }
    }
    result
}

/// One server connection: read what comes (up to SERVER_BUF bytes), write
/// all of it back, until the end of stream; then close.
async fn w5_echo(mut s: TcpStream) -> Result<(), String> {
    let mut buf = [0u8; SERVER_BUF];
    loop {
        let n = s
            .read(&mut buf)
            .await
            .map_err(|e| format!("w5 server: read: {e}"))?;
        if n == 0 {
            return Ok(());
        }
        s.write_all(&buf[..n])
            .await
            .map_err(|e| format!("w5 server: write: {e}"))?;
    }
}

/// The server process, seen from the client.  Dropped before `finish` has
/// reaped it (an error, a panic), it is killed and reaped.
struct Server {
    child: Child,
    /// Held open until the server is reaped: the server exits when it ends.
    _stdin: Option<ChildStdin>,
    reaped: bool,
}

impl Server {
    /// Starts `THIS_PROGRAM w5-server` and reads its port.
    fn start(workers: usize, conns: usize) -> Result<(Server, u16), String> {
        let exe = std::env::current_exe()
            .map_err(|e| format!("w5: cannot find this program: {e}"))?;
        let mut child = Command::new(exe)
            .args(["w5-server", "-w", &workers.to_string(), "-c", &conns.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("w5: cannot start the server: {e}"))?;
        let stdin = child.stdin.take();
        let stdout = child.stdout.take();
        let server = Server { child, _stdin: stdin, reaped: false };
        let stdout = match stdout {
            Some(s) => s,
            None => return Err("w5: no pipe from the server".to_string()),
        };
        // The port line is read on a thread of its own, so that a server
        // that never prints one is waited for SERVER_WAIT at most (killing
        // it ends the thread's read).
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let r = BufReader::new(stdout).read_line(&mut line).map(|_| line);
            let _ = tx.send(r);
        });
        let line = match rx.recv_timeout(SERVER_WAIT) {
            Ok(Ok(line)) => line,
            Ok(Err(e)) => return Err(format!("w5: reading the server's port: {e}")),
            Err(_) => return Err("w5: the server printed no port in time".to_string()),
        };
        match line.trim().parse::<u16>() {
            Ok(port) if port != 0 => Ok((server, port)),
            _ => Err(format!("w5: the server printed '{}', not a port", line.trim())),
        }
    }

    /// Waits for the server to exit (it does once every connection has
    /// ended), SERVER_WAIT at most; any exit but 0 is an error.
    fn finish(mut self) -> Result<(), String> {
        let t0 = Instant::now();
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => {
                    self.reaped = true;
                    return if status.success() {
                        Ok(())
                    } else {
                        Err(format!("w5: the server failed ({status})"))
                    };
                }
                Ok(None) if t0.elapsed() < SERVER_WAIT => {
                    std::thread::sleep(Duration::from_millis(5));
                }
                Ok(None) => return Err("w5: the server did not exit; killed it".to_string()),
                Err(e) => return Err(format!("w5: waiting for the server: {e}")),
            }
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if !self.reaped {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// W5's client process: starts the server, runs the client body on a
/// runtime of `workers` workers, reaps the server.
fn w5(workers: usize, conns: usize, msgs: u64) -> Result<String, String> {
    let (server, port) = Server::start(workers, conns)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .map_err(|e| format!("w5: cannot build the runtime: {e}"))?;
    let limit = w5_limit(conns, msgs);
    let result = rt.block_on(async move {
        let body = tokio::spawn(w5_client(workers, conns, msgs, port));
        match tokio::time::timeout(limit, body).await {
            Ok(r) => r.map_err(|e| format!("w5: body task failed: {e}"))?,
            Err(_) => Err(format!("w5: the run took over {} s; given up", limit.as_secs())),
        }
    });
    drop(rt);
    let line = result?; // on an error, dropping `server` kills it
    server.finish()?;
    Ok(line)
}

/// The client's body: a task per connection; once all are connected, the
/// start; then the figures.
async fn w5_client(workers: usize, conns: usize, msgs: u64, port: u16) -> Result<String, String> {
    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::channel::<Result<(), String>>(conns);
    let (go_tx, go_rx) = tokio::sync::watch::channel(false);
    let mut handles = Vec::with_capacity(conns);
    for index in 0..conns {
        let ready = ready_tx.clone();
        let go = go_rx.clone();
        handles.push(tokio::spawn(w5_conn(index, msgs, port, ready, go)));
    }
    drop(ready_tx);
    drop(go_rx);
    // Every connection is open before the first message.
    let mut failed = None;
    for _ in 0..conns {
        match ready_rx.recv().await {
            Some(Ok(())) => {}
            Some(Err(e)) => {
                failed = Some(e);
                break;
            }
            None => {
                failed = Some("w5: a connection task ended before the start".to_string());
                break;
            }
        }
    }
    if let Some(e) = failed {
        drop(go_tx); // the waiting tasks give up
        for h in handles {
            let _ = h.await;
        }
        return Err(e);
    }
    let t0 = Instant::now();
    go_tx
        .send(true)
        .map_err(|_| "w5: every connection task is gone".to_string())?;
    let mut per_conn = Vec::with_capacity(conns);
    let mut first_err = None;
    for h in handles {
        match h.await {
            Ok(Ok(trips)) => per_conn.push(trips),
            Ok(Err(e)) => {
                first_err.get_or_insert(e);
            }
            Err(e) => {
                first_err.get_or_insert(format!("w5: a connection task failed: {e}"));
            }
        }
    }
    let secs = t0.elapsed().as_secs_f64();
    if let Some(e) = first_err {
        return Err(e);
    }
    let mut trips: Vec<u32> = per_conn.concat();
    trips.sort_unstable();
    let total = trips.len();
    let us = |k: usize| trips[k] as f64 / 1e3;
    Ok(format!(
        "w5 runtime=tokio workers={workers} conns={conns} msgs={msgs} seconds={secs:.4} \
         msgs_per_s={:.0} p50_us={:.1} p99_us={:.1} max_us={:.1}",
        total as f64 / secs,
        us(total / 2),
        us(total * 99 / 100),
        us(total - 1)
    ))
}

/// One client connection: connect, say so, wait for the start, then the
/// round trips; gives back their times (ns).
async fn w5_conn(
    index: usize,
    msgs: u64,
    port: u16,
    ready: tokio::sync::mpsc::Sender<Result<(), String>>,
    mut go: tokio::sync::watch::Receiver<bool>,
) -> Result<Vec<u32>, String> {
    let dialed = match TcpStream::connect(SocketAddr::from(([127, 0, 0, 1], port))).await {
        Ok(s) => s.set_nodelay(true).map(|_| s).map_err(|e| format!("w5: TCP_NODELAY: {e}")),
        Err(e) => Err(format!("w5: connect: {e}")),
    };
    let stream = match dialed {
        Ok(s) => s,
        Err(e) => {
            let _ = ready.send(Err(e.clone())).await;
            return Err(e);
        }
    };
    let mut trips = vec![0u32; msgs as usize];
    let _ = ready.send(Ok(())).await;
    drop(ready);
    if go.changed().await.is_err() || !*go.borrow() {
        return Err("w5: no start".to_string());
    }
    w5_talk(stream, index, &mut trips).await?;
    Ok(trips)
}

/// The round trips of connection `index`: message i is 64 bytes of
/// 'a' + index % 26 with i in its first 8 (native byte order), as weft's.
async fn w5_talk(mut s: TcpStream, index: usize, trips: &mut [u32]) -> Result<(), String> {
    let mut out = [b'a' + (index % 26) as u8; MSG_SIZE];
    let mut back = [0u8; MSG_SIZE];
    for (i, trip) in trips.iter_mut().enumerate() {
        out[..8].copy_from_slice(&(i as u64).to_ne_bytes()); // each message differs
        let t0 = Instant::now();
        s.write_all(&out)
            .await
            .map_err(|e| format!("w5: connection {index}: write: {e}"))?;
        s.read_exact(&mut back)
            .await
            .map_err(|e| format!("w5: connection {index}: read: {e}"))?;
        *trip = u32::try_from(t0.elapsed().as_nanos()).unwrap_or(u32::MAX);
        if back != out {
            return Err(format!("w5: connection {index}: message {i} came back changed"));
        }
    }
    Ok(()) // dropping s closes it
}

fn main() {
    let args = parse_args();
    match args.workload.as_str() {
        "w5-server" => w5_server(args.workers, args.conns),
        "w5" => match w5(args.workers, args.conns, args.n) {
            Ok(line) => {
                println!("{line}");
                return;
            }
            Err(msg) => die(&msg),
        },
        _ => {}
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.workers)
        .enable_time()
        .build()
        .unwrap_or_else(|e| die(&format!("cannot build the runtime: {e}")));
    let (workload, workers, n) = (args.workload.clone(), args.workers, args.n);
    let result = rt.block_on(async move {
        let body = tokio::spawn(async move {
            match workload.as_str() {
                "w1" => w1(workers, n).await,
                "w2" => w2(workers, n).await,
                "w3" => w3(workers, n).await,
                _ => w4(workers, n).await,
            }
        });
        body.await.map_err(|e| format!("body task failed: {e}"))?
    });
    match result {
        Ok(line) if args.workload == "w4" => println!("{line} peak_rss_kib={}", peak_rss_kib()),
        Ok(line) => println!("{line}"),
        Err(msg) => die(&msg),
    }
}
