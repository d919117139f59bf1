//! Tokio peer of weft-bench's w1..w4 workloads (see bench/peers/README.md).
//!
//! Usage: weft-peer-tokio w1|w2|w3|w4 [-w WORKERS] [-n N]
//!
//! The runtime is a multi-thread runtime with WORKERS worker threads; the
//! benchmark body runs in a task spawned onto it (block_on only awaits that
//! task's JoinHandle), as weft's body runs in a spawned task.  One line of
//! `key=value` pairs per run goes to stdout; a failed check goes to stderr
//! and the exit status is 1.

use std::process::exit;
use std::time::{Duration, Instant};

const USAGE: &str = "usage: weft-peer-tokio w1|w2|w3|w4 [-w WORKERS] [-n N]";

/// W2: yields per task.
const YIELDS: u64 = 100;

struct Args {
    workload: String,
    workers: usize,
    n: u64,
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
        _ => {
            eprintln!("weft-peer-tokio: unknown workload '{workload}'\n{USAGE}");
            exit(2);
        }
    };
    let mut args = Args { workload, workers: 2, n: default_n };
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
            _ => {
                eprintln!("weft-peer-tokio: unknown option '{opt}'\n{USAGE}");
                exit(2);
            }
        }
        i += 2;
    }
    if args.n == 0 && args.workload != "w4" {
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

fn main() {
    let args = parse_args();
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
