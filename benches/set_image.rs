//! Benchmark: `ferry set-image` over a generated GitOps environment directory.
//!
//! Run it with `cargo bench --bench set_image`. It generates, with a fixed seed, trees of N YAML
//! files of mixed shapes (Deployments, StatefulSets, CronJobs, Services, ConfigMaps,
//! kustomizations, Helm values, Argo CD Applications, Flux HelmReleases, multi-document files;
//! 0.5–8 KB, about 2 KB on average). About a fifth of the files mention look-alike images
//! (`other.io/team/cart`, `ghcr.io/acme/cart-worker`, a `cart` service URL...) and 2 % carry a
//! Flux `$imagepolicy` marker; ferry's byte prefilter (`cart` as a whole name, or a marker)
//! passes about 11 %, which are parsed; 0.2 % reference `ghcr.io/acme/cart` itself, in every
//! shape.
//!
//! For each size it runs the release binary as a child process,
//! `ferry set-image --dir TREE -q ghcr.io/acme/cart=TAG` with a new TAG each run (so every run
//! edits and writes the referencing files), and reports wall time (min, median), CPU time and
//! the child's peak RSS (`wait4`'s `ru_maxrss`). Scenarios per size:
//! - `mixed`: the tree above;
//! - `prefilter-only`: the same bytes with the look-alikes renamed `kart`, so only the files
//!   that reference the image or carry a Flux `$imagepolicy` marker (2.4 %) are parsed: the
//!   cost of listing, reading and prefiltering;
//! - `not-found` (largest size only, at most 3 timed runs): an image no file mentions; ferry
//!   exits 3 after parsing every file to suggest close names.
//!
//! Environment: `FERRY_BENCH_SIZES=5000,10000,20000` (file counts), `FERRY_BENCH_RUNS=7` (timed
//! runs per scenario, after one warm-up run), `FERRY_BENCH_KEEP=1` (keep the generated trees,
//! for profiling, and print where they are). Files are read from the page cache (they were
//! just written), as in CI right after a checkout.

#![allow(
    clippy::print_stdout,
    reason = "a benchmark with harness = false reports its figures on stdout"
)]

#[path = "support/common.rs"]
mod common;

use std::fmt::Write as _;
use std::fs::File;
use std::io;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Rng, Run, cpu_model, env_list, load_average, median, timeval, wait4};

/// The image the benchmark sets.
const TARGET: &str = "ghcr.io/acme/cart";
/// The requirement for the 20,000-file tree.
const TARGET_FILES: usize = 20_000;
const TARGET_WALL_S: f64 = 0.5;
const TARGET_RSS_MB: f64 = 150.0;
/// One file in this many references the target image (0.2 %).
const TARGET_SPACING: usize = 500;
/// Files per leaf directory, leaf directories per tenant directory.
const FILES_PER_DIR: usize = 10;
const DIRS_PER_TENANT: usize = 10;

// ---------------------------------------------------------------------------------------------
// Deterministic generation

const APPS: &[&str] = &[
    "orders",
    "payments",
    "catalog",
    "search",
    "checkout",
    "users",
    "inventory",
    "shipping",
    "notifications",
    "gateway",
    "frontend",
    "reviews",
    "pricing",
    "ledger",
];

const ENVS: &[&str] = &["dev", "staging", "prod", "qa", "perf", "eu-west", "us-east"];

/// Images whose last path component is not the target's.
const OTHER_IMAGES: &[&str] = &[
    "ghcr.io/acme/orders",
    "ghcr.io/acme/payments",
    "ghcr.io/acme/catalog",
    "ghcr.io/acme/search",
    "ghcr.io/acme/checkout",
    "ghcr.io/acme/users",
    "ghcr.io/acme/inventory",
    "ghcr.io/acme/shipping",
    "ghcr.io/acme/notifications",
    "ghcr.io/acme/gateway",
    "ghcr.io/acme/frontend",
    "nginx",
    "docker.io/library/redis",
    "postgres",
    "quay.io/prometheus/node-exporter",
    "registry.k8s.io/ingress-nginx/controller",
    "bitnami/redis",
    "grafana/grafana",
    "envoyproxy/envoy",
];

/// Images that contain the look-alike word (`{w}`: `cart`, or `kart` for the prefilter-only
/// tree) but are not the target: they pass the byte prefilter and must be parsed.
const LOOKALIKE_IMAGES: &[&str] = &[
    "other.io/team/{w}",
    "ghcr.io/acme/{w}-worker",
    "ghcr.io/acme/{w}/migrations",
    "ghcr.io/other/{w}",
    "registry.example.com/shop/{w}",
    "acme/{w}",
    "ghcr.io/acme/{w}-api",
];

const WORDS: &[&str] = &[
    "alpha", "queue", "cache", "timeout", "retry", "region", "zone", "level", "pool", "batch",
    "window", "limit", "feature", "metrics", "tracing", "shard", "replica", "backend", "session",
    "token", "billing", "report", "export", "import", "index", "stream", "buffer", "worker",
    "budget", "quota",
];

/// How often an image slot holds a look-alike, and a free-text value mentions the look-alike
/// service: tuned so that about a quarter of the files pass the prefilter.
const P_LOOKALIKE_IMAGE: f64 = 0.10;
const P_LOOKALIKE_TEXT: f64 = 0.006;
/// How often a Deployment's image carries a Flux setter marker (`$imagepolicy` also passes the
/// prefilter).
const P_SETTER: f64 = 0.04;

/// An image reference to write: repository and tag.
struct Img {
    repo: String,
    tag: String,
}

struct Gen {
    rng: Rng,
    /// The look-alike word: `cart`, or `kart` (same length, fails the prefilter).
    word: &'static str,
}

impl Gen {
    fn tag(&mut self) -> String {
        let r = &mut self.rng;
        match r.below(4) {
            0 => format!("v{}.{}.{}", r.range(0, 4), r.range(0, 30), r.range(0, 12)),
            1 => format!("{}.{}.{}", r.range(1, 9), r.range(0, 30), r.range(0, 9)),
            2 => format!("sha-{:07x}", r.next() & 0xFFF_FFFF),
            _ => format!("2024.{:02}.{}", r.range(1, 12), r.range(0, 9)),
        }
    }

    fn image(&mut self) -> Img {
        let repo = if self.rng.chance(P_LOOKALIKE_IMAGE) {
            self.rng.pick(LOOKALIKE_IMAGES).replace("{w}", self.word)
        } else {
            self.rng.pick(OTHER_IMAGES).to_owned()
        };
        Img {
            repo,
            tag: self.tag(),
        }
    }

    fn target(&mut self) -> Img {
        Img {
            repo: TARGET.to_owned(),
            tag: format!("v1.{}.0", self.rng.range(0, 20)),
        }
    }

    /// A file size: 70 % 0.5–2 KB, 25 % 2–5 KB, 5 % 5–8 KB (log-uniform in each band).
    fn size(&mut self) -> usize {
        let (lo, hi): (f64, f64) = match self.rng.unit() {
            u if u < 0.70 => (500.0, 2000.0),
            u if u < 0.95 => (2000.0, 5000.0),
            _ => (5000.0, 8000.0),
        };
        (lo * (hi / lo).powf(self.rng.unit())) as usize
    }

    fn value(&mut self) -> String {
        let r = &mut self.rng;
        if r.chance(P_LOOKALIKE_TEXT) {
            return format!("http://{}.shop.svc.cluster.local:8080", self.word);
        }
        match r.below(6) {
            0 => format!("\"{}\"", r.range(1, 5000)),
            1 => "\"true\"".to_owned(),
            2 => format!("https://{}.{}.example.com/v1", r.pick(WORDS), r.pick(ENVS)),
            3 => format!("{}-{}", r.pick(WORDS), r.pick(WORDS)),
            4 => format!("\"{}s\"", r.range(1, 120)),
            _ => r.pick(WORDS).to_owned(),
        }
    }

    fn upper_key(&mut self) -> String {
        format!("{}_{}", self.rng.pick(WORDS), self.rng.pick(WORDS)).to_ascii_uppercase()
    }

    fn camel_key(&mut self) -> String {
        let a = self.rng.pick(WORDS);
        let b = self.rng.pick(WORDS);
        let mut key = a.to_owned();
        let mut chars = b.chars();
        if let Some(c) = chars.next() {
            key.push(c.to_ascii_uppercase());
            key.push_str(chars.as_str());
        }
        key
    }

    /// Appends `env` list items at `indent` until `budget` bytes were written.
    fn env(&mut self, out: &mut String, indent: usize, budget: usize) {
        let pad = " ".repeat(indent);
        let start = out.len();
        while out.len() - start < budget {
            let key = self.upper_key();
            let value = self.value();
            let _ = write!(out, "{pad}- name: {key}\n{pad}  value: {value}\n");
        }
    }

    /// Appends `key: value` lines at `indent` until `budget` bytes were written.
    fn map(&mut self, out: &mut String, indent: usize, budget: usize, upper: bool) {
        let pad = " ".repeat(indent);
        let start = out.len();
        let mut n = 0;
        while out.len() - start < budget {
            let key = if upper {
                self.upper_key()
            } else {
                self.camel_key()
            };
            let value = self.value();
            let _ = writeln!(out, "{pad}{key}{n}: {value}");
            n += 1;
        }
    }

    /// A container list item at `indent` (the column of its `-`).
    fn container(&mut self, out: &mut String, indent: usize, name: &str, img: &Img, budget: usize) {
        let p = " ".repeat(indent);
        let marker = if img.repo != TARGET && self.rng.chance(P_SETTER) {
            format!(" # {{\"$imagepolicy\": \"flux-system:{name}\"}}")
        } else {
            String::new()
        };
        let _ = write!(
            out,
            "{p}- name: {name}\n{p}  image: {}:{}{marker}\n{p}  imagePullPolicy: IfNotPresent\n{p}  ports:\n{p}    - name: http\n{p}      containerPort: 8080\n{p}      protocol: TCP\n",
            img.repo, img.tag
        );
        if budget > 0 {
            let _ = writeln!(out, "{p}  env:");
            self.env(out, indent + 4, budget);
        }
        let _ = write!(
            out,
            "{p}  resources:\n{p}    requests:\n{p}      cpu: {}m\n{p}      memory: {}Mi\n{p}    limits:\n{p}      memory: {}Mi\n{p}  readinessProbe:\n{p}    httpGet:\n{p}      path: /healthz\n{p}      port: http\n{p}    periodSeconds: 10\n",
            self.rng.range(1, 20) * 50,
            self.rng.range(1, 8) * 64,
            self.rng.range(2, 16) * 64
        );
    }

    fn metadata(&mut self, out: &mut String, name: &str, ns: &str) {
        let _ = write!(
            out,
            "metadata:\n  name: {name}\n  namespace: {ns}\n  labels:\n    app.kubernetes.io/name: {name}\n    app.kubernetes.io/part-of: shop\n    app.kubernetes.io/managed-by: argocd\n"
        );
    }

    /// A Deployment or StatefulSet. `extra` is an additional container env entry (a whole
    /// image reference in an env value).
    fn workload(
        &mut self,
        name: &str,
        ns: &str,
        img: &Img,
        budget: usize,
        extra: Option<&Img>,
    ) -> String {
        let mut out = String::with_capacity(budget + 1500);
        let kind = if self.rng.chance(0.8) {
            "Deployment"
        } else {
            "StatefulSet"
        };
        let _ = writeln!(out, "apiVersion: apps/v1\nkind: {kind}");
        self.metadata(&mut out, name, ns);
        let _ = write!(
            out,
            "  annotations:\n    reloader.stakater.com/auto: \"true\"\nspec:\n  replicas: {}\n  revisionHistoryLimit: 5\n  selector:\n    matchLabels:\n      app.kubernetes.io/name: {name}\n  template:\n    metadata:\n      labels:\n        app.kubernetes.io/name: {name}\n      annotations:\n        prometheus.io/scrape: \"true\"\n        prometheus.io/port: \"9090\"\n    spec:\n      serviceAccountName: {name}\n      securityContext:\n        runAsNonRoot: true\n        fsGroup: 2000\n      containers:\n",
            self.rng.range(1, 6)
        );
        let sidecar = self.rng.chance(0.3);
        let main_budget = if sidecar { budget * 2 / 3 } else { budget };
        let start = out.len();
        self.container(&mut out, 8, name, img, main_budget);
        if let Some(extra) = extra {
            // An env value holding a whole image reference (a migration job's image).
            let insert = out[start..]
                .find("  env:\n")
                .map(|i| start + i + "  env:\n".len());
            let line = format!(
                "            - name: MIGRATIONS_IMAGE\n              value: {}:{}\n",
                extra.repo, extra.tag
            );
            match insert {
                Some(at) => out.insert_str(at, &line),
                None => {
                    let at = out[start..]
                        .find("\n          resources:")
                        .map_or(out.len(), |i| start + i + 1);
                    out.insert_str(at, &format!("          env:\n{line}"));
                }
            }
        }
        if sidecar {
            let side = self.image();
            self.container(&mut out, 8, "sidecar", &side, budget / 3);
        }
        let _ = write!(
            out,
            "      volumes:\n        - name: config\n          configMap:\n            name: {name}-config\n"
        );
        out
    }

    fn cronjob(&mut self, name: &str, ns: &str, img: &Img, budget: usize) -> String {
        let mut out = String::with_capacity(budget + 1200);
        let _ = writeln!(out, "apiVersion: batch/v1\nkind: CronJob");
        let job = format!("{name}-{}", self.rng.pick(WORDS));
        self.metadata(&mut out, &job, ns);
        let _ = write!(
            out,
            "spec:\n  schedule: \"*/{} * * * *\"\n  concurrencyPolicy: Forbid\n  successfulJobsHistoryLimit: 3\n  jobTemplate:\n    spec:\n      backoffLimit: 2\n      template:\n        spec:\n          restartPolicy: OnFailure\n          containers:\n",
            self.rng.range(5, 59)
        );
        self.container(&mut out, 12, "job", img, budget);
        out
    }

    fn service(&mut self, name: &str, ns: &str, budget: usize) -> String {
        let mut out = String::with_capacity(budget + 600);
        let _ = writeln!(out, "apiVersion: v1\nkind: Service");
        self.metadata(&mut out, name, ns);
        let _ = writeln!(out, "  annotations:");
        let pad = "    ";
        let start = out.len();
        while out.len() - start < budget {
            let _ = writeln!(
                out,
                "{pad}{}.example.com/{}-{}: {}",
                self.rng.pick(WORDS),
                self.rng.pick(WORDS),
                out.len() - start,
                self.value()
            );
        }
        let _ = write!(
            out,
            "spec:\n  type: ClusterIP\n  selector:\n    app.kubernetes.io/name: {name}\n  ports:\n    - name: http\n      port: 80\n      targetPort: http\n    - name: metrics\n      port: 9090\n      targetPort: 9090\n"
        );
        out
    }

    fn configmap(&mut self, name: &str, ns: &str, budget: usize) -> String {
        let mut out = String::with_capacity(budget + 600);
        let _ = writeln!(out, "apiVersion: v1\nkind: ConfigMap");
        self.metadata(&mut out, &format!("{name}-config"), ns);
        let _ = writeln!(out, "data:\n  LOG_LEVEL: info");
        self.map(&mut out, 2, budget / 2, true);
        // A config file as a block scalar; it may name a look-alike service.
        let _ = writeln!(out, "  application.properties: |");
        let start = out.len();
        while out.len() - start < budget / 2 {
            let key = format!("{}.{}", self.rng.pick(WORDS), self.rng.pick(WORDS));
            let value = if self.rng.chance(P_LOOKALIKE_TEXT) {
                format!("http://{}:8080/api", self.word)
            } else {
                self.rng.pick(WORDS).to_owned()
            };
            let _ = writeln!(out, "    {key}={value}");
        }
        out
    }

    /// A kustomization; when `target` is set, its first `images:` entry is the target.
    fn kustomization(
        &mut self,
        ns: &str,
        budget: usize,
        target: Option<&Img>,
        new_name: bool,
    ) -> String {
        let mut out = String::with_capacity(budget + 600);
        let _ = write!(
            out,
            "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespace: {ns}\ncommonLabels:\n  app.kubernetes.io/part-of: shop\nresources:\n"
        );
        let start = out.len();
        while out.len() - start < budget {
            let _ = writeln!(
                out,
                "  - ../../base/{}-{}",
                self.rng.pick(WORDS),
                self.rng.range(1, 99)
            );
        }
        let _ = writeln!(out, "images:");
        if let Some(t) = target {
            if new_name {
                let _ = write!(
                    out,
                    "  - name: cart\n    newName: {}\n    newTag: {}\n",
                    t.repo, t.tag
                );
            } else {
                let _ = write!(out, "  - name: {}\n    newTag: {}\n", t.repo, t.tag);
            }
        }
        for _ in 0..self.rng.range(1, 3) {
            let img = self.image();
            if self.rng.chance(0.3) {
                let _ = write!(
                    out,
                    "  - name: {}\n    newName: mirror.example.com/{}\n    newTag: \"{}\"\n",
                    img.repo, img.repo, img.tag
                );
            } else {
                let _ = write!(out, "  - name: {}\n    newTag: \"{}\"\n", img.repo, img.tag);
            }
        }
        let _ = write!(
            out,
            "patches:\n  - path: replicas.yaml\n    target:\n      kind: Deployment\n"
        );
        out
    }

    /// Helm values; `split` writes the target as `registry` + `repository`.
    fn values(&mut self, name: &str, img: &Img, budget: usize, split: bool) -> String {
        let mut out = String::with_capacity(budget + 900);
        let _ = writeln!(out, "replicaCount: {}\nimage:", self.rng.range(1, 6));
        match img.repo.split_once('/') {
            Some((registry, repository)) if split => {
                let _ = writeln!(out, "  registry: {registry}\n  repository: {repository}");
            }
            _ => {
                let _ = writeln!(out, "  repository: {}", img.repo);
            }
        }
        let _ = writeln!(out, "  tag: \"{}\"\n  pullPolicy: IfNotPresent", img.tag);
        let sub = self.image();
        let _ = write!(
            out,
            "redis:\n  enabled: true\n  image:\n    registry: docker.io\n    repository: bitnami/redis\n    tag: \"7.2.{}\"\nworker:\n  image:\n    repository: {}\n    tag: \"{}\"\nservice:\n  type: ClusterIP\n  port: 80\ningress:\n  enabled: true\n  className: nginx\n  hosts:\n    - host: {name}.{}.example.com\n      paths:\n        - path: /\n          pathType: Prefix\nresources:\n  requests:\n    cpu: 100m\n    memory: 128Mi\nconfig:\n",
            self.rng.range(0, 9),
            sub.repo,
            sub.tag,
            self.rng.pick(ENVS)
        );
        self.map(&mut out, 2, budget, false);
        out
    }

    /// An Argo CD Application with helm parameters, or (`kustomize`) kustomize images.
    fn application(
        &mut self,
        name: &str,
        ns: &str,
        img: &Img,
        budget: usize,
        kustomize: bool,
    ) -> String {
        let mut out = String::with_capacity(budget + 900);
        let env = self.rng.pick(ENVS);
        let _ = write!(
            out,
            "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: {name}-{env}\n  namespace: argocd\n  finalizers:\n    - resources-finalizer.argocd.argoproj.io\nspec:\n  project: shop\n  source:\n    repoURL: https://github.com/acme/deploy.git\n    targetRevision: main\n    path: apps/{name}/{env}\n"
        );
        if kustomize {
            let _ = write!(
                out,
                "    kustomize:\n      images:\n        - {}:{}\n",
                img.repo, img.tag
            );
        } else {
            let _ = write!(
                out,
                "    helm:\n      releaseName: {name}\n      parameters:\n        - name: image.repository\n          value: {}\n        - name: image.tag\n          value: \"{}\"\n",
                img.repo, img.tag
            );
            let start = out.len();
            let mut n = 0;
            while out.len() - start < budget {
                let key = self.camel_key();
                let value = self.value();
                let _ = write!(
                    out,
                    "        - name: config.{key}{n}\n          value: {value}\n"
                );
                n += 1;
            }
        }
        let _ = write!(
            out,
            "  destination:\n    server: https://kubernetes.default.svc\n    namespace: {ns}\n  syncPolicy:\n    automated:\n      prune: true\n      selfHeal: true\n    syncOptions:\n      - CreateNamespace=true\n"
        );
        if kustomize {
            let _ = writeln!(out, "  info:");
            let start = out.len();
            while out.len() - start < budget {
                let _ = write!(
                    out,
                    "    - name: {}\n      value: {}\n",
                    self.rng.pick(WORDS),
                    self.value()
                );
            }
        }
        out
    }

    /// `.argocd-source-APP.yaml`: what Argo CD's image updater writes.
    fn argocd_source(&mut self, img: &Img, budget: usize) -> String {
        let mut out = format!(
            "helm:\n  parameters:\n  - name: image.name\n    value: {}\n    forcestring: true\n  - name: image.tag\n    value: {}\n    forcestring: true\n",
            img.repo, img.tag
        );
        let start = out.len();
        while out.len() - start < budget {
            let key = self.camel_key();
            let value = self.value();
            let _ = write!(
                out,
                "  - name: extra.{key}\n    value: {value}\n    forcestring: true\n"
            );
        }
        out
    }

    fn helmrelease(&mut self, name: &str, ns: &str, img: &Img, budget: usize) -> String {
        let mut out = String::with_capacity(budget + 800);
        let _ = write!(
            out,
            "apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata:\n  name: {name}\n  namespace: {ns}\nspec:\n  interval: 10m\n  chart:\n    spec:\n      chart: {name}\n      version: \"1.{}.x\"\n      sourceRef:\n        kind: HelmRepository\n        name: acme\n        namespace: flux-system\n  values:\n    image:\n      repository: {}\n      tag: \"{}\"\n    settings:\n",
            self.rng.range(0, 9),
            img.repo,
            img.tag
        );
        self.map(&mut out, 6, budget, false);
        out
    }

    /// Several documents in one file.
    fn multi(&mut self, name: &str, ns: &str, img: &Img, budget: usize) -> String {
        let mut out = self.workload(name, ns, img, budget / 2, None);
        out.push_str("---\n");
        out.push_str(&self.service(name, ns, budget / 6));
        out.push_str("---\n");
        out.push_str(&self.configmap(name, ns, budget / 3));
        out
    }
}

/// A generated tree and what it holds.
struct Tree {
    dir: tempfile::TempDir,
    files: usize,
    bytes: u64,
    /// Files that pass ferry's byte prefilter (`cart` as a whole name, or `$imagepolicy`), and
    /// their bytes: the files ferry parses.
    parsed: usize,
    parsed_bytes: u64,
    /// Files referencing the target, and how many references they hold.
    targets: usize,
    references: usize,
    /// Each referencing file (relative path) with its number of references.
    target_files: Vec<(String, usize)>,
}

/// The shapes a target file takes, in turn; each holds one reference except the workload with
/// an extra env reference (two).
const TARGET_SHAPES: usize = 12;

/// Generates `n` files; `word` is the look-alike word (`cart` or `kart`). The same `n` gives the
/// same bytes for both words, except the look-alike spelling.
fn generate(n: usize, word: &'static str) -> io::Result<Tree> {
    let dir = tempfile::Builder::new().prefix("ferry-bench-").tempdir()?;
    // ferry's own byte prefilter decides which files it parses.
    let update = ferry::image::ImageUpdate::parse(&format!("{TARGET}=bench"))
        .map_err(|e| io::Error::other(e.to_string()))?;
    let prefilter =
        ferry::plan::Planner::new(vec![update]).map_err(|e| io::Error::other(e.to_string()))?;
    let mut g = Gen {
        rng: Rng(0x5EED_F00D_CAFE_0001),
        word,
    };
    let mut tree = Tree {
        files: 0,
        bytes: 0,
        parsed: 0,
        parsed_bytes: 0,
        targets: 0,
        references: 0,
        target_files: Vec::new(),
        dir,
    };
    let spacing = TARGET_SPACING.min(n);
    for i in 0..n {
        let leaf = i / FILES_PER_DIR;
        let slot = i % FILES_PER_DIR;
        let app = APPS[leaf % APPS.len()];
        let ns = format!("{app}-{}", ENVS[leaf % ENVS.len()]);
        let leaf_dir = format!("team-{:03}/{app}-{leaf:04}", leaf / DIRS_PER_TENANT);
        let size = g.size();
        let budget = |base: usize| size.saturating_sub(base);
        let is_target = i % spacing == spacing / 2;
        let (rel, text, refs) = if is_target {
            let k = tree.targets % TARGET_SHAPES;
            let t = g.target();
            match k {
                0 => (
                    format!("{leaf_dir}/deployment-{slot}.yaml"),
                    g.workload(app, &ns, &t, budget(1500), None),
                    1,
                ),
                1 => (
                    format!(
                        "{leaf_dir}/overlays/{}/kustomization.yaml",
                        g.rng.pick(ENVS)
                    ),
                    g.kustomization(&ns, budget(400), Some(&t), false),
                    1,
                ),
                2 => (
                    format!("{leaf_dir}/values-{slot}.yaml"),
                    g.values(app, &t, budget(700), false),
                    1,
                ),
                3 => (
                    format!("{leaf_dir}/application-{slot}.yaml"),
                    g.application(app, &ns, &t, budget(700), false),
                    1,
                ),
                4 => (
                    format!("{leaf_dir}/helmrelease-{slot}.yaml"),
                    g.helmrelease(app, &ns, &t, budget(600)),
                    1,
                ),
                5 => (
                    format!("{leaf_dir}/cronjob-{slot}.yml"),
                    g.cronjob(app, &ns, &t, budget(1000)),
                    1,
                ),
                6 => (
                    format!("{leaf_dir}/all-{slot}.yaml"),
                    g.multi(app, &ns, &t, budget(2400)),
                    1,
                ),
                7 => {
                    let other = g.image();
                    (
                        format!("{leaf_dir}/deployment-{slot}.yaml"),
                        g.workload(app, &ns, &other, budget(1500), Some(&t)),
                        1,
                    )
                }
                8 => (
                    format!(
                        "{leaf_dir}/overlays/{}/kustomization.yaml",
                        g.rng.pick(ENVS)
                    ),
                    g.kustomization(&ns, budget(400), Some(&t), true),
                    1,
                ),
                9 => (
                    format!("{leaf_dir}/values-{slot}.yaml"),
                    g.values(app, &t, budget(700), true),
                    1,
                ),
                10 => (
                    format!("{leaf_dir}/.argocd-source-{app}.yaml"),
                    g.argocd_source(&t, budget(200)),
                    1,
                ),
                _ => {
                    let t2 = Img {
                        repo: TARGET.to_owned(),
                        tag: t.tag.clone(),
                    };
                    (
                        format!("{leaf_dir}/deployment-{slot}.yaml"),
                        g.workload(app, &ns, &t, budget(1500), Some(&t2)),
                        2,
                    )
                }
            }
        } else if slot == 0 {
            (
                format!("{leaf_dir}/kustomization.yaml"),
                g.kustomization(&ns, budget(400), None, false),
                0,
            )
        } else {
            let img = g.image();
            let ext = if g.rng.chance(0.1) { "yml" } else { "yaml" };
            let (kind, text) = match g.rng.below(100) {
                0..=29 => ("deployment", g.workload(app, &ns, &img, budget(1500), None)),
                30..=37 => ("cronjob", g.cronjob(app, &ns, &img, budget(1000))),
                38..=50 => ("service", g.service(app, &ns, budget(500))),
                51..=64 => ("configmap", g.configmap(app, &ns, budget(300))),
                65..=76 => {
                    let split = g.rng.chance(0.3);
                    ("values", g.values(app, &img, budget(700), split))
                }
                77..=84 => {
                    let kustomize = g.rng.chance(0.2);
                    (
                        "application",
                        g.application(app, &ns, &img, budget(700), kustomize),
                    )
                }
                85..=90 => ("helmrelease", g.helmrelease(app, &ns, &img, budget(600))),
                _ => ("all", g.multi(app, &ns, &img, budget(2400))),
            };
            (format!("{leaf_dir}/{kind}-{slot}.{ext}"), text, 0)
        };
        let path = tree.dir.path().join(&rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&path, &text)?;
        tree.files += 1;
        tree.bytes += text.len() as u64;
        if prefilter.may_reference(text.as_bytes()) {
            tree.parsed += 1;
            tree.parsed_bytes += text.len() as u64;
        }
        if refs > 0 {
            tree.targets += 1;
            tree.references += refs;
            tree.target_files.push((rel, refs));
        }
    }
    Ok(tree)
}

// ---------------------------------------------------------------------------------------------
// Running ferry

/// Runs `ferry set-image --dir DIR <flags> UPDATE` and measures it.
#[allow(
    clippy::zombie_processes,
    reason = "the child is reaped by wait4, which std's Child cannot do"
)]
fn run_ferry(dir: &Path, flag: &str, update: &str) -> io::Result<Run> {
    let out_dir = tempfile::tempdir()?;
    let out_path = out_dir.path().join("stdout");
    let err_path = out_dir.path().join("stderr");
    let (out, err) = (File::create(&out_path)?, File::create(&err_path)?);
    let started = Instant::now();
    let child = Command::new(env!("CARGO_BIN_EXE_ferry"))
        .arg("set-image")
        .arg("--dir")
        .arg(dir)
        .arg(flag)
        .arg(update)
        .env_remove("RUST_LOG")
        .env_remove("FERRY_OUTPUT")
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()?;
    let (status, usage) = wait4(child.id() as libc::pid_t)?;
    let wall = started.elapsed();
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
        stdout: std::fs::read_to_string(out_path)?,
        stderr: std::fs::read_to_string(err_path)?,
    })
}

/// A scenario's figures.
struct Row {
    scenario: &'static str,
    files: usize,
    bytes: u64,
    parsed: usize,
    parsed_bytes: u64,
    runs: usize,
    wall_min: Duration,
    wall_median: Duration,
    cpu_median: Duration,
    /// The highest peak RSS over the timed runs, KiB.
    max_rss_kib: u64,
    /// The `planned` phase (list, read, prefilter, parse, plan) of a `-v` run, ms.
    planned_ms: Option<u64>,
}

impl Row {
    fn mb(&self) -> f64 {
        self.bytes as f64 / 1e6
    }
    fn rss_mb(&self) -> f64 {
        self.max_rss_kib as f64 * 1024.0 / 1e6
    }
    fn mb_per_s(&self) -> f64 {
        self.mb() / self.wall_median.as_secs_f64()
    }
    /// CPU time over wall time: near the core count when ferry has the machine to itself.
    fn cores_busy(&self) -> f64 {
        self.cpu_median.as_secs_f64() / self.wall_median.as_secs_f64()
    }
    fn us_per_file(&self) -> f64 {
        self.wall_median.as_secs_f64() * 1e6 / self.files as f64
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// The `elapsed_ms=N` of ferry's `planned` debug line.
fn planned_ms(stderr: &str) -> Option<u64> {
    let line = stderr.lines().find(|l| l.contains("planned"))?;
    let rest = &line[line.find("elapsed_ms=")? + "elapsed_ms=".len()..];
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// Checks a run's outcome: exit `expect`; for a change, every reference now holds `tag`.
fn check(run: &Run, expect: i32, tree: &Tree, tag: &str) -> io::Result<()> {
    assert_eq!(
        run.exit, expect,
        "ferry exited {} (expected {expect})\nstdout:\n{}\nstderr:\n{}",
        run.exit, run.stdout, run.stderr
    );
    if expect == 0 {
        for (rel, refs) in &tree.target_files {
            let text = std::fs::read_to_string(tree.dir.path().join(rel))?;
            let set = text.matches(tag).count();
            assert_eq!(
                set, *refs,
                "{rel}: {set} of its {refs} reference(s) hold the new tag {tag}\nstdout:\n{}\nstderr:\n{}",
                run.stdout, run.stderr
            );
        }
    }
    Ok(())
}

/// Runs one scenario: a warm-up, `runs` timed runs and one `-v` run for the phase split.
fn measure(
    scenario: &'static str,
    tree: &Tree,
    runs: usize,
    image: &str,
    expect: i32,
    counter: &mut u32,
) -> io::Result<Row> {
    // A new tag each run (fixed width, so one never contains another), so each run edits.
    let mut once = |flag: &str| -> io::Result<Run> {
        *counter += 1;
        let tag = format!("run-{counter:05}");
        let run = run_ferry(tree.dir.path(), flag, &format!("{image}={tag}"))?;
        check(&run, expect, tree, &tag)?;
        Ok(run)
    };
    once("-q")?;
    let mut walls = Vec::with_capacity(runs);
    let mut cpus = Vec::with_capacity(runs);
    let mut max_rss_kib = 0;
    for _ in 0..runs {
        let run = once("-q")?;
        walls.push(run.wall);
        cpus.push(run.cpu);
        max_rss_kib = max_rss_kib.max(run.max_rss_kib);
    }
    let verbose = once("-v")?;
    Ok(Row {
        scenario,
        files: tree.files,
        bytes: tree.bytes,
        parsed: tree.parsed,
        parsed_bytes: tree.parsed_bytes,
        runs,
        wall_min: walls.iter().copied().min().unwrap_or_default(),
        wall_median: median(walls),
        cpu_median: median(cpus),
        max_rss_kib,
        planned_ms: planned_ms(&verbose.stderr),
    })
}

fn print_row(r: &Row) {
    println!(
        "  {:<15} {:>6} files  {:>6.1} MB  parsed {:>5}  wall median {:>7.1} ms  min {:>7.1} ms  cpu {:>7.1} ms  planned {:>5} ms  peak RSS {:>6.1} MB  {:>6.1} MB/s  {:>5.1} µs/file",
        r.scenario,
        r.files,
        r.mb(),
        r.parsed,
        ms(r.wall_median),
        ms(r.wall_min),
        ms(r.cpu_median),
        r.planned_ms
            .map_or_else(|| "?".to_owned(), |m| m.to_string()),
        r.rss_mb(),
        r.mb_per_s(),
        r.us_per_file()
    );
}

/// Least squares `y ≈ a + b·x`: (a, b, R²).
fn linear_fit(xs: &[f64], ys: &[f64]) -> (f64, f64, f64) {
    let k = xs.len() as f64;
    let (mx, my) = (xs.iter().sum::<f64>() / k, ys.iter().sum::<f64>() / k);
    let sxy: f64 = xs.iter().zip(ys).map(|(x, y)| (x - mx) * (y - my)).sum();
    let sxx: f64 = xs.iter().map(|x| (x - mx).powi(2)).sum();
    let slope = if sxx > 0.0 { sxy / sxx } else { 0.0 };
    let intercept = my - slope * mx;
    let ss_tot: f64 = ys.iter().map(|y| (y - my).powi(2)).sum();
    let ss_res: f64 = xs
        .iter()
        .zip(ys)
        .map(|(x, y)| (y - (intercept + slope * x)).powi(2))
        .sum();
    let r2 = if ss_tot > 0.0 {
        1.0 - ss_res / ss_tot
    } else {
        1.0
    };
    (intercept, slope, r2)
}

fn main() -> io::Result<()> {
    let sizes = env_list("FERRY_BENCH_SIZES", &[5_000, 10_000, 20_000]);
    let runs = env_list("FERRY_BENCH_RUNS", &[7])
        .first()
        .copied()
        .unwrap_or(7)
        .max(1);
    let largest = sizes.iter().copied().max().unwrap_or(0);
    let keep = std::env::var_os("FERRY_BENCH_KEEP").is_some_and(|v| v == "1");
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    println!("ferry set-image benchmark");
    println!("  binary:  {}", env!("CARGO_BIN_EXE_ferry"));
    println!(
        "  command: ferry set-image --dir TREE -q {TARGET}=TAG   (TAG = run-NNNNN, new each run)"
    );
    println!("  machine: {cores} cores, {}", cpu_model());
    println!("  runs:    1 warm-up + {runs} timed per scenario, page cache warm");
    let load_before = load_average();
    println!(
        "  load:    {load_before} (1-minute load average before the benchmark; above ~0.5 other work competes for the cores and wall times grow)"
    );
    println!();

    let mut rows = Vec::new();
    let mut counter = 0;
    for &n in &sizes {
        for (scenario, word) in [("mixed", "cart"), ("prefilter-only", "kart")] {
            let started = Instant::now();
            let tree = generate(n, word)?;
            println!(
                "{scenario} tree: {} files, {:.1} MB (avg {:.0} B), {} ({:.1} MB) pass the prefilter, {} reference {TARGET} ({} references); generated in {:.1} s",
                tree.files,
                tree.bytes as f64 / 1e6,
                tree.bytes as f64 / tree.files.max(1) as f64,
                tree.parsed,
                tree.parsed_bytes as f64 / 1e6,
                tree.targets,
                tree.references,
                started.elapsed().as_secs_f64()
            );
            let row = measure(scenario, &tree, runs, TARGET, 0, &mut counter)?;
            print_row(&row);
            rows.push(row);
            if scenario == "mixed" && n == largest {
                // Seconds per run: fewer runs, so the whole benchmark stays short.
                let row = measure(
                    "not-found",
                    &tree,
                    runs.min(3),
                    "ghcr.io/acme/absent",
                    3,
                    &mut counter,
                )?;
                print_row(&row);
                rows.push(row);
            }
            if keep {
                println!("  kept: {}", tree.dir.keep().display());
            }
        }
    }

    // Linear fits of the median wall and CPU times on bytes read, over the mixed trees.
    let mixed: Vec<&Row> = rows.iter().filter(|r| r.scenario == "mixed").collect();
    println!();
    if mixed.len() >= 2 {
        let xs: Vec<f64> = mixed.iter().map(|r| r.mb()).collect();
        for (what, ys) in [
            (
                "wall",
                mixed.iter().map(|r| ms(r.wall_median)).collect::<Vec<_>>(),
            ),
            ("CPU ", mixed.iter().map(|r| ms(r.cpu_median)).collect()),
        ] {
            let (intercept, slope, r2) = linear_fit(&xs, &ys);
            println!(
                "Linear fit (mixed): {what} ≈ {intercept:6.1} ms + {slope:5.1} ms/MB × MB read (R² = {r2:.4})"
            );
        }
    }

    // Cost split: the prefilter-only tree has the same bytes; the difference is parsing.
    for m in &mixed {
        let Some(p) = rows
            .iter()
            .find(|r| r.scenario == "prefilter-only" && r.files == m.files)
        else {
            continue;
        };
        let extra_mb = (m.parsed_bytes.saturating_sub(p.parsed_bytes)) as f64 / 1e6;
        let extra_files = m.parsed.saturating_sub(p.parsed);
        let parse_ms = ms(m.wall_median) - ms(p.wall_median);
        let parse_cpu_ms = ms(m.cpu_median) - ms(p.cpu_median);
        println!(
            "Cost split at {} files: list + read + prefilter {:.0} ms wall ({:.0} ms CPU) for {:.1} MB; parsing {} more files ({extra_mb:.1} MB) adds {parse_ms:.0} ms wall ({parse_cpu_ms:.0} ms CPU, {:.0} µs CPU per parsed file, {:.1} MB/s per core)",
            m.files,
            ms(p.wall_median),
            ms(p.cpu_median),
            p.mb(),
            extra_files,
            parse_cpu_ms * 1e3 / extra_files.max(1) as f64,
            extra_mb / (parse_cpu_ms / 1e3)
        );
    }

    println!();
    println!(
        "| scenario | files | MB read | files parsed | wall median | wall min | CPU (user+sys) | cores busy | peak RSS | MB/s | µs/file |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for r in &rows {
        println!(
            "| {} | {} | {:.1} | {} ({:.1} MB) | {:.0} ms | {:.0} ms | {:.0} ms | {:.2} | {:.1} MB | {:.0} | {:.1} |",
            r.scenario,
            r.files,
            r.mb(),
            r.parsed,
            r.parsed_bytes as f64 / 1e6,
            ms(r.wall_median),
            ms(r.wall_min),
            ms(r.cpu_median),
            r.cores_busy(),
            r.rss_mb(),
            r.mb_per_s(),
            r.us_per_file()
        );
    }
    println!();
    println!(
        "{cores} cores ({}); timed runs after a warm-up: {}; page cache warm; MB = 10^6 bytes; load average {load_before} before, {} after.",
        cpu_model(),
        {
            let mut runs_text = format!("{runs} per scenario");
            for r in rows.iter().filter(|r| r.runs != runs) {
                let _ = write!(
                    runs_text,
                    ", {} at {} files: {}",
                    r.scenario, r.files, r.runs
                );
            }
            runs_text
        },
        load_average()
    );

    match rows
        .iter()
        .find(|r| r.scenario == "mixed" && r.files == TARGET_FILES)
    {
        Some(r) => {
            let wall_ok = r.wall_median.as_secs_f64() <= TARGET_WALL_S;
            let rss_ok = r.rss_mb() <= TARGET_RSS_MB;
            println!(
                "Target for {TARGET_FILES} files (≤ {TARGET_WALL_S} s wall, ≤ {TARGET_RSS_MB} MB peak): wall {:.3} s {}, peak RSS {:.1} MB {} => {}",
                r.wall_median.as_secs_f64(),
                if wall_ok { "ok" } else { "MISSED" },
                r.rss_mb(),
                if rss_ok { "ok" } else { "MISSED" },
                if wall_ok && rss_ok { "MET" } else { "NOT MET" }
            );
        }
        None => println!("Target: not checked ({TARGET_FILES} is not among the sizes)."),
    }
    Ok(())
}
