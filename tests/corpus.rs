//! Every workload of the real-world corpus (tests/corpus, from
//! kubernetes/examples) comes out hardened, valid and stable.

mod common;

use pod_hardener::harden::Options;
use pod_hardener::profile::Catalog;
use pod_hardener::workload::find_pods;

#[test]
fn every_corpus_workload_is_hardened_valid_and_stable() {
    let catalog = Catalog::builtin();
    let options = Options::default();
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/kubernetes-examples");
    let mut files = 0;
    let mut workloads = 0;
    let mut changed = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if !matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml")
        ) {
            continue;
        }
        files += 1;
        let text = std::fs::read_to_string(&path).unwrap();
        let docs = pod_hardener::cli::preview::parse_documents(&text)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        for (_, doc) in docs {
            for found in find_pods(&doc) {
                workloads += 1;
                let out = common::check_hardening(&doc, &found.location, &catalog, &options);
                if out != doc {
                    changed += 1;
                }
            }
        }
    }
    assert!(files >= 50, "only {files} corpus files");
    assert!(workloads >= 50, "only {workloads} workloads");
    // Nothing in the corpus sets readOnlyRootFilesystem everywhere: all change.
    assert_eq!(changed, workloads);
}
