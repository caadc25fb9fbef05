//! Shared by the benches: quick mode, warm-up + repeated measurement with
//! medians, and table printing. Plain `harness = false` programs; ratios are
//! always taken between numbers measured in the same run.
#![allow(dead_code)]

use std::time::{Duration, Instant};

/// `--quick` (argument) or `BPF_ARENA_BENCH_QUICK=1`: a few seconds per
/// bench, for CI smoke runs. Numbers from quick mode are not for reading.
pub fn quick() -> bool {
    std::env::args().any(|a| a == "--quick")
        || std::env::var("BPF_ARENA_BENCH_QUICK").is_ok_and(|v| v == "1")
}

/// Picks `full` or `quick_value` by mode.
pub fn pick<T>(full: T, quick_value: T) -> T {
    if quick() { quick_value } else { full }
}

/// The median of `samples` (sorted in place).
pub fn median(samples: &mut [f64]) -> f64 {
    samples.sort_by(|a, b| a.partial_cmp(b).expect("no NaN"));
    let n = samples.len();
    if n % 2 == 1 {
        samples[n / 2]
    } else {
        (samples[n / 2 - 1] + samples[n / 2]) / 2.0
    }
}

/// Runs `f` `warmup` times, then `iters` times, and returns the median of
/// what `f` reports (a value per call, e.g. ns per element).
pub fn median_of(warmup: usize, iters: usize, mut f: impl FnMut() -> f64) -> f64 {
    for _ in 0..warmup {
        std::hint::black_box(f());
    }
    let mut s: Vec<f64> = (0..iters).map(|_| f()).collect();
    median(&mut s)
}

/// Nanoseconds per item of `items` items done in `d`.
pub fn ns_per(d: Duration, items: u64) -> f64 {
    d.as_nanos() as f64 / items as f64
}

/// Times one call.
pub fn time(f: impl FnOnce()) -> Duration {
    let t = Instant::now();
    f();
    t.elapsed()
}

/// Prints a table: a title line, a header row and aligned rows.
pub fn table(title: &str, headers: &[&str], rows: &[Vec<String>]) {
    println!("\n{title}");
    let mut w: Vec<usize> = headers.iter().map(|h| h.len()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            w[i] = w[i].max(c.len());
        }
    }
    let line = |cells: Vec<&str>| {
        let parts: Vec<String> = cells
            .iter()
            .enumerate()
            .map(|(i, c)| {
                if i == 0 {
                    format!("{c:<w$}", w = w[i])
                } else {
                    format!("{c:>w$}", w = w[i])
                }
            })
            .collect();
        println!("  {}", parts.join("  "));
    };
    line(headers.to_vec());
    for r in rows {
        line(r.iter().map(String::as_str).collect());
    }
}

/// `kernel 6.18.44, <cpu model>, <date>` for the report.
pub fn machine() -> String {
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.trim().to_string())
        .unwrap_or_else(|| "unknown CPU".into());
    let date = std::process::Command::new("date")
        .arg("+%Y-%m-%d")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    format!(
        "Linux {}, {cpu}, {} cores, {date}{}",
        kernel.trim(),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        if quick() {
            " (QUICK MODE: smoke run, numbers not meaningful)"
        } else {
            ""
        }
    )
}

/// Formats a float with 1–3 significant decimals.
pub fn f(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// `1.03x`.
pub fn ratio(a: f64, b: f64) -> String {
    format!("{:.2}x", a / b)
}
