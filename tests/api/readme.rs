//! The README's error table lists every code the server answers with, under its status, and
//! its WebSocket section every code of an error frame. Codes are read from the source (the
//! `ApiError` variants built with a literal code, the domain refusals' `code()`), so a new code
//! that is not documented fails here.

use std::collections::{BTreeMap, BTreeSet};

fn read(path: &std::path::Path) -> String {
    std::fs::read_to_string(path).unwrap()
}

fn sources(dir: &std::path::Path, out: &mut Vec<(String, String)>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push((path.display().to_string(), read(&path)));
        }
    }
}

/// The string literal right after `key` within `window` bytes of `at`, if any.
fn literal_after(text: &str, at: usize, key: &str, window: usize) -> Option<String> {
    let end = (at + window).min(text.len());
    let slice = text.get(at..end)?;
    let start = slice.find(key)? + key.len();
    let rest = &slice[start..];
    let close = rest.find('"')?;
    Some(rest[..close].to_owned())
}

fn readme_table(readme: &str) -> BTreeMap<String, BTreeSet<u16>> {
    let mut codes: BTreeMap<String, BTreeSet<u16>> = BTreeMap::new();
    let table = &readme[readme.find("| Status | Codes |").expect("the error table")..];
    for line in table.lines().skip(2) {
        if !line.starts_with('|') {
            break;
        }
        let mut cells = line.split('|').skip(1);
        let status: u16 = cells.next().unwrap().trim().parse().unwrap();
        for part in cells.next().unwrap().split('`').skip(1).step_by(2) {
            codes.entry(part.to_owned()).or_default().insert(status);
        }
    }
    codes
}

#[test]
fn every_error_code_is_in_the_readme_with_its_status() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = read(&root.join("README.md"));
    let table = readme_table(&readme);
    let mut files = Vec::new();
    sources(&root.join("src"), &mut files);
    let mut found: BTreeMap<String, (u16, String)> = BTreeMap::new();
    // Fixed codes of ApiError::code().
    for (code, status) in [
        ("too_many_attempts", 429),
        ("rate_limited", 429),
        ("request_timeout", 408),
        ("unavailable", 503),
    ] {
        found.insert(code.into(), (status, "src/http/error.rs".into()));
    }
    let markers = [
        ("BadRequest {", 400),
        ("Unauthorized {", 401),
        ("Forbidden {", 403),
        ("NotFound {", 404),
        ("Conflict {", 409),
        ("Unprocessable {", 422),
    ];
    for (path, text) in &files {
        for (marker, status) in markers {
            for (at, _) in text.match_indices(marker) {
                let body_end = text[at..].find('}').map_or(text.len(), |e| at + e);
                if let Some(code) = literal_after(text, at, "code: \"", body_end - at) {
                    found.insert(code, (status, path.clone()));
                }
            }
        }
        for (at, _) in text.match_indices("AuthError::Conflict(\"") {
            if let Some(code) = literal_after(text, at, "Conflict(\"", 60) {
                found.insert(code, (409, path.clone()));
            }
        }
        // Domain refusals (each `code()` of a refusal enum) answer 422.
        if path.contains("/src/domain/") {
            for (at, _) in text.match_indices("pub fn code(&self) -> &'static str {") {
                let body = &text[at..at + text[at..].find("\n    }\n").unwrap()];
                for part in body.split("=> \"").skip(1) {
                    found.insert(
                        part[..part.find('"').unwrap()].to_owned(),
                        (422, path.clone()),
                    );
                }
            }
        }
    }
    assert!(
        found.len() > 60,
        "the scan finds the codes ({})",
        found.len()
    );
    let missing: Vec<String> = found
        .iter()
        .filter(|(code, (status, _))| !table.get(*code).is_some_and(|s| s.contains(status)))
        .map(|(code, (status, path))| format!("{code} ({status}, {path})"))
        .collect();
    assert!(
        missing.is_empty(),
        "not in the README's error table under their status: {missing:#?}"
    );
}

#[test]
fn every_websocket_error_code_is_in_the_readme() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = read(&root.join("README.md"));
    let ws = &readme[readme
        .find("### WebSocket protocol")
        .expect("the WebSocket section")..];
    let ws = &ws[..ws.find("\n### ").unwrap_or(ws.len())];
    let mut files = Vec::new();
    sources(&root.join("src/ws"), &mut files);
    let mut missing = BTreeSet::new();
    for (_, text) in &files {
        for (at, _) in text.match_indices("send_error(") {
            // send_error(id, "code", …) — the code is the first literal.
            if let Some(code) = literal_after(text, at, "\"", 120)
                && code.chars().all(|c| c.is_ascii_lowercase() || c == '_')
                && !ws.contains(&format!("`{code}`"))
            {
                missing.insert(code);
            }
        }
    }
    assert!(
        missing.is_empty(),
        "error-frame codes the README's WebSocket section lacks: {missing:?}"
    );
}
