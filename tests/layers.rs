//! Dependencies only point down (issue 21): no import circles between ferry's modules.
//!
//! The test reads `src/**/*.rs`, collects every path a module names inside the crate
//! (`use crate::a::b`, `use super::x`, `crate::a::f()` in an expression, re-exports followed to
//! where the item is defined) and builds three graphs: between the top-level modules (`ci`,
//! `commands`, `report`, ...), between the modules of `src/commands` and between the modules of
//! `src/config`. A module is a file (`src/a/b.rs` is `a::b`, `src/a/mod.rs` is `a`). Test code
//! (`#[cfg(test)]` items and the files they declare) is left out: tests may reach anywhere.
//! A parent and its children (`commands` and `commands::bump`) are one node of the graph above
//! them and no node of the graph below, so `super::Error` is not an edge.
//!
//! On failure the message names every cycle and, for each edge of a cycle, the file and line
//! where the first reference is, so the fix can start there.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// The groups whose children are the nodes of one graph: the crate root, then these modules.
const GROUPS: &[&[&str]] = &[&[], &["commands"], &["config"]];

#[test]
fn module_graph_has_no_cycles() {
    let crate_graph = CrateGraph::read(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"));
    let mut report = String::new();
    for group in GROUPS {
        let graph = crate_graph.graph(group);
        for cycle in cycles(&graph) {
            let name = |node: &String| {
                group
                    .iter()
                    .copied()
                    .chain([node.as_str()])
                    .collect::<Vec<_>>()
                    .join("::")
            };
            let shown: Vec<String> = cycle.iter().chain(&cycle[..1]).map(name).collect();
            report.push_str(&format!("cycle: {}\n", shown.join(" -> ")));
            for (i, from) in cycle.iter().enumerate() {
                let to = &cycle[(i + 1) % cycle.len()];
                let at = &graph[from][to];
                report.push_str(&format!("  {} -> {}: {at}\n", name(from), name(to)));
            }
        }
    }
    assert!(
        report.is_empty(),
        "modules that import each other (dependencies must only point down):\n{report}"
    );
}

/// The graph also sees what it must see: a check of the checker on the crate as it is.
#[test]
fn module_graph_sees_known_edges() {
    let crate_graph = CrateGraph::read(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"));
    let top = crate_graph.graph(&[]);
    // `commands` uses the planner and the git layer; the planner uses the engine.
    for (from, to) in [
        ("commands", "plan"),
        ("commands", "git"),
        ("plan", "locate"),
    ] {
        assert!(
            top.get(from).is_some_and(|edges| edges.contains_key(to)),
            "expected an edge {from} -> {to} in {top:#?}"
        );
    }
    // Below `config`, the parser's error type is used through its re-export `super::ConfigError`
    // (followed to `config::error`).
    let config = crate_graph.graph(&["config"]);
    assert!(
        config
            .get("duration")
            .is_some_and(|edges| edges.contains_key("error")),
        "expected an edge config::duration -> config::error in {config:#?}"
    );
}

#[test]
fn paths_are_read_from_use_trees_and_expressions() {
    let text = r#"
        use crate::{a, b::{c, d as e}};
        use super::f::G;
        // use crate::not_a_comment;
        /* crate::nor_this */
        fn x<'a>(s: &'a str) -> char { let _ = "crate::nor_a_string"; let _ = crate::h::i(); '\'' }
        #[cfg(test)]
        mod tests { use crate::only_tests; }
        pub(in crate::j) fn y() {}
    "#;
    let cleaned = strip(text);
    let mut found: Vec<String> = references(&cleaned, &["m".to_owned(), "n".to_owned()])
        .into_iter()
        .map(|r| r.path.join("::"))
        .collect();
    found.sort();
    assert_eq!(found, ["a", "b::c", "b::d", "h::i", "m::f::G"]);
}

/// The longest function `src/commands` may hold (issue 21: commands are short orchestrations).
const LONGEST_COMMAND_FN: usize = 80;

/// No function of `src/commands` is longer than [`LONGEST_COMMAND_FN`] lines, from its `fn`
/// line to its closing brace (tests left out).
#[test]
fn command_functions_are_short() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let long: Vec<String> = sources(&src)
        .iter()
        .filter(|s| s.module.first().is_some_and(|m| m == "commands"))
        .flat_map(|s| {
            functions(&s.text)
                .into_iter()
                .filter(|f| f.lines > LONGEST_COMMAND_FN)
                .map(|f| format!("{}:{} fn {} is {} lines", s.shown, f.line, f.name, f.lines))
        })
        .collect();
    assert!(
        long.is_empty(),
        "functions in src/commands over {LONGEST_COMMAND_FN} lines (split them: a command \
         orchestrates, the work lives in the planners, the effect layers and present/):\n{}",
        long.join("\n")
    );
}

/// Commands decide; `present` tells: no text is built with `write!` or `writeln!` in
/// `src/commands` (tests left out).
#[test]
fn commands_build_no_text() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let found: Vec<String> = sources(&src)
        .iter()
        .filter(|s| s.module.first().is_some_and(|m| m == "commands"))
        .flat_map(|s| {
            let tokens = tokens(&s.text);
            tokens
                .windows(2)
                .filter_map(|pair| match pair {
                    [(Token::Ident(name), line), (Token::Punct('!'), _)]
                        if name == "write" || name == "writeln" =>
                    {
                        Some(format!("{}:{line} {name}!", s.shown))
                    }
                    _ => None,
                })
                .collect::<Vec<_>>()
        })
        .collect();
    assert!(
        found.is_empty(),
        "text built in src/commands (render it in src/present from the command's outcome):\n{}",
        found.join("\n")
    );
}

/// The checkers above see what they must: a long function, a short one, a body-less trait
/// method and a `fn` pointer type.
#[test]
fn functions_are_measured() {
    let body = "    let x = 1;\n".repeat(81);
    let text = format!(
        "trait T {{ fn decl(&self); }}\nfn short(f: fn(u8) -> u8) {{ f(1); }}\nfn long() {{\n{body}}}\n"
    );
    let found: Vec<(String, usize, usize)> = functions(&text)
        .into_iter()
        .map(|f| (f.name, f.line, f.lines))
        .collect();
    assert_eq!(
        found,
        vec![("short".to_owned(), 2, 1), ("long".to_owned(), 3, 83)]
    );
}

/// A function with a body: its name, the line of its `fn`, and its length in lines.
struct Function {
    name: String,
    line: usize,
    lines: usize,
}

/// The functions with a body in `text` (stripped), nested ones included.
fn functions(text: &str) -> Vec<Function> {
    let tokens = tokens(text);
    let mut out = Vec::new();
    for (i, (token, line)) in tokens.iter().enumerate() {
        let (Token::Ident(keyword), Some((Token::Ident(name), _))) = (token, tokens.get(i + 1))
        else {
            continue;
        };
        if keyword != "fn" {
            continue;
        }
        // The body is the first `{` before any `;` (a declaration has none).
        let Some(open) = tokens[i..]
            .iter()
            .position(|(t, _)| matches!(t, Token::Punct('{' | ';')))
            .map(|at| i + at)
            .filter(|&at| tokens[at].0 == Token::Punct('{'))
        else {
            continue;
        };
        let mut depth = 0usize;
        for (t, end) in &tokens[open..] {
            match t {
                Token::Punct('{') => depth += 1,
                Token::Punct('}') => {
                    depth -= 1;
                    if depth == 0 {
                        out.push(Function {
                            name: name.clone(),
                            line: *line,
                            lines: end - line + 1,
                        });
                        break;
                    }
                }
                _ => {}
            }
        }
    }
    out
}

/// Every module of the crate (test code left out) with the paths it names.
struct CrateGraph {
    /// Module path (`["commands", "bump"]`) to the paths it names.
    modules: BTreeMap<Vec<String>, Vec<Reference>>,
    /// `module::name` brought in by a `use` (re-exports and imports), to the path it stands for.
    aliases: BTreeMap<Vec<String>, Vec<String>>,
}

/// A path named by a module, absolute from the crate root, and where.
#[derive(Debug, Clone)]
struct Reference {
    path: Vec<String>,
    /// The name the `use` brings in (`None` for a path in an expression, or a glob).
    alias: Option<String>,
    file: String,
    line: usize,
}

/// One production source file: its module, its path as shown (`src/a/b.rs`), and its text with
/// comments, literals and test items blanked.
struct Source {
    module: Vec<String>,
    shown: String,
    text: String,
}

/// Every production source file of the library under `src` (the binary and the files only
/// tests compile left out).
fn sources(src: &Path) -> Vec<Source> {
    let mut files = Vec::new();
    walk(src, &mut files);
    let mut texts = BTreeMap::new();
    let mut test_files = BTreeSet::new();
    for file in &files {
        // The binary is another crate: its `crate::` is not the library's.
        if file.ends_with("main.rs") && file.parent() == Some(src) {
            continue;
        }
        let module = module_of(src, file);
        let text = strip(&fs::read_to_string(file).expect("read a source file"));
        // `#[cfg(test)] mod tests;` declares a file that only tests compile.
        for name in test_module_declarations(&text) {
            let mut child = module.clone();
            child.push(name);
            test_files.insert(child);
        }
        texts.insert(module, (file.clone(), text));
    }
    texts
        .into_iter()
        .filter(|(module, _)| !test_files.iter().any(|t| module.starts_with(t)))
        .map(|(module, (file, text))| Source {
            module,
            shown: file
                .strip_prefix(src.parent().expect("src has a parent"))
                .expect("under the crate")
                .display()
                .to_string(),
            text,
        })
        .collect()
}

impl CrateGraph {
    fn read(src: &Path) -> CrateGraph {
        let mut modules = BTreeMap::new();
        let mut aliases = BTreeMap::new();
        for Source {
            module,
            shown,
            text,
        } in &sources(src)
        {
            let mut refs = references(text, module);
            for r in &mut refs {
                r.file.clone_from(shown);
                if let Some(alias) = &r.alias {
                    let mut key = module.clone();
                    key.push(alias.clone());
                    aliases.insert(key, r.path.clone());
                }
            }
            modules.insert(module.clone(), refs);
        }
        CrateGraph { modules, aliases }
    }

    /// `path` with imports and re-exports replaced by what they stand for.
    fn resolve(&self, path: &[String]) -> Vec<String> {
        let mut path = path.to_vec();
        for _ in 0..16 {
            let hit = (1..=path.len())
                .rev()
                .find_map(|n| self.aliases.get(&path[..n]).map(|to| (n, to)));
            match hit {
                Some((n, to)) if to[..] != path[..n] => {
                    path = to.iter().chain(&path[n..]).cloned().collect();
                }
                _ => break,
            }
        }
        path
    }

    /// The graph between the children of `group`: node to node to the first reference.
    fn graph(&self, group: &[&str]) -> BTreeMap<String, BTreeMap<String, String>> {
        let depth = group.len();
        let in_group =
            |path: &[String]| path.len() > depth && path.iter().zip(group).all(|(a, b)| a == b);
        let nodes: BTreeSet<&String> = self
            .modules
            .keys()
            .filter(|m| in_group(m))
            .map(|m| &m[depth])
            .collect();
        let mut graph: BTreeMap<String, BTreeMap<String, String>> = nodes
            .iter()
            .map(|n| ((*n).clone(), BTreeMap::new()))
            .collect();
        for (module, refs) in &self.modules {
            if !in_group(module) {
                continue;
            }
            for r in refs {
                let path = self.resolve(&r.path);
                if !in_group(&path) || !nodes.contains(&path[depth]) || path[depth] == module[depth]
                {
                    continue;
                }
                graph
                    .entry(module[depth].clone())
                    .or_default()
                    .entry(path[depth].clone())
                    .or_insert_with(|| {
                        format!("{}:{} names {}", r.file, r.line, r.path.join("::"))
                    });
            }
        }
        graph
    }
}

fn walk(dir: &Path, files: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = fs::read_dir(dir)
        .expect("read src")
        .map(|e| e.expect("a directory entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            walk(&path, files);
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
}

/// `src/a/b.rs` is `["a", "b"]`, `src/a/mod.rs` is `["a"]`, `src/lib.rs` and `src/main.rs` the root.
fn module_of(src: &Path, file: &Path) -> Vec<String> {
    let relative = file
        .strip_prefix(src)
        .expect("under src")
        .with_extension("");
    let mut parts: Vec<String> = relative
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts
}

/// The text with comments, string and character literals blanked (lines kept) and every
/// `#[cfg(test)]` item removed.
fn strip(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let blank = |out: &mut String, c: char| out.push(if c == '\n' { '\n' } else { ' ' });
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    blank(&mut out, chars[i]);
                    i += 1;
                }
            }
        } else if (c == 'r' || (c == 'b' && next == Some('r')))
            && !prev_is_ident(&chars, i)
            && raw_string_start(&chars, i + usize::from(c == 'b') + 1).is_some()
        {
            let start = i + usize::from(c == 'b') + 1;
            let hashes = raw_string_start(&chars, start).unwrap_or(0);
            i = start + hashes + 1;
            loop {
                if i >= chars.len() {
                    break;
                }
                if chars[i] == '"' && (0..hashes).all(|k| chars.get(i + 1 + k) == Some(&'#')) {
                    i += 1 + hashes;
                    break;
                }
                blank(&mut out, chars[i]);
                i += 1;
            }
            out.push_str("\"\"");
        } else if c == '"' {
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                if chars[i] == '\\' {
                    i += 1;
                }
                if let Some(&c) = chars.get(i) {
                    blank(&mut out, c);
                }
                i += 1;
            }
            i += 1;
            out.push_str("\"\"");
        } else if c == '\'' {
            // A character literal ('x', '\n', '\'', '\u{1F}') or a lifetime ('a).
            if next == Some('\\') {
                i += 2;
                while i < chars.len() && chars[i] != '\'' {
                    i += 1;
                }
                i += 1;
                out.push_str("' '");
            } else if chars.get(i + 2) == Some(&'\'') {
                i += 3;
                out.push_str("' '");
            } else {
                out.push(c);
                i += 1;
            }
        } else {
            out.push(c);
            i += 1;
        }
    }
    remove_test_items(&out)
}

fn prev_is_ident(chars: &[char], i: usize) -> bool {
    i > 0 && (chars[i - 1].is_alphanumeric() || chars[i - 1] == '_')
}

/// At `chars[at..]`, `#*"` opens a raw string: the number of `#`.
fn raw_string_start(chars: &[char], at: usize) -> Option<usize> {
    let hashes = chars[at.min(chars.len())..]
        .iter()
        .take_while(|&&c| c == '#')
        .count();
    (chars.get(at + hashes) == Some(&'"')).then_some(hashes)
}

/// Blanks each item that follows `#[cfg(test)]` (up to its `;` or its closing brace).
fn remove_test_items(text: &str) -> String {
    const MARK: &str = "#[cfg(test)]";
    let bytes = text.as_bytes();
    let mut out = text.as_bytes().to_vec();
    let mut from = 0;
    while let Some(found) = text[from..].find(MARK) {
        let start = from + found;
        let mut i = start + MARK.len();
        let mut depth = 0usize;
        while i < bytes.len() {
            match bytes[i] {
                b'{' => depth += 1,
                b'}' => {
                    depth -= 1;
                    if depth == 0 {
                        i += 1;
                        break;
                    }
                }
                b';' if depth == 0 => {
                    i += 1;
                    break;
                }
                _ => {}
            }
            i += 1;
        }
        // `mod name;` after the mark is kept for test_module_declarations.
        let item = &text[start + MARK.len()..i];
        let keep = item.trim_start().starts_with("mod ") && item.trim_end().ends_with(';');
        if !keep {
            for b in &mut out[start..i] {
                if *b != b'\n' {
                    *b = b' ';
                }
            }
        }
        from = i;
    }
    String::from_utf8(out).expect("ASCII blanks keep UTF-8")
}

/// The names in `#[cfg(test)] mod NAME;`.
fn test_module_declarations(text: &str) -> Vec<String> {
    const MARK: &str = "#[cfg(test)]";
    text.match_indices(MARK)
        .filter_map(|(at, _)| {
            let rest = text[at + MARK.len()..].trim_start();
            let rest = rest.strip_prefix("pub ").unwrap_or(rest).trim_start();
            let name = rest.strip_prefix("mod ")?.split(';').next()?.trim();
            (name.chars().all(|c| c.is_alphanumeric() || c == '_')).then(|| name.to_owned())
        })
        .collect()
}

/// A token of the stripped text: an identifier, `::`, or one punctuation character.
#[derive(Debug, Clone, PartialEq)]
enum Token {
    Ident(String),
    PathSep,
    Punct(char),
}

fn tokens(text: &str) -> Vec<(Token, usize)> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut line = 1;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\n' {
            line += 1;
            i += 1;
        } else if c.is_whitespace() {
            i += 1;
        } else if c.is_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            out.push((Token::Ident(chars[start..i].iter().collect()), line));
        } else if c.is_ascii_digit() {
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
        } else if c == ':' && chars.get(i + 1) == Some(&':') {
            out.push((Token::PathSep, line));
            i += 2;
        } else {
            out.push((Token::Punct(c), line));
            i += 1;
        }
    }
    out
}

/// The crate paths `text` (of module `module`) names: `use` trees, and `crate::`/`super::`/
/// `self::` paths anywhere else. Paths are made absolute; other paths (std, other crates, names
/// brought in by a `use`) are left to the `use` that brought them.
fn references(text: &str, module: &[String]) -> Vec<Reference> {
    let tokens = tokens(text);
    let mut out = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        let (token, line) = &tokens[i];
        let after_dollar = i > 0 && tokens[i - 1].0 == Token::Punct('$');
        match token {
            Token::Ident(word) if word == "use" => {
                let mut leaves = Vec::new();
                i = use_tree(&tokens, i + 1, Vec::new(), &mut leaves).max(i + 1);
                for (path, alias) in leaves {
                    if let Some(path) = absolute(&path, module, true) {
                        out.push(Reference {
                            path,
                            alias,
                            file: String::new(),
                            line: *line,
                        });
                    }
                }
            }
            // `pub(in crate::x)` is a visibility, not a dependency.
            Token::Ident(word) if word == "in" => i = skip_path(&tokens, i + 1),
            Token::Ident(word)
                if !after_dollar
                    && matches!(word.as_str(), "crate" | "super" | "self")
                    && tokens.get(i + 1).map(|t| &t.0) == Some(&Token::PathSep) =>
            {
                let start = i;
                i = skip_path(&tokens, i);
                let path: Vec<String> = tokens[start..i]
                    .iter()
                    .filter_map(|(t, _)| match t {
                        Token::Ident(s) => Some(s.clone()),
                        _ => None,
                    })
                    .collect();
                if let Some(path) = absolute(&path, module, false) {
                    out.push(Reference {
                        path,
                        alias: None,
                        file: String::new(),
                        line: *line,
                    });
                }
            }
            _ => i += 1,
        }
    }
    out
}

/// The index after the path `ident (:: ident)*` that starts at `i`.
fn skip_path(tokens: &[(Token, usize)], mut i: usize) -> usize {
    while matches!(tokens.get(i), Some((Token::Ident(_), _))) {
        i += 1;
        if tokens.get(i).map(|t| &t.0) == Some(&Token::PathSep)
            && matches!(tokens.get(i + 1), Some((Token::Ident(_), _)))
        {
            i += 1;
        } else {
            break;
        }
    }
    i
}

/// Reads the use tree at `i` under `prefix`, each leaf as (path, the name it brings in; `None`
/// for a glob or `_`); returns the index after the tree.
fn use_tree(
    tokens: &[(Token, usize)],
    mut i: usize,
    prefix: Vec<String>,
    leaves: &mut Vec<(Vec<String>, Option<String>)>,
) -> usize {
    let mut path = prefix;
    loop {
        match tokens.get(i).map(|t| &t.0) {
            Some(Token::Ident(name)) => {
                path.push(name.clone());
                i += 1;
                if tokens.get(i).map(|t| &t.0) == Some(&Token::PathSep) {
                    i += 1;
                    continue;
                }
                if path.last().is_some_and(|s| s == "self") {
                    path.pop();
                }
                let mut alias = path.last().cloned();
                if tokens.get(i).map(|t| &t.0) == Some(&Token::Ident("as".to_owned())) {
                    alias = match tokens.get(i + 1) {
                        Some((Token::Ident(name), _)) if name != "_" => Some(name.clone()),
                        _ => None,
                    };
                    i += 2;
                }
                leaves.push((path, alias));
                return i;
            }
            Some(Token::Punct('*')) => {
                leaves.push((path, None));
                return i + 1;
            }
            Some(Token::Punct('{')) => {
                i += 1;
                while i < tokens.len() && tokens[i].0 != Token::Punct('}') {
                    let before = i;
                    i = use_tree(tokens, i, path.clone(), leaves);
                    if tokens.get(i).map(|t| &t.0) == Some(&Token::Punct(',')) {
                        i += 1;
                    }
                    if i == before {
                        i += 1;
                    }
                }
                return i + 1;
            }
            _ => return i,
        }
    }
}

/// `path` as named in `module`, from the crate root; `None` outside the crate. In a `use`, a path
/// that starts with a child module's name is relative to `module` (2018 paths).
fn absolute(path: &[String], module: &[String], in_use: bool) -> Option<Vec<String>> {
    let (first, rest) = path.split_first()?;
    let mut base: Vec<String> = match first.as_str() {
        "crate" => Vec::new(),
        "self" => module.to_vec(),
        "super" => {
            let mut base = module.to_vec();
            base.pop();
            base
        }
        // In a `use`, a path may start with a name in scope: a child module, or an import (both
        // resolved later through the aliases); other crates' paths resolve to nothing in the crate.
        _ if in_use => return Some(module.iter().chain(path).cloned().collect()),
        _ => return None,
    };
    let mut rest = rest;
    while let Some((next, tail)) = rest.split_first() {
        if next != "super" {
            break;
        }
        base.pop();
        rest = tail;
    }
    base.extend(rest.iter().cloned());
    Some(base)
}

/// Every elementary cycle of `graph`, each once, starting at its smallest node.
fn cycles(graph: &BTreeMap<String, BTreeMap<String, String>>) -> Vec<Vec<String>> {
    let mut found = Vec::new();
    for start in graph.keys() {
        let mut stack = vec![start.clone()];
        extend(graph, start, &mut stack, &mut found);
    }
    found
}

fn extend(
    graph: &BTreeMap<String, BTreeMap<String, String>>,
    start: &String,
    stack: &mut Vec<String>,
    found: &mut Vec<Vec<String>>,
) {
    let last = stack.last().expect("a path").clone();
    for next in graph.get(&last).into_iter().flat_map(BTreeMap::keys) {
        if next == start {
            found.push(stack.clone());
        } else if next > start && !stack.contains(next) && found.len() < 200 {
            stack.push(next.clone());
            extend(graph, start, stack, found);
            stack.pop();
        }
    }
}
