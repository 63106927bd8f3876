//! The README is a front door and the guide (`docs/`) holds the rest: the
//! README stays short, every page starts with its commands, and every link
//! between them (to a page, a section of one, or a picture) leads
//! somewhere. The commands themselves run in the tests that read them (the
//! quick start, the MediaMTX hook).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use framewire_tests::workspace;

/// The README and every page of the guide.
fn pages() -> Vec<PathBuf> {
    let mut pages = vec![workspace().join("README.md")];
    let docs = std::fs::read_dir(workspace().join("docs")).unwrap();
    let mut guide: Vec<PathBuf> = docs
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "md"))
        .collect();
    guide.sort();
    pages.extend(guide);
    pages
}

/// The anchors GitHub makes of a page's headings (outside code blocks).
fn anchors(text: &str) -> BTreeSet<String> {
    let mut in_code = false;
    let mut anchors = BTreeSet::new();
    for line in text.lines() {
        if line.starts_with("```") {
            in_code = !in_code;
        } else if !in_code && line.starts_with('#') {
            let heading = line.trim_start_matches('#').trim().to_lowercase();
            let anchor: String = heading
                .chars()
                .filter(|c| c.is_alphanumeric() || *c == '-' || *c == '_' || *c == ' ')
                .map(|c| if c == ' ' { '-' } else { c })
                .collect();
            anchors.insert(anchor);
        }
    }
    anchors
}

/// Every link target in `text`: `](target)` and `src="target"`.
fn links(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    for (opening, closing) in [("](", ')'), ("src=\"", '"')] {
        for (at, _) in text.match_indices(opening) {
            let rest = &text[at + opening.len()..];
            if let Some(end) = rest.find(closing) {
                found.push(rest[..end].to_owned());
            }
        }
    }
    found
}

#[test]
fn every_link_in_the_readme_and_the_guide_leads_somewhere() {
    let mut broken = Vec::new();
    for page in pages() {
        let text = std::fs::read_to_string(&page).unwrap();
        let dir = page.parent().unwrap();
        for link in links(&text) {
            if link.starts_with("http://") || link.starts_with("https://") {
                continue;
            }
            let (path, anchor) = link.split_once('#').unwrap_or((&link, ""));
            let target = if path.is_empty() {
                page.clone()
            } else {
                dir.join(path)
            };
            let name = page
                .strip_prefix(workspace())
                .unwrap()
                .display()
                .to_string();
            if !target.exists() {
                broken.push(format!("{name}: {link} (no such file)"));
            } else if !anchor.is_empty()
                && !anchors(&std::fs::read_to_string(&target).unwrap()).contains(anchor)
            {
                broken.push(format!("{name}: {link} (no such section)"));
            }
        }
    }
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

#[test]
fn the_readme_is_short_and_each_guide_page_starts_with_its_commands() {
    let readme = std::fs::read_to_string(workspace().join("README.md")).unwrap();
    let lines = readme.lines().count();
    assert!(
        lines <= 300,
        "the README has {lines} lines: move detail to docs/"
    );
    for page in pages().iter().skip(1) {
        if page.file_name() == Some(Path::new("ARCHITECTURE.md").as_os_str()) {
            continue; // the code's map, not a user's page
        }
        let text = std::fs::read_to_string(page).unwrap();
        let first_block = text.lines().skip(1).find(|line| !line.trim().is_empty());
        assert_eq!(
            first_block,
            Some("```sh"),
            "{} does not start with its commands",
            page.display()
        );
    }
}
