//! The README and the rustdoc stand on their own: no reference to design
//! notes or kernel notes that are not in the repository.

/// Names of documents that live outside the repository.
const OUTSIDE: [&str; 6] = [
    "DESIGN.md",
    "kernel-abi.md",
    "loader-notes.md",
    "object-inventory.md",
    "STYLE.md",
    "../shared",
];

fn rust_files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

#[test]
fn no_references_to_documents_outside_the_repository() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = vec![root.join("README.md"), root.join("tests/vm/README.md")];
    for d in ["src", "examples", "benches", "tests"] {
        rust_files(&root.join(d), &mut files);
    }
    let mut found = Vec::new();
    for f in files {
        if f.ends_with("docs_self_contained.rs") {
            continue;
        }
        let text = std::fs::read_to_string(&f).unwrap();
        for (n, line) in text.lines().enumerate() {
            if let Some(name) = OUTSIDE.iter().find(|o| line.contains(*o)) {
                found.push(format!("{}:{}: {name}", f.display(), n + 1));
            }
        }
    }
    assert!(
        found.is_empty(),
        "references to outside documents:\n{}",
        found.join("\n")
    );
}
