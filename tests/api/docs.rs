//! The manual does not drift: `docs/configuration.md` names exactly the variables `.env.example`
//! lists, and the README reaches every page of `docs/`.
use std::collections::BTreeSet;
use std::path::Path;

fn read(path: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(path))
        .unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn is_variable(name: &str) -> bool {
    name.len() > 2
        && name
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

/// `NAME=` lines of `.env.example`, set or commented out.
fn example_variables() -> BTreeSet<String> {
    read(".env.example")
        .lines()
        .map(|l| l.trim_start_matches('#').trim_start())
        .filter_map(|l| l.split_once('=').map(|(name, _)| name.to_owned()))
        .filter(|name| is_variable(name))
        .collect()
}

/// The names in the first column of the configuration table.
fn documented_variables() -> BTreeSet<String> {
    read("docs/configuration.md")
        .lines()
        .filter_map(|l| l.strip_prefix("| "))
        .filter_map(|l| l.split(" |").next())
        .flat_map(|cell| cell.split('`').map(str::to_owned).collect::<Vec<_>>())
        .filter(|name| is_variable(name))
        .collect()
}

#[test]
fn the_configuration_page_and_env_example_name_the_same_variables() {
    let example = example_variables();
    let documented = documented_variables();
    assert!(example.len() > 30, "read .env.example: {example:?}");
    let undocumented: Vec<_> = example.difference(&documented).collect();
    let unlisted: Vec<_> = documented.difference(&example).collect();
    assert!(
        undocumented.is_empty() && unlisted.is_empty(),
        "in .env.example but not docs/configuration.md: {undocumented:?}; the other way: {unlisted:?}"
    );
}

#[test]
fn the_readme_links_every_page_of_the_manual_and_stays_short() {
    let readme = read("README.md");
    let pages: Vec<String> = std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".md"))
        .collect();
    assert!(pages.len() >= 5, "{pages:?}");
    for page in pages {
        assert!(
            readme.contains(&format!("](docs/{page})")),
            "the README links docs/{page}"
        );
    }
    assert!(
        readme.lines().count() <= 200,
        "the README is the front door, not the manual"
    );
}
