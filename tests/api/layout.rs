//! The shape of the source, checked: no two files of `src/` import each other, directly or in a
//! ring; no file over 400 lines; no folder over a quarter of `src/`; each folder says in its
//! `mod.rs` what it holds. An import is any `use` of, or path through, another file's module:
//! `crate::…`, `super::…`, and in a `mod.rs` a path through one of its own child modules.
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const MAX_FILE_LINES: usize = 400;

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every `.rs` file under `src/`, with its module path (`sync::driver`; `sync` for
/// `sync/mod.rs`; the crate root and binaries are left out: they only use the library).
fn modules() -> BTreeMap<String, PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    let mut files = Vec::new();
    walk(&src(), &mut files);
    files
        .into_iter()
        .filter_map(|file| {
            let relative = file.strip_prefix(src()).unwrap().with_extension("");
            let mut parts: Vec<String> = relative
                .iter()
                .map(|p| p.to_string_lossy().into_owned())
                .collect();
            if parts[0] == "bin" || parts == ["lib"] || parts == ["main"] {
                return None;
            }
            if parts.last().is_some_and(|p| p == "mod") {
                parts.pop();
            }
            Some((parts.join("::"), file))
        })
        .collect()
}

/// The code of a file without its comments and string literals, which may mention paths.
fn code(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        let line = line.split("//").next().unwrap_or_default();
        let mut in_string = false;
        for c in line.chars() {
            if c == '"' {
                in_string = !in_string;
                continue;
            }
            if !in_string {
                out.push(c);
            }
        }
        out.push('\n');
    }
    out
}

/// The modules a file's code names, resolved to the longest module path that is a file.
fn imports(module: &str, is_mod_rs: bool, text: &str, known: &BTreeMap<String, PathBuf>) -> BTreeSet<String> {
    let code = code(text);
    // Inside an inline module (`mod tests { … }`, at the end of a file), `super` is the file.
    match code
        .find("\nmod ")
        .or_else(|| code.find("\npub mod "))
        .filter(|at| {
            let rest = &code[at + 1..];
            rest.lines().next().is_some_and(|l| l.trim_end().ends_with('{'))
        }) {
        Some(at) => {
            let mut found = paths(module, is_mod_rs, &code[..at], known, false);
            found.extend(paths(module, is_mod_rs, &code[at..], known, true));
            found
        }
        None => paths(module, is_mod_rs, &code, known, false),
    }
}

fn paths(
    module: &str,
    is_mod_rs: bool,
    code: &str,
    known: &BTreeMap<String, PathBuf>,
    nested: bool,
) -> BTreeSet<String> {
    let parent: Vec<&str> = {
        let mut p: Vec<&str> = module.split("::").collect();
        if !is_mod_rs && !nested {
            p.pop();
        }
        p
    };
    let children: Vec<String> = if is_mod_rs {
        code.lines()
            .filter_map(|l| {
                let l = l.trim();
                let l = l.strip_prefix("pub ").unwrap_or(l);
                let l = l.strip_prefix("pub(crate) ").unwrap_or(l);
                l.strip_prefix("mod ")
                    .and_then(|m| m.strip_suffix(';'))
                    .map(str::to_owned)
            })
            .collect()
    } else {
        Vec::new()
    };
    let mut found = BTreeSet::new();
    let chars: Vec<char> = code.chars().collect();
    let ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut i = 0;
    while i < chars.len() {
        if !(ident(chars[i]) && (i == 0 || !ident(chars[i - 1]) && chars[i - 1] != ':')) {
            i += 1;
            continue;
        }
        // A path: identifiers joined by `::`, possibly with `{` groups (their first segment).
        let mut segments = Vec::new();
        let mut j = i;
        loop {
            let start = j;
            while j < chars.len() && ident(chars[j]) {
                j += 1;
            }
            segments.push(chars[start..j].iter().collect::<String>());
            if j + 2 < chars.len() && chars[j] == ':' && chars[j + 1] == ':' && ident(chars[j + 2]) {
                j += 2;
                continue;
            }
            break;
        }
        i = j.max(i + 1);
        let grouped = chars.get(j..j + 3) == Some(&[':', ':', '{'][..]);
        if segments.len() < 2 && !grouped {
            continue;
        }
        let mut base: Vec<String> = match segments[0].as_str() {
            "crate" => Vec::new(),
            "super" => parent.iter().map(|s| s.to_string()).collect(),
            "self" if is_mod_rs => module.split("::").map(str::to_owned).collect(),
            first if children.iter().any(|c| c == first) => module.split("::").map(str::to_owned).collect(),
            _ => continue,
        };
        let mut rest = &segments[..];
        if matches!(segments[0].as_str(), "crate" | "self" | "super") {
            rest = &segments[1..];
        }
        while rest.first().is_some_and(|s| s == "super") {
            base.pop();
            rest = &rest[1..];
        }
        // `a::b::{c, d::e}`: each item of the group continues the path.
        let mut tails: Vec<Vec<String>> = vec![Vec::new()];
        if chars.get(j..j + 3) == Some(&[':', ':', '{'][..]) {
            tails.clear();
            let mut depth = 0;
            let mut k = j + 2;
            let mut group = String::new();
            while k < chars.len() {
                match chars[k] {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    _ => {}
                }
                group.push(chars[k]);
                k += 1;
                if depth == 0 {
                    break;
                }
            }
            let inner = &group[1..group.len().saturating_sub(1)];
            let mut level = 0;
            let mut item = String::new();
            for c in inner.chars().chain([',']) {
                match c {
                    '{' => level += 1,
                    '}' => level -= 1,
                    ',' if level == 0 => {
                        let head: Vec<String> = item
                            .trim()
                            .split("::")
                            .map(|p| p.chars().take_while(|c| ident(*c)).collect::<String>())
                            .take_while(|p| !p.is_empty() && p != "self")
                            .collect();
                        tails.push(head);
                        item.clear();
                        continue;
                    }
                    _ => {}
                }
                item.push(c);
            }
            i = k;
        }
        for tail in tails {
            let mut best = None;
            let mut path = base.clone();
            if !path.is_empty() && known.contains_key(&path.join("::")) {
                best = Some(path.join("::"));
            }
            for segment in rest.iter().chain(tail.iter()) {
                path.push(segment.clone());
                let name = path.join("::");
                if known.contains_key(&name) {
                    best = Some(name);
                }
            }
            if let Some(target) = best.filter(|t| t != module) {
                found.insert(target);
            }
        }
    }
    found
}

fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let known = modules();
    known
        .iter()
        .map(|(module, file)| {
            let text = std::fs::read_to_string(file).unwrap();
            let is_mod_rs = file.file_name().is_some_and(|n| n == "mod.rs");
            (module.clone(), imports(module, is_mod_rs, &text, &known))
        })
        .collect()
}

/// Every ring of imports, each named by its members in order.
fn cycles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    // Tarjan's strongly connected components: any component of more than one file is a ring.
    struct State<'a> {
        graph: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: BTreeSet<&'a str>,
        found: Vec<Vec<String>>,
    }
    fn visit<'a>(s: &mut State<'a>, v: &'a str) {
        let n = s.index.len();
        s.index.insert(v, n);
        s.low.insert(v, n);
        s.stack.push(v);
        s.on_stack.insert(v);
        for w in s.graph.get(v).into_iter().flatten() {
            let w = w.as_str();
            if !s.index.contains_key(w) {
                visit(s, w);
                let low = s.low[w].min(s.low[v]);
                s.low.insert(v, low);
            } else if s.on_stack.contains(w) {
                let low = s.index[w].min(s.low[v]);
                s.low.insert(v, low);
            }
        }
        if s.low[v] == s.index[v] {
            let mut component = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack.remove(w);
                component.push(w.to_owned());
                if w == v {
                    break;
                }
            }
            if component.len() > 1 {
                component.sort();
                s.found.push(component);
            }
        }
    }
    let mut state = State {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        found: Vec::new(),
    };
    for v in graph.keys() {
        if !state.index.contains_key(v.as_str()) {
            visit(&mut state, v);
        }
    }
    state.found
}

#[test]
fn no_two_files_of_src_import_each_other_directly_or_in_a_ring() {
    let graph = graph();
    assert!(
        graph.contains_key("sync") && graph.len() > 40,
        "the walk found the source"
    );
    let found = cycles(&graph);
    let detail: Vec<String> = found
        .iter()
        .map(|ring| {
            let edges: Vec<String> = ring
                .iter()
                .flat_map(|from| {
                    graph[from]
                        .iter()
                        .filter(|to| ring.contains(to))
                        .map(move |to| format!("{from} -> {to}"))
                })
                .collect();
            edges.join(", ")
        })
        .collect();
    assert!(
        found.is_empty(),
        "import rings (files that import each other): {detail:#?}"
    );
}

#[test]
fn the_checker_sees_a_ring_and_the_paths_that_make_one() {
    let known: BTreeMap<String, PathBuf> = ["a", "a::b", "a::c", "d"]
        .iter()
        .map(|m| (m.to_string(), PathBuf::new()))
        .collect();
    let b = imports(
        "a::b",
        false,
        "use super::c::Thing;\nfn f() { crate::d::go(); }",
        &known,
    );
    assert_eq!(b, ["a::c", "d"].iter().map(|s| s.to_string()).collect());
    let a = imports(
        "a",
        true,
        "mod b;\nmod c;\npub use b::X;\n// c::ignored\nfn f() { let s = \"c::no\"; }",
        &known,
    );
    assert_eq!(a, ["a::b"].iter().map(|s| s.to_string()).collect());
    let grouped = imports("d", false, "use crate::a::{b::X, c};", &known);
    assert_eq!(grouped, ["a::b", "a::c"].iter().map(|s| s.to_string()).collect());
    let c = imports("a::c", false, "use super::helper;\nuse super::super::d;", &known);
    assert_eq!(c, ["a", "d"].iter().map(|s| s.to_string()).collect());
    let graph: BTreeMap<String, BTreeSet<String>> =
        [("a", a), ("a::b", b), ("a::c", c), ("d", BTreeSet::new())]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
    assert_eq!(
        cycles(&graph),
        vec![vec!["a".to_string(), "a::b".into(), "a::c".into()]]
    );
}

#[test]
fn no_source_file_is_over_400_lines_and_no_folder_over_a_quarter_of_src() {
    let modules = modules();
    let mut total = 0;
    let mut folders: BTreeMap<String, usize> = BTreeMap::new();
    let mut long = Vec::new();
    for file in modules.values() {
        let lines = std::fs::read_to_string(file).unwrap().lines().count();
        total += lines;
        if lines > MAX_FILE_LINES {
            long.push(format!("{} ({lines})", file.display()));
        }
        let relative = file.strip_prefix(src()).unwrap();
        if relative.components().count() > 1 {
            let folder = relative.iter().next().unwrap().to_string_lossy().into_owned();
            *folders.entry(folder).or_default() += lines;
        }
    }
    assert!(long.is_empty(), "files over {MAX_FILE_LINES} lines: {long:?}");
    let big: Vec<String> = folders
        .iter()
        .filter(|(_, lines)| **lines * 4 > total)
        .map(|(folder, lines)| format!("src/{folder}/: {lines} of {total} lines"))
        .collect();
    assert!(big.is_empty(), "folders over a quarter of src/: {big:?}");
}

#[test]
fn every_folder_says_what_it_holds() {
    let silent: Vec<String> = modules()
        .values()
        .filter(|file| file.file_name().is_some_and(|n| n == "mod.rs"))
        .filter(|file| !std::fs::read_to_string(file).unwrap().starts_with("//!"))
        .map(|file| file.display().to_string())
        .collect();
    assert!(
        silent.is_empty(),
        "a mod.rs without its opening //! lines: {silent:?}"
    );
}
