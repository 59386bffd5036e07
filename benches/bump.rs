//! Benchmark: `ferry bump` against a generated GitOps environment repository served over smart
//! HTTP, next to the git CLI floors and the scripts CI jobs use today.
//!
//! Run it with `cargo bench --bench bump` (about 20 minutes the first time, which generates the
//! repositories; they are cached), or `FERRY_BENCH_QUICK=1 cargo bench --bench bump` (or
//! `cargo bench --bench bump -- --quick`): the 2,000-app repository only, 3 timed runs.
//!
//! **Repositories.** N apps × 3 environments (`staging`, `production`, `qa`), laid out as
//! `envs/<env>/<app>/kustomization.yaml` (a kustomize `images:` entry `name: <app>`, `newName:
//! registry.example.com/<team>/<app>`, `newTag: 1.x.y`), `deployment.yaml` (2–5 KB: labels,
//! checksums, 10–45 env vars, probes, resources, 30 % with an Envoy sidecar; its container image
//! is the placeholder `<app>`, so a bump changes exactly one file) and, for a third of the apps,
//! `service.yaml`; plus `ferry.yaml` naming the three environments and a README. History: 5,000
//! commits streamed through `git fast-import` (the initial import, then tag bumps in one or two
//! environments, promotions staging → production, and replica changes, skewed towards a hot
//! tenth of the apps), then `git repack -adf` with a bitmap. Cached under
//! `<target>/bench-bump/apps<N>-commits<C>-g<V>/origin.git`; generation is timed once.
//!
//! **Serving.** Each run serves a hard-linked copy of the cached repository with the test
//! support's std-only smart-HTTP server (`tests/support/git_http.rs`, `git http-backend` behind
//! it), anonymously, with `uploadpack.allowFilter=true`. Before every run `main` is put back at
//! the generated tip with `git update-ref`, so every run does the same work; every run sets a
//! new tag, so every run pushes one commit that changes one file
//! (`envs/staging/<app>/kustomization.yaml`); the bench checks that after each run.
//!
//! **Scenarios** (each a child process, measured with `wait4`: wall time, CPU time, peak RSS of
//! the process tree; the server's CPU time is the growth of this process's reaped-children time
//! minus the client's), interleaved run by run, one untimed warm-up each:
//! - `ferry env`: `ferry bump --repo URL --path envs/staging IMAGE=TAG -q`, the whole
//!   environment (ferry reads every YAML blob below it; its byte prefilter skips most);
//! - `ferry app`: the same with `--path envs/staging/<app>`;
//! - `depth-1 floor`: `git init --bare`, `git fetch --depth 1 URL +refs/heads/main:refs/heads/main`,
//!   the one-file commit built with plumbing (`cat-file | sed | hash-object -w`, `ls-tree | awk |
//!   mktree` for each tree on the path, `commit-tree`), `git push URL <commit>:refs/heads/main`;
//! - `blobless floor`: the same with `git fetch --filter=blob:none --depth 1` (the one blob read
//!   is fetched lazily);
//! - `full-clone script`: `git clone URL`, `sed -i`, `git commit -am`, `git push`;
//! - `shallow script`: `git clone --depth 1 URL`, `sed -i`, `git commit -am`, then `git push`,
//!   after each rejection `git pull --rebase`, at most 10 pushes.
//!
//! The scripts are printed in full in the results. One more `ferry env` run with
//! `--output json -v` splits ferry's time into phases from its log timestamps.
//!
//! **Concurrency.** On the smallest repository: 32 concurrent `ferry bump --path envs/staging`,
//! each setting another app's image (default `--attempts`; three batches, as the outcome varies),
//! the same once with `--attempts 32`, then 32 concurrent full-clone scripts (one push each, as a
//! CI job without retries) and 32 concurrent shallow scripts (pull-rebase retries); on the
//! 20,000-app repository, 8 concurrent `ferry bump` (three batches). A bump *landed* when its
//! process exited 0 and the final tree holds its tag; an exit 0 whose tag is not there is
//! counted as a lost update. All clients and the server share this machine's cores, so the
//! table also gives the CPU-bound minimum of a batch.
//!
//! **Interference.** The machine's busy CPU time (`/proc/stat`) minus this process's and its
//! children's is reported as other processes' share: wall times mean little when it is high.
//! Client directories are deleted only between phases, followed by `sync` and a pause: on
//! ext4 mounted with `discard`, deleting a big checkout slows the next runs' file operations.
//!
//! Environment: `FERRY_BENCH_QUICK=1`, `FERRY_BENCH_APPS=2000,20000`, `FERRY_BENCH_RUNS=5`,
//! `FERRY_BENCH_COMMITS=5000`, `FERRY_BENCH_BATCH_REPEAT=3`; `FERRY_BENCH_SERVE=1` only serves
//! the repositories (printing their URLs) until killed, for profiling by hand. Results are
//! printed and written to `<target>/bench-bump/results.md`. Client work directories are in the
//! system temporary directory, like ferry's own.

#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "a benchmark with harness = false reports its figures on stdout and progress on stderr"
)]

#[path = "support/common.rs"]
mod common;
#[path = "../tests/support/git_http.rs"]
mod git_http;

use std::fmt::Write as _;
use std::fs::File;
use std::io::{self, BufWriter, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::{Rng, Run, cpu_model, env_list, load_average, median, timeval, wait4};
use git_http::GitServer;

/// Bump this when the generated repositories change, so stale caches are not reused.
const GEN_VERSION: u32 = 1;
const ENVS: [&str; 3] = ["staging", "production", "qa"];
const TEAMS: &[&str] = &[
    "orders",
    "payments",
    "catalog",
    "search",
    "checkout",
    "users",
    "inventory",
    "shipping",
    "notify",
    "gateway",
    "frontend",
    "reviews",
    "pricing",
    "ledger",
    "billing",
    "auth",
    "media",
    "reports",
    "analytics",
    "fraud",
    "loyalty",
    "promo",
    "cart",
    "wishlist",
    "returns",
    "tax",
    "invoices",
    "accounts",
    "profile",
    "feeds",
];
const ROLES: &[&str] = &[
    "api",
    "worker",
    "web",
    "consumer",
    "scheduler",
    "sync",
    "indexer",
    "proxy",
    "cron",
    "admin",
    "grpc",
    "events",
    "exporter",
    "importer",
    "cache",
    "router",
];
const WORDS: &[&str] = &[
    "alpha",
    "queue",
    "cache",
    "timeout",
    "retry",
    "region",
    "zone",
    "level",
    "pool",
    "batch",
    "window",
    "limit",
    "feature",
    "metrics",
    "tracing",
    "shard",
    "replica",
    "backend",
    "session",
    "token",
    "billing",
    "report",
    "export",
    "import",
    "index",
    "stream",
    "buffer",
    "worker",
    "budget",
    "quota",
    "client",
    "server",
    "upstream",
    "bucket",
    "topic",
    "partition",
];

/// Targets checked at the end.
const TARGET_FLOOR_RATIO: f64 = 1.3;
const TARGET_RSS_MB: f64 = 150.0;
const TARGET_RSS_APPS: usize = 20_000;
const TARGET_BATCH_RATIO: f64 = 16.0;
/// Concurrent bumps: (repository size, processes).
const FERRY_BATCH_SMALL: usize = 32;
const FERRY_BATCH_LARGE: usize = 8;
const LARGE_BATCH_APPS: usize = 20_000;

// ---------------------------------------------------------------------------------------------
// Deterministic generation

fn team(i: usize) -> &'static str {
    TEAMS[i % TEAMS.len()]
}

fn app_name(i: usize) -> String {
    format!(
        "{}-{}-{i:05}",
        team(i),
        ROLES[(i / TEAMS.len()) % ROLES.len()]
    )
}

fn image(i: usize) -> String {
    format!("registry.example.com/{}/{}", team(i), app_name(i))
}

fn app_dir(i: usize, env: usize) -> String {
    format!("envs/{}/{}", ENVS[env], app_name(i))
}

fn has_service(i: usize) -> bool {
    i.is_multiple_of(3)
}

fn kustomization(i: usize, env: usize, tag: &str) -> String {
    let app = app_name(i);
    let env_name = ENVS[env];
    let service = if has_service(i) {
        "  - service.yaml\n"
    } else {
        ""
    };
    format!(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespace: {team}-{env_name}\nresources:\n  - deployment.yaml\n{service}labels:\n  - pairs:\n      app.kubernetes.io/instance: {app}-{env_name}\n    includeSelectors: false\nimages:\n  - name: {app}\n    newName: {image}\n    newTag: {tag}\n",
        team = team(i),
        image = image(i),
    )
}

/// An env var value: a mix of the kinds real manifests carry.
fn env_value(r: &mut Rng, n_apps: usize, env: &str) -> String {
    match r.below(10) {
        0 => {
            let n = r.range(16, 40);
            format!("\"{}\"", r.hex(n))
        }
        1 => {
            let n = r.range(16, 32);
            format!("\"{}\"", r.alnum(n))
        }
        2 => {
            // Another app's service: files mention other apps by name.
            let other = r.below(n_apps);
            format!(
                "http://{}.{}-{env}.svc.cluster.local:{}",
                app_name(other),
                team(other),
                r.range(80, 9000)
            )
        }
        3 => format!(
            "https://{}.{}.{env}.acme.io/v{}",
            r.pick(WORDS),
            r.pick(WORDS),
            r.range(1, 3)
        ),
        4 => format!("\"{}\"", r.range(1, 100_000)),
        5 => (if r.chance(0.5) {
            "\"true\""
        } else {
            "\"false\""
        })
        .to_owned(),
        6 => format!("\"{}s\"", r.range(1, 600)),
        7 => format!(
            "https://{}@o{}.ingest.sentry.io/{}",
            r.hex(32),
            r.range(100_000, 9_999_999),
            r.range(1_000_000, 9_999_999)
        ),
        8 => format!("{}-{}", r.pick(WORDS), r.pick(WORDS)),
        _ => r.pick(WORDS).to_owned(),
    }
}

fn deployment(i: usize, env: usize, replicas: usize, n_apps: usize) -> String {
    let mut r = Rng::new(((i as u64) << 8) | env as u64);
    let app = app_name(i);
    let team = team(i);
    let env_name = ENVS[env];
    let role = ROLES[(i / TEAMS.len()) % ROLES.len()];
    let port = r.range(80, 9000);
    let uid = r.range(1000, 65_000);
    let mut out = String::with_capacity(4096);
    let _ = write!(
        out,
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {app}\n  labels:\n    app.kubernetes.io/name: {app}\n    app.kubernetes.io/part-of: {team}\n    app.kubernetes.io/component: {role}\n    environment: {env_name}\n  annotations:\n    checksum/config: {}\n    checksum/secrets: {}\n    deploy.acme.io/owner: team-{team}\n    deploy.acme.io/runbook: https://runbooks.acme.io/{team}/{app}\nspec:\n  replicas: {replicas}\n  revisionHistoryLimit: 5\n  strategy:\n    type: RollingUpdate\n    rollingUpdate:\n      maxSurge: 25%\n      maxUnavailable: 0\n  selector:\n    matchLabels:\n      app.kubernetes.io/name: {app}\n  template:\n    metadata:\n      labels:\n        app.kubernetes.io/name: {app}\n        environment: {env_name}\n      annotations:\n        prometheus.io/scrape: \"true\"\n        prometheus.io/port: \"{port}\"\n    spec:\n      serviceAccountName: {app}\n      terminationGracePeriodSeconds: {}\n      securityContext:\n        runAsNonRoot: true\n        runAsUser: {uid}\n        fsGroup: {uid}\n      containers:\n        - name: {app}\n          image: {app}\n          imagePullPolicy: IfNotPresent\n          args:\n            - --port={port}\n            - --log-level={}\n          ports:\n            - name: http\n              containerPort: {port}\n              protocol: TCP\n          env:\n",
        r.hex(64),
        r.hex(64),
        r.range(10, 120),
        r.pick(&["debug", "info", "warn"]),
    );
    for n in 0..r.range(10, 45) {
        let key = format!("{}_{}_{n}", r.pick(WORDS), r.pick(WORDS)).to_ascii_uppercase();
        let value = env_value(&mut r, n_apps, env_name);
        let _ = write!(
            out,
            "            - name: {key}\n              value: {value}\n"
        );
    }
    let _ = write!(
        out,
        "          envFrom:\n            - secretRef:\n                name: {app}-secrets\n          resources:\n            requests:\n              cpu: {}m\n              memory: {}Mi\n            limits:\n              memory: {}Mi\n          readinessProbe:\n            httpGet:\n              path: /healthz\n              port: http\n            periodSeconds: {}\n          livenessProbe:\n            httpGet:\n              path: /livez\n              port: http\n            initialDelaySeconds: {}\n",
        r.range(1, 40) * 25,
        r.range(1, 16) * 64,
        r.range(2, 32) * 64,
        r.range(5, 30),
        r.range(5, 60),
    );
    if r.chance(0.3) {
        let _ = write!(
            out,
            "        - name: envoy\n          image: envoyproxy/envoy:v1.29.{}\n          args: [\"-c\", \"/etc/envoy/envoy.yaml\", \"--service-cluster\", \"{app}\"]\n          ports:\n            - name: admin\n              containerPort: 9901\n          resources:\n            requests:\n              cpu: 50m\n              memory: 64Mi\n",
            r.range(0, 9)
        );
    }
    if r.chance(0.5) {
        let _ = write!(
            out,
            "      tolerations:\n        - key: dedicated\n          operator: Equal\n          value: {team}\n          effect: NoSchedule\n      affinity:\n        podAntiAffinity:\n          preferredDuringSchedulingIgnoredDuringExecution:\n            - weight: 100\n              podAffinityTerm:\n                topologyKey: topology.kubernetes.io/zone\n                labelSelector:\n                  matchLabels:\n                    app.kubernetes.io/name: {app}\n"
        );
    }
    out
}

fn service(i: usize, env: usize) -> String {
    let app = app_name(i);
    let mut r = Rng::new(((i as u64) << 8) | 0x80 | env as u64);
    format!(
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: {app}\n  labels:\n    app.kubernetes.io/name: {app}\n  annotations:\n    service.acme.io/owner: team-{}\n    service.acme.io/id: {}\nspec:\n  type: ClusterIP\n  selector:\n    app.kubernetes.io/name: {app}\n  ports:\n    - name: http\n      port: 80\n      targetPort: http\n    - name: metrics\n      port: 9090\n      targetPort: {}\n",
        team(i),
        r.hex(24),
        r.range(9000, 9999)
    )
}

const FERRY_YAML: &str = "version: 1\nenvironments:\n  staging:\n    path: envs/staging\n  qa:\n    path: envs/qa\n  production:\n    path: envs/production\n";

/// Per app and environment: the tag's minor and patch, the replicas.
#[derive(Clone, Copy)]
struct State {
    minor: u32,
    patch: u32,
    replicas: usize,
}

impl State {
    fn tag(self) -> String {
        format!("1.{}.{}", self.minor, self.patch)
    }
}

struct FastImport<W: io::Write> {
    out: W,
    bytes: u64,
}

impl<W: io::Write> FastImport<W> {
    fn commit(&mut self, who: (&str, &str), ts: u64, message: &str) -> io::Result<()> {
        let (name, email) = who;
        write!(
            self.out,
            "commit refs/heads/main\nauthor {name} <{email}> {ts} +0000\ncommitter {name} <{email}> {ts} +0000\ndata {}\n{message}\n",
            message.len()
        )
    }

    fn file(&mut self, path: &str, content: &str) -> io::Result<()> {
        self.bytes += content.len() as u64;
        write!(
            self.out,
            "M 100644 inline {path}\ndata {}\n{content}\n",
            content.len()
        )
    }
}

/// A generated repository.
struct Generated {
    repo: PathBuf,
    apps: usize,
    commits: usize,
    files: usize,
    tip_bytes: u64,
    pack_bytes: u64,
    /// Seconds it took (fast-import, repack), `None` when it came from the cache.
    generated_in: Option<(f64, f64)>,
}

fn pack_size(objects: &Path) -> u64 {
    std::fs::read_dir(objects.join("pack"))
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter(|e| e.path().extension().is_some_and(|x| x == "pack"))
                .filter_map(|e| e.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

/// The repository summary saved next to a cached repository: `files tip_bytes`.
fn read_summary(path: &Path) -> Option<(usize, u64)> {
    let text = std::fs::read_to_string(path).ok()?;
    let mut it = text.split_whitespace();
    Some((it.next()?.parse().ok()?, it.next()?.parse().ok()?))
}

fn generate(cache: &Path, apps: usize, commits: usize) -> io::Result<Generated> {
    let dir = cache.join(format!("apps{apps}-commits{commits}-g{GEN_VERSION}"));
    let repo = dir.join("origin.git");
    let summary = dir.join("summary");
    if let Some((files, tip_bytes)) = read_summary(&summary) {
        return Ok(Generated {
            pack_bytes: pack_size(&repo.join("objects")),
            repo,
            apps,
            commits,
            files,
            tip_bytes,
            generated_in: None,
        });
    }
    if dir.exists() {
        std::fs::remove_dir_all(&dir)?;
    }
    std::fs::create_dir_all(&dir)?;
    eprintln!(
        "generating {apps} apps × 3 environments, {commits} commits in {} ...",
        dir.display()
    );
    let started = Instant::now();
    git_ok(&dir, &["init", "-q", "--bare", "-b", "main", "origin.git"])?;
    let mut child = git(&repo)
        .args(["fast-import", "--quiet", "--done"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()?;
    let stdin = child.stdin.take().expect("piped stdin");
    let mut fi = FastImport {
        out: BufWriter::with_capacity(1 << 20, stdin),
        bytes: 0,
    };
    let mut r = Rng::new(0xFE22_0000 + apps as u64);
    let mut state: Vec<[State; 3]> = (0..apps)
        .map(|_| {
            let minor = r.range(0, 30) as u32;
            let patch = r.range(0, 20) as u32;
            let replicas = r.range(1, 6);
            [State {
                minor,
                patch,
                replicas,
            }; 3]
        })
        .collect();
    let mut ts: u64 = 1_672_531_200; // 2023-01-01
    let bot = ("ferry[bot]", "ferry-bot@users.noreply.acme.io");
    let people = [
        ("Ada Lovelace", "ada@acme.io"),
        ("Grace Hopper", "grace@acme.io"),
        ("Ken Thompson", "ken@acme.io"),
        ("Barbara Liskov", "barbara@acme.io"),
    ];
    // The initial import: every file.
    fi.commit(people[0], ts, "Import the environments")?;
    fi.file("ferry.yaml", FERRY_YAML)?;
    fi.file(
        "README.md",
        "# Environments\n\nManifests for every app, one directory per environment; changed by CI through `ferry bump`.\n",
    )?;
    let mut files = 2;
    for (i, st) in state.iter().enumerate() {
        for (env, s) in st.iter().enumerate() {
            let d = app_dir(i, env);
            fi.file(
                &format!("{d}/kustomization.yaml"),
                &kustomization(i, env, &s.tag()),
            )?;
            fi.file(
                &format!("{d}/deployment.yaml"),
                &deployment(i, env, s.replicas, apps),
            )?;
            files += 2;
            if has_service(i) {
                fi.file(&format!("{d}/service.yaml"), &service(i, env))?;
                files += 1;
            }
        }
    }
    let hot = (apps / 10).max(1);
    for _ in 1..commits {
        ts += r.range(600, 7200) as u64;
        let i = if r.chance(0.7) {
            r.below(hot)
        } else {
            r.below(apps)
        };
        let app = app_name(i);
        let who = if r.chance(0.85) {
            bot
        } else {
            people[r.below(people.len())]
        };
        let kind = r.below(100);
        if kind < 85 {
            // A tag bump in one environment, sometimes two.
            let env = match r.below(10) {
                0..=5 => 0,
                6..=8 => 2,
                _ => 1,
            };
            let also_qa = env == 0 && kind >= 75;
            let s = &mut state[i][env];
            s.patch += 1;
            if r.chance(0.1) {
                s.minor += 1;
                s.patch = 0;
            }
            let tag = s.tag();
            let label = if also_qa { "staging, qa" } else { ENVS[env] };
            fi.commit(who, ts, &format!("{label}: bump {} to {tag}", image(i)))?;
            fi.file(
                &format!("{}/kustomization.yaml", app_dir(i, env)),
                &kustomization(i, env, &tag),
            )?;
            if also_qa {
                let s = state[i][0];
                state[i][2].minor = s.minor;
                state[i][2].patch = s.patch;
                fi.file(
                    &format!("{}/kustomization.yaml", app_dir(i, 2)),
                    &kustomization(i, 2, &tag),
                )?;
            }
        } else if kind < 95 {
            // Promotion: production takes staging's tag.
            let s = state[i][0];
            state[i][1].minor = s.minor;
            state[i][1].patch = s.patch;
            fi.commit(
                who,
                ts,
                &format!("production: promote {app} to {} from staging", s.tag()),
            )?;
            fi.file(
                &format!("{}/kustomization.yaml", app_dir(i, 1)),
                &kustomization(i, 1, &s.tag()),
            )?;
        } else {
            let env = r.below(3);
            let replicas = r.range(1, 12);
            state[i][env].replicas = replicas;
            fi.commit(
                people[r.below(people.len())],
                ts,
                &format!("{}: scale {app} to {replicas} replicas", ENVS[env]),
            )?;
            fi.file(
                &format!("{}/deployment.yaml", app_dir(i, env)),
                &deployment(i, env, replicas, apps),
            )?;
        }
        fi.out.write_all(b"\n")?;
    }
    fi.out.write_all(b"done\n")?;
    fi.out.flush()?;
    drop(fi.out);
    let status = child.wait()?;
    if !status.success() {
        return Err(io::Error::other(format!(
            "git fast-import failed: {status}"
        )));
    }
    let imported = started.elapsed().as_secs_f64();
    let started = Instant::now();
    git_ok(&repo, &["repack", "-a", "-d", "-f", "-b", "-q"])?;
    let repacked = started.elapsed().as_secs_f64();
    // Bytes of the tip's tree, for the summary.
    let listing = git_out(&repo, &["ls-tree", "-r", "-l", "main"])?;
    let mut tip_files = 0;
    let mut tip_bytes = 0u64;
    for line in listing.lines() {
        tip_files += 1;
        if let Some(size) = line.split_whitespace().nth(3) {
            tip_bytes += size.parse::<u64>().unwrap_or(0);
        }
    }
    assert_eq!(tip_files, files, "the tip holds every generated file");
    std::fs::write(&summary, format!("{files} {tip_bytes}\n"))?;
    Ok(Generated {
        pack_bytes: pack_size(&repo.join("objects")),
        repo,
        apps,
        commits,
        files,
        tip_bytes,
        generated_in: Some((imported, repacked)),
    })
}

// ---------------------------------------------------------------------------------------------
// Processes

/// A `git` command run in `dir`, isolated from the caller's configuration.
fn git(dir: &Path) -> Command {
    let mut cmd = Command::new("git");
    isolate(&mut cmd, None);
    cmd.current_dir(dir).stdin(Stdio::null());
    cmd
}

fn git_out(dir: &Path, args: &[&str]) -> io::Result<String> {
    let out = git(dir).args(args).stderr(Stdio::piped()).output()?;
    if !out.status.success() {
        return Err(io::Error::other(format!(
            "git {args:?} in {}: {}",
            dir.display(),
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn git_ok(dir: &Path, args: &[&str]) -> io::Result<()> {
    git_out(dir, args).map(drop)
}

/// A clean environment: `PATH`, a `HOME` without configuration (libgit2 reads `~/.gitconfig`),
/// no global or system git configuration, no CI variables (ferry would read run numbers and
/// write CI outputs), no prompts, fixed identity for the git CLI.
fn isolate(cmd: &mut Command, home: Option<&Path>) {
    cmd.env_clear();
    for key in ["PATH", "TMPDIR"] {
        if let Some(v) = std::env::var_os(key) {
            cmd.env(key, v);
        }
    }
    if let Some(home) = home {
        cmd.env("HOME", home);
    }
    cmd.env("LC_ALL", "C")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_EDITOR", "true")
        .env("GIT_AUTHOR_NAME", "CI job")
        .env("GIT_AUTHOR_EMAIL", "ci@acme.io")
        .env("GIT_COMMITTER_NAME", "CI job")
        .env("GIT_COMMITTER_EMAIL", "ci@acme.io");
}

/// CPU time of this process and its reaped children (`utime + stime + cutime + cstime` of
/// `/proc/self/stat`): the server (its connection threads here, its `git http-backend` children)
/// and the measured clients.
fn our_cpu(ticks_per_s: u64) -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let rest = stat.rsplit_once(") ").map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // Fields 14 to 17 of proc_pid_stat(5); `rest` starts at field 3.
    let ticks: u64 = (11..=14)
        .filter_map(|k| fields.get(k).and_then(|f| f.parse::<u64>().ok()))
        .sum();
    Duration::from_millis(ticks * 1000 / ticks_per_s.max(1))
}

/// CPU time the whole machine spent busy (`/proc/stat`: user, nice, system, irq, softirq,
/// steal), to tell how much other processes took during a measurement.
fn machine_busy(ticks_per_s: u64) -> Duration {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let fields: Vec<u64> = stat
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .skip(1)
        .filter_map(|f| f.parse().ok())
        .collect();
    let ticks: u64 = [0, 1, 2, 5, 6, 7]
        .iter()
        .filter_map(|&k| fields.get(k))
        .sum();
    Duration::from_millis(ticks * 1000 / ticks_per_s.max(1))
}

/// CPU counters at the start of a measurement.
struct Meter {
    ours: Duration,
    machine: Duration,
    ticks: u64,
}

impl Meter {
    fn start(ticks: u64) -> Meter {
        Meter {
            ours: our_cpu(ticks),
            machine: machine_busy(ticks),
            ticks,
        }
    }

    /// (server CPU, other processes' CPU) since the start, given the clients' CPU time. Waits
    /// a moment first, so that the server has reaped its last backend.
    fn stop(&self, clients: Duration) -> (Duration, Duration) {
        std::thread::sleep(Duration::from_millis(100));
        let ours = our_cpu(self.ticks).saturating_sub(self.ours);
        let machine = machine_busy(self.ticks).saturating_sub(self.machine);
        (ours.saturating_sub(clients), machine.saturating_sub(ours))
    }
}

/// A child started with its output going to files.
struct Started {
    child: Child,
    started: Instant,
    out: PathBuf,
    err: PathBuf,
}

fn start(cmd: &mut Command, logs: &Path, name: &str) -> io::Result<Started> {
    let out = logs.join(format!("{name}.out"));
    let err = logs.join(format!("{name}.err"));
    let (o, e) = (File::create(&out)?, File::create(&err)?);
    let started = Instant::now();
    let child = cmd.stdin(Stdio::null()).stdout(o).stderr(e).spawn()?;
    Ok(Started {
        child,
        started,
        out,
        err,
    })
}

#[allow(
    clippy::zombie_processes,
    reason = "the child is reaped by wait4, which std's Child cannot do"
)]
fn finish(s: &Started) -> io::Result<Run> {
    let (status, usage) = wait4(s.child.id() as libc::pid_t)?;
    let wall = s.started.elapsed();
    let exit = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        -libc::WTERMSIG(status)
    };
    Ok(Run {
        wall,
        cpu: timeval(usage.ru_utime) + timeval(usage.ru_stime),
        max_rss_kib: usage.ru_maxrss as u64,
        exit,
        stdout: std::fs::read_to_string(&s.out).unwrap_or_default(),
        stderr: std::fs::read_to_string(&s.err).unwrap_or_default(),
    })
}

/// Runs the commands at once; returns the batch's wall time and each run.
fn run_batch(cmds: &mut [Command], logs: &Path) -> io::Result<(Duration, Vec<Run>)> {
    let t0 = Instant::now();
    let mut started = Vec::with_capacity(cmds.len());
    for (k, cmd) in cmds.iter_mut().enumerate() {
        started.push(start(cmd, logs, &format!("batch-{k}"))?);
    }
    let runs = std::thread::scope(|scope| {
        let handles: Vec<_> = started
            .into_iter()
            .map(|s| scope.spawn(move || finish(&s)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("waiter thread"))
            .collect::<io::Result<Vec<Run>>>()
    })?;
    Ok((t0.elapsed(), runs))
}

// ---------------------------------------------------------------------------------------------
// Scenarios

/// The scripts, run with `sh -c` and the variables `URL`, `DIR` (the app's directory in the
/// environment), `APP`, `TAG`.
const SCRIPT_DEPTH1_FLOOR: &str = r#"set -eu
git init -q --bare repo && cd repo
git fetch -q --depth 1 "$URL" +refs/heads/main:refs/heads/main
old=$(git rev-parse main)
path="$DIR/kustomization.yaml"
child=$(git cat-file blob "main:$path" | sed "s/newTag: .*/newTag: $TAG/" | git hash-object -w --stdin)
while [ -n "$path" ]; do
  name=${path##*/}
  case $path in */*) parent=${path%/*} ;; *) parent= ;; esac
  child=$(git ls-tree "main:$parent" | awk -F '\t' -v n="$name" -v o="$child" 'BEGIN { OFS = "\t" } $2 == n { split($1, a, " "); $1 = a[1] " " a[2] " " o } { print }' | git mktree)
  path=$parent
done
commit=$(git commit-tree "$child" -p "$old" -m "staging: bump $APP to $TAG")
git push -q "$URL" "$commit:refs/heads/main"
"#;

const SCRIPT_BLOBLESS_FLOOR: &str = r#"set -eu
git init -q --bare repo && cd repo
git remote add origin "$URL"
git fetch -q --filter=blob:none --depth 1 origin +refs/heads/main:refs/heads/main
old=$(git rev-parse main)
path="$DIR/kustomization.yaml"
child=$(git cat-file blob "main:$path" | sed "s/newTag: .*/newTag: $TAG/" | git hash-object -w --stdin)
while [ -n "$path" ]; do
  name=${path##*/}
  case $path in */*) parent=${path%/*} ;; *) parent= ;; esac
  child=$(git ls-tree "main:$parent" | awk -F '\t' -v n="$name" -v o="$child" 'BEGIN { OFS = "\t" } $2 == n { split($1, a, " "); $1 = a[1] " " a[2] " " o } { print }' | git mktree --missing)
  path=$parent
done
commit=$(git commit-tree "$child" -p "$old" -m "staging: bump $APP to $TAG")
git push -q origin "$commit:refs/heads/main"
"#;

const SCRIPT_FULL_CLONE: &str = r#"set -eu
git clone -q "$URL" work && cd work
sed -i "s/newTag: .*/newTag: $TAG/" "$DIR/kustomization.yaml"
git commit -q -am "staging: bump $APP to $TAG"
git push -q origin HEAD:main
"#;

const SCRIPT_SHALLOW: &str = r#"set -eu
git clone -q --depth 1 "$URL" work && cd work
sed -i "s/newTag: .*/newTag: $TAG/" "$DIR/kustomization.yaml"
git commit -q -am "staging: bump $APP to $TAG"
pushes=1
until git push -q origin HEAD:main; do
  [ "$pushes" -lt 10 ] || exit 1
  pushes=$((pushes + 1))
  git pull -q --rebase origin main
done
"#;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Scenario {
    FerryEnv,
    FerryApp,
    Depth1Floor,
    BloblessFloor,
    FullClone,
    Shallow,
}

const SCENARIOS: [Scenario; 6] = [
    Scenario::FerryEnv,
    Scenario::FerryApp,
    Scenario::Depth1Floor,
    Scenario::BloblessFloor,
    Scenario::FullClone,
    Scenario::Shallow,
];

impl Scenario {
    fn label(self) -> &'static str {
        match self {
            Scenario::FerryEnv => "ferry bump --path envs/staging",
            Scenario::FerryApp => "ferry bump --path envs/staging/<app>",
            Scenario::Depth1Floor => "depth-1 floor (git CLI plumbing)",
            Scenario::BloblessFloor => "blobless floor (--filter=blob:none --depth 1)",
            Scenario::FullClone => "full-clone script",
            Scenario::Shallow => "shallow script (pull --rebase retries)",
        }
    }

    fn script(self) -> Option<&'static str> {
        match self {
            Scenario::FerryEnv | Scenario::FerryApp => None,
            Scenario::Depth1Floor => Some(SCRIPT_DEPTH1_FLOOR),
            Scenario::BloblessFloor => Some(SCRIPT_BLOBLESS_FLOOR),
            Scenario::FullClone => Some(SCRIPT_FULL_CLONE),
            Scenario::Shallow => Some(SCRIPT_SHALLOW),
        }
    }
}

/// Everything a scenario run needs.
struct Ctx {
    url: String,
    served: PathBuf,
    tip: String,
    home: PathBuf,
    ticks: u64,
}

/// One bump: which app, which tag.
struct Bump {
    app: usize,
    tag: String,
}

fn ferry_cmd(ctx: &Ctx, path: &str, bump: &Bump, extra: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ferry"));
    isolate(&mut cmd, Some(&ctx.home));
    cmd.args(["bump", "--repo", &ctx.url, "--path", path])
        .arg(format!("{}={}", image(bump.app), bump.tag))
        .args(extra);
    cmd
}

fn script_cmd(ctx: &Ctx, script: &str, bump: &Bump, work: &Path) -> Command {
    let mut cmd = Command::new("sh");
    isolate(&mut cmd, Some(&ctx.home));
    cmd.arg("-c")
        .arg(script)
        .env("URL", &ctx.url)
        .env("DIR", app_dir(bump.app, 0))
        .env("APP", app_name(bump.app))
        .env("TAG", &bump.tag)
        .current_dir(work);
    cmd
}

fn command_for(ctx: &Ctx, scenario: Scenario, bump: &Bump, work: &Path) -> Command {
    match scenario {
        Scenario::FerryEnv => ferry_cmd(ctx, "envs/staging", bump, &["-q"]),
        Scenario::FerryApp => ferry_cmd(ctx, &app_dir(bump.app, 0), bump, &["-q"]),
        s => script_cmd(ctx, s.script().expect("a script scenario"), bump, work),
    }
}

fn reset(ctx: &Ctx) -> io::Result<()> {
    git_ok(&ctx.served, &["update-ref", "refs/heads/main", &ctx.tip])
}

fn tip_of(ctx: &Ctx) -> io::Result<String> {
    Ok(git_out(&ctx.served, &["rev-parse", "main"])?
        .trim()
        .to_owned())
}

/// The tag `newTag:` of the app's staging kustomization on `main`.
fn staging_tag(ctx: &Ctx, app: usize) -> io::Result<Option<String>> {
    let text = git_out(
        &ctx.served,
        &[
            "cat-file",
            "blob",
            &format!("main:{}/kustomization.yaml", app_dir(app, 0)),
        ],
    )?;
    Ok(text
        .lines()
        .find_map(|l| l.trim().strip_prefix("newTag: "))
        .map(str::to_owned))
}

/// Checks that exactly one commit was pushed on the generated tip, changing exactly the app's
/// staging kustomization to the new tag.
fn check_pushed(ctx: &Ctx, bump: &Bump, run: &Run, what: &str) -> io::Result<()> {
    let fail = |why: String| {
        io::Error::other(format!(
            "{what}: {why}\nexit {}\nstdout:\n{}\nstderr:\n{}",
            run.exit, run.stdout, run.stderr
        ))
    };
    if run.exit != 0 {
        return Err(fail("failed".to_owned()));
    }
    let tip = tip_of(ctx)?;
    let parent = git_out(&ctx.served, &["rev-parse", &format!("{tip}^")])?;
    if parent.trim() != ctx.tip {
        return Err(fail(format!(
            "the new tip {tip} is not one commit on the generated tip"
        )));
    }
    let changed = git_out(
        &ctx.served,
        &["diff-tree", "--name-only", "-r", &ctx.tip, &tip],
    )?;
    let expected = format!("{}/kustomization.yaml", app_dir(bump.app, 0));
    if changed.trim() != expected {
        return Err(fail(format!(
            "the commit changed {changed:?}, not only {expected}"
        )));
    }
    if staging_tag(ctx, bump.app)?.as_deref() != Some(bump.tag.as_str()) {
        return Err(fail(format!("{expected} does not hold {}", bump.tag)));
    }
    Ok(())
}

/// Per scenario: the timed runs, and a measurement of one run's data.
#[derive(Default)]
struct Series {
    runs: Vec<Run>,
    server_cpu: Vec<Duration>,
}

impl Series {
    fn walls(&self) -> Vec<Duration> {
        self.runs.iter().map(|r| r.wall).collect()
    }
    fn median_wall(&self) -> Duration {
        median(self.walls())
    }
    fn median_cpu(&self) -> Duration {
        median(self.runs.iter().map(|r| r.cpu).collect())
    }
    fn median_server_cpu(&self) -> Duration {
        median(self.server_cpu.clone())
    }
    fn max_rss_mb(&self) -> f64 {
        self.runs.iter().map(|r| r.max_rss_kib).max().unwrap_or(0) as f64 * 1024.0 / 1e6
    }
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

/// Runs one scenario once, measured, and checks its push. Returns the run and the server's CPU
/// time during it, and leaves `work` (the script's directory) for inspection.
fn run_once(
    ctx: &Ctx,
    scenario: Scenario,
    bump: &Bump,
    scratch: &Path,
) -> io::Result<(Run, Duration, Duration, PathBuf)> {
    reset(ctx)?;
    let work = tempfile::Builder::new()
        .prefix("ferry-bench-bump-")
        .tempdir()?
        .keep();
    let mut cmd = command_for(ctx, scenario, bump, &work);
    let meter = Meter::start(ctx.ticks);
    let run = finish(&start(&mut cmd, scratch, "run")?)?;
    let (server, foreign) = meter.stop(run.cpu);
    check_pushed(ctx, bump, &run, scenario.label())?;
    Ok((run, server, foreign, work))
}

/// Removes the client directories of the runs so far, then waits for the file system to settle:
/// on this kind of machine (ext4 mounted with `discard`) deleting a checkout of 100,000 files
/// slows every file operation for a while, and the next runs must not pay for it.
fn settle(trash: &mut Vec<PathBuf>) -> io::Result<()> {
    for dir in trash.drain(..) {
        std::fs::remove_dir_all(&dir)?;
    }
    Command::new("sync").status()?;
    std::thread::sleep(Duration::from_secs(3));
    Ok(())
}

/// Size of the pack files below `dir`, recursively.
fn packs_below(dir: &Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.filter_map(Result::ok) {
            let p = e.path();
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "pack") {
                total += e.metadata().map_or(0, |m| m.len());
            }
        }
    }
    total
}

/// Ferry's phases from the timestamps of a `--output json -v` run.
fn phases(ctx: &Ctx, bump: &Bump, scratch: &Path) -> io::Result<String> {
    reset(ctx)?;
    let mut cmd = ferry_cmd(ctx, "envs/staging", bump, &["--output", "json", "-v"]);
    let spawned = seconds_of_day(SystemTime::now());
    let run = finish(&start(&mut cmd, scratch, "phases")?)?;
    check_pushed(ctx, bump, &run, "ferry --output json -v")?;
    let mut marks = vec![("start".to_owned(), 0.0)];
    for line in run.stderr.lines() {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        let (Some(ts), Some(msg)) = (
            v.get("timestamp").and_then(|t| t.as_str()),
            v.get("message").and_then(|m| m.as_str()),
        ) else {
            continue;
        };
        if let Some(t) = parse_time_of_day(ts) {
            marks.push((msg.to_owned(), (t - spawned + 86_400.0) % 86_400.0));
        }
    }
    marks.push(("exit".to_owned(), secs(run.wall)));
    let mut text = String::new();
    for w in marks.windows(2) {
        let _ = write!(
            text,
            "{} → {}: {:.0} ms; ",
            w[0].0,
            w[1].0,
            (w[1].1 - w[0].1) * 1e3
        );
    }
    let _ = write!(
        text,
        "total {:.0} ms, CPU {:.0} ms, peak RSS {:.1} MB",
        secs(run.wall) * 1e3,
        secs(run.cpu) * 1e3,
        run.max_rss_kib as f64 * 1024.0 / 1e6
    );
    Ok(text)
}

fn seconds_of_day(t: SystemTime) -> f64 {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    (d.as_secs() % 86_400) as f64 + f64::from(d.subsec_nanos()) / 1e9
}

/// `…THH:MM:SS.ffffffZ` → seconds of the day (UTC).
fn parse_time_of_day(ts: &str) -> Option<f64> {
    let time = ts.split_once('T')?.1.trim_end_matches('Z');
    let mut it = time.split(':');
    let h: f64 = it.next()?.parse().ok()?;
    let m: f64 = it.next()?.parse().ok()?;
    let s: f64 = it.next()?.parse().ok()?;
    Some(h * 3600.0 + m * 60.0 + s)
}

/// A concurrency batch's outcome.
struct Batch {
    what: String,
    apps: usize,
    n: usize,
    landed: usize,
    lost: usize,
    wall: Duration,
    lone: Option<Duration>,
    /// The batch's CPU time at best divided by the cores: n × a lone bump's client and server
    /// CPU time / cores.
    cpu_bound: Option<Duration>,
    /// Checked against the targets.
    checked: bool,
    exits: String,
    attempts: String,
    commits: usize,
    client_cpu: Duration,
    server_cpu: Duration,
    /// CPU time other processes on the machine took during the batch.
    foreign_cpu: Duration,
}

/// One concurrency batch to run.
struct BatchSpec<'a> {
    what: &'a str,
    scenario: Scenario,
    /// More ferry arguments.
    extra: &'a [&'a str],
    n: usize,
    /// Makes the tags unique across batches.
    round: usize,
}

fn batch(
    ctx: &Ctx,
    gen_apps: usize,
    spec: &BatchSpec<'_>,
    scratch: &Path,
    trash: &mut Vec<PathBuf>,
) -> io::Result<Batch> {
    let BatchSpec {
        what,
        scenario,
        extra,
        n,
        round,
    } = *spec;
    reset(ctx)?;
    let bumps: Vec<Bump> = (0..n)
        .map(|k| Bump {
            app: (k * gen_apps / n + 11) % gen_apps,
            tag: format!("3.{round}.{k}"),
        })
        .collect();
    let mut works = Vec::new();
    let mut cmds: Vec<Command> = bumps
        .iter()
        .map(|b| {
            let work = tempfile::Builder::new()
                .prefix("ferry-bench-bump-")
                .tempdir()?
                .keep();
            let cmd = match scenario {
                Scenario::FerryEnv => {
                    let mut cmd = ferry_cmd(ctx, "envs/staging", b, &["--output", "json"]);
                    cmd.args(extra);
                    cmd
                }
                s => command_for(ctx, s, b, &work),
            };
            works.push(work);
            Ok(cmd)
        })
        .collect::<io::Result<_>>()?;
    let logs = scratch.join(format!("batch-{round}"));
    std::fs::create_dir_all(&logs)?;
    let meter = Meter::start(ctx.ticks);
    let (wall, runs) = run_batch(&mut cmds, &logs)?;
    let client_cpu: Duration = runs.iter().map(|r| r.cpu).sum();
    let (server_cpu, foreign_cpu) = meter.stop(client_cpu);
    let mut landed = 0;
    let mut lost = 0;
    let mut exits = std::collections::BTreeMap::<i32, usize>::new();
    let mut attempts = Vec::new();
    for (b, r) in bumps.iter().zip(&runs) {
        *exits.entry(r.exit).or_default() += 1;
        let holds = staging_tag(ctx, b.app)?.as_deref() == Some(b.tag.as_str());
        if r.exit == 0 && holds {
            landed += 1;
        } else if r.exit == 0 {
            lost += 1;
        }
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(&r.stdout)
            && let Some(a) = v.get("attempts").and_then(serde_json::Value::as_u64)
        {
            attempts.push(a);
        }
    }
    let commits = git_out(
        &ctx.served,
        &["rev-list", "--count", &format!("{}..main", ctx.tip)],
    )?
    .trim()
    .parse()
    .unwrap_or(0);
    trash.extend(works);
    let exits = exits
        .iter()
        .map(|(code, count)| format!("exit {code}: {count}"))
        .collect::<Vec<_>>()
        .join(", ");
    let attempts = if attempts.is_empty() {
        "–".to_owned()
    } else {
        let mean = attempts.iter().sum::<u64>() as f64 / attempts.len() as f64;
        format!(
            "mean {mean:.1}, max {}",
            attempts.iter().max().copied().unwrap_or(0)
        )
    };
    // Failed runs: keep one stderr for the report.
    if let Some(r) = runs.iter().find(|r| r.exit != 0) {
        let tail: Vec<&str> = r.stderr.lines().rev().take(4).collect();
        eprintln!(
            "  ({what}: one failed run's stderr, last lines: {})",
            tail.into_iter().rev().collect::<Vec<_>>().join(" | ")
        );
    }
    Ok(Batch {
        what: what.to_owned(),
        apps: gen_apps,
        n,
        landed,
        lost,
        wall,
        lone: None,
        cpu_bound: None,
        checked: false,
        exits,
        attempts,
        commits,
        client_cpu,
        server_cpu,
        foreign_cpu,
    })
}

// ---------------------------------------------------------------------------------------------
// Main

struct SizeResult {
    generated: Generated,
    series: Vec<(Scenario, Series)>,
    fetch_pack: u64,
    blobless_pack: u64,
    phases: String,
    /// The share of the machine's CPU time other processes took during the timed runs.
    foreign_share: f64,
}

impl SizeResult {
    fn series(&self, s: Scenario) -> &Series {
        &self
            .series
            .iter()
            .find(|(k, _)| *k == s)
            .expect("every scenario ran")
            .1
    }
}

fn pass(ok: bool) -> &'static str {
    if ok { "PASS" } else { "FAIL" }
}

fn mb(bytes: u64) -> f64 {
    bytes as f64 / 1e6
}

fn thousands(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (k, c) in s.chars().enumerate() {
        if k > 0 && (s.len() - k).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn main() -> io::Result<()> {
    let quick = std::env::var_os("FERRY_BENCH_QUICK").is_some_and(|v| v == "1")
        || std::env::args().any(|a| a == "--quick");
    let sizes = if quick {
        env_list("FERRY_BENCH_APPS", &[2_000])
    } else {
        env_list("FERRY_BENCH_APPS", &[2_000, 20_000])
    };
    let runs = env_list("FERRY_BENCH_RUNS", &[if quick { 3 } else { 5 }])
        .first()
        .copied()
        .unwrap_or(5)
        .max(1);
    let batch_repeat = env_list("FERRY_BENCH_BATCH_REPEAT", &[if quick { 1 } else { 3 }])
        .first()
        .copied()
        .unwrap_or(3)
        .max(1);
    let commits = env_list("FERRY_BENCH_COMMITS", &[5_000])
        .first()
        .copied()
        .unwrap_or(5_000)
        .max(1);
    let ticks = git_ok_or(Command::new("getconf").arg("CLK_TCK"), 100);
    let ferry_bin = Path::new(env!("CARGO_BIN_EXE_ferry"));
    let target = ferry_bin
        .parent()
        .and_then(Path::parent)
        .unwrap_or_else(|| Path::new("target"));
    let cache = target.join("bench-bump");
    std::fs::create_dir_all(&cache)?;
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let git_version = git_out(Path::new("."), &["--version"])?.trim().to_owned();
    let load_before = load_average();
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let commit = git_out(
        manifest,
        &["describe", "--always", "--dirty", "--exclude", "*"],
    )
    .map_or_else(|_| "unknown".to_owned(), |c| c.trim().to_owned());
    let mut header = String::new();
    let _ = writeln!(header, "# ferry bump benchmark\n");
    let _ = writeln!(
        header,
        "- command: `{}cargo bench --bench bump`; ferry at commit {commit}, binary {}",
        if quick { "FERRY_BENCH_QUICK=1 " } else { "" },
        ferry_bin.display()
    );
    let _ = writeln!(
        header,
        "- machine: {cores} cores, {}; {git_version}; load average {load_before} before",
        cpu_model()
    );
    let _ = writeln!(
        header,
        "- {runs} timed runs per scenario after one warm-up, interleaved; medians; the server (`git http-backend` over HTTP/1.1 on 127.0.0.1) shares the machine"
    );
    print!("{header}");

    // Directories a killed run left behind.
    for entry in std::fs::read_dir(&cache)?.filter_map(Result::ok) {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with("serve-") || name.starts_with("scratch-") {
            std::fs::remove_dir_all(entry.path())?;
        }
    }
    // One served root for the whole run: hard-linked copies of the cached repositories.
    let serve_root = tempfile::Builder::new()
        .prefix("serve-")
        .tempdir_in(&cache)?;
    let scratch = tempfile::Builder::new()
        .prefix("scratch-")
        .tempdir_in(&cache)?;
    let home = scratch.path().join("home");
    std::fs::create_dir_all(&home)?;
    let server = GitServer::start(serve_root.path());
    if std::env::var_os("FERRY_BENCH_SERVE").is_some_and(|v| v == "1") {
        // For profiling by hand: serve the repositories and wait.
        for &apps in &sizes {
            let generated = generate(&cache, apps, commits)?;
            let name = format!("env-{apps}.git");
            serve_copy(&generated.repo, &serve_root.path().join(&name))?;
            println!(
                "serving {} ({} apps, tip {})",
                server.url(&name),
                apps,
                git_out(&generated.repo, &["rev-parse", "main"])?.trim()
            );
        }
        println!(
            "(example bump: {} bump --repo URL --path envs/staging {}=2.0.1)",
            env!("CARGO_BIN_EXE_ferry"),
            image(1)
        );
        loop {
            std::thread::sleep(Duration::from_secs(3600));
        }
    }

    let mut results: Vec<SizeResult> = Vec::new();
    let mut batches: Vec<Batch> = Vec::new();
    let mut counter = 0usize;
    let mut trash: Vec<PathBuf> = Vec::new();
    let smallest = sizes.iter().copied().min().unwrap_or(0);
    for &apps in &sizes {
        let generated = generate(&cache, apps, commits)?;
        let name = format!("env-{apps}.git");
        let served = serve_copy(&generated.repo, &serve_root.path().join(&name))?;
        let tip = git_out(&served, &["rev-parse", "main"])?.trim().to_owned();
        let ctx = Ctx {
            url: server.url(&name),
            served,
            tip,
            home: home.clone(),
            ticks,
        };
        let gen_text = match generated.generated_in {
            Some((imported, repacked)) => {
                format!(
                    "generated in {imported:.1} s (fast-import) + {repacked:.1} s (repack -adf)"
                )
            }
            None => "from the cache".to_owned(),
        };
        println!(
            "\n{} apps: {} files ({:.1} MB at the tip), {} commits, pack {:.1} MB; {gen_text}",
            thousands(apps),
            thousands(generated.files),
            mb(generated.tip_bytes),
            thousands(generated.commits),
            mb(generated.pack_bytes)
        );

        // The bumped app: the same for every scenario and run; one new tag per run.
        let app = apps / 2 + 1;
        let mut next_bump = || {
            counter += 1;
            Bump {
                app,
                tag: format!("2.0.{counter}"),
            }
        };
        let mut series: Vec<(Scenario, Series)> =
            SCENARIOS.iter().map(|&s| (s, Series::default())).collect();
        let mut fetch_pack = 0;
        let mut timed_wall = Duration::ZERO;
        let mut foreign_cpu = Duration::ZERO;
        let mut blobless_pack = 0;
        for round in 0..=runs {
            for (scenario, s) in &mut series {
                let bump = next_bump();
                let (run, server_cpu, foreign, work) =
                    run_once(&ctx, *scenario, &bump, scratch.path())?;
                if round == 0 {
                    match scenario {
                        Scenario::Depth1Floor => fetch_pack = packs_below(&work),
                        Scenario::BloblessFloor => blobless_pack = packs_below(&work),
                        _ => {}
                    }
                } else {
                    timed_wall += run.wall;
                    foreign_cpu += foreign;
                    s.runs.push(run);
                    s.server_cpu.push(server_cpu);
                }
                trash.push(work);
            }
            eprintln!(
                "  {} apps: {}",
                thousands(apps),
                if round == 0 {
                    "warm-up done".to_owned()
                } else {
                    format!("run {round}/{runs} done")
                }
            );
        }
        let phases = phases(&ctx, &next_bump(), scratch.path())?;
        settle(&mut trash)?;
        let result = SizeResult {
            generated,
            series,
            fetch_pack,
            blobless_pack,
            phases,
            foreign_share: secs(foreign_cpu) / (secs(timed_wall) * cores as f64).max(1e-9),
        };
        println!("{}", size_table(&result));

        // Concurrency: every batch on the same branch, each process another app.
        let lone = result.series(Scenario::FerryEnv);
        let lone_wall = lone.median_wall();
        // What the batch costs at best on this machine: every process's first fetch, client and
        // server, shares the same cores.
        let cpu_bound =
            |n: usize| (lone.median_cpu() + lone.median_server_cpu()) * n as u32 / cores as u32;
        let mut specs: Vec<(BatchSpec<'_>, bool)> = Vec::new();
        if apps == smallest {
            let n = FERRY_BATCH_SMALL;
            specs.push((
                BatchSpec {
                    what: "ferry bump",
                    scenario: Scenario::FerryEnv,
                    extra: &[],
                    n,
                    round: 0,
                },
                true,
            ));
            specs.push((
                BatchSpec {
                    what: "ferry bump --attempts 32",
                    scenario: Scenario::FerryEnv,
                    extra: &["--attempts", "32"],
                    n,
                    round: 0,
                },
                false,
            ));
            specs.push((
                BatchSpec {
                    what: "full-clone script (1 push)",
                    scenario: Scenario::FullClone,
                    extra: &[],
                    n,
                    round: 0,
                },
                false,
            ));
            specs.push((
                BatchSpec {
                    what: "shallow script (≤ 10 pushes)",
                    scenario: Scenario::Shallow,
                    extra: &[],
                    n,
                    round: 0,
                },
                false,
            ));
        }
        if apps >= LARGE_BATCH_APPS {
            specs.push((
                BatchSpec {
                    what: "ferry bump",
                    scenario: Scenario::FerryEnv,
                    extra: &[],
                    n: FERRY_BATCH_LARGE,
                    round: 0,
                },
                true,
            ));
        }
        for (mut spec, checked) in specs {
            // The checked batches are repeated: how many land varies from one batch to the next.
            let times = if checked { batch_repeat } else { 1 };
            for k in 1..=times {
                spec.round = batches.len();
                eprintln!(
                    "  {} apps: {} concurrent {} ({k}/{times}) ...",
                    thousands(apps),
                    spec.n,
                    spec.what
                );
                let mut b = batch(&ctx, apps, &spec, scratch.path(), &mut trash)?;
                if spec.scenario == Scenario::FerryEnv {
                    b.lone = Some(lone_wall);
                    b.cpu_bound = Some(cpu_bound(spec.n));
                }
                if times > 1 {
                    b.what = format!("{} (batch {k} of {times})", b.what);
                }
                b.checked = checked;
                batches.push(b);
                settle(&mut trash)?;
            }
        }
        reset(&ctx)?;
        results.push(result);
    }
    drop(server);

    let mut report = header;
    for r in &results {
        let _ = write!(report, "\n{}\n", size_table(r));
    }
    let _ = write!(report, "\n{}", batch_table(&batches));
    let _ = write!(report, "\n{}", targets(&results, &batches));
    let _ = write!(
        report,
        "\n## Scripts\n\nRun with `sh -c`, variables `URL`, `DIR` (`envs/staging/<app>`), `APP`, `TAG`; a clean environment (no global git config), in a fresh directory.\n"
    );
    for s in SCENARIOS {
        if let Some(script) = s.script() {
            let _ = write!(report, "\n{}:\n\n```sh\n{script}```\n", s.label());
        }
    }
    let _ = writeln!(
        report,
        "\nLoad average {load_before} before, {} after.",
        load_average()
    );
    println!("\n{}", batch_table(&batches));
    println!("{}", targets(&results, &batches));
    println!(
        "Load average {load_before} before, {} after.",
        load_average()
    );
    let path = cache.join("results.md");
    std::fs::write(&path, &report)?;
    println!("Written to {}", path.display());
    Ok(())
}

/// Serves a hard-linked copy of the cached repository `from` at `to`, configured for the
/// benchmark (filters allowed, no automatic gc).
fn serve_copy(from: &Path, to: &Path) -> io::Result<PathBuf> {
    let status = Command::new("cp").arg("-al").arg(from).arg(to).status()?;
    if !status.success() {
        return Err(io::Error::other("cp -al failed"));
    }
    for (k, v) in [
        ("uploadpack.allowFilter", "true"),
        ("uploadpack.allowAnySHA1InWant", "true"),
        ("receive.autogc", "false"),
        ("gc.auto", "0"),
    ] {
        git_ok(to, &["config", k, v])?;
    }
    Ok(to.to_path_buf())
}

/// Runs `cmd` and parses its stdout as a number, `default` on any failure.
fn git_ok_or(cmd: &mut Command, default: u64) -> u64 {
    cmd.output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(default)
}

fn size_table(r: &SizeResult) -> String {
    let mut t = String::new();
    let g = &r.generated;
    let _ = writeln!(
        t,
        "## {} apps × 3 environments\n\n{} files ({:.1} MB) at the tip, {} commits, pack {:.1} MB; a depth-1 fetch receives {:.1} MB, a blobless one {:.1} MB.\n",
        thousands(g.apps),
        thousands(g.files),
        mb(g.tip_bytes),
        thousands(g.commits),
        mb(g.pack_bytes),
        mb(r.fetch_pack),
        mb(r.blobless_pack)
    );
    let floor = r.series(Scenario::Depth1Floor).median_wall();
    let blobless = r.series(Scenario::BloblessFloor).median_wall();
    let _ = writeln!(
        t,
        "| scenario | wall median | min – max | client CPU | server CPU | peak RSS | ÷ depth-1 floor | ÷ blobless floor |"
    );
    let _ = writeln!(t, "|---|---:|---:|---:|---:|---:|---:|---:|");
    for (scenario, s) in &r.series {
        let walls = s.walls();
        let min = walls.iter().min().copied().unwrap_or_default();
        let max = walls.iter().max().copied().unwrap_or_default();
        let m = s.median_wall();
        let _ = writeln!(
            t,
            "| {} | {:.2} s | {:.2} – {:.2} s | {:.2} s | {:.2} s | {:.0} MB | {:.2}× | {:.2}× |",
            scenario.label(),
            secs(m),
            secs(min),
            secs(max),
            secs(s.median_cpu()),
            secs(s.median_server_cpu()),
            s.max_rss_mb(),
            secs(m) / secs(floor).max(1e-9),
            secs(m) / secs(blobless).max(1e-9),
        );
    }
    let _ = writeln!(
        t,
        "\nPeak RSS: the largest over the timed runs of the process tree's largest process (wait4's ru_maxrss). Server CPU: the HTTP server's threads and `git http-backend` with its upload-pack/receive-pack/pack-objects. Other processes (and kernel threads: writeback, discards) took {:.0} % of the machine's CPU time during the timed runs.\n\nferry phases (one `--output json -v` run): {}",
        r.foreign_share * 100.0,
        r.phases
    );
    t
}

fn batch_table(batches: &[Batch]) -> String {
    let mut t = String::new();
    let _ = writeln!(
        t,
        "## Concurrent bumps (same branch, each a different app of envs/staging)\n"
    );
    let _ = writeln!(
        t,
        "| apps | processes | landed | lost updates | batch wall | lone ferry bump | batch ÷ lone | CPU-bound minimum | commits on main | exit codes | ferry attempts | client CPU | server CPU | other processes' and kernel CPU |"
    );
    let _ = writeln!(
        t,
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---|---|---:|---:|---:|"
    );
    for b in batches {
        let (lone, ratio) = match b.lone {
            Some(l) => (
                format!("{:.2} s", secs(l)),
                format!("{:.1}×", secs(b.wall) / secs(l).max(1e-9)),
            ),
            None => ("–".to_owned(), "–".to_owned()),
        };
        let bound = b.cpu_bound.map_or_else(
            || "–".to_owned(),
            |c| {
                format!(
                    "{:.1} s ({:.1}× lone)",
                    secs(c),
                    secs(c) / secs(b.lone.unwrap_or_default()).max(1e-9)
                )
            },
        );
        let _ = writeln!(
            t,
            "| {} | {} × {} | {}/{} | {} | {:.1} s | {lone} | {ratio} | {bound} | {} | {} | {} | {:.1} s | {:.1} s | {:.1} s |",
            thousands(b.apps),
            b.n,
            b.what,
            b.landed,
            b.n,
            b.lost,
            secs(b.wall),
            b.commits,
            b.exits,
            b.attempts,
            secs(b.client_cpu),
            secs(b.server_cpu),
            secs(b.foreign_cpu)
        );
    }
    let _ = writeln!(
        t,
        "\nLanded: exit 0 and the final tree holds the process's tag; a lost update is an exit 0 whose tag is not there. CPU-bound minimum: n × (client + server CPU of a lone `ferry bump`) ÷ {} cores, the batch's wall time if nothing were wasted, since clients and server share this machine's cores.",
        std::thread::available_parallelism().map_or(1, std::num::NonZero::get)
    );
    t
}

fn targets(results: &[SizeResult], batches: &[Batch]) -> String {
    let mut t = String::from("## Targets\n\n");
    for r in results {
        let floor = secs(r.series(Scenario::Depth1Floor).median_wall());
        for s in [Scenario::FerryEnv, Scenario::FerryApp] {
            let ratio = secs(r.series(s).median_wall()) / floor.max(1e-9);
            let _ = writeln!(
                t,
                "- {} apps, `{}`: median ≤ {TARGET_FLOOR_RATIO}× depth-1 floor: {ratio:.2}× **{}**",
                thousands(r.generated.apps),
                s.label(),
                pass(ratio <= TARGET_FLOOR_RATIO)
            );
        }
        if r.generated.apps == TARGET_RSS_APPS {
            let rss = r
                .series(Scenario::FerryEnv)
                .max_rss_mb()
                .max(r.series(Scenario::FerryApp).max_rss_mb());
            let _ = writeln!(
                t,
                "- {} apps: ferry peak RSS ≤ {TARGET_RSS_MB} MB: {rss:.0} MB **{}**",
                thousands(r.generated.apps),
                pass(rss <= TARGET_RSS_MB)
            );
        }
    }
    let mut groups: Vec<(usize, usize)> = batches
        .iter()
        .filter(|b| b.checked)
        .map(|b| (b.apps, b.n))
        .collect();
    groups.dedup();
    for (apps, n) in groups {
        let group: Vec<&Batch> = batches
            .iter()
            .filter(|b| b.checked && b.apps == apps && b.n == n)
            .collect();
        let landed: Vec<String> = group.iter().map(|b| format!("{}/{n}", b.landed)).collect();
        let all = group.iter().all(|b| b.landed == n && b.lost == 0);
        if n == FERRY_BATCH_SMALL {
            let ratios: Vec<f64> = group
                .iter()
                .map(|b| secs(b.wall) / secs(b.lone.unwrap_or_default()).max(1e-9))
                .collect();
            let fast = ratios.iter().all(|&r| r <= TARGET_BATCH_RATIO);
            let _ = writeln!(
                t,
                "- {n} concurrent ferry bumps on {} apps: {n}/{n} land and batch ≤ {TARGET_BATCH_RATIO}× lone, in every batch: landed {}; batch ÷ lone {} **{}**",
                thousands(apps),
                landed.join(", "),
                ratios
                    .iter()
                    .map(|r| format!("{r:.1}×"))
                    .collect::<Vec<_>>()
                    .join(", "),
                pass(all && fast)
            );
        } else {
            let _ = writeln!(
                t,
                "- {n} concurrent ferry bumps on {} apps: {n}/{n} land, in every batch: landed {} **{}**",
                thousands(apps),
                landed.join(", "),
                pass(all)
            );
        }
    }
    t
}
