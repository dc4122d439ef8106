//! Which users a CODEOWNERS file names for a finding's paths. Patterns are gitignore's, matched
//! by the `ignore` crate (ripgrep's matcher), with GitHub's rules on top: the last line whose
//! pattern matches wins, a line without owners leaves its paths unowned, and only users can be
//! assigned to an issue, so teams (`@org/team`) and email addresses are skipped.
use std::collections::HashMap;
use std::path::Path;

use ignore::gitignore::{Gitignore, GitignoreBuilder};
use ignore::Match;

/// GitHub assigns at most this many users to an issue.
pub const MAX_ASSIGNEES: usize = 10;

pub struct CodeOwners {
    /// Every rule, matched against a path itself.
    own: Gitignore,
    /// The rules that also own what is under a directory they match: all but `dir/*`, which
    /// GitHub documents as owning only the files directly in `dir`.
    under: Gitignore,
    /// Each rule's line number and users, by its pattern: the matcher says which pattern
    /// matched. Of lines with one pattern the last counts, as it would win anyway.
    rules: HashMap<String, (usize, Vec<String>)>,
}

impl CodeOwners {
    /// Lines GitHub would skip (a negation, which CODEOWNERS does not support, or a pattern
    /// the matcher cannot read) are skipped; the rest still apply.
    pub fn parse(text: &str) -> Self {
        let mut own = GitignoreBuilder::new("");
        let mut under = GitignoreBuilder::new("");
        let mut rules = HashMap::new();
        for (number, line) in text.trim_start_matches('\u{feff}').lines().enumerate() {
            let tokens = tokens(line);
            let Some((pattern, owners)) = tokens.split_first() else {
                continue;
            };
            if pattern.starts_with('#') || pattern.starts_with('!') {
                continue;
            }
            if let Err(error) = own.add_line(None, pattern) {
                tracing::debug!(line = number + 1, %error, "CODEOWNERS line skipped");
                continue;
            }
            if !pattern.ends_with("/*") {
                under.add_line(None, pattern).expect("it parsed above");
            }
            let users = owners
                .iter()
                .take_while(|owner| !owner.starts_with('#'))
                .filter_map(|owner| user(owner))
                .collect();
            rules.insert(pattern.clone(), (number, users));
        }
        let build = |builder: GitignoreBuilder| builder.build().unwrap_or_else(|_| Gitignore::empty());
        Self {
            own: build(own),
            under: build(under),
            rules,
        }
    }

    /// The users of the last rule that matches `path` or a directory it is in; none when no rule
    /// does, or the last that does names no user.
    pub fn owners_of(&self, path: &str) -> &[String] {
        let path = path.trim_start_matches("./").trim_start_matches('/');
        let mut best: Option<&(usize, Vec<String>)> = None;
        let mut consider = |matched: Match<&ignore::gitignore::Glob>| {
            if let Match::Ignore(glob) = matched {
                let rule = self.rules.get(glob.original());
                if rule.is_some_and(|r| best.is_none_or(|b| r.0 > b.0)) {
                    best = rule;
                }
            }
        };
        consider(self.own.matched(path, false));
        let mut dir = Path::new(path).parent();
        while let Some(d) = dir.filter(|d| !d.as_os_str().is_empty()) {
            consider(self.under.matched(d, true));
            dir = d.parent();
        }
        best.map_or(&[], |(_, users)| users.as_slice())
    }

    /// The owners of `paths`, each once (GitHub's logins ignore case), in a stable order (paths
    /// sorted, each rule's users as written), leaving out `refused`, at most `MAX_ASSIGNEES`.
    pub fn assignees<'a>(&self, paths: impl IntoIterator<Item = &'a str>, refused: &[String]) -> Vec<String> {
        let mut paths: Vec<&str> = paths.into_iter().collect();
        paths.sort_unstable();
        paths.dedup();
        let mut chosen: Vec<String> = Vec::new();
        for user in paths.into_iter().flat_map(|p| self.owners_of(p)) {
            let known = |list: &[String]| list.iter().any(|u| u.eq_ignore_ascii_case(user));
            if !known(&chosen) && !known(refused) {
                chosen.push(user.clone());
                if chosen.len() == MAX_ASSIGNEES {
                    break;
                }
            }
        }
        chosen
    }
}

/// A line's words: split on unescaped whitespace (`\ ` keeps a space in a pattern, as gitignore
/// reads it).
fn tokens(line: &str) -> Vec<String> {
    let mut tokens = Vec::new();
    let mut current = String::new();
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                current.push(c);
                if let Some(next) = chars.next() {
                    current.push(next);
                }
            }
            c if c.is_whitespace() => {
                if !current.is_empty() {
                    tokens.push(std::mem::take(&mut current));
                }
            }
            c => current.push(c),
        }
    }
    if !current.is_empty() {
        tokens.push(current);
    }
    tokens
}

/// `@login` is a user; `@org/team` (a team) and `name@example.com` (an email) are not.
fn user(owner: &str) -> Option<String> {
    let login = owner.strip_prefix('@')?;
    let valid = !login.is_empty()
        && login
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    valid.then(|| login.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owners(file: &str, path: &str) -> Vec<String> {
        CodeOwners::parse(file).owners_of(path).to_vec()
    }

    #[test]
    fn the_last_matching_line_wins() {
        let file = "* @all\n/src/ @src-team-lead\n/src/legacy/ @old\n";
        assert_eq!(owners(file, "src/legacy/parse.go"), ["old"]);
        assert_eq!(owners(file, "src/legacy/deep/er/x.go"), ["old"]);
        assert_eq!(owners(file, "src/main.go"), ["src-team-lead"]);
        assert_eq!(owners(file, "README.md"), ["all"]);
        // Later lines win even when an earlier one names the file itself.
        let file = "*.go @gophers\n/src/ @src\n";
        assert_eq!(owners(file, "src/main.go"), ["src"]);
        assert_eq!(owners(file, "cmd/main.go"), ["gophers"]);
        let file = "/src/ @src\n*.go @gophers\n";
        assert_eq!(owners(file, "src/main.go"), ["gophers"]);
    }

    #[test]
    fn githubs_documented_examples() {
        let file = "\
# A comment
*       @global-owner1 @global-owner2
*.js    @js-owner #This is an inline comment.
*.go docs@example.com
*.txt @octo-org/octocats
/build/logs/ @doctocat
docs/*  @docs-owner
apps/ @octocat
**/logs @logs-owner
/apps/ @octocat
/apps/github
";
        assert_eq!(owners(file, "index.html"), ["global-owner1", "global-owner2"]);
        assert_eq!(
            owners(file, "web/app.js"),
            ["js-owner"],
            "the comment is not an owner"
        );
        assert!(
            owners(file, "main.go").is_empty(),
            "an email is not assignable, and still wins"
        );
        assert!(
            owners(file, "notes.txt").is_empty(),
            "a team is not assignable, and still wins"
        );
        assert_eq!(owners(file, "docs/getting-started.md"), ["docs-owner"]);
        assert_eq!(
            owners(file, "docs/build-app/troubleshooting.md"),
            ["global-owner1", "global-owner2"],
            "docs/* owns only the files directly in docs"
        );
        assert_eq!(owners(file, "deeply/nested/logs/x.log"), ["logs-owner"]);
        assert_eq!(
            owners(file, "build/logs/x.log"),
            ["logs-owner"],
            "the later **/logs wins"
        );
        assert_eq!(owners(file, "nested/apps/x.rb"), ["octocat"], "apps/ anywhere");
        assert!(
            owners(file, "apps/github/x.rb").is_empty(),
            "a line without owners un-owns"
        );
        assert_eq!(owners(file, "apps/other/x.rb"), ["octocat"]);
    }

    #[test]
    fn odd_lines_are_skipped_and_the_rest_apply() {
        let file = "\u{feff}* @all\r\n!src/ @nobody\r\n\r\n   # indented comment\r\n/odd\\ name.go @spaced\r\n[z-a] @bad\r\n";
        assert_eq!(
            owners(file, "src/x.go"),
            ["all"],
            "negation is not CODEOWNERS syntax"
        );
        assert_eq!(owners(file, "odd name.go"), ["spaced"]);
        assert_eq!(owners(file, "./odd name.go"), ["spaced"]);
        assert!(owners("", "a.go").is_empty());
        assert!(owners("src/ @a", "lib/a.go").is_empty(), "no rule matches");
    }

    #[test]
    fn assignees_are_deduplicated_stable_and_at_most_ten() {
        let mut file = String::from("* @Zed @amy\n");
        for i in 0..12 {
            file.push_str(&format!("/d{i}/ @u{i} @amy\n"));
        }
        let owners = CodeOwners::parse(&file);
        let paths = ["d1/a.go", "z.go", "d0/b.go", "d1/a.go", "d0/c.go"];
        assert_eq!(owners.assignees(paths, &[]), ["u0", "amy", "u1", "Zed"]);
        assert_eq!(
            owners.assignees(["z.go"], &["zed".into()]),
            ["amy"],
            "refused logins, any case"
        );
        let all: Vec<String> = (0..12).map(|i| format!("d{i}/x.go")).collect();
        let chosen = owners.assignees(all.iter().map(String::as_str), &[]);
        assert_eq!(chosen.len(), MAX_ASSIGNEES);
        assert_eq!(chosen[..3], ["u0", "amy", "u1"]);
    }
}
