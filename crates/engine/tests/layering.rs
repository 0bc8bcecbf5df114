//! Tidy check: crate dependencies point down the layers of ARCHITECTURE.md. A pure crate that
//! grew a dependency on async, sockets or disk IO would silently lose what makes it testable and
//! replayable (decision 0001), so this reads every manifest and refuses such edges.

use std::path::Path;

/// Internal or IO-bearing crates each crate must NOT depend on (normal dependencies).
const FORBIDDEN: &[(&str, &[&str])] = &[
    (
        "model",
        &[
            "sketch", "expr", "agg", "engine", "persist", "store", "protocol", "server", "tokio",
        ],
    ),
    (
        "sketch",
        &[
            "model", "expr", "agg", "engine", "persist", "store", "protocol", "server", "tokio",
        ],
    ),
    (
        "expr",
        &[
            "agg", "engine", "persist", "store", "protocol", "server", "tokio",
        ],
    ),
    (
        "agg",
        &[
            "expr", "engine", "persist", "store", "protocol", "server", "tokio",
        ],
    ),
    (
        "engine",
        &[
            "persist", "store", "protocol", "server", "tokio", "hyper", "httparse",
        ],
    ),
    (
        "persist",
        &[
            "model", "sketch", "expr", "agg", "engine", "store", "protocol", "server", "tokio",
        ],
    ),
    (
        "protocol",
        &[
            "engine", "agg", "expr", "persist", "store", "server", "tokio",
        ],
    ),
    ("store", &["protocol", "server", "httparse"]),
];

fn normal_dependencies(manifest: &str) -> Vec<String> {
    let mut in_deps = false;
    let mut deps = Vec::new();
    for line in manifest.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_deps = line == "[dependencies]";
            continue;
        }
        if in_deps && !line.is_empty() && !line.starts_with('#') {
            if let Some(name) = line.split(['=', '.', ' ']).next() {
                deps.push(name.trim().to_string());
            }
        }
    }
    deps
}

#[test]
fn dependencies_point_down() {
    let crates = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    for (krate, forbidden) in FORBIDDEN {
        let manifest = std::fs::read_to_string(crates.join(krate).join("Cargo.toml"))
            .unwrap_or_else(|e| panic!("reading {krate}/Cargo.toml: {e}"));
        let deps = normal_dependencies(&manifest);
        assert!(
            !deps.is_empty() || *krate == "sketch" || *krate == "persist",
            "{krate}: no deps parsed"
        );
        for dep in deps {
            assert!(
                !forbidden.contains(&dep.as_str()),
                "{krate} must not depend on {dep} (see ARCHITECTURE.md codemap)"
            );
        }
    }
}

#[test]
fn the_parser_sees_dependencies() {
    let deps = normal_dependencies("[dependencies]\nmodel.workspace = true\ntokio = { version = \"1\" }\n\n[dev-dependencies]\nproptest = \"1\"\n");
    assert_eq!(deps, vec!["model".to_string(), "tokio".to_string()]);
}
