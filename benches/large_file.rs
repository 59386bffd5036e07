//! Benchmark: the cost of one large YAML file, in memory and time (issue 16, finding 5).
//!
//! Run it with `cargo bench --bench large_file`. In-process, through the library's planner (the
//! same scan, locate, plan and verified splice that `set-image` and `bump` run), with a counting
//! global allocator: for each generated file it reports the peak heap used beyond the input
//! itself, in bytes and in bytes per byte of input, and the time. The real binary also holds
//! the input (1 byte per byte) and, for `set-image`, writes the result.
//!
//! Files, each edited from `ghcr.io/acme/cart:v1` to `v2`:
//! - `k8s-N`: N Deployments of about 1 KB in one multi-document file (labels, ports, env,
//!   resources, probes), each referencing the image once: realistic Kubernetes YAML, and N
//!   references per file (time must grow linearly with N);
//! - `flow-MB`: the worst case for the node tree, a flow sequence `[a,a,a,…]` (one node per two
//!   bytes) beside one reference;
//! - `block-MB`: a block sequence of short scalars (`- a`, one node per four bytes);
//! - `anchors-MB`: a flow sequence of anchored scalars (`[&a a,&a a,…]`), which the tree keeps
//!   beside the nodes;
//! - `refs-KB`: nothing but references (`[ghcr.io/acme/cart:v1, …]`, one every 22 bytes), each
//!   edited and reported: the cost per reference, held to [`REFERENCES_BOUND`];
//! - `escaped-MB`: a flow sequence of double-quoted escapes (`["\t","\t",…]`), values the tree
//!   keeps decoded rather than as their source span.
//!
//! Every row asserts the bound that `docs/security.md` states: the peak heap beyond the input
//! is at most [`BOUND`] bytes per byte of input ([`REFERENCES_BOUND`] for `refs-*`). Time is reported as wall time and as the
//! thread's CPU time (the machine may be shared with other work).
//!
//! Environment: `FERRY_BENCH_SCALE=1` (1: up to 100k references / 100 MB files; 0: a quick run
//! up to 10k / 10 MB, the anchor and escape rows at 2 MB); `FERRY_BENCH_ONLY=flow,anchors`
//! runs only the rows whose name starts with one of these.

#![allow(
    unsafe_code,
    reason = "a counting global allocator, delegating to the system allocator"
)]
#![allow(
    clippy::print_stdout,
    reason = "a benchmark with harness = false reports its figures on stdout"
)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use ferry::image::ImageUpdate;
use ferry::plan::Planner;

struct Counting;

static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grew(by: usize) {
    let now = CURRENT.fetch_add(by, Ordering::Relaxed) + by;
    PEAK.fetch_max(now, Ordering::Relaxed);
}

// SAFETY: every call is forwarded to `System` with the same arguments; the counters only
// observe sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded as is.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded as is.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded as is.
        unsafe { System.dealloc(ptr, layout) };
        CURRENT.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded as is.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            CURRENT.fetch_sub(layout.size(), Ordering::Relaxed);
            grew(new_size);
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// The most heap, beyond the input, that planning one file may use per byte of it.
const BOUND: f64 = 16.0;

/// The same for a file of nothing but references (`refs-*`), each of which is also reported
/// and edited (about 1 KB each, one every 22 bytes).
const REFERENCES_BOUND: f64 = 64.0;

/// This thread's CPU time (user and system), in seconds.
fn cpu_seconds() -> f64 {
    // SAFETY: `getrusage` fills the zeroed struct it is given.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_THREAD, &mut usage);
        usage
    };
    let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    seconds(usage.ru_utime) + seconds(usage.ru_stime)
}

const DEPLOYMENT: &str = "---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: cart-NNN
  namespace: shop
  labels:
    app.kubernetes.io/name: cart
    app.kubernetes.io/instance: cart-NNN
    app.kubernetes.io/part-of: shop
spec:
  replicas: 2
  selector:
    matchLabels:
      app.kubernetes.io/instance: cart-NNN
  template:
    metadata:
      labels:
        app.kubernetes.io/instance: cart-NNN
    spec:
      containers:
        - name: cart
          image: ghcr.io/acme/cart:v1 # the shop's cart
          ports:
            - containerPort: 8080
              name: http
          env:
            - name: LOG_LEVEL
              value: info
            - name: CART_DB_URL
              value: \"postgres://cart-NNN.shop.svc:5432/cart\"
          resources:
            requests: {cpu: 100m, memory: 128Mi}
            limits: {memory: 256Mi}
          readinessProbe:
            httpGet: {path: /ready, port: http}
";

fn k8s(n: usize) -> String {
    let mut out = String::with_capacity(n * DEPLOYMENT.len() + 16);
    for i in 0..n {
        out.push_str(&DEPLOYMENT.replace("NNN", &i.to_string()));
    }
    out
}

fn flow(bytes: usize) -> String {
    let mut out = String::with_capacity(bytes + 64);
    out.push_str("image: ghcr.io/acme/cart:v1\nitems: [a");
    while out.len() < bytes {
        out.push_str(",a");
    }
    out.push_str("]\n");
    out
}

fn anchors(bytes: usize) -> String {
    let mut out = String::with_capacity(bytes + 64);
    out.push_str("image: ghcr.io/acme/cart:v1\nitems: [&a a");
    while out.len() < bytes {
        out.push_str(",&a a");
    }
    out.push_str("]\n");
    out
}

fn escaped(bytes: usize) -> String {
    let mut out = String::with_capacity(bytes + 64);
    out.push_str("image: ghcr.io/acme/cart:v1\nitems: [\"\\t\"");
    while out.len() < bytes {
        out.push_str(",\"\\t\"");
    }
    out.push_str("]\n");
    out
}

fn references(bytes: usize) -> String {
    let mut out = String::with_capacity(bytes + 64);
    out.push_str("images: [ghcr.io/acme/cart:v1");
    while out.len() < bytes {
        out.push_str(", ghcr.io/acme/cart:v1");
    }
    out.push_str("]\n");
    out
}

fn block(bytes: usize) -> String {
    let mut out = String::with_capacity(bytes + 64);
    out.push_str("image: ghcr.io/acme/cart:v1\nitems:\n");
    while out.len() < bytes {
        out.push_str("- a\n");
    }
    out
}

struct Row {
    name: String,
    bytes: usize,
    references: usize,
    peak: usize,
    seconds: f64,
    cpu: f64,
}

fn measure(name: &str, text: &str) -> Row {
    let update = ImageUpdate::parse("ghcr.io/acme/cart=v2").expect("valid update");
    let planner = Planner::new(vec![update])
        .expect("planner")
        .with_max_file_size(u64::MAX);
    let base = CURRENT.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    let started = Instant::now();
    let cpu = cpu_seconds();
    let scan = planner.scan("big.yaml", text.as_bytes());
    let plan = planner.plan(scan.into_iter().collect()).expect("plan");
    let seconds = started.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu;
    let peak = PEAK.load(Ordering::Relaxed) - base;
    assert!(plan.refusals.is_empty(), "{:?}", plan.refusals.first());
    assert_eq!(plan.files.len(), 1, "{name}: one file edited");
    let row = Row {
        name: name.to_owned(),
        bytes: text.len(),
        references: plan.references,
        peak,
        seconds,
        cpu,
    };
    drop(plan);
    row
}

fn main() {
    let full = std::env::var("FERRY_BENCH_SCALE").map_or(true, |v| v != "0");
    let counts: &[usize] = if full {
        &[1_000, 10_000, 100_000]
    } else {
        &[1_000, 10_000]
    };
    let megabytes: &[usize] = if full { &[10, 100] } else { &[10] };
    let small = if full { 10 } else { 2 };
    let only = std::env::var("FERRY_BENCH_ONLY").unwrap_or_default();
    let wanted = |name: &str| only.is_empty() || only.split(',').any(|p| name.starts_with(p));
    let mut cases: Vec<(String, Box<dyn Fn() -> String>)> = Vec::new();
    for &n in counts {
        cases.push((format!("k8s-{n}"), Box::new(move || k8s(n))));
    }
    for &mb in megabytes {
        cases.push((format!("flow-{mb}MB"), Box::new(move || flow(mb << 20))));
        cases.push((format!("block-{mb}MB"), Box::new(move || block(mb << 20))));
    }
    cases.push((
        format!("anchors-{small}MB"),
        Box::new(move || anchors(small << 20)),
    ));
    cases.push((
        format!("escaped-{small}MB"),
        Box::new(move || escaped(small << 20)),
    ));
    // Each reference is reported (a change, an edit): its cost is per reference, not per byte.
    let tiny = if full { 1 << 20 } else { 1 << 18 };
    cases.push((
        format!("refs-{}KB", tiny >> 10),
        Box::new(move || references(tiny)),
    ));
    let mut rows = Vec::new();
    for (name, text) in cases.iter().filter(|(name, _)| wanted(name)) {
        rows.push(measure(name, &text()));
    }
    let mut out = String::from(
        "| file | size | references | peak heap beyond the input | per input byte | time | CPU time | CPU per reference |\n|---|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for r in &rows {
        let _ = writeln!(
            out,
            "| {} | {:.1} MB | {} | {:.1} MB | {:.1} | {:.2} s | {:.2} s | {:.1} µs |",
            r.name,
            r.bytes as f64 / 1e6,
            r.references,
            r.peak as f64 / 1e6,
            r.peak as f64 / r.bytes as f64,
            r.seconds,
            r.cpu,
            r.cpu * 1e6 / r.references.max(1) as f64,
        );
    }
    print!("{out}");
    for r in &rows {
        let per_byte = r.peak as f64 / r.bytes as f64;
        let bound = if r.name.starts_with("refs") {
            REFERENCES_BOUND
        } else {
            BOUND
        };
        assert!(
            per_byte <= bound,
            "{}: {per_byte:.1} bytes of heap per input byte, over the bound of {bound}",
            r.name
        );
    }
}
